"""The jobs: what a command does end to end, composed from the library (the CLI's handlers call these).

- ``train_recipe`` / ``prepare_and_train``: make sure the recipe's data exists, then train;
- ``evaluate_path``: evaluate a model folder or every revision of a run, write results.json;
- ``run_demo`` (``nestling demo``): built-in corpus -> ledger -> tokenizer -> shards -> training with
  BabyLM checkpoints -> zero-shot evaluation of every checkpoint -> a per-language table.

No logic of its own lives here: data preparation is ``nestling.data.dataset``, the built-in data
``nestling.data.generator``, tables ``nestling.evaluation.results``.
"""

from __future__ import annotations

import time
from pathlib import Path

from nestling import launch
from nestling.errors import UserError
from nestling.recipe import default, load_recipe, with_value


def prepare_and_train(recipe, out_dir: Path | None = None, resume: Path | None = None) -> Path:
    """Make sure a loaded recipe's data exists, then train; returns the run folder."""
    from nestling.data.dataset import ensure_dataset
    from nestling.training.trainer import train
    from nestling.training.validate import check_resume

    # Before any data is prepared or folder made: a bad recipe leaves nothing behind (load_recipe checks
    # every key; a resumed run must also keep its recorded recipe).
    recipe = load_recipe(recipe)
    if resume is not None:
        check_resume(recipe, resume)
        if _already_finished(resume):
            return Path(resume)
    recipe = with_value(recipe, "data.dir", str(ensure_dataset(recipe)))
    return train(recipe, out_dir=out_dir, resume=resume)


def _already_finished(run_dir: Path) -> bool:
    """A finished run resumed again: say so in one line, train and append nothing."""
    import sys

    from nestling.run_folder import read_summary

    summary = read_summary(run_dir) if Path(run_dir).is_dir() else None
    if not (summary and summary.get("finished") is True):
        return False
    if launch.ranks().rank == 0:
        sys.stderr.write(f"nestling: {run_dir} already finished ({summary.get('steps')} of "
                         f"{summary.get('total_steps')} steps); nothing to resume\n")
    return True


def train_recipe(recipe_or_name, overrides: list[str] | None = None, out_dir: Path | None = None,
                 resume: Path | None = None) -> Path:
    """Load a recipe (file, shipped name or mapping), prepare its data when missing, train."""
    return prepare_and_train(load_recipe(recipe_or_name, overrides), out_dir=out_dir, resume=resume)


def check_finished(run_dir: Path) -> None:
    """Raise RunStopped when training stopped early on a signal: `train && eval` must not go on."""
    from nestling.errors import RunStopped
    from nestling.run_folder import RECIPE, read_summary

    summary = read_summary(run_dir) if launch.ranks().rank == 0 else None  # rank 0 writes it
    if summary is not None and summary.get("finished") is False:
        raise RunStopped(f"stopped at step {summary.get('steps')} of {summary.get('total_steps')}; its state is in "
                         f"{Path(run_dir) / 'state'}; continue with: nestling train {Path(run_dir) / RECIPE} "
                         f"--resume {run_dir}")


def evaluate_path(model: Path, data: list[Path], *, out: Path | None = None, task_format: str = "auto",
                  group_by: str | None = None, fast: bool = default("eval.fast"),
                  revisions: str = default("eval.revisions"), batch_size: int = default("eval.batch_size"),
                  device: str = "auto", seed: int = default("seed"), trust_remote_code: bool = False,
                  allow_tokenizer_mismatch: bool = False) -> str:
    """Evaluate a model folder or every revision of a run; write results.json; return the table."""
    from nestling.evaluation import (evaluate_model, evaluate_run, format_table, is_run_dir, write_results,
                                     write_run_outputs)

    model = Path(model)
    if not model.exists():
        raise UserError(f"{model}: no such model or run folder")
    if out is not None and Path(out).is_dir():
        # Checked now, not after all the scoring.
        raise UserError(f"--out {out}: is a folder; --out names the results .json file to write")
    from nestling.evaluation.results import check_results_out

    check_results_out(out if out is not None else (model / "results.json" if is_run_dir(model) else None), model, data)
    options = dict(task_format=task_format, group_by=group_by, fast=fast, batch_size=batch_size, device=device,
                   seed=seed, trust_remote_code=trust_remote_code, allow_tokenizer_mismatch=allow_tokenizer_mismatch)
    if is_run_dir(model):
        wanted = revisions if revisions in ("all", "final") else [r.strip() for r in revisions.split(",")]
        results = evaluate_run(model, data, revisions=wanted, **options)
        out = out or model / "results.json"
        write_run_outputs(results, out)
    else:
        results = evaluate_model(model, data, **options)
        if out is not None:
            from nestling.evaluation.results import results_lock

            with results_lock(out):
                write_results(results, out)
    return format_table(results) + (f"\n\nresults: {out}" if out else "")


def run_demo(recipe_or_name="demo", overrides: list[str] | None = None, out_dir: Path | None = None) -> Path:
    """The main job on the built-in data: prepare, train, evaluate every checkpoint, print the table."""
    from nestling.data.dataset import builtin_pairs
    from nestling.evaluation import evaluate_run, format_table, write_run_outputs
    from nestling.evaluation.results import language_table

    start = time.time()
    recipe = load_recipe(recipe_or_name, overrides)
    run_dir = prepare_and_train(recipe, out_dir=out_dir)
    check_finished(run_dir)
    eval_cfg = recipe.eval
    data = [p for d in eval_cfg.data for p in (builtin_pairs(recipe) if d == "builtin" else [Path(d)])]
    results = evaluate_run(run_dir, data, revisions=eval_cfg.revisions, fast=eval_cfg.fast,
                           batch_size=eval_cfg.batch_size, seed=recipe.seed)
    write_run_outputs(results, run_dir / "results.json")
    print("\nLearning curve (macro accuracy by revision):")
    print(format_table(results))
    print("\nZero-shot minimal pairs, final model (accuracy, random tie-break; chance = 0.5):")
    print(language_table(results))
    print(f"\nrun folder: {run_dir}\nwall-clock: {time.time() - start:.0f} s")
    return run_dir
