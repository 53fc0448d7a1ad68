"""`nestling finetune`: every task x revision x seed of a model folder or run, its table and results.

All task files are read and checked before any training starts, and results are written once, at the
end, atomically: a bad file stops the command with nothing written. A suite run reports the tasks it
cannot run (a missing split) as skipped and goes on.
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from statistics import mean, pstdev

from tqdm.auto import tqdm

from nestling.errors import UserError
from nestling.evaluation.finetune import strict
from nestling.evaluation.finetune.tasks import (GLUE_TASKS, MULTILINGUAL_TASKS, TaskData, TaskFiles, load_task,
                                                suite_files, task_files)

SCHEMA_VERSION = 1


def finetune_settings(model: Path, overrides: list[str] | None = None) -> dict:
    """The ``finetune`` recipe section: defaults, then the run's recipe.yaml, then ``--set finetune.*``."""
    from nestling.recipe import load_recipe
    from nestling.run_folder import read_recipe

    raw = (read_recipe(model) or {}).get("finetune") or {}
    bad = [o for o in overrides or [] if not o.strip().startswith("finetune.")]
    if bad:
        raise UserError(f"--set {bad[0]}: only finetune.* keys apply here")
    return load_recipe({"finetune": raw}, overrides)["finetune"]


def strict_settings(cfg: dict, task: str) -> strict.StrictSettings:
    """One task's hyper-parameters: the section's values with the official per-task batch size and epochs."""
    names = {f.name for f in fields(strict.StrictSettings)}
    settings = strict.StrictSettings(**{k: v for k, v in cfg.items() if k in names})
    if GLUE_TASKS.get(task) is not None and GLUE_TASKS[task].long_inputs:
        settings.batch_size = cfg["long_batch_size"]
    if task == "wsc":
        settings.epochs = cfg["wsc_epochs"]
    # Each size is positive already (the recipe schema); what remains is how two of them relate.
    if settings.batch_size % settings.gradient_accumulation:
        raise UserError(f"finetune.gradient_accumulation ({settings.gradient_accumulation}) must divide the "
                        f"batch size ({settings.batch_size})")
    return settings


@dataclass
class Plan:
    """What a finetune command will do, all inputs checked."""

    layout: str  # glue or multilingual
    tasks: list[TaskData]
    skipped: dict[str, str]
    revisions: dict[str, Path | str]
    seeds: list[int]
    trust_remote_code: bool = False  # run a folder's code that is not nestling's own
    allow_tokenizer_mismatch: bool = False  # use a folder whose tokenizer does not match its model


def _layout(names: list[str]) -> str:
    multilingual = [n for n in names if n.rpartition("_")[0] in MULTILINGUAL_TASKS]
    if multilingual and len(multilingual) < len(names):
        raise UserError("give glue tasks (rte, wsc...) or multilingual tasks (xnli_en...), not both at once")
    return "multilingual" if multilingual else "glue"


def load_tasks(suite: str | None, names: list[str], data_dir: Path, max_train: int | None
               ) -> tuple[str, list[TaskData], dict[str, str]]:
    """Read every task's files. A named task's missing split is an error; a suite's is a skip."""
    if not data_dir.is_dir():
        raise UserError(f"{data_dir}: no such data folder")
    if suite:
        layout, files = suite, suite_files(suite, data_dir)
    else:
        layout = _layout(names)
        files = task_files(names, data_dir, layout)
    tasks, skipped = [], {}
    for f in files:
        reason = f.missing()
        if reason and suite:
            skipped[f.name] = reason
            continue
        if reason:
            raise UserError(f"task {f.name}: {reason}")
        task = load_task(f.name, f.spec, f.train, f.valid)
        if max_train is not None:
            for attr in ("texts", "labels", "lines"):
                setattr(task.train, attr, getattr(task.train, attr)[:max_train])
        tasks.append(task)
    if not tasks:
        raise UserError(f"{data_dir}: no task of the {suite} suite has both splits here "
                        f"({'; '.join(f'{k}: {v}' for k, v in skipped.items())})" if suite else "no task given")
    return layout, tasks, skipped


def resolve_revisions(model: Path, revisions: str | list[str]) -> dict[str, Path]:
    """A run's revisions (final, all, or names) -> model folders; a plain model folder is its own `main`."""
    from nestling.evaluation.runs import select_revisions
    from nestling.run_folder import is_run_dir

    if not model.exists():
        raise UserError(f"{model}: no such model or run folder")
    if is_run_dir(model):
        return select_revisions(model, revisions)
    if not (model / "config.json").is_file():
        raise UserError(f"{model}: not a transformers model folder (no config.json) nor a run folder")
    return {"main": model}


def check_tokenizers(plan: Plan) -> None:
    """Every revision's tokenizer matches its model (nestling.evaluation.tokenizer_match), before any training."""
    from transformers import AutoConfig

    from nestling.evaluation.tokenizer_match import check_tokenizer
    from nestling.evaluation.trust import allow_remote_code

    for folder in plan.revisions.values():
        remote = allow_remote_code(folder, plan.trust_remote_code)
        try:
            config = AutoConfig.from_pretrained(folder, trust_remote_code=remote).to_dict()
        except (OSError, ValueError, TypeError) as err:
            raise UserError(f"{folder}: cannot read config.json ({str(err).splitlines()[0][:200]})") from None
        check_tokenizer(folder, config, _read_tokenizer(folder, remote), plan.allow_tokenizer_mismatch)


def _read_tokenizer(folder, remote: bool):
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(folder, trust_remote_code=remote)
    except (OSError, ValueError) as err:
        raise UserError(f"{folder}: cannot load the tokenizer ({str(err).splitlines()[0]})") from None


def _load_tokenizer(folder, remote: bool = False):
    tokenizer = _read_tokenizer(folder, remote)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    return tokenizer


def _summarise(task: TaskData, per_seed: dict[int, dict], method: str, settings: dict) -> dict:
    metrics = [m for m in ("accuracy", "f1", "mcc") if m in per_seed[next(iter(per_seed))]]
    metric = task.spec.metric_for_valid if method == "strict" else ("f1" if task.num_labels == 2 else "accuracy")
    return {
        "method": method, "metric": metric,
        "score": mean(r[metric] for r in per_seed.values()),
        "score_std": pstdev([r[metric] for r in per_seed.values()]),
        "metrics": {m: mean(r[m] for r in per_seed.values()) for m in metrics},
        "seeds": {str(s): r for s, r in per_seed.items()},
        "n_train": len(task.train.texts), "n_valid": len(task.valid.texts),
        "num_labels": task.num_labels, "files": [str(task.train.path), str(task.valid.path)],
        "settings": settings,
    }


def _epochs(layout: str, cfg: dict, task: TaskData) -> int:
    return cfg["multilingual"]["epochs"] if layout == "multilingual" else strict_settings(cfg, task.name).epochs


def run_plan(plan: Plan, cfg: dict, *, progress: bool = True) -> dict:
    """Fine-tune every task x revision x seed; the ``finetune`` results section."""
    from transformers.utils import logging as hf_logging

    from nestling.evaluation.scoring import resolve_device

    device = resolve_device(cfg["device"])
    precision = cfg["precision"] if cfg["precision"] != "auto" else ("bf16" if device.type == "cuda" else "fp32")
    total = len(plan.revisions) * len(plan.seeds) * sum(_epochs(plan.layout, cfg, t) for t in plan.tasks)
    bar = tqdm(total=total, desc="fine-tuning", unit="epoch", disable=not progress)
    hf_logging.disable_progress_bar()  # one bar over tasks x revisions x seeds x epochs, not one per load
    try:
        out = {rev: _revision(plan, cfg, rev, folder, bar, device, precision)
               for rev, folder in plan.revisions.items()}
    finally:
        hf_logging.enable_progress_bar()
        bar.close()
    return {"schema_version": SCHEMA_VERSION, "layout": plan.layout, "revisions": out, "skipped": plan.skipped}


def _revision(plan: Plan, cfg: dict, rev: str, folder: Path, bar, device, precision: str) -> dict:
    """Every task x seed of one revision."""
    from nestling.run_folder import read_words_seen

    from nestling.evaluation.trust import allow_remote_code

    remote = allow_remote_code(folder, plan.trust_remote_code)
    tokenizer = _load_tokenizer(folder, remote)
    backbone = None if plan.layout == "multilingual" else strict.load_pristine(folder, remote=remote)
    tasks, predictions = {}, {}
    for task in plan.tasks:
        per_seed = {}
        for seed in plan.seeds:
            bar.set_postfix_str(f"{rev} {task.name} seed {seed}")
            before = bar.n
            per_seed[seed] = _one(plan.layout, folder, backbone, tokenizer, task, cfg, seed, device, precision,
                                  lambda epoch, metrics: bar.update(), remote)
            bar.update(_epochs(plan.layout, cfg, task) - (bar.n - before))  # epochs early stopping skipped
        # Item predictions go to the submission files (the first seed's), not into results.json.
        preds = [r.pop("predictions", None) for r in per_seed.values()][0]
        if preds is not None:
            predictions[task.name] = preds
        settings = asdict(strict_settings(cfg, task.name)) if plan.layout == "glue" else dict(cfg["multilingual"])
        tasks[task.name] = _summarise(task, per_seed, "strict" if plan.layout == "glue" else "multilingual",
                                      {**settings, "seeds": plan.seeds, "device": str(device),
                                       "precision": precision})
    return {"words_seen": read_words_seen(folder) if isinstance(folder, Path) else None, "tasks": tasks,
            "predictions": predictions}


def _one(layout, folder, backbone, tokenizer, task, cfg, seed, device, precision, callback, remote=False) -> dict:
    start = time.perf_counter()
    if layout == "multilingual":
        from nestling.evaluation.finetune.multilingual import finetune_task_hf

        result = finetune_task_hf(folder, tokenizer, task, cfg["multilingual"], seed=seed, device=device,
                                  precision=precision, epoch_callback=callback, remote=remote)
    else:
        strict.seed_everything(seed)
        result = strict.finetune_task(copy.deepcopy(backbone), tokenizer, task, strict_settings(cfg, task.name),
                                      device=device, precision=precision, epoch_callback=callback)
    result["wall_clock_s"] = round(time.perf_counter() - start, 2)
    return result


def _pct(x) -> str:
    return f"{100 * x:.1f}"


def format_table(section: dict) -> str:
    """Markdown: one row per revision x task (mean over seeds, %), then the skipped tasks."""
    rows = ["| revision | task | metric | score | accuracy | F1 | MCC | seeds | best epochs | train | valid |",
            "|---|---|---|---:|---:|---:|---:|---|---|---:|---:|"]
    for rev, res in section["revisions"].items():
        for name, t in res["tasks"].items():
            m = t["metrics"]
            std = f" ± {_pct(t['score_std'])}" if len(t["seeds"]) > 1 else ""
            epochs = ",".join(str(r.get("best_epoch", "-")) for r in t["seeds"].values())
            rows.append(f"| {rev} | {name} | {t['metric']} | {_pct(t['score'])}{std} | "
                        + " | ".join(_pct(m[k]) if k in m else "-" for k in ("accuracy", "f1", "mcc"))
                        + f" | {','.join(t['seeds'])} | {epochs} | {t['n_train']} | {t['n_valid']} |")
    skipped = [f"- {name}: skipped ({reason})" for name, reason in section.get("skipped", {}).items()]
    return "\n".join(rows + ([""] + skipped if skipped else []))


def merge_into(results: dict, section: dict) -> dict:
    """results.json with ``section`` merged into its ``finetune`` key (task by task, revision by revision)."""
    results = dict(results)
    old = results.get("finetune") or {"schema_version": SCHEMA_VERSION, "revisions": {}, "skipped": {}}
    merged = {**old, "schema_version": SCHEMA_VERSION, "revisions": copy.deepcopy(old.get("revisions") or {})}
    for rev, res in section["revisions"].items():
        cur = merged["revisions"].setdefault(rev, {"words_seen": res["words_seen"], "tasks": {}})
        cur["words_seen"] = res["words_seen"]
        cur["tasks"] = {**cur.get("tasks", {}), **res["tasks"]}
    done = {t for res in merged["revisions"].values() for t in res["tasks"]}
    merged["skipped"] = {k: v for k, v in {**(old.get("skipped") or {}), **section["skipped"]}.items() if k not in done}
    merged.pop("layout", None)
    results["finetune"] = merged
    return results


def write_section(section: dict, out: Path, model: Path) -> Path:
    """Merge the section into ``out`` (created when absent) atomically."""
    from nestling.evaluation.results import results_lock, write_results

    results = {"schema_version": 1, "model": str(model)}
    with results_lock(out):
        if out.is_file():
            try:
                results = json.loads(out.read_text(encoding="utf-8"))
            except json.JSONDecodeError as err:
                raise UserError(f"{out}: not valid JSON ({err.msg}); not overwriting it") from None
        return write_results(merge_into(results, section), out)


def write_submission_predictions(section: dict, model: Path) -> Path | None:
    """A run's final-model GLUE predictions as official files under RUN/submission (taken out of ``section``)."""
    from nestling.evaluation.submission import finish_full_submission, write_finetune_predictions
    from nestling.run_folder import is_run_dir

    predictions = {rev: res.pop("predictions", {}) for rev, res in section["revisions"].items()}
    if section.get("layout") != "glue" or not is_run_dir(model) or not predictions.get("final"):
        return None
    written = [write_finetune_predictions(model / "submission", model.name, "final", task, preds)
               for task, preds in predictions["final"].items()]
    # main's all_full_preds_causal.json (what calculate_results_from_pred.py reads) gets the "glue" key.
    finish_full_submission(model / "submission", model.name, None)
    return written[0].parent.parent


def finetune_path(model: str | Path, *, suite: str | None = None, tasks: list[str] | None = None,
                  data: Path, revisions: str | None = None, seeds: list[int] | None = None,
                  out: Path | None = None, overrides: list[str] | None = None, progress: bool = True,
                  trust_remote_code: bool = False, allow_tokenizer_mismatch: bool = False) -> str:
    """The `nestling finetune` command; returns the table (and where results went). A folder's own code runs
    only with ``trust_remote_code`` or when it is nestling's shipped code (nestling.evaluation.trust)."""
    from nestling.evaluation.results import check_results_out
    from nestling.run_folder import RESULTS, is_run_dir

    model = Path(model)
    if bool(suite) == bool(tasks):
        raise UserError("give either --suite or --task")
    cfg = finetune_settings(model, overrides)
    revision_map = resolve_revisions(model, revisions or cfg["revisions"])
    layout, task_list, skipped = load_tasks(suite, tasks or [], Path(data), cfg["max_train_examples"])
    if layout == "glue":
        for task in task_list:
            strict_settings(cfg, task.name)  # every setting checked before the first task trains
    if seeds is None:
        seeds = cfg["multilingual"]["seeds"] if layout == "multilingual" else cfg["seeds"]
    if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise UserError(f"finetune seeds must be a non-empty list of integers, got {seeds!r}")
    if out is None and is_run_dir(model):
        out = model / RESULTS
    check_results_out(out, model, [data])  # before any fine-tuning
    plan = Plan(layout, task_list, skipped, revision_map, list(seeds), trust_remote_code, allow_tokenizer_mismatch)
    check_tokenizers(plan)  # every revision, before any fine-tuning
    section = run_plan(plan, cfg, progress=progress)
    written = write_submission_predictions(section, model)
    table = format_table(section)
    if written:
        table += f"\n\nofficial predictions: {written}/<task>/predictions.json"
    if out is not None:
        write_section(section, Path(out), model)
        table += f"\n\nresults: {out}"
    return table
