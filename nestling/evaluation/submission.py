"""Prediction files in the layout the official collation scripts read.

The official runners write, under ``--output_dir`` (``results`` by default)::

    <model name>/<revision>/zero_shot/causal/<task>/<dataset>/predictions.json   # minimal pairs, WUG
    <model name>/<revision>/zero_shot/causal/reading/predictions.json             # reading

with ``<revision>`` = ``main`` for the final model and ``chck_*`` for checkpoints, and each file
``{uid: {"predictions": [{"id": ..., "pred": ..., ...}]}}`` (reading: ``{"reading": {"predictions":
[{"id", "pred", "prev_pred"}]}}``). ``collate_preds.py`` reads these folders;
``calculate_results_from_pred.py`` reads ``<model name>/<revision>/all_{fast,full}_preds_causal.json``,
one dict keyed blimp, blimp_supplement, ewok, entity_tracking, wug_adj, wug_past, (comps,) reading,
which nestling writes beside them. Point those scripts at ``--results_dir <submission dir>
--model_path_or_name <model name> --backend causal``.
"""

from __future__ import annotations

from pathlib import Path

from nestling.evaluation.results import write_results

BACKEND = "causal"


def official_revision(revision: str) -> str:
    """The official name of a revision: the final model is ``main``."""
    return "main" if revision == "final" else revision


def prediction_path(root: str | Path, model_name: str, revision: str, task) -> Path:
    """Where the official runner would write a task's predictions.json (task: a SuiteTask)."""
    base = Path(root) / model_name / official_revision(revision) / "zero_shot" / BACKEND
    if task.kind == "reading":
        return base / "reading" / "predictions.json"
    return base / task.kind / task.dataset / "predictions.json"


def write_revision_submission(root: str | Path, model_name: str, revision: str, group: str,
                              tasks: dict[str, tuple], predictions: dict[str, dict]) -> dict[str, Path]:
    """Write one revision's predictions.json files and its all_<group>_preds_causal.json collation."""
    written, collated = {}, {}
    for name, preds in predictions.items():
        task = tasks[name][0]
        written[name] = write_results(preds, prediction_path(root, model_name, revision, task))
        collated[task.collate_key] = preds
    rev_dir = Path(root) / model_name / official_revision(revision)
    written["collated"] = write_results(collated, rev_dir / f"all_{group}_preds_{BACKEND}.json")
    return written
