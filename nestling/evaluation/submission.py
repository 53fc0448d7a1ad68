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

A full (leaderboard) submission also holds, under ``<model name>/main/``::

    zero_shot/causal/AoA_word/surprisal.json        # AoA surprisals of every chck_* revision
    finetune/<task>/predictions.json                # {task: {"predictions": [{"id": "<task>_<n>", "pred": int}]}}

and its ``all_full_preds_causal.json`` then carries ``aoa`` (the surprisal file) and ``glue`` (the
fine-tuning predictions, one dict) as ``collate_preds.py`` builds them. `submission_gaps` lists what
a complete submission still lacks, task x revision, in one list.
"""

from __future__ import annotations

import json
from pathlib import Path

from nestling.evaluation.results import write_results

BACKEND = "causal"
GLUE_TASKS = ("boolq", "mnli", "mrpc", "multirc", "qqp", "rte", "wsc")
# The revisions the official collation expects (collate_preds: STRICT_SMALL_FAST_REVISIONS / OTHER_FAST_REVISIONS).
_SMALL = [f"chck_{i}M" for i in range(1, 10)] + [f"chck_{10 * i}M" for i in range(1, 11)]
_OTHER = _SMALL[:-1] + [f"chck_{100 * i}M" for i in range(1, 11)]
# (official task folder, dataset folder) of the fast and the full zero-shot tasks, as the collation checks them.
FAST_FILES = (("blimp", "blimp_fast"), ("blimp", "supplement_fast"), ("ewok", "ewok_fast"),
              ("entity_tracking", "entity_tracking_fast"), ("wug_adj", "wug_adj_nominalization"),
              ("wug_past", "wug_past_tense"), ("reading", None))
FULL_FILES = (("blimp", "blimp_filtered"), ("blimp", "supplement_filtered"), ("ewok", "ewok_filtered"),
              ("entity_tracking", "entity_tracking"), ("wug_adj", "wug_adj_nominalization"),
              ("wug_past", "wug_past_tense"), ("comps", "comps"), ("reading", None))


def expected_revisions(track: str = "strict") -> list[str]:
    """The checkpoints a complete submission of a track holds (strict-small: 19, otherwise 28)."""
    return list(_SMALL if track == "strict-small" else _OTHER)


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


def aoa_path(root: str | Path, model_name: str) -> Path:
    """Where the official AoA runner writes its surprisals (one file for all revisions, under main)."""
    return Path(root) / model_name / "main" / "zero_shot" / BACKEND / "AoA_word" / "surprisal.json"


def finetune_prediction_path(root: str | Path, model_name: str, revision: str, task: str) -> Path:
    return Path(root) / model_name / official_revision(revision) / "finetune" / task / "predictions.json"


def write_finetune_predictions(root: str | Path, model_name: str, revision: str, task: str, preds) -> Path:
    """One fine-tuning task's official predictions.json (``finetune/run.py --save_predictions``)."""
    content = {task: {"predictions": [{"id": f"{task}_{i}", "pred": int(p)} for i, p in enumerate(preds)]}}
    return write_results(content, finetune_prediction_path(root, model_name, revision, task))


def finish_full_submission(root: str | Path, model_name: str, aoa: dict | None) -> Path:
    """Write AoA_word/surprisal.json and add ``aoa`` and ``glue`` to main's all_full_preds_causal.json."""
    if aoa is not None:
        write_results(aoa, aoa_path(root, model_name))
    collated_path = Path(root) / model_name / "main" / f"all_full_preds_{BACKEND}.json"
    collated = json.loads(collated_path.read_text(encoding="utf-8")) if collated_path.is_file() else {}
    if aoa is not None:
        collated["aoa"] = aoa
    glue = {}
    for task in GLUE_TASKS:
        path = finetune_prediction_path(root, model_name, "main", task)
        if path.is_file():
            glue |= json.loads(path.read_text(encoding="utf-8"))
    if glue:
        collated["glue"] = glue
    return write_results(collated, collated_path)


def _aoa_gaps(path: Path, revisions: list[str]) -> list[str]:
    if not path.is_file():
        return ["AoA × every revision: AoA_word/surprisal.json missing"]
    counts: dict[str, int] = {}
    for row in json.loads(path.read_text(encoding="utf-8")).get("results", []):
        counts[row.get("step")] = counts.get(row.get("step"), 0) + 1
    from nestling.evaluation.aoa import OFFICIAL_ROWS

    gaps = [f"AoA × {rev}: no surprisals" for rev in revisions if rev not in counts]
    gaps += [f"AoA × {rev}: {n} rows, the official collation expects {OFFICIAL_ROWS} (the real cdi_childes.json)"
             for rev, n in counts.items() if rev in revisions and n != OFFICIAL_ROWS]
    gaps += [f"AoA × {rev}: not a revision the official collation expects" for rev in counts if rev not in revisions]
    return gaps


def submission_gaps(root: str | Path, model_name: str, track: str = "strict") -> list[str]:
    """What a complete strict-track submission still lacks, one line per task x revision ([] when complete)."""
    base = Path(root) / model_name
    revisions = expected_revisions(track)
    gaps = []
    for kind, dataset in FULL_FILES:
        path = base / "main" / "zero_shot" / BACKEND / kind / (dataset or "") / "predictions.json"
        if not path.is_file():
            gaps.append(f"{dataset or kind} (full) × main: {path.relative_to(base)} missing")
    gaps += [f"{task} (fine-tuning) × main: run `nestling finetune RUN --suite glue` "
             f"({finetune_prediction_path(root, model_name, 'main', task).relative_to(base)} missing)"
             for task in GLUE_TASKS if not finetune_prediction_path(root, model_name, "main", task).is_file()]
    for rev in revisions:
        lacking = [dataset or kind for kind, dataset in FAST_FILES
                   if not (base / rev / "zero_shot" / BACKEND / kind / (dataset or "") / "predictions.json").is_file()]
        if lacking:
            gaps.append(f"fast tasks × {rev}: {', '.join(lacking)} missing")
    return gaps + _aoa_gaps(aoa_path(root, model_name), revisions)
