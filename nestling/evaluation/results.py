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
          "near_ties_rescored": 4,           # items whose best two lay within 1e-4 nats: rescored as the
                                             # official code scores them (scoring.settle_near_ties)
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

    "multilingual": {"schema_version": 1, "model": "path", "harness": "lm-eval 0.4.13" | "nestling native ...",
      "backend": "native" | "lm-eval" | "nestling", "num_fewshot": 0, "limit": null, "tasks_dir": "path",
      "requested": ["zeroshot_eng", ...],           # the groups (or tasks) asked for
      "groups": ["zeroshot_eng", "blimp", ...],     # groups that ran, nested ones included
      "data": {TASK: "local file" | "hub dataset path"}, "skipped": {TASK: "why"},
      "revisions": {REV: {"words_seen": int | null,
                          "scores": {TASK_OR_GROUP: {"acc": 0.61, "acc_stderr": 0.02, "n": 300, ...}}}},
      "learning_curve": [{"revision": REV, "words_seen": int | null, REQUESTED: acc, ...}, ...]}

Scores are lm-eval's own (metric name without the ",none" filter suffix; other filters keep it).
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from nestling.files import write_atomic

SCHEMA_VERSION = 1
SCORING_RULE = ("sum of token log-probs; first token and the tokenizer's special tokens never scored; "
                "no length normalisation")


def write_results(results: dict, out_path: str | Path) -> Path:
    """Write results as JSON atomically (temp file + rename): never a partial file at out_path."""
    return write_atomic(out_path, json.dumps(results, indent=2, ensure_ascii=False) + "\n")


RESULTS_SIZE_ESTIMATE = 1_000_000  # a run's results.json with every revision and UID stays under this


def check_results_out(out: str | Path | None, model: str | Path, data=()) -> None:
    """Before any scoring: the results file is neither the model nor an input, and it can be written
    (writable, and free space for it), so a long evaluation is never lost at its last step."""
    from nestling.errors import UserError
    from nestling.files import check_output, refuse_overlap

    if out is None:
        return
    if Path(out).resolve() == Path(model).resolve():
        raise UserError(f"--out {out}: is the model being evaluated; choose another results file")
    refuse_overlap(out, list(data))
    check_output(out, RESULTS_SIZE_ESTIMATE, "results.json")


@contextlib.contextmanager
def results_lock(out_path: str | Path):
    """The short lock around a read-merge-write of a results file (not held while scoring): two commands
    that each write their own section of one results.json both land. A temporary of it left by a killed
    writer goes."""
    from nestling.files import LOCK_WAIT_S, output_lock, remove_stale_temporaries

    with output_lock(out_path, wait_s=LOCK_WAIT_S):
        remove_stale_temporaries(Path(out_path).parent, Path(out_path).name)
        yield


# Sections of a run's results.json that other commands (or strict-full's AoA) own: a zero-shot rerun keeps them.
OTHER_COMMANDS_SECTIONS = ("finetune", "multilingual", "aoa")


def keep_other_sections(result: dict, out_path: str | Path) -> dict:
    """``result`` plus the sections other commands wrote into ``out_path`` earlier (`nestling finetune`'s
    "finetune", `nestling eval --suite multilingual`'s "multilingual"), unless ``result`` has its own."""
    out_path = Path(out_path)
    try:
        previous = json.loads(out_path.read_text(encoding="utf-8")) if out_path.is_file() else {}
    except json.JSONDecodeError:
        # An unreadable earlier file has nothing to keep; the new one replaces it.
        return result
    kept = {k: previous[k] for k in OTHER_COMMANDS_SECTIONS if k in previous and k not in result}
    return {**result, **kept}


def write_text_atomic(text: str, out_path: str | Path) -> Path:
    """Write text atomically (temp file + rename)."""
    return write_atomic(out_path, text)


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


def language_table(results: dict, revision: str = "final") -> str:
    """Per-language, per-phenomenon accuracy of one revision (the demo's closing table)."""
    tasks = results["revisions"][revision]["tasks"] if "revisions" in results else results["tasks"]
    rows = ["| language | phenomenon | pairs | accuracy |", "|---|---|---:|---:|"]
    for task, res in tasks.items():
        lang = task.split("_")[0]
        for uid, cell in sorted(res["by_uid"].items()):
            rows.append(f"| {lang} | {uid} | {cell['n']} | {cell['acc']:.3f} |")
        rows.append(f"| {lang} | **mean over phenomena** | {res['n_items']} | **{res['macro_acc']:.3f}** |")
    return "\n".join(rows)
