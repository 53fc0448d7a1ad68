"""The strict-track zero-shot suites, run the way the official shell scripts run them.

``strict-fast``: the fast tasks (``fast_eval/...``) on every revision of a run: each ``chck_*``
and ``final`` (official ``eval_zero_shot_fast.sh`` / ``..._all_revisions.sh``).
``strict-full``: the fast tasks on every ``chck_*`` revision and the full tasks (``full_eval/...``)
on the final model (``eval_zero_shot.sh``), and on a run the AoA surprisals of every ``chck_*``
revision (``full_eval/aoa/cdi_childes.json``, scored against ``full_eval/aoa/cdi_human.csv``),
which is what a leaderboard submission holds (with `nestling finetune`'s predictions).
A single model folder gets the suite's fast (strict-fast) or full (strict-full) tasks.

The evaluation root is the official ``evaluation_data`` folder as users unzip it (``--eval-root``
or ``$NESTLING_EVAL_DATA``). A task whose folder is missing is reported (on stderr and under
``missing`` in the results) and skipped, never silently. A path entry that is a one-line text file
naming another path (a symlink checked out by git without symlink support) is followed.

Every minimal-pair and WUG task of a revision is scored in one deduplicated, shared-prefix pass
(`evaluate.score_items`); reading uses `reading.word_surprisals`. Scores follow
`nestling.evaluation.official`; submission files are written by `nestling.evaluation.submission`.

Result schema (``results.json``; a model folder has ``"model"`` instead of ``"run"`` and one
revision, ``main``)::

    {"schema_version": 1, "run": "path", "suite": "strict-fast", "eval_root": "path",
     "missing": [{"task", "group": "fast" | "full", "path", "reason"}],
     "revisions": {REV: {"revision", "words_seen", "suite", "task_set": "fast" | "full",
                         "headline": "score", "headline_tie_rule": "first", "seed", "fast", "scoring",
                         "tasks": {TASK: ...}}},
     "learning_curve": [{"revision", "words_seen", TASK: score, ...}],   # accuracy and WUG tasks
     "submission": "path",                                                # when files were written
     "aoa": {...}}                                                        # strict-full on a run

    aoa:          {"schema_version": 1, "metric": "pearson_r", "score": r | null (no cdi_human.csv),
                   "n_words": words fitted on both sides, "p_value", "revisions": [chck_* scored],
                   "rows_per_revision", "mean_surprisal": {REV: nats}, "n_nan", "contexts", "human",
                   "exact": {"mode": "all" | "off", "words", "rows"} (--aoa-exact all|off) | {"mode": "rescue", "words",
                   "kept_words", "sensitive_words", "rows", "tolerance", "draws"} | null (no cdi_human.csv)}
                   (nestling.evaluation.aoa; the surprisals go to the submission's AoA_word/surprisal.json)

    accuracy task: nestling's aggregate (by_uid, macro_acc with random ties, ...) + "kind",
        "metric": "accuracy", "score" (official: fraction, first-candidate ties, mean over UIDs;
        entity tracking: mean over splits, "by_split")
    WUG task:     {"format": "wug", "kind", "metric": "spearman", "n_items", "score": rho}
    reading:      {"format": "reading", "kind", "metric": "delta_r2_pct", "n_items",
                   "eye_tracking", "self_paced_reading" (percent), "by_measure": {measure: {...}}}
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from nestling.errors import UserError
from nestling.recipe import STRICT_SUITES

ENV_EVAL_ROOT = "NESTLING_EVAL_DATA"


@dataclass(frozen=True)
class SuiteTask:
    """One official task: result name, official task (run.py --task, or reading), data path, collation key."""

    name: str
    kind: str  # blimp | ewok | entity_tracking | wug_adj | wug_past | comps | reading
    path: str  # relative to the evaluation root
    collate_key: str  # key in all_{fast,full}_preds_<backend>.json

    @property
    def dataset(self) -> str:
        """The folder name the official output path uses (``args.data_path.stem``)."""
        return Path(self.path).name


FAST_TASKS = (
    SuiteTask("blimp_fast", "blimp", "fast_eval/blimp_fast", "blimp"),
    SuiteTask("supplement_fast", "blimp", "fast_eval/supplement_fast", "blimp_supplement"),
    SuiteTask("ewok_fast", "ewok", "fast_eval/ewok_fast", "ewok"),
    SuiteTask("wug_adj_nominalization", "wug_adj", "fast_eval/wug_adj_nominalization", "wug_adj"),
    SuiteTask("wug_past_tense", "wug_past", "fast_eval/wug_past_tense", "wug_past"),
    SuiteTask("entity_tracking_fast", "entity_tracking", "fast_eval/entity_tracking_fast", "entity_tracking"),
    SuiteTask("reading", "reading", "fast_eval/reading/reading_data.csv", "reading"),
)
FULL_TASKS = (
    SuiteTask("blimp_filtered", "blimp", "full_eval/blimp_filtered", "blimp"),
    SuiteTask("supplement_filtered", "blimp", "full_eval/supplement_filtered", "blimp_supplement"),
    SuiteTask("ewok_filtered", "ewok", "full_eval/ewok_filtered", "ewok"),
    SuiteTask("entity_tracking", "entity_tracking", "full_eval/entity_tracking", "entity_tracking"),
    SuiteTask("wug_adj_nominalization", "wug_adj", "full_eval/wug_adj_nominalization", "wug_adj"),
    SuiteTask("wug_past_tense", "wug_past", "full_eval/wug_past_tense", "wug_past"),
    SuiteTask("comps", "comps", "full_eval/comps", "comps"),
    SuiteTask("reading", "reading", "full_eval/reading/reading_data.csv", "reading"),
)
_FORMAT = {"ewok": "ewok", "entity_tracking": "entity_tracking", "wug_adj": "wug", "wug_past": "wug",
           "comps": "comps"}


def eval_root(path: str | Path | None) -> Path:
    """The evaluation_data folder: ``path``, else $NESTLING_EVAL_DATA; it must exist."""
    if path is None:
        path = os.environ.get(ENV_EVAL_ROOT)
        if not path:
            raise UserError(f"a suite needs the official evaluation_data folder: --eval-root DIR or ${ENV_EVAL_ROOT}")
    root = Path(path)
    if not root.is_dir():
        raise UserError(f"{root}: evaluation root not found (expected the official evaluation_data folder "
                        "holding fast_eval/ and full_eval/)")
    return root


def _follow(path: Path) -> Path | None:
    """path itself, or the path a one-line link file names; None when nothing is there."""
    if path.is_dir():
        return path
    if not path.is_file():
        return None
    if path.stat().st_size < 1024 and not path.suffix:
        try:
            target = path.read_text(encoding="utf-8").strip()
        except UnicodeDecodeError:
            return path
        if target and "\n" not in target and (path.parent / target).exists():
            return path.parent / target
    return path


def resolve_task_path(root: Path, relative: str) -> Path | None:
    """root/relative, following link files component by component; None when missing."""
    path = root
    for part in Path(relative).parts:
        path = _follow(path / part)
        if path is None:
            return None
    return path


def locate_tasks(suite: str, root: Path) -> tuple[dict[str, tuple[SuiteTask, Path]], dict[str, tuple[SuiteTask, Path]],
                                                  list[dict]]:
    """(fast tasks found, full tasks found, missing) for a suite; strict-fast needs no full task."""
    if suite not in STRICT_SUITES:
        raise UserError(f"unknown suite {suite!r}; choose one of: {', '.join(STRICT_SUITES)}")
    found: dict[str, dict[str, tuple[SuiteTask, Path]]] = {"fast": {}, "full": {}}
    missing = []
    groups = {"fast": FAST_TASKS, "full": FULL_TASKS if suite == "strict-full" else ()}
    for group, tasks in groups.items():
        for task in tasks:
            path = resolve_task_path(root, task.path)
            ok = path is not None and (path.is_file() if task.kind == "reading" else
                                       path.is_dir() and any(path.glob("*.jsonl")))
            if ok:
                found[group][task.name] = (task, path)
            else:
                missing.append({"task": task.name, "group": group, "path": str(root / task.path),
                                "reason": "not found" if path is None else "no data in it"})
    return found["fast"], found["full"], missing


def locate_aoa(root: Path, missing: list[dict], log) -> tuple[Path, Path | None] | None:
    """(cdi_childes.json, cdi_human.csv or None) under full_eval/aoa; what is absent goes to ``missing``."""
    from nestling.evaluation.aoa import AOA_DIR, CONTEXTS_FILE, HUMAN_FILE

    found = {}
    for name in (CONTEXTS_FILE, HUMAN_FILE):
        found[name] = resolve_task_path(root, f"{AOA_DIR}/{name}")
        if found[name] is None:
            missing.append({"task": "aoa" if name == CONTEXTS_FILE else "aoa_score", "group": "full",
                            "path": str(root / AOA_DIR / name), "reason": "not found"})
            log(f"strict-full: skipped AoA {'surprisals' if name == CONTEXTS_FILE else 'score'}: "
                f"{root / AOA_DIR / name} not found (download it from the link in the official AoA_word README)")
    if found[CONTEXTS_FILE] is None:
        return None
    return found[CONTEXTS_FILE], found[HUMAN_FILE]


def load_suite_task(task: SuiteTask, path: Path):
    """A Task (minimal pairs / WUG) or a reading DataFrame, decoded as the official task does."""
    from nestling.evaluation.reading import load_reading
    from nestling.evaluation.tasks import Task, load_file, read_jsonl

    if task.kind == "reading":
        return load_reading(path)
    files = sorted(path.glob("*.jsonl"))
    items, formats = [], []
    for file in files:
        # Official decode_blimp: a record with "field" is BLiMP, anything else the supplement.
        fmt = _FORMAT.get(task.kind) or ("blimp" if "field" in read_jsonl(file)[0] else "supplement")
        fmt, file_items = load_file(file, fmt)
        formats.append(fmt)
        items.extend(file_items)
    fmt = formats[0] if len(set(formats)) == 1 else "+".join(sorted(set(formats)))
    return Task(task.name, fmt, items, files)


def revision_plan(target: Path, suite: str, revisions: str | list[str] = "all") -> tuple[bool, dict[str, tuple[Path, str]]]:
    """(is a run, {revision: (model folder, "fast" | "full")}) in evaluation order."""
    from nestling.evaluation.runs import is_run_dir, select_revisions

    if is_run_dir(target):
        selected = select_revisions(target, revisions)
        full_final = suite == "strict-full"
        return True, {rev: (folder, "full" if full_final and rev == "final" else "fast")
                      for rev, folder in selected.items()}
    if not (target / "config.json").is_file():
        raise UserError(f"{target}: neither a model folder (config.json) nor a run folder (checkpoints/, final/)")
    return False, {"main": (target, "fast" if suite == "strict-fast" else "full")}


def evaluate_revision(model, tokenizer, tasks: dict[str, tuple[SuiteTask, object]], *, seed: int = 0,
                      batch_size: int = 64, max_tokens: int = 16384, precision: str = "fp32",
                      progress: bool = True) -> tuple[dict, dict]:
    """({task name: result}, {task name: official predictions}) of one loaded model."""
    from nestling.evaluation.evaluate import score_items
    from nestling.evaluation.official import task_predictions, task_result
    from nestling.evaluation.reading import evaluate_reading

    pair_tasks = [(t, data) for t, data in tasks.values() if t.kind != "reading"]
    near_ties: dict[str, int] = {}
    per_task = score_items(model, tokenizer, [data for _, data in pair_tasks], batch_size=batch_size,
                           max_tokens=max_tokens, precision=precision, progress=progress, near_ties=near_ties)
    results, predictions = {}, {}
    for (task, data), per_item in zip(pair_tasks, per_task):
        results[task.name] = {**task_result(task.kind, data, per_item, seed),
                              "near_ties_rescored": near_ties[data.name]}
        predictions[task.name] = task_predictions(task.kind, data, per_item)
    for task, df in (v for v in tasks.values() if v[0].kind == "reading"):
        result, preds = evaluate_reading(model, tokenizer, df, batch_size=batch_size, max_tokens=max_tokens,
                                         progress=progress)
        results[task.name] = {**result, "kind": "reading"}
        predictions[task.name] = {"reading": {"predictions": preds}}
    ordered = [name for name in tasks if name in results]
    return {n: results[n] for n in ordered}, {n: predictions[n] for n in ordered}


def suite_curve(revision_results: dict[str, dict]) -> list[dict]:
    """One point per revision: words seen and each accuracy/WUG task's official score (a fraction)."""
    return [{"revision": rev, "words_seen": res.get("words_seen"),
             **{task: t["score"] for task, t in res["tasks"].items() if "score" in t}}
            for rev, res in revision_results.items()]


def run_suite(target: str | Path, suite: str, root: str | Path | None = None, *, revisions: str | list[str] = "all",
              batch_size: int = 64, max_tokens: int = 16384, device: str = "auto", precision: str = "fp32",
              seed: int = 0, progress: bool = True, submission_dir: str | Path | None = None,
              log=None, trust_remote_code: bool = False, aoa_exact: str = "rescue",
              allow_tokenizer_mismatch: bool = False) -> dict:
    """Run a strict suite on a model folder or every revision of a run; returns the results dict.

    ``aoa_exact`` (`AOA_EXACT_MODES`): "rescue" = the fast path, then the words whose fit decides the
    score rescored with the official arithmetic (`nestling.evaluation.aoa.exact_words`); "all" = every
    AoA row with the official arithmetic; "off" = the fast path only.

    Writes nothing but the official submission files under ``submission_dir`` when given.
    ``log`` (default: print to stderr) receives one line per skipped (missing) task.
    """
    from nestling.evaluation.aoa import AOA_EXACT_MODES, aoa_section, exact_counts, load_contexts, surprisal_file
    from nestling.evaluation.results import SCHEMA_VERSION
    from nestling.evaluation.submission import finish_full_submission

    if aoa_exact not in AOA_EXACT_MODES:
        raise UserError(f"aoa_exact: expected one of {', '.join(AOA_EXACT_MODES)}, got {aoa_exact!r}")
    log = log or (lambda line: print(line, file=sys.stderr))
    target = Path(target)
    if not target.exists():
        raise UserError(f"{target}: no such model or run folder")
    root = eval_root(root)
    is_run, plan = revision_plan(target, suite, revisions)
    fast, full, missing = locate_tasks(suite, root)
    for m in missing:
        log(f"{suite}: skipped {m['task']} ({m['group']}): {m['path']} {m['reason']}")
    aoa_files = locate_aoa(root, missing, log) if suite == "strict-full" and is_run else None
    groups = {"fast": fast, "full": full}
    needed = {g for _, g in plan.values()}
    if not any(groups[g] for g in needed) and not aoa_files:
        raise UserError(f"{root}: none of the {suite} tasks were found (see the skipped tasks above)")
    data = {g: {name: (task, load_suite_task(task, path)) for name, (task, path) in groups[g].items()}
            for g in needed}
    options = dict(batch_size=batch_size, max_tokens=max_tokens, precision=precision, progress=progress)
    per_revision, aoa_rows = evaluate_plan(target, suite, plan, data, load_contexts(aoa_files[0]) if aoa_files else None,
                                           submission_dir=submission_dir, device=device, seed=seed,
                                           trust_remote_code=trust_remote_code, aoa_exact=aoa_exact,
                                           allow_tokenizer_mismatch=allow_tokenizer_mismatch, **options)
    result = {"schema_version": SCHEMA_VERSION, ("run" if is_run else "model"): str(target), "suite": suite,
              "eval_root": str(root), "missing": missing, "revisions": per_revision,
              "learning_curve": suite_curve(per_revision)}
    if aoa_rows:
        exact = (exact_counts(aoa_exact, aoa_rows) if aoa_exact != "rescue" else
                 rescue_aoa_rows(plan, aoa_rows, aoa_files[1], device=device, trust_remote_code=trust_remote_code,
                                 allow_tokenizer_mismatch=allow_tokenizer_mismatch))
        result["aoa"] = aoa_section(aoa_rows, aoa_files[1], aoa_files[0], exact)
    if submission_dir is not None:
        result["submission"] = str(submission_dir)
        if suite == "strict-full":
            finish_full_submission(submission_dir, target.name,
                                   surprisal_file(target.name, aoa_rows) if aoa_rows else None)
    return result


def rescue_aoa_rows(plan: dict, rows: list[dict], human_path: Path | None, *, device: str,
                    trust_remote_code: bool, allow_tokenizer_mismatch: bool = False) -> dict | None:
    """Rescore, in place, the rows of `exact_words` with the official arithmetic; their counts."""
    from nestling.evaluation.aoa import exact_counts, exact_words, read_human, rescore_exact
    from nestling.evaluation.evaluate import load_model

    if human_path is None:  # no score: nothing to make exact
        return None
    words = exact_words(rows, read_human(human_path))
    chosen = set(words["kept"]) | set(words["sensitive"])
    for rev in dict.fromkeys(r["step"] for r in rows) if chosen else ():
        model, tokenizer = load_model(plan[rev][0], device=device, trust_remote_code=trust_remote_code,
                                      allow_tokenizer_mismatch=allow_tokenizer_mismatch)
        rescore_exact(model, tokenizer, [r for r in rows if r["step"] == rev], chosen)
        del model
    return exact_counts("rescue", rows, words)


def evaluate_plan(target: Path, suite: str, plan: dict, data: dict, aoa_words: list | None, *, submission_dir,
                  device: str, seed: int, trust_remote_code: bool, aoa_exact: str = "rescue",
                  allow_tokenizer_mismatch: bool = False,
                  **options) -> tuple[dict, list[dict]]:
    """({revision: result}, AoA surprisal rows): each revision loaded once, its tasks and AoA scored."""
    from nestling.evaluation.aoa import revision_rows
    from nestling.evaluation.evaluate import load_model, read_words_seen
    from nestling.evaluation.results import SCHEMA_VERSION, SCORING_RULE
    from nestling.evaluation.submission import write_revision_submission
    from nestling.run_folder import is_revision_name

    per_revision, aoa_rows = {}, []
    for rev, (folder, group) in plan.items():
        # Each revision's own folder: a local path with revision= would load the same weights every time.
        model, tokenizer = load_model(folder, device=device, trust_remote_code=trust_remote_code,
                                      allow_tokenizer_mismatch=allow_tokenizer_mismatch)
        tasks, predictions = ({}, {}) if not data[group] else evaluate_revision(model, tokenizer, data[group],
                                                                                seed=seed, **options)
        if aoa_words is not None and is_revision_name(rev):
            aoa_rows += revision_rows(model, tokenizer, rev, aoa_words, exact=aoa_exact == "all", **options)
        del model
        per_revision[rev] = {
            "schema_version": SCHEMA_VERSION, "model": str(target), "revision": rev,
            "words_seen": read_words_seen(folder), "suite": suite, "task_set": group,
            "headline": "score", "headline_tie_rule": "first", "seed": seed, "fast": group == "fast",
            "scoring": SCORING_RULE, "tasks": tasks,
        }
        if submission_dir is not None and data[group]:
            write_revision_submission(submission_dir, target.name, rev, group, data[group], predictions)
    return per_revision, aoa_rows


def _cell(task: dict) -> str:
    if task.get("metric") == "delta_r2_pct":
        return f"ET {task['eye_tracking']:.2f} / SPR {task['self_paced_reading']:.2f}"
    if task.get("metric") == "spearman":
        return f"{task['score']:.3f}"
    return f"{100 * task['score']:.1f}"


def _exact_note(aoa: dict) -> str:
    exact = aoa.get("exact")
    if not exact:
        return ""
    if exact["mode"] != "rescue":
        return "; every row with the official arithmetic" if exact["mode"] == "all" else "; fast rows only"
    return (f"; {exact['words']} words ({exact['rows']} rows) rescored with the official arithmetic "
            f"({exact['kept_words']} scored, {exact['sensitive_words']} with a fit sensitive at "
            f"{exact['tolerance']:g} nats)")


def format_suite_table(result: dict) -> str:
    """Markdown: one row per revision, each task's official score (accuracy %, rho, reading dR2 %)."""
    revisions = result["revisions"]
    tasks = list(dict.fromkeys(t for r in revisions.values() for t in r["tasks"]))
    rows = [f"**{result['suite']}** (accuracy %, WUG Spearman rho, reading: % of max R2 increase; official "
            "scoring, ties to the first candidate)", "",
            "| revision | words seen | " + " | ".join(tasks) + " |", "|---|---:|" + "---:|" * len(tasks)]
    for rev, r in revisions.items():
        words = "-" if r.get("words_seen") is None else f"{round(r['words_seen']):,}"
        rows.append(f"| {rev} | {words} | " + " | ".join(_cell(r["tasks"][t]) if t in r["tasks"] else "-"
                                                         for t in tasks) + " |")
    aoa = result.get("aoa")
    if aoa:
        score = "-" if aoa["score"] is None else f"{aoa['score']:.3f}"
        rows += ["", f"AoA (Pearson r, model vs child age of acquisition): {score} over {aoa['n_words']} words, "
                 f"{len(aoa['revisions'])} revisions x {aoa['rows_per_revision']} contexts{_exact_note(aoa)}"]
    if result.get("missing"):
        rows += ["", "Skipped (missing under the evaluation root): "
                 + ", ".join(f"{m['task']} ({m['group']})" for m in result["missing"])]
    return "\n".join(rows)


def write_suite_outputs(result: dict, out_json: str | Path) -> Path:
    """results.json (atomic) and suite.md beside it; returns the JSON path."""
    from nestling.evaluation.results import keep_other_sections, results_lock, write_results, write_text_atomic

    out_json = Path(out_json)
    # The finetune and multilingual sections other commands wrote into the same file stay.
    with results_lock(out_json):
        write_results(keep_other_sections(result, out_json), out_json)
    write_text_atomic(format_suite_table(result) + "\n", out_json.with_name("suite.md"))
    return out_json


def recipe_suite(run_dir: Path) -> tuple[str | None, str | None]:
    """(eval.suite, eval.eval_root) of the recipe a run was trained with (RUN/recipe.yaml), or Nones."""
    from nestling.safe_yaml import AliasRefused, load_yaml

    path = Path(run_dir) / "recipe.yaml"
    if not path.is_file():
        return None, None
    try:
        recipe = load_yaml(path.read_text(encoding="utf-8"), str(path)) or {}
    except AliasRefused:
        raise
    except UserError:
        return None, None
    cfg = recipe.get("eval") or {} if isinstance(recipe, dict) else {}
    return cfg.get("suite"), cfg.get("eval_root")


def evaluate_suite_path(target: Path, suite: str, root: str | Path | None = None, *, out: Path | None = None,
                        submission: Path | None = None, **options) -> str:
    """CLI job: run a suite, write results.json (+ suite.md) and the submission files; return the table.

    A run writes RUN/results.json and RUN/submission/ by default; a model folder writes only what
    ``out`` / ``submission`` name.
    """
    from nestling.evaluation.results import check_results_out
    from nestling.evaluation.runs import is_run_dir

    target = Path(target)
    if is_run_dir(target):
        out = out or target / "results.json"
        submission = submission or target / "submission"
    check_results_out(out, target)
    result = run_suite(target, suite, root, submission_dir=submission, **options)
    lines = [format_suite_table(result)]
    if out is not None:
        write_suite_outputs(result, out)
        lines.append(f"\nresults: {out}")
    if submission is not None:
        lines.append(f"submission files: {submission}/{target.name}/<revision>/ (official collate_preds.py / "
                     f"calculate_results_from_pred.py: --results_dir {submission} --model_path_or_name {target.name} "
                     "--backend causal)")
        if suite == "strict-full":
            lines.append(format_gaps(submission, target))
    return "\n".join(lines)


def run_track(target: Path) -> str:
    """The BabyLM track a run was trained for (its recipe's data.track), "strict" when unknown."""
    from nestling.run_folder import read_recipe

    recipe = read_recipe(target) if Path(target).is_dir() else None
    track = ((recipe or {}).get("data") or {}).get("track") if isinstance(recipe, dict) else None
    return track if isinstance(track, str) else "strict"


def format_gaps(submission: Path, target: Path) -> str:
    """One list of what a complete strict-track submission still lacks (task x revision)."""
    from nestling.evaluation.submission import submission_gaps

    gaps = submission_gaps(submission, Path(target).name, run_track(target))
    if not gaps:
        return f"complete: {submission}/{Path(target).name} holds every file the official full collation checks"
    return "\n".join([f"missing for a complete submission ({len(gaps)}):"] + [f"- {g}" for g in gaps])


def check_submission(target: Path, submission: Path | None = None) -> tuple[str, bool]:
    """``nestling eval RUN --suite strict-full --check``: (the gaps list, complete?) without evaluating."""
    from nestling.evaluation.submission import submission_gaps

    target = Path(target)
    submission = Path(submission) if submission is not None else target / "submission"
    if not submission.is_dir():
        raise UserError(f"{submission}: no submission folder (run `nestling eval {target} --suite strict-full` first)")
    return format_gaps(submission, target), not submission_gaps(submission, target.name, run_track(target))
