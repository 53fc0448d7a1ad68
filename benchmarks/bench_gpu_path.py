"""The GPU path, measured on CPU: compiled vs eager training speed and activation memory of both 48M models.

For stream-mixer-48m and llama-48m (the card's configs, vocabulary 16,384), in eager and torch.compile'd
(inductor, fullgraph) form: training tokens/s of forward+backward+AdamW steps, and the activation bytes per
token per layer, from torch's memory profiler (the peak of all live CPU memory during one step, less the
parameters and gradients, over B x T tokens and the layer count; the logits are counted in it). Then the
fused kernel's memory model: what a stream-mixer layer keeps for backward per token in each form.

    OMP_NUM_THREADS=2 python benchmarks/bench_gpu_path.py [--batch 2 --seq 256 --steps 5 --threads 2]

Inductor compiles each model once on CPU (one to a few minutes on a busy 2-core machine).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nestling.models import build_model  # noqa: E402
from nestling.recipe import load_recipe  # noqa: E402

VOCAB = 16384


def make_model(name: str):
    torch.manual_seed(0)
    section = load_recipe(name).model.to_dict()
    if section["arch"] == "stream_mixer":
        section["mixer_impl"] = "chunked"
    return build_model(section, VOCAB, 1, 2, 0).float().train()


def peak_step_bytes(fwd, model, x) -> int:
    """Peak of all live CPU memory during one forward+backward, from torch's memory profiler timeline."""
    from torch.profiler import ProfilerActivity, profile
    from torch.profiler._memory_profiler import MemoryProfileTimeline

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True, record_shapes=True, with_stack=True) as prof:
        fwd(input_ids=x, labels=x, use_cache=False).loss.backward()
    _, sizes = MemoryProfileTimeline(prof._memory_profile())._coalesce_timeline(torch.device("cpu"))
    model.zero_grad(set_to_none=True)
    return int(np.asarray(sizes).sum(axis=1).max())


def measure(name: str, args) -> dict:
    """Both modes of one model, their timed steps interleaved (eager, compiled, eager, ...) so that the load
    of a shared machine falls on both alike; then each mode's activation bytes."""
    x = torch.randint(0, VOCAB, (args.batch, args.seq), generator=torch.Generator().manual_seed(0))
    runs = {}
    for mode in ("eager", "compiled"):
        model = make_model(name)
        fwd = torch.compile(model, fullgraph=True) if mode == "compiled" else model
        runs[mode] = (model, fwd, torch.optim.AdamW(model.parameters(), lr=1e-4))

    def step(mode: str) -> float:
        model, fwd, optimizer = runs[mode]
        t0 = time.perf_counter()
        fwd(input_ids=x, labels=x, use_cache=False).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return time.perf_counter() - t0

    rows = {mode: {"warmup_s": step(mode), "seconds": 0.0} for mode in runs}  # the first step compiles
    for _ in range(args.steps):
        for mode in runs:
            rows[mode]["seconds"] += step(mode)
    for mode, (model, fwd, _) in runs.items():
        rows[mode]["tokens_per_s"] = args.steps * args.batch * args.seq / rows[mode]["seconds"]
        params = sum(p.numel() * p.element_size() for p in model.parameters())
        activations = peak_step_bytes(fwd, model, x) - 2 * params  # less weights and their gradients
        layers = model.config.num_hidden_layers
        rows[mode]["activation_bytes_per_token_per_layer"] = activations / (args.batch * args.seq) / layers
    return rows


def fused_memory_model(name: str) -> dict:
    """Bytes per token one stream-mixer layer keeps for backward in its write+read (fp32), by form."""
    cfg = make_model(name).config
    M, Dv, H = cfg.n_streams, cfg.stream_dim, cfg.n_read_heads
    return {"chunked_states": 4 * M * Dv, "fused_inputs_only": 4 * (Dv + M + H * Dv)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--models", default="stream-mixer-48m,llama-48m")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"batch {args.batch} x seq {args.seq}, {args.steps} timed steps, {args.threads} threads (shared machine)")
    for name in args.models.split(","):
        rows = measure(name, args)
        torch._dynamo.reset()
        for mode, r in rows.items():
            print(f"{name:<18} {mode:<9} {r['tokens_per_s']:8.0f} tok/s  warm-up {r['warmup_s']:6.1f} s  "
                  f"activations {r['activation_bytes_per_token_per_layer'] / 1024:7.1f} KiB/token/layer")
        ratio = rows["compiled"]["tokens_per_s"] / rows["eager"]["tokens_per_s"]
        print(f"{name:<18} compiled/eager tokens/s {ratio:.2f}x")
        if name.startswith("stream"):
            m = fused_memory_model(name)
            print(f"{name:<18} write+read kept for backward per token per mixer layer: chunked (states) "
                  f"{m['chunked_states']} B, fused kernel (inputs only) {m['fused_inputs_only']} B")


if __name__ == "__main__":
    main()
