"""Muon's Newton-Schulz precision on CPU: a training step of the demo's model with the iteration in float32
(``optimizer.muon_ns_dtype: float32``, what ``auto`` picks off CUDA) against torch.optim.Muon's own bfloat16.

Baseline (measured in the same run): the same step (forward, cross-entropy, backward, MuonAdamW step,
zero_grad) on the same batch with ``muon_ns_dtype: bfloat16``. The step is also split into its parts so
the optimizer's share shows. Repeats are interleaved; CPU time (time.process_time) is the figure to
compare on a shared machine, with one torch thread.

usage: python benchmarks/bench_muon_cpu.py [--recipe demo] [--steps 5] [--repeats 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from nestling.models import build_model
from nestling.recipe import load_recipe
from nestling.training.optim import build_optimizer


def step_seconds(recipe, dtype: str, steps: int) -> tuple[float, float]:
    """(CPU seconds per whole step, CPU seconds per optimizer step), after one warm-up step."""
    torch.manual_seed(0)
    vocab = recipe.tokenizer.vocab_size
    model = build_model(recipe.model.to_dict(), vocab, 0, 1, 2).train()
    opt = build_optimizer(model, recipe.optimizer.replace(muon_ns_dtype=dtype))
    x = torch.randint(3, vocab, (recipe.batch.global_batch, recipe.batch.seq_len + 1))
    total = optimizer = 0.0
    for i in range(steps + 1):
        c0 = time.process_time()
        logits = model(input_ids=x[:, :-1], use_cache=False).logits
        F.cross_entropy(logits.float().flatten(0, 1), x[:, 1:].flatten()).backward()
        c1 = time.process_time()
        opt.step()
        opt.zero_grad()
        c2 = time.process_time()
        if i:
            total, optimizer = total + c2 - c0, optimizer + c2 - c1
    return total / steps, optimizer / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipe", default="demo")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    recipe = load_recipe(args.recipe)
    times = {"bfloat16": [], "float32": []}
    for _ in range(args.repeats):
        for dtype in times:
            times[dtype].append(step_seconds(recipe, dtype, args.steps))
    for dtype, runs in times.items():
        step, opt = (statistics.median(r[i] for r in runs) for i in (0, 1))
        print(f"muon_ns_dtype={dtype}: {step * 1e3:.0f} ms/step (CPU), optimizer {opt * 1e3:.0f} ms ({opt / step:.0%})")
    base, ours = (statistics.median(r[0] for r in times[d]) for d in ("bfloat16", "float32"))
    print(f"recipe {args.recipe}, {args.threads} thread(s): float32 step is {base / ours:.2f}x faster than "
          f"torch's bfloat16 (baseline)")


if __name__ == "__main__":
    main()
