"""Evaluate every checkpoint of a run: learning-curve table and plot (accuracy vs words seen)."""

from __future__ import annotations

from pathlib import Path

from tqdm.auto import tqdm
from transformers.utils import logging as hf_logging

from nestling.errors import UserError
from nestling.evaluation.evaluate import check_batch, evaluate_loaded, load_model, prepare_tasks
from nestling.files import atomic_path
from nestling.run_folder import is_run_dir, read_words_seen
from nestling.run_folder import model_folders as list_revisions

__all__ = ["list_revisions", "is_run_dir", "select_revisions", "evaluate_run", "write_run_outputs"]


def select_revisions(run_dir: str | Path, revisions: str | list[str] = "all") -> dict[str, Path]:
    """The revisions asked for: "all", "final", a comma-separated string or a list of names."""
    available = list_revisions(run_dir)
    if not available:
        raise UserError(f"{run_dir}: no checkpoints/chck_* or final/ model folders (is this a run folder?)")
    if revisions == "all":
        return available
    names = [r.strip() for r in revisions.split(",")] if isinstance(revisions, str) else list(revisions)
    missing = [n for n in names if n not in available]
    if missing:
        raise UserError(f"{run_dir}: revision {', '.join(missing)} not found; available: {', '.join(available)}")
    return {n: available[n] for n in names}


def learning_curve(revision_results: dict[str, dict]) -> list[dict]:
    """One point per revision: words seen and each task's headline (macro) accuracy."""
    return [{"revision": rev, "words_seen": res["words_seen"],
             **{task: t["macro_acc"] for task, t in res["tasks"].items()}}
            for rev, res in revision_results.items()]


def plot_learning_curve(run_result: dict, out_png: str | Path) -> Path:
    """PNG of macro accuracy (%) against words seen (log scale), one line per task."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = [p for p in run_result["learning_curve"] if p["words_seen"]]
    if not points:
        raise UserError("no revision has words_seen in checkpoint.json; cannot plot a learning curve")
    tasks = [k for k in points[0] if k not in ("revision", "words_seen")]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for task in tasks:
        ax.plot([p["words_seen"] for p in points], [100 * p[task] for p in points], marker="o", label=task)
    ax.set_xscale("log")
    ax.set_xlabel("words seen")
    ax.set_ylabel("accuracy (%, macro over UIDs)")
    ax.set_title(Path(run_result["run"]).name)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    out_png = Path(out_png)
    try:
        with atomic_path(out_png) as tmp:  # never a half-written plot
            fig.savefig(tmp, dpi=120, format="png")
    finally:
        plt.close(fig)
    return out_png


def evaluate_run(run_dir: str | Path, data_paths: list[Path], *, revisions: str | list[str] = "all",
                 task_format: str = "auto", group_by: str | None = None, fast: bool = False,
                 batch_size: int = 64, max_tokens: int = 16384, device: str = "auto",
                 precision: str = "fp32", seed: int = 0, plot_path: str | Path | None = None,
                 progress: bool = True, trust_remote_code: bool = False,
                 allow_tokenizer_mismatch: bool = False) -> dict:
    """Evaluate each revision of a run (every chck_* by words seen, then final) on the same tasks.

    Data is read once; each revision is loaded, scored and freed in turn. Returns the run result
    (schema in nestling.evaluation.results) with a learning curve; writes nothing except the
    PNG at ``plot_path`` when given. Other keywords as in ``evaluate_model``.
    """
    check_batch(batch_size, max_tokens)
    selected = select_revisions(run_dir, revisions)
    tasks = prepare_tasks(data_paths, task_format=task_format, group_by=group_by, fast=fast)
    per_revision = {}
    # Several revisions: one bar over revisions rather than a scoring bar per revision.
    many = len(selected) > 1
    if many:
        hf_logging.disable_progress_bar()  # the per-revision "Loading weights" bars would flood the log
    for name, folder in tqdm(selected.items(), desc="revisions", unit="rev", disable=not (progress and many)):
        model, tokenizer = load_model(folder, device=device, trust_remote_code=trust_remote_code,
                                      allow_tokenizer_mismatch=allow_tokenizer_mismatch)
        per_revision[name] = evaluate_loaded(
            model, tokenizer, tasks, model_name=str(run_dir), revision=name,
            words_seen=read_words_seen(folder), fast=fast, seed=seed, batch_size=batch_size,
            max_tokens=max_tokens, precision=precision, progress=progress and not many)
        del model
    if many:
        hf_logging.enable_progress_bar()
    result = {"schema_version": 1, "run": str(run_dir), "revisions": per_revision,
              "learning_curve": learning_curve(per_revision)}
    if plot_path is not None:
        plot_learning_curve(result, plot_path)
    return result



def write_run_outputs(run_result: dict, out_json: str | Path) -> dict[str, Path]:
    """Write a run's results JSON, its learning-curve table (.md) and plot (.png) side by side.

    ``out_json`` = RUN/results.json gives RUN/learning_curve.md and RUN/learning_curve.png.
    Every file is written atomically; the plot is skipped when no revision knows its words seen.
    """
    from nestling.evaluation.results import (format_learning_curve, keep_other_sections, results_lock, write_results,
                                             write_text_atomic)

    out_json = Path(out_json)
    with results_lock(out_json):
        paths = {"results": write_results(keep_other_sections(run_result, out_json), out_json)}
    table = format_learning_curve(run_result) + "\n"
    paths["table"] = write_text_atomic(table, out_json.with_name("learning_curve.md"))
    if any(p["words_seen"] for p in run_result["learning_curve"]):
        paths["plot"] = plot_learning_curve(run_result, out_json.with_name("learning_curve.png"))
    return paths
