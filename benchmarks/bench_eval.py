"""Benchmark: BLiMP pairs/s of nestling's scorer against minicons IncrementalLMScorer, same model, same run.

    .venv/bin/python benchmarks/bench_eval.py [--model DIR] [--minicons-per-file 40] [--batch-size 64]

1. nestling scores all 67 BLiMP files (67,000 pairs): wall time and pairs/s, BLiMP accuracy.
2. Head to head on identical work: the first N pairs of each file are scored by nestling and by
   minicons (``sequence_score(..., reduction=sum)``, the same batch size), alternating every
   --files-per-round files so that load drift on a shared machine hits both alike. The speed-up is minicons' time
   over nestling's on that sample (wall and CPU time). Every sample sentence's log-prob is
   compared with minicons' (max |diff| must be < 1e-4).

Without --model, a Llama shaped like recipes/demo-llama.yaml (hidden 128, 4 layers, intermediate
448, tied embeddings) with a 4,096-token byte-level BPE (BOS added) is trained for --train-steps
steps on UD English text (../shared/data/corpora/ud_text), so its log-probs look like a real
model's; never on BLiMP.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from nestling.evaluation.aggregate import aggregate  # noqa: E402
from nestling.evaluation.evaluate import load_model  # noqa: E402
from nestling.evaluation.scoring import score_texts  # noqa: E402
from nestling.evaluation.tasks import load_task  # noqa: E402

SHARED = REPO.parent / "shared" / "data"


def build_bench_model(out_dir: Path, text_file: Path, steps: int, seed: int = 0) -> Path:
    """Train a tokenizer and a demo-llama-shaped model briefly on a text file; save both."""
    from tests.evaluation.conftest import build_tiny_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    lines = [line.strip() for line in text_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    build_tiny_model(out_dir, lines, vocab_size=4096, hidden=128, layers=4, intermediate=448, tie=True, seed=seed)
    model = AutoModelForCausalLM.from_pretrained(out_dir)
    with torch.no_grad():  # undo the test helper's wide init: start from the HF default
        model.apply(model._init_weights)
    tokenizer = AutoTokenizer.from_pretrained(out_dir)
    ids = [i for line in tokenizer(lines)["input_ids"] for i in line]
    data = torch.tensor(ids)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for step in range(steps):
        starts = torch.randint(0, len(data) - 65, (32,), generator=gen)
        batch = torch.stack([data[s: s + 64] for s in starts])
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    print(f"trained {steps} steps on {text_file.name}: final train loss {loss.item():.2f}")
    model.eval().save_pretrained(out_dir)
    return out_dir


def minicons_scores(lm, sentences: list[str], batch_size: int) -> np.ndarray:
    """minicons' documented way: IncrementalLMScorer.sequence_score with a sum reduction, in batches."""
    out = []
    for start in range(0, len(sentences), batch_size):
        out += lm.sequence_score(sentences[start: start + batch_size], reduction=lambda x: x.sum(0).item())
    return np.array(out)


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    value = fn()
    return value, time.perf_counter() - wall, time.process_time() - cpu


def pairs_of(items):
    requests = [c for item in items for c in item.candidates]
    return requests, [[2 * k, 2 * k + 1] for k in range(len(items))]  # a pair shares its common prefix


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blimp", type=Path, default=SHARED / "eval" / "blimp" / "data")
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--train-text", type=Path, default=SHARED / "corpora" / "ud_text" / "en_ewt_all.txt")
    parser.add_argument("--train-steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--minicons-per-file", type=int, default=40, help="0 = all pairs")
    parser.add_argument("--files-per-round", type=int, default=10,
                        help="head to head alternates nestling/minicons on this many files' samples at a time")
    parser.add_argument("--entity-tracking-items", type=int, default=0,
                        help="also time prefix sharing on every k-th entity-tracking item (this many in all)")
    parser.add_argument("--skip-blimp", action="store_true", help="only the entity-tracking timing")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads for both scorers (1: the machine is shared; extra threads spin)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    task = load_task(args.blimp)
    items = task.items
    if args.model is None:
        args.model = build_bench_model(Path(tempfile.mkdtemp(prefix="bench_eval_")) / "model",
                                       args.train_text, args.train_steps)
    model, tokenizer = load_model(args.model, device=args.device)
    params = sum(p.numel() for p in model.parameters())
    print(f"model: {args.model} ({params / 1e6:.2f}M params, vocab {model.config.vocab_size}), "
          f"torch threads {torch.get_num_threads()}, device {args.device}, batch size {args.batch_size}")

    if args.skip_blimp:
        prefix_sharing(model, tokenizer, args.entity_tracking_items or 200, args.batch_size)
        return

    # 1. nestling on every pair of all files.
    requests, groups = pairs_of(items)
    ours, wall, _ = timed(lambda: score_texts(model, tokenizer, requests, groups=groups,
                                              batch_size=args.batch_size, progress=False))
    result = aggregate(items, [ours[2 * k: 2 * k + 2] for k in range(len(items))], seed=0)
    print(f"nestling, full: {len(items)} pairs ({len(task.files)} files) in {wall:.1f}s = "
          f"{len(items) / wall:.0f} pairs/s; BLiMP macro acc {100 * result['macro_acc']:.2f}% "
          f"(tie credit {100 * result['macro_acc_tie_credit']:.2f}%), weighted {100 * result['weighted_acc']:.2f}%, "
          f"ties {result['n_ties']}")

    # 2. Head to head on the same pairs, alternating in chunks of files.
    from minicons import scorer

    lm = scorer.IncrementalLMScorer(model, args.device, tokenizer=copy.deepcopy(tokenizer))
    by_uid: dict[str, list] = {}
    for item in items:
        by_uid.setdefault(item.uid, []).append(item)
    samples = [v if args.minicons_per_file == 0 else v[: args.minicons_per_file] for v in by_uid.values()]
    totals = np.zeros(4)  # ours wall, ours cpu, minicons wall, minicons cpu
    n_pairs, max_diff = 0, 0.0
    for start in range(0, len(samples), args.files_per_round):
        sample = [item for chunk in samples[start: start + args.files_per_round] for item in chunk]
        reqs, grps = pairs_of(sample)
        a, aw, ac = timed(lambda: score_texts(model, tokenizer, reqs, groups=grps, batch_size=args.batch_size,
                                              progress=False))
        b, bw, bc = timed(lambda: minicons_scores(lm, [text for _, text in reqs], args.batch_size))
        totals += (aw, ac, bw, bc)
        n_pairs += len(sample)
        max_diff = max(max_diff, float(np.abs(a - b).max()))
    speed_wall, speed_cpu = totals[2] / totals[0], totals[3] / totals[1]
    print(f"head to head on {n_pairs} pairs (first {args.minicons_per_file or 'all'} of each of {len(by_uid)} files): "
          f"nestling {n_pairs / totals[0]:.0f} pairs/s, minicons {n_pairs / totals[2]:.0f} pairs/s")
    print(f"speed-up: {speed_wall:.2f}x wall, {speed_cpu:.2f}x CPU time; per-sentence max |log-prob diff| vs "
          f"minicons over {2 * n_pairs} sentences: {max_diff:.2e}")
    print(json.dumps({"pairs": len(items), "nestling_full_pairs_per_s": round(len(items) / wall, 1),
                      "sample_pairs": n_pairs, "nestling_pairs_per_s": round(n_pairs / totals[0], 1),
                      "minicons_pairs_per_s": round(n_pairs / totals[2], 1), "speedup_wall": round(speed_wall, 2),
                      "speedup_cpu": round(speed_cpu, 2), "blimp_macro_acc": round(result["macro_acc"], 4),
                      "max_abs_diff": max_diff}))
    assert max_diff < 1e-4, f"log-probs disagree with minicons by {max_diff}"
    if args.entity_tracking_items:
        prefix_sharing(model, tokenizer, args.entity_tracking_items, args.batch_size)


def prefix_sharing(model, tokenizer, n_items: int, batch_size: int) -> None:
    """nestling with and without shared-prefix KV caching on 5-way entity-tracking items."""
    task = load_task(SHARED / "eval" / "babylm_2025" / "entity_tracking")
    items = task.items[:: max(1, len(task.items) // n_items)][:n_items]
    requests = [c for item in items for c in item.candidates]
    groups, start = [], 0
    for item in items:
        groups.append(list(range(start, start + len(item.candidates))))
        start += len(item.candidates)
    plain, plain_s, _ = timed(lambda: score_texts(model, tokenizer, requests, share_prefixes=False,
                                                  batch_size=batch_size, progress=False))
    shared, shared_s, _ = timed(lambda: score_texts(model, tokenizer, requests, groups=groups,
                                                    batch_size=batch_size, progress=False))
    print(f"entity tracking, {len(items)} items x 5 options: plain {len(items) / plain_s:.1f} items/s, "
          f"shared prefix {len(items) / shared_s:.1f} items/s ({plain_s / shared_s:.2f}x); "
          f"max |diff| {np.abs(plain - shared).max():.2e}")


if __name__ == "__main__":
    main()
