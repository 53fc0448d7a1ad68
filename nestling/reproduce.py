"""Reproduce a published card on a GPU machine, one command per card (``make reproduce-cards``, or
``python -m nestling.reproduce stream-mixer-48m``): the card's full-size recipe trained, every revision
evaluated, the run exported as a Hub repository (one branch per revision).

Before training it prints the plan and the expected wall-clock: the planned FLOPs (6 x parameters x
planned tokens, the usual estimate for a forward and backward pass) over the FLOP rate measured on this
machine by a few timed forward/backward passes of the recipe's model at its micro-batch. The optimizer
step, validation and evaluations come on top, so the figure is a lower bound for the whole command.

The data comes first: each card's recipe says how to prepare its corpus (``data.dir``); nothing is
downloaded. ``--toy`` (or ``NESTLING_REPRODUCE_TOY=1``) shrinks model, data and budget to a CPU run of a
handful of steps on the built-in corpus, so a test runs the same command end to end and it cannot rot.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path

import torch

CARDS = ("stream-mixer-48m", "taam-pstar")
TIMED_PASSES = 3
# CPU-sized stand-ins for the card's model, data and budget (6 steps of 4 x 64 tokens); everything else,
# optimizer, schedule, mixing, milestone unit, is the card's own.
TOY = ["data.dir=null", "data.builtin_words=20000", "data.builtin_pairs=20", "tokenizer.vocab_size=512",
       "model.hidden_size=32", "model.num_hidden_layers=2", "model.head_dim=16", "model.num_attention_heads=2",
       "model.intermediate_size=64", "model.max_position_embeddings=64", "batch.global_batch=4",
       "batch.seq_len=64", "batch.micro_batch=4", "budget.max_tokens=1536", "checkpoints.milestone_scale=0.0005",
       "checkpoints.state_every=3", "run.eval_every=3", "run.val_tokens=256", "run.progress=false",
       "run.tensorboard=false", "mixing.probe_tokens=128", "eval.suite=null", "eval.data=[builtin]"]
TOY_BY_ARCH = {
    "stream_mixer": ["model.attention_layers=[1]", "model.n_streams=4", "model.stream_dim=16",
                     "model.n_read_heads=2", "model.chunk_size=16"],
    "llama": ["model.num_key_value_heads=2"],
}


def card_recipe(name: str, out_root: Path, toy: bool, overrides: list[str]):
    """The card's recipe (``toy``: shrunk to a CPU run whose data lives under ``out_root``)."""
    from nestling.recipe import load_recipe

    if not toy:
        return load_recipe(name, overrides)
    langs = "[eng]" if load_recipe(name).data.track == "strict" else "[eng, nld, zho]"
    arch = load_recipe(name).model["arch"]
    shrink = [*TOY, *TOY_BY_ARCH[arch], f"data.builtin_langs={langs}", f"data.builtin_root={out_root / 'data'}"]
    return load_recipe(name, [*shrink, *overrides])


def measure_tokens_per_s(model, recipe, vocab_size: int, device: torch.device) -> tuple[float, int]:
    """(tokens/s, micro-batch) of forward+backward passes of ``model`` at the recipe's micro-batch."""
    from nestling.training.batching import memory_fits, plan_batch

    cuda = device.type == "cuda"
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if cuda else contextlib.nullcontext
    b = recipe.batch
    fits = memory_fits(model, b.seq_len, vocab_size, device, autocast) if cuda and b.micro_batch == "auto" else None
    micro = plan_batch(b.global_batch, b.seq_len, b.micro_batch, 1, fits).micro
    ids = torch.randint(0, vocab_size, (micro, b.seq_len), device=device)

    def forward_backward():
        with autocast():
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        model.zero_grad(set_to_none=True)

    forward_backward()  # warm-up: kernels, allocator
    if cuda:
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(TIMED_PASSES):
        forward_backward()
    if cuda:
        torch.cuda.synchronize(device)
    return TIMED_PASSES * micro * b.seq_len / (time.perf_counter() - start), micro


def expected_wall_clock(recipe) -> str:
    """The plan (steps, tokens) and the expected training wall-clock on this machine (the revisions the run
    writes are said by the trainer at plan time)."""
    from nestling.models import build_model
    from nestling.training.counting import plan_steps
    from nestling.training.data_plan import open_dataset

    dataset = open_dataset(recipe)
    tokens_per_step = recipe.batch.global_batch * recipe.batch.seq_len
    steps = plan_steps(recipe.budget, sum(dataset.train_tokens.values()), tokens_per_step)
    tokens = steps * tokens_per_step
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = build_model(recipe.model.to_dict(), dataset.vocab_size, dataset.bos, dataset.eos, dataset.eos).to(device)
    params = sum(p.numel() for p in model.parameters())
    tokens_per_s, micro = measure_tokens_per_s(model, recipe, dataset.vocab_size, device)
    del model
    flops, flops_per_s = 6 * params * tokens, 6 * params * tokens_per_s
    seconds = tokens / tokens_per_s
    return "\n".join([
        f"{recipe.name}: {params:,} parameters, {steps:,} steps x {tokens_per_step:,} tokens = {tokens:,} tokens",
        f"planned FLOPs: {flops:.3e} (6 x parameters x tokens)",
        f"measured on {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'}): "
        f"{tokens_per_s:,.0f} tokens/s = {flops_per_s:.3e} FLOP/s (forward+backward, micro-batch {micro})",
        f"expected training wall-clock: {seconds:,.0f} s = {seconds / 3600:.2f} h (planned FLOPs / measured FLOP/s; "
        f"optimizer steps, validation and evaluation come on top)",
    ])


def evaluate_every_revision(recipe, run_dir: Path) -> str:
    """Every revision of the run on the card's evaluation (a suite, or minimal-pair files)."""
    from nestling.data.dataset import builtin_pairs
    from nestling.jobs import evaluate_path

    if recipe.eval.suite:
        from nestling.evaluation.suites import evaluate_suite_path

        return evaluate_suite_path(run_dir, recipe.eval.suite, recipe.eval.eval_root, revisions="all")
    data = [p for d in recipe.eval.data for p in (builtin_pairs(recipe) if d == "builtin" else [Path(d)])]
    return evaluate_path(run_dir, data, revisions="all", batch_size=recipe.eval.batch_size, seed=recipe.seed)


def reproduce_card(name: str, out_root: Path, toy: bool = False, overrides: list[str] | None = None) -> Path:
    """Train, evaluate every revision, export; returns the exported repository."""
    from nestling.data.dataset import ensure_dataset
    from nestling.export import export_run
    from nestling.jobs import check_finished, prepare_and_train
    from nestling.recipe import with_value

    start = time.time()
    recipe = card_recipe(name, Path(out_root), toy, list(overrides or []))
    recipe = with_value(recipe, "data.dir", str(ensure_dataset(recipe)))
    print(expected_wall_clock(recipe), flush=True)
    run_dir = Path(out_root) / name
    prepare_and_train(recipe, out_dir=run_dir)
    check_finished(run_dir)
    print(evaluate_every_revision(recipe, run_dir))
    repo = export_run(run_dir, Path(out_root) / f"{name}-hub", force=True)
    print(f"exported: {repo}\nwall-clock of the whole command: {(time.time() - start) / 60:.1f} min")
    return repo


def main(argv: list[str] | None = None) -> None:
    from nestling.errors import UserError

    parser = argparse.ArgumentParser(prog="python -m nestling.reproduce", description=__doc__.split("\n\n")[0])
    parser.add_argument("card", choices=CARDS)
    parser.add_argument("--out", type=Path, default=Path("runs/reproduce"), help="run folders and exports")
    parser.add_argument("--toy", action="store_true", default=os.environ.get("NESTLING_REPRODUCE_TOY") == "1",
                        help="a CPU run of a handful of steps on the built-in corpus (also NESTLING_REPRODUCE_TOY=1)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a recipe key")
    args = parser.parse_args(argv)
    try:
        reproduce_card(args.card, args.out, toy=args.toy, overrides=args.set)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
