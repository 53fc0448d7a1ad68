"""Trainer overhead: nestling's step time against a bare forward/backward/step loop, same model and batch.

Baseline (measured in the same run): a plain loop over a batch held in memory: `accum` micro-batches of
forward + cross-entropy + backward, gradient clipping, MuonAdamW step, WSD schedule step, zero_grad.
Trainer: `nestling.training.train` with the same model, batch and optimizer, reading the shards through
the mixer and sampler, counting, logging metrics.jsonl, TensorBoard and tqdm every `log_every` steps.
Its per-step time is the difference between runs of N_LONG and N_SHORT steps divided by the step
difference, so setup, the final validation and the final model folder cancel out. Periodic validation
and state writes are scheduled work, not per-step overhead, and fall outside both runs (eval_every and
state_every beyond N_LONG). Each measurement is repeated and interleaved.

Two clocks: wall time, and the process's CPU time (time.process_time). On a shared machine whose cores
other jobs also use, wall time mostly measures the neighbours; with one torch thread, CPU time measures
the work itself, so it is the figure to compare there. Minimum and median over repeats are printed.

usage: python benchmarks/bench_trainer.py [--repeats 3] [--threads 1] [--device cpu]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from nestling.data.shards import token_dtype, write_meta, write_tokens
from nestling.models import build_model
from nestling.training import train
from nestling.training.optim import build_optimizer
from nestling.training.schedule import build_schedule

VOCAB, SEQ, BATCH, MICRO = 4096, 128, 8, 4
MODEL = {"arch": "llama", "hidden_size": 128, "intermediate_size": 384, "num_hidden_layers": 4,
         "num_attention_heads": 4, "num_key_value_heads": 4, "max_position_embeddings": SEQ}
N_SHORT, N_LONG = 10, 40


def make_dataset(root: Path) -> Path:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    rng = np.random.default_rng(0)
    dtype = token_dtype(VOCAB)
    n = 400_000
    write_tokens(root / "shards/eng/train.bin", rng.integers(3, VOCAB, n), dtype)
    write_tokens(root / "shards/eng/val.bin", rng.integers(3, VOCAB, 20_000), dtype)
    write_meta(root, "eng", {"lang": "eng", "dtype": dtype.name, "vocab_size": VOCAB, "eos_token_id": 1,
                             "bos_token_id": 0, "train_tokens": n, "val_tokens": 20_000, "train_words": n * 3 // 4,
                             "val_words": 15_000, "words_per_token": 0.75, "word_unit": "whitespace"})
    vocab = {"<s>": 0, "</s>": 1, "<pad>": 2, **{f"t{i}": i for i in range(3, VOCAB)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<pad>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>").save_pretrained(root / "tokenizer")
    return root


def recipe(data: Path, steps: int, device: str) -> dict:
    return {
        "name": "bench", "method": "bench", "seed": 0,
        "run": {"out_root": "runs", "device": device, "precision": "auto", "compile": False, "log_every": 10,
                "eval_every": 10_000, "val_tokens": 1024, "tensorboard": True, "progress": True, "max_bad_steps": 10},
        "data": {"dir": str(data)}, "model": MODEL,
        "mixing": {"method": "uniform", "mix_interval": 50, "probe_tokens": 1024},
        "optimizer": {"name": "muon_adamw", "muon_lr": 5e-3, "adamw_lr": 5e-4, "weight_decay": 0.1, "betas": [0.9, 0.95],
                      "eps": 1e-8, "muon_momentum": 0.95, "adjust_lr_fn": "match_rms_adamw", "grad_clip": 1.0},
        "schedule": {"name": "wsd", "warmup_fraction": 0.01, "decay_fraction": 0.15, "decay_type": "linear", "min_lr_ratio": 0.0},
        "budget": {"epochs": 10, "max_steps": steps, "max_tokens": None, "max_epochs": 10, "allow_over_epochs": False},
        "batch": {"global_batch": BATCH, "seq_len": SEQ, "micro_batch": MICRO},
        "checkpoints": {"milestone_scale": 1000.0, "keep_last": 1, "state_every": 10_000},
    }


def bare_step_seconds(device: str, steps: int) -> tuple[float, float]:
    """(wall, CPU) seconds per step of the bare loop, after 3 warm-up steps."""
    dev = torch.device(device)
    torch.manual_seed(0)
    model = build_model(MODEL, VOCAB, 0, 1, 2).to(dev).train()
    opt = build_optimizer(model, recipe(Path("."), steps, device)["optimizer"])
    sched = build_schedule(opt, {"name": "wsd"}, steps + 3)
    x = torch.randint(3, VOCAB, (BATCH, SEQ + 1), device=dev)
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if dev.type == "cuda" else contextlib.nullcontext
    t0 = c0 = 0.0
    for i in range(steps + 3):
        if i == 3:
            _sync(dev)
            t0, c0 = time.perf_counter(), time.process_time()
        for mb in x.split(MICRO):
            with autocast():
                logits = model(input_ids=mb[:, :-1], use_cache=False).logits
            loss = F.cross_entropy(logits.float().flatten(0, 1), mb[:, 1:].flatten())
            (loss / (BATCH // MICRO)).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        loss.item()
        opt.step()
        sched.step()
        opt.zero_grad()
    _sync(dev)
    return (time.perf_counter() - t0) / steps, (time.process_time() - c0) / steps


def trainer_seconds(data: Path, steps: int, device: str, tmp: Path) -> tuple[float, float]:
    """(wall, CPU) seconds of a whole train() call of ``steps`` steps."""
    out = Path(tempfile.mkdtemp(dir=tmp))
    t0, c0 = time.perf_counter(), time.process_time()
    train(recipe(data, steps, device), out_dir=out / "run")
    return time.perf_counter() - t0, time.process_time() - c0


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        data = make_dataset(tmp / "data")
        trainer_seconds(data, 2, args.device, tmp)  # warm imports and caches
        bare, ours = [], []
        for _ in range(args.repeats):
            bare.append(bare_step_seconds(args.device, N_LONG - N_SHORT))
            short = trainer_seconds(data, N_SHORT, args.device, tmp)
            long = trainer_seconds(data, N_LONG, args.device, tmp)
            ours.append(tuple((lo - sh) / (N_LONG - N_SHORT) for lo, sh in zip(long, short)))
    result = {"device": args.device, "threads": args.threads, "model": MODEL, "batch": [BATCH, SEQ], "micro": MICRO,
              "bare_wall_cpu_s": bare, "trainer_wall_cpu_s": ours}
    print(json.dumps(result))
    for i, clock in enumerate(("wall", "cpu")):
        for stat in (min, statistics.median):
            b, t = stat(x[i] for x in bare), stat(x[i] for x in ours)
            print(f"{clock} {stat.__name__}: trainer {t * 1e3:.1f} ms/step vs bare loop {b * 1e3:.1f} ms/step: "
                  f"overhead {100 * (t / b - 1):+.1f}%")

if __name__ == "__main__":
    main()
