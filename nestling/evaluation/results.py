"""The results JSON (``results.json``), its atomic writer, and Markdown tables.

Schema of one model (``evaluate_model``); accuracies are fractions in [0, 1]::

    {
      "schema_version": 1,
      "model": "path or hub id",          "revision": "chck_10M" | null,
      "words_seen": 10000000 | null,      # from the checkpoint's checkpoint.json
      "headline": "macro_acc",            # the unweighted mean over UIDs with random tie-break
      "headline_tie_rule": "random",      # ties broken at random with "seed"; tie credit also reported
      "seed": 0,
      "fast": false,                      # true: deterministic fast subsets (nestling.evaluation.fast)
      "scoring": "sum of token log-probs; first token and special tokens never scored; no length normalisation",
      "tasks": {
        TASK: {
          "format": "blimp", "files": ["..."],
          "n_items": 67000, "n_uids": 67, "n_ties": 7,
          "macro_acc": 0.71,                 # mean over UIDs of per-UID accuracy (random ties): HEADLINE
          "weighted_acc": 0.70,              # correct items / all items (random ties)
          "macro_acc_tie_credit": 0.71,      # as above, a k-way tie holding the answer earns 1/k
          "weighted_acc_tie_credit": 0.70,
          "by_uid": {UID: {"n", "acc", "acc_tie_credit", "n_ties", "field", "term"}},
          "by_field": {FIELD: {"n", "n_uids", "acc", "acc_tie_credit",        # acc: mean over its UIDs
                               "weighted_acc", "weighted_acc_tie_credit"}},  # weighted: over its items
          "by_term": {TERM: same keys as by_field}
        }
      }
    }

Schema of a run (``evaluate_run``)::

    {"schema_version": 1, "run": "path", "revisions": {REV: <one-model result>},
     "learning_curve": [{"revision": REV, "words_seen": int | null, TASK: macro_acc, ...}, ...]}

``learning_curve`` is ordered by words seen, ``final`` last.

``nestling eval RUN --suite multilingual`` (nestling.evaluation.multilingual) adds, beside the above::

    "multilingual": {"schema_version": 1, "model": "path", "harness": "lm-eval 0.4.13",
      "backend": "nestling" | "hf", "num_fewshot": 0, "limit": null, "tasks_dir": "path",
      "requested": ["zeroshot_eng", ...],           # the groups (or tasks) asked for
      "groups": ["zeroshot_eng", "blimp", ...],     # groups that ran, nested ones included
      "data": {TASK: "local file" | "hub dataset path"}, "skipped": {TASK: "why"},
      "revisions": {REV: {"words_seen": int | null,
                          "scores": {TASK_OR_GROUP: {"acc": 0.61, "acc_stderr": 0.02, "n": 300, ...}}}},
      "learning_curve": [{"revision": REV, "words_seen": int | null, REQUESTED: acc, ...}, ...]}

Scores are lm-eval's own (metric name without the ",none" filter suffix; other filters keep it).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

SCHEMA_VERSION = 1
SCORING_RULE = ("sum of token log-probs; first token and the tokenizer's special tokens never scored; "
                "no length normalisation")


def _write_atomic(out_path: str | Path, write) -> Path:
    """Call write(file) on a temp file in the target folder, then rename it over out_path.

    On any error the temp file is removed and no (partial) file appears at ``out_path``.
    """
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out_path.name}.", suffix=".tmp", dir=out_path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            write(f)
        os.replace(tmp, out_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out_path


def write_results(results: dict, out_path: str | Path) -> Path:
    """Write results as JSON atomically (temp file + rename): never a partial file at out_path."""
    def dump(f):
        json.dump(results, f, indent=2, ensure_ascii=False)
        f.write("\n")

    return _write_atomic(out_path, dump)


def write_text_atomic(text: str, out_path: str | Path) -> Path:
    """Write text atomically (temp file + rename)."""
    return _write_atomic(out_path, lambda f: f.write(text))


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def _model_table(result: dict) -> str:
    rows = ["| task | format | items | UIDs | ties | macro acc | weighted acc | macro (tie credit) |",
            "|---|---|---:|---:|---:|---:|---:|---:|"]
    for name, task in result["tasks"].items():
        rows.append(f"| {name} | {task['format']} | {task['n_items']} | {task['n_uids']} | {task['n_ties']} | "
                    f"{_pct(task['macro_acc'])} | {_pct(task['weighted_acc'])} | "
                    f"{_pct(task['macro_acc_tie_credit'])} |")
    return "\n".join(rows)


def format_learning_curve(run_result: dict) -> str:
    """Markdown table: one row per revision, macro accuracy (%) per task."""
    curve = run_result["learning_curve"]
    tasks = [k for k in (curve[0] if curve else {}) if k not in ("revision", "words_seen")]
    rows = ["| revision | words seen | " + " | ".join(tasks) + " |",
            "|---|---:|" + "---:|" * len(tasks)]
    for point in curve:
        words = "-" if point["words_seen"] is None else f"{round(point['words_seen']):,}"
        rows.append(f"| {point['revision']} | {words} | " + " | ".join(_pct(point[t]) for t in tasks) + " |")
    return "\n".join(rows)


def format_table(results: dict) -> str:
    """Markdown summary of a one-model result, or the learning-curve table of a run result.

    Accuracies are shown in percent; the headline column is "macro acc" (mean over UIDs,
    random tie-break with the recorded seed).
    """
    if "revisions" in results:
        return format_learning_curve(results)
    title = f"**{results['model']}**" + (f" @ {results['revision']}" if results.get("revision") else "")
    return f"{title} (headline: macro acc, ties {results['headline_tie_rule']}, seed {results['seed']})\n\n" \
        + _model_table(results)
