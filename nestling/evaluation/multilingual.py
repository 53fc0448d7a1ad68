"""The multilingual track's official zero-shot evaluation: the babylm-eval task YAMLs through lm-eval.

The official script (babylm-eval ``multilingual/scripts/zeroshot_model.sh``) runs
``lm_eval --model hf --tasks zeroshot_<lang> --num_fewshot 0 --include_path tasks/`` per language.
``evaluate_multilingual`` runs the same YAMLs through lm-eval's Python API (its task manager,
metrics and group aggregation, ``weight_by_size`` as each group says) on every revision of a run,
with nestling's scorer as the model backend (``lmeval_backend.NestlingLM``; ``backend="lm-eval"`` runs
lm-eval's own hf model). ``backend="native"`` (the default) is nestling's own engine over the same
YAMLs (``lm_tasks``): requests rendered and tokenized once for all revisions, then forward passes.
Task YAMLs are read where the user keeps them (``tasks_dir``), never copied.

Offline data: a data map (YAML) points tasks at local jsonl files; the task keeps its config
and only its dataset becomes ``json`` with those files. Keys are task names or shell patterns
(``zhoblimp_*``; an exact name wins, then the first matching pattern in file order); values are a
file, a folder (``<folder>/<dataset_name>.jsonl``) or a mapping::

    zhoblimp_*: /data/zhoblimp/data                                      # folder
    blimp_nl_*: {data_files: /data/blimp_nl/blimp-nl.jsonl, where: {category: "{dataset_name}"}}
    blimp_*: /data/blimp/data/{dataset_name}.jsonl                        # file template

``{dataset_name}`` is the YAML's dataset_name; ``where`` keeps rows whose field matches, compared
as slugs (lowercase, runs of other characters as "_": "Binding (Principle A)" = binding_principle_a).
Relative paths are relative to the map file. A task neither mapped nor reachable on the Hub is
skipped (and reported); its group aggregates what is left.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import logging
import os
import re
import time
from pathlib import Path


from nestling.errors import UserError
from nestling.safe_yaml import load_yaml

LANG_GROUPS = {"eng": "zeroshot_eng", "nld": "zeroshot_nld", "zho": "zeroshot_zho"}
# `nestling eval --suite multilingual`: the suite's name, and its backends: nestling's own engine over
# the task YAMLs (lm_tasks.py), lm-eval's own hf model (the official command), lm-eval with nestling's scorer.
SUITE = "multilingual"
BACKENDS = ("native", "lm-eval", "nestling")
SCHEMA_VERSION = 1
_SPLIT_KEYS = ("test_split", "validation_split", "training_split", "fewshot_split")


def require_lmeval():
    """Import lm_eval, or one line saying how to install it."""
    try:
        import lm_eval  # noqa: F401
        from lm_eval.tasks import TaskManager  # noqa: F401
    except ImportError:
        raise UserError("the multilingual suite needs lm-evaluation-harness: pip install 'nestling[lmeval]'") from None
    return lm_eval


def go_offline() -> None:
    """No Hub requests from here on: an unmapped task fails at once instead of after retries."""
    os.environ["HF_HUB_OFFLINE"] = os.environ["HF_DATASETS_OFFLINE"] = "1"
    import datasets
    import huggingface_hub.constants

    datasets.config.HF_HUB_OFFLINE = huggingface_hub.constants.HF_HUB_OFFLINE = True


def name_list(names, shown: int = 8) -> str:
    """'a, b, c' or 'a, ..., h and 112 more' (a suite can skip a hundred tasks)."""
    names = sorted(names)
    return ", ".join(names) if len(names) <= shown else f"{', '.join(names[:shown])} and {len(names) - shown} more"


def slug(text) -> str:
    return re.sub(r"[^0-9a-z]+", "_", str(text).lower()).strip("_")


# ------------------------------------------------------------------------------------ data map

def read_data_map(path: str | Path | None) -> list[tuple[str, dict]]:
    """(task pattern, {"data_files": path template, "where": {...}}) in file order; paths made absolute."""
    if path is None:
        return []
    path = Path(path)
    try:
        raw = load_yaml(path.read_text(encoding="utf-8"), f"{path}: data map") or {}
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: cannot read the data map ({str(err).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path}: a data map is a mapping of task (or pattern) -> file, folder or {{data_files, where}}")
    out = []
    for pattern, spec in raw.items():
        spec = {"data_files": spec} if isinstance(spec, str) else spec
        if not isinstance(spec, dict) or not isinstance(spec.get("data_files"), str) or \
                not isinstance(spec.get("where", {}), dict):
            raise UserError(f"{path}: entry {pattern!r} needs a path or {{data_files: PATH, where: {{FIELD: VALUE}}}}")
        files = Path(spec["data_files"]).expanduser()
        out.append((str(pattern), {"data_files": str(files if files.is_absolute() else path.parent / files),
                                   "where": spec.get("where") or {}}))
    return out


def match_data_map(data_map: list[tuple[str, dict]], task: str) -> dict | None:
    exact = [spec for pattern, spec in data_map if pattern == task]
    if exact:
        return exact[0]
    return next((spec for pattern, spec in data_map if fnmatch.fnmatchcase(task, pattern)), None)


def _where_filter(where: dict, previous):
    """process_docs that keeps the rows matching ``where`` (slug-compared), then runs the YAML's own."""
    wanted = {field: slug(value) for field, value in where.items()}

    def process_docs(dataset):
        dataset = dataset.filter(lambda doc: all(slug(doc.get(f)) == v for f, v in wanted.items()))
        return previous(dataset) if callable(previous) else dataset

    return process_docs


def mapped_file(config: dict, spec: dict) -> tuple[Path, dict]:
    """The local file a data-map entry gives a task, and its ``where`` with {dataset_name} filled in."""
    name = config.get("dataset_name") or ""
    target = Path(spec["data_files"].replace("{dataset_name}", name))
    if target.is_dir():
        target = target / f"{name}.jsonl"
    if not target.is_file():
        raise FileNotFoundError(f"mapped data file {target} does not exist")
    return target, {f: str(v).replace("{dataset_name}", name) for f, v in spec["where"].items()}


def data_overrides(task: str, config: dict, spec: dict) -> dict:
    """Config keys that point ``task`` at its local files (json), everything else as in its YAML."""
    target, where = mapped_file(config, spec)
    splits = {config[k] for k in _SPLIT_KEYS if config.get(k)} or {"test"}
    out = {"dataset_path": "json", "dataset_name": None,
           "dataset_kwargs": {"data_files": {split: str(target) for split in splits}}}
    if where:
        out["process_docs"] = _where_filter(where, config.get("process_docs"))
    return out


# ------------------------------------------------------------------------------------ task tree

def task_manager(tasks_dir: str | Path | None, include_defaults: bool = True):
    """lm-eval's TaskManager over the official YAML folder, plus lm-eval's built-in tasks (e.g. blimp)
    unless ``include_defaults`` is False (indexing those takes tens of seconds on a busy CPU)."""
    require_lmeval()
    if tasks_dir is not None and not Path(tasks_dir).is_dir():
        raise UserError(f"{tasks_dir}: no such task folder (give babylm-eval's multilingual/tasks)")
    return _cached_manager(str(Path(tasks_dir).resolve()) if tasks_dir else None, include_defaults or tasks_dir is None)


@functools.lru_cache(maxsize=4)
def _cached_manager(tasks_dir: str | None, include_defaults: bool):
    """Indexing thousands of YAMLs takes seconds: once per folder and process."""
    from lm_eval.tasks import TaskManager

    # The official folder re-defines tasks lm-eval also ships (zhoblimp_*): one log line each, by design.
    quiet = logging.getLogger("lm_eval")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        return TaskManager(include_path=tasks_dir, include_defaults=include_defaults)
    finally:
        quiet.setLevel(level)


def _raw_config(manager, name: str) -> dict:
    """A registered task's or group's full YAML config (includes resolved), as lm-eval reads it."""
    from lm_eval.tasks._yaml_loader import load_yaml

    entry = manager.task_index[name]
    if entry.yaml_path:
        return dict(load_yaml(entry.yaml_path, resolve_func=True))
    return dict(entry.cfg or {})


def resolve_tree(manager, name: str) -> dict:
    """{"task": name} for a task, {"group": name, "config": raw, "children": [...]} for a group/tag."""
    from lm_eval.tasks._index import Kind

    entry = manager.task_index.get(name)
    if entry is None:
        raise UserError(f"unknown task or group {name!r} (not in lm-eval's tasks or the task folder)")
    if entry.kind == Kind.TAG:
        return {"group": name, "config": None, "children": [resolve_tree(manager, t) for t in sorted(entry.tags)]}
    if entry.kind != Kind.GROUP:
        return {"task": name}
    raw = _raw_config(manager, name)
    children = []
    for child in raw.get("task") or []:
        child_name = child if isinstance(child, str) else (child.get("task") or child.get("group"))
        children.append(resolve_tree(manager, child_name))
    return {"group": name, "config": raw, "children": children}


def _leaves(tree: dict) -> list[str]:
    return [tree["task"]] if "task" in tree else [n for c in tree["children"] for n in _leaves(c)]


def build_tasks(manager, trees: list[dict], data_map: list[tuple[str, dict]], log=print) -> tuple[list, dict, dict]:
    """Build every leaf task (mapped data or the Hub) and the groups over the ones that loaded.

    Returns (top-level Task/Group objects, {task: data file or dataset path}, {task: why skipped}).
    A Hub dataset that failed once is not asked for again.
    """
    from lm_eval.api.group import Group

    built, sources, skipped, failed_paths = {}, {}, {}, {}
    for name in dict.fromkeys(n for tree in trees for n in _leaves(tree)):
        config = _raw_config(manager, name)
        spec = match_data_map(data_map, name)
        try:
            overrides = data_overrides(name, config, spec) if spec else {}
        except FileNotFoundError as err:
            skipped[name] = str(err)
            continue
        source = next(iter(overrides["dataset_kwargs"]["data_files"].values())) if spec else config.get("dataset_path")
        if not spec and source in failed_paths:
            skipped[name] = failed_paths[source]
            continue
        try:
            # An inline config is taken as it is (not merged with the registered YAML): give it all.
            built[name] = manager.load([{**config, **overrides, "task": name}])["tasks"][name]
            sources[name] = source
        except Exception as err:  # noqa: BLE001 - any failure to get a task's data means: skip it, say why
            reason = f"data not mapped and not reachable ({type(err).__name__}: {str(err).splitlines()[0][:160]})"
            skipped[name] = reason
            if not spec:
                failed_paths[source] = reason
    if skipped and log:
        log(f"skipped {len(skipped)} task(s) without data: {name_list(skipped)}")

    def assemble(tree):
        if "task" in tree:
            return built.get(tree["task"])
        children = [c for c in (assemble(child) for child in tree["children"]) if c is not None]
        if not children:
            return None
        if tree["config"] is None:  # a tag is only a list of tasks
            return children
        from lm_eval.config.group import GroupConfig
        from dataclasses import fields

        names = {f.name for f in fields(GroupConfig)}
        group = Group.from_config(GroupConfig(**{k: v for k, v in tree["config"].items() if k in names}))
        for child in children:
            for item in (child if isinstance(child, list) else [child]):
                group.add(item)
        return group

    top = []
    for tree in trees:
        obj = assemble(tree)
        top += obj if isinstance(obj, list) else ([obj] if obj is not None else [])
    return top, sources, skipped


# ------------------------------------------------------------------------------------ running

def _scores(raw: dict) -> dict:
    """lm-eval's results dict -> {name: {metric: value, "n": items}} for every task and group."""
    out = {}
    sizes = raw.get("n-samples") or {}
    for name, metrics in (raw.get("results") or {}).items():
        row = {}
        for key, value in metrics.items():
            if "," not in key or not isinstance(value, (int, float)):
                continue
            metric, filt = key.split(",", 1)
            row[metric if filt == "none" else f"{metric},{filt}"] = float(value)
        if name in sizes:
            row["n"] = int(sizes[name].get("effective", sizes[name].get("original", 0)))
        out[name] = row
    return out


def make_lm(location: str | Path, *, backend: str, device: str, batch_size, trust_remote_code: bool,
            allow_tokenizer_mismatch: bool = False):
    """The lm-eval model object for one revision folder (its own code runs as nestling.evaluation.trust allows;
    its tokenizer must match the model, nestling.evaluation.tokenizer_match, unless allowed)."""
    from nestling.evaluation.tokenizer_match import check_tokenizer
    from nestling.evaluation.scoring import resolve_device
    from nestling.evaluation.trust import allow_remote_code

    if backend == "nestling":
        from nestling.evaluation.lmeval_backend import NestlingLM as cls
    elif backend == "lm-eval":
        from lm_eval.models.huggingface import HFLM as cls
    else:
        raise UserError(f"unknown lm-eval backend {backend!r}; choose one of: {', '.join(BACKENDS)}")
    remote = allow_remote_code(Path(location), trust_remote_code)
    try:
        lm = cls(pretrained=str(location), device=str(resolve_device(device)), batch_size=batch_size,
                 trust_remote_code=remote)
    except (OSError, ValueError) as err:
        raise UserError(f"{location}: cannot load model ({str(err).splitlines()[0][:200]})") from None
    check_tokenizer(location, lm.model.config.to_dict(), lm.tokenizer, allow_tokenizer_mismatch)
    return lm


def evaluate_multilingual(model: str | Path, *, langs: list[str] | None = None, tasks: list[str] | None = None,
                          tasks_dir: str | Path | None = None, data_map: str | Path | None = None,
                          revisions: str | list[str] = "all", backend: str = "native", device: str = "auto",
                          batch_size=64, trust_remote_code: bool = False, allow_tokenizer_mismatch: bool = False,
                          offline: bool = False,
                          limit: int | None = None, log=print) -> dict:
    """The official multilingual zero-shot scores of a model folder or of every revision of a run.

    langs: the official groups zeroshot_<lang> (default eng, nld, zho) unless ``tasks`` names
    tasks or groups itself. tasks_dir: babylm-eval's multilingual/tasks folder. data_map: YAML of
    task -> local data (module doc). revisions: "all", "final" or names (runs only). backend:
    "native" (nestling's engine, lm_tasks.py), "lm-eval" (lm-eval's own hf model) or "nestling"
    (lm-eval with nestling's scorer). offline: never ask the Hub.
    limit: lm-eval's first-N-items-per-task option (benchmarks only; recorded in the section).
    Returns the ``multilingual`` section of results.json (see ``nestling.evaluation.results``).
    """
    require_lmeval()
    if backend not in BACKENDS:
        raise UserError(f"unknown backend {backend!r}; choose one of: {', '.join(BACKENDS)}")
    if isinstance(batch_size, int) and batch_size < 1:
        raise UserError(f"batch size must be a positive integer, got {batch_size}")
    if limit is not None and limit < 1:
        raise UserError(f"--limit must be a positive number of items per task, got {limit}")
    selected = _selected_revisions(Path(model), revisions)
    names = tasks or [LANG_GROUPS.get(lang, f"zeroshot_{lang}") for lang in (langs or list(LANG_GROUPS))]
    mapping = read_data_map(data_map)
    if offline:
        go_offline()
    manager, trees = _resolve_trees(names, tasks_dir)
    run = _run_native if backend == "native" else _run_lmeval
    per_revision, sources, skipped, harness = run(
        manager, trees, mapping, selected, backend=backend, device=device, batch_size=batch_size,
        trust_remote_code=trust_remote_code, allow_tokenizer_mismatch=allow_tokenizer_mismatch, limit=limit, log=log)
    groups = [t["group"] for tree in trees for t in _groups(tree)]
    return {"schema_version": SCHEMA_VERSION, "model": str(model), "harness": harness,
            "backend": backend, "num_fewshot": 0, "limit": limit, "requested": names,
            "tasks_dir": str(tasks_dir) if tasks_dir else None,
            "groups": [g for g in groups if any(g in r["scores"] for r in per_revision.values())],
            "data": sources, "skipped": skipped, "revisions": per_revision,
            "learning_curve": learning_curve(per_revision, names)}


def _selected_revisions(model: Path, revisions) -> dict:
    from nestling.evaluation.runs import select_revisions
    from nestling.run_folder import is_run_dir

    if not model.exists():
        raise UserError(f"{model}: no such model or run folder")
    if is_run_dir(model):
        return select_revisions(model, revisions)
    if revisions not in ("all", "final"):
        raise UserError(f"{model}: a model folder has no revisions (give a run folder to pick {revisions})")
    return {"main": model}


def _resolve_trees(names: list[str], tasks_dir) -> tuple:
    """lm-eval's task index and the task/group tree of every requested name."""
    manager = task_manager(tasks_dir, include_defaults=False)
    try:
        return manager, [resolve_tree(manager, n) for n in names]
    except UserError:  # a name from lm-eval's own tasks (zeroshot_eng holds blimp): index those too
        manager = task_manager(tasks_dir)
        try:
            return manager, [resolve_tree(manager, n) for n in names]
        except UserError as err:
            if tasks_dir is None:  # the official groups and tasks live in babylm-eval's folder, not in lm-eval
                raise UserError(f"{err}; the official task YAMLs need --tasks-dir "
                                "(babylm-eval's multilingual/tasks)") from None
            raise


def _check_loaded(names: list[str], trees: list[dict], loaded, skipped: dict) -> None:
    missing = [n for tree in trees if "task" in tree for n in [tree["task"]] if n in skipped]
    if missing:  # a task asked for by name must run; groups go on without their missing members
        raise UserError(f"task {missing[0]}: {skipped[missing[0]]}")
    if not loaded:
        raise UserError(f"no task of {', '.join(names)} has data: map them with --data-map "
                        f"(skipped: {name_list(skipped)})")


def _run_lmeval(manager, trees, mapping, selected, *, backend, device, batch_size, trust_remote_code,
                allow_tokenizer_mismatch, limit, log):
    """Every revision through lm-eval's simple_evaluate (its requests built again per revision)."""
    import lm_eval
    from lm_eval import simple_evaluate

    from nestling.run_folder import read_words_seen

    objects, sources, skipped = build_tasks(manager, trees, mapping, log=log)
    _check_loaded([t.get("task") or t.get("group") for t in trees], trees, objects, skipped)
    per_revision, started = {}, time.perf_counter()
    for rev, folder in selected.items():
        lm = make_lm(folder, backend=backend, device=device, batch_size=batch_size,
                     trust_remote_code=trust_remote_code, allow_tokenizer_mismatch=allow_tokenizer_mismatch)
        raw = simple_evaluate(model=lm, tasks=objects, task_manager=manager, num_fewshot=0, log_samples=False,
                              limit=limit)
        per_revision[rev] = {"words_seen": read_words_seen(folder), "scores": _scores(raw)}
        del lm
        if log:
            log(f"{rev}: done ({time.perf_counter() - started:.0f} s)")
    return per_revision, sources, skipped, f"lm-eval {lm_eval.__version__}"


def _run_native(manager, trees, mapping, selected, *, backend, device, batch_size, trust_remote_code,
                allow_tokenizer_mismatch, limit, log):
    """Render and tokenize once (lm_tasks.Suite), then one forward sweep per revision."""
    import lm_eval

    from nestling.evaluation import lm_tasks
    from nestling.run_folder import read_words_seen

    leaves = list(dict.fromkeys(n for tree in trees for n in _leaves(tree)))
    rendered, sources, skipped = lm_tasks.load_rendered(manager, leaves, mapping, limit, log=log)
    _check_loaded([t.get("task") or t.get("group") for t in trees], trees, rendered, skipped)
    suite = lm_tasks.Suite(rendered)
    groups = [g for tree in trees for g in _groups(tree) if g["config"] is not None]
    per_revision, started = {}, time.perf_counter()
    for rev, folder in selected.items():
        scores = lm_tasks.run_revision(suite, folder, device=device, batch_size=_rows_per_pass(batch_size),
                                       trust_remote_code=trust_remote_code,
                                       allow_tokenizer_mismatch=allow_tokenizer_mismatch)
        for group in groups:
            row = lm_tasks.group_scores(group["config"], _leaves(group), scores)
            if row is not None:
                scores[group["group"]] = row
        per_revision[rev] = {"words_seen": read_words_seen(folder), "scores": scores}
        if log:
            log(f"{rev}: done ({time.perf_counter() - started:.0f} s)")
    return per_revision, sources, skipped, f"nestling native engine, lm-eval {lm_eval.__version__} task YAMLs"


def _rows_per_pass(batch_size) -> int:
    return int(batch_size) if str(batch_size).isdigit() else 64


def _groups(tree: dict) -> list[dict]:
    return [] if "task" in tree else [tree] + [g for c in tree["children"] for g in _groups(c)]


def learning_curve(per_revision: dict, names: list[str], metric: str = "acc") -> list[dict]:
    """One point per revision: words seen and the requested tasks' / groups' ``metric``."""
    return [{"revision": rev, "words_seen": r["words_seen"],
             **{n: r["scores"].get(n, {}).get(metric) for n in names if n in r["scores"]}}
            for rev, r in per_revision.items()]


def write_multilingual(section: dict, out_json: str | Path) -> Path:
    """Put ``section`` under "multilingual" in results.json, keeping whatever else the file holds."""
    from nestling.evaluation.results import results_lock, write_results

    out_json = Path(out_json)
    results = {}
    with results_lock(out_json):
        if out_json.is_file():
            try:
                results = json.loads(out_json.read_text(encoding="utf-8"))
            except json.JSONDecodeError as err:
                raise UserError(f"{out_json}: not valid JSON ({err}); not overwriting it") from None
        results["multilingual"] = section
        return write_results(results, out_json)


def format_multilingual(section: dict, metric: str = "acc") -> str:
    """Markdown: one row per revision, ``metric`` (%) per requested task or group, then skipped tasks."""
    names = [n for n in section["requested"] if any(n in r["scores"] for r in section["revisions"].values())]
    rows = ["| revision | words seen | " + " | ".join(names) + " |", "|---|---:|" + "---:|" * len(names)]
    for rev, r in section["revisions"].items():
        words = "-" if r["words_seen"] is None else f"{round(r['words_seen']):,}"
        cells = [r["scores"].get(n, {}).get(metric) for n in names]
        rows.append(f"| {rev} | {words} | " + " | ".join("-" if c is None else f"{100 * c:.1f}" for c in cells) + " |")
    if section["skipped"]:
        rows += ["", f"skipped {len(section['skipped'])} task(s), no data: {name_list(section['skipped'])}"]
    return "\n".join(rows)


def evaluate_multilingual_path(model: str | Path, *, out: str | Path | None = None, **options) -> str:
    """The CLI's suite run: evaluate, write the "multilingual" section, return the table.

    A run's section goes into RUN/results.json (other sections kept); a model folder's only into
    ``out`` when given. Options as in ``evaluate_multilingual``.
    """
    from nestling.evaluation.results import check_results_out
    from nestling.run_folder import RESULTS, is_run_dir

    out = out or (Path(model) / RESULTS if is_run_dir(model) else None)
    check_results_out(out, model)
    section = evaluate_multilingual(model, **options)
    if out is not None:
        write_multilingual(section, out)
    return format_multilingual(section) + (f"\n\nresults: {out} (multilingual)" if out else "")


def lm_eval_main() -> None:
    """``nestling-lm-eval``: lm-eval's own command line, with the ``nestling`` model registered."""
    import sys

    try:
        require_lmeval()
    except UserError as err:
        sys.stderr.write(f"nestling-lm-eval: error: {err}\n")
        sys.exit(2)
    import nestling.evaluation.lmeval_backend  # noqa: F401 - registers --model nestling
    from lm_eval.__main__ import cli_evaluate

    cli_evaluate()
