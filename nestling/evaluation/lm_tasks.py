"""nestling's own engine for the official lm-eval multiple-choice task YAMLs (``--backend native``).

lm-eval builds every request anew at each revision (its per-document ``Instance`` machinery, and a
Jinja template compiled again for every document). Here a suite is prepared once per tokenizer:
each task's YAML (includes resolved by lm-eval's own loader) is checked against what this engine
implements, its templates compiled once, every document rendered into (context, continuations,
gold), the requests tokenized exactly as lm-eval's ``hf`` model tokenizes them, deduplicated and
grouped by shared context. A revision then costs its forward passes (``score_encoded``) and the
metric arithmetic. A YAML feature outside what is implemented is refused by name
(``UnsupportedTask``), never approximated: run such a task with ``--backend lm-eval``.

Implemented (lm-eval 0.4.13 semantics, zero-shot, no chat template): ``output_type:
multiple_choice``; ``doc_to_text`` / ``doc_to_target`` / ``doc_to_choice`` as a column name, a
Jinja template (lm-eval's environment: StrictUndefined, keep_trailing_newline, ``regex_replace``),
an int (target) or a list/dict (choices); ``target_delimiter``; metrics ``acc`` and ``acc_norm``
(mean); groups' ``aggregate_metric_list`` (mean, weighted by size or not).
"""

from __future__ import annotations

import ast
import hashlib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nestling.errors import UserError

METRICS = ("acc", "acc_norm")
# Keys that do not change what is scored (data location, bookkeeping, decontamination).
INERT_KEYS = {"task", "tag", "task_alias", "group_alias", "include", "dataset_path", "dataset_name",
              "dataset_kwargs", "test_split", "validation_split", "training_split", "fewshot_split",
              "metadata", "should_decontaminate", "doc_to_decontamination_query", "output_type", "doc_to_text",
              "doc_to_target", "doc_to_choice", "target_delimiter", "metric_list", "num_fewshot",
              "description", "fewshot_delimiter", "class", "unsafe_code"}
# Keys whose absence (or one of these values) is the only form implemented.
NEUTRAL = {"process_docs": (None,), "process_results": (None,), "filter_list": (None,), "use_prompt": (None,),
           "fewshot_config": (None,), "doc_to_image": (None,), "doc_to_audio": (None,), "gen_prefix": (None,),
           "custom_dataset": (None,), "repeats": (None, 1), "generation_kwargs": (None,)}


class UnsupportedTask(UserError):
    """A task YAML uses something the native engine does not implement."""


def _refuse(task: str, feature: str) -> None:
    raise UnsupportedTask(f"task {task}: the native engine does not implement {feature}; "
                          "run it with --backend lm-eval")


def check_config(name: str, config: dict) -> None:
    """Refuse, by name, every YAML feature this engine does not implement."""
    for key, value in config.items():
        if key in NEUTRAL:
            if not any(value is v or value == v for v in NEUTRAL[key]):
                _refuse(name, f"'{key}'")
        elif key not in INERT_KEYS:
            _refuse(name, f"'{key}'")
    if config.get("output_type") != "multiple_choice":
        _refuse(name, f"output_type {config.get('output_type')!r} (only multiple_choice)")
    if config.get("num_fewshot") not in (None, 0):
        _refuse(name, f"num_fewshot {config['num_fewshot']} (zero-shot only)")
    if config.get("description"):
        _refuse(name, "'description'")
    for metric in config.get("metric_list") or [{"metric": "acc"}]:
        if metric.get("metric") not in METRICS or metric.get("aggregation", "mean") != "mean":
            _refuse(name, f"metric {metric.get('metric')!r} with aggregation {metric.get('aggregation')!r}")
    for key in ("doc_to_text", "doc_to_target", "doc_to_choice"):
        if callable(config.get(key)):
            _refuse(name, f"a Python function as {key}")
    if config.get("doc_to_choice") is None:
        _refuse(name, "a multiple_choice task without doc_to_choice")


# ------------------------------------------------------------------------------------ rendering

def jinja_environment():
    """lm-eval's template environment (lm_eval.utils.env), built here so templates compile once."""
    from jinja2 import BaseLoader, Environment, StrictUndefined

    env = Environment(loader=BaseLoader, undefined=StrictUndefined, keep_trailing_newline=True)
    env.filters["regex_replace"] = lambda string, pattern, repl, count=0: re.sub(pattern, repl, string, count=count)
    return env


class Field:
    """One doc_to_* entry, resolved once: a column, a compiled template, or a constant."""

    def __init__(self, spec, columns: set[str], env):
        self.spec, self.column, self.template = spec, None, None
        if isinstance(spec, str) and spec in columns:
            self.column = spec
        elif isinstance(spec, str):
            self.template = env.from_string(spec)

    def __call__(self, doc: dict):
        if self.column is not None:
            return doc[self.column]
        if self.template is not None:
            return self.template.render(**doc)
        return self.spec


@dataclass
class Rendered:
    """A task's documents as requests: context, continuations and gold index per item."""
    name: str
    metrics: list[str]
    contexts: list[str] = field(default_factory=list)
    choices: list[list[str]] = field(default_factory=list)
    golds: list[int] = field(default_factory=list)
    delimiter: str = " "


def _as_text(name: str, value, rendered: bool) -> str:
    if rendered and value.isdigit():  # lm-eval: an index into the choices (multiple inputs)
        _refuse(name, "doc_to_text giving a choice index (multiple inputs)")
    if not isinstance(value, str):
        _refuse(name, f"doc_to_text giving {type(value).__name__} (multiple inputs)")
    return value


def _as_gold(name: str, value, choices: list[str], rendered: bool) -> int:
    """lm-eval's doc_to_target -> gold index (-100 when out of range or not a choice)."""
    if rendered:
        if value.isdigit():
            value = ast.literal_eval(value)
        elif len(value) >= 2 and value[0] == "[" and value[-1] == "]":
            _refuse(name, "doc_to_target giving a list (multiple targets)")
    if isinstance(value, list):
        _refuse(name, "doc_to_target giving a list (multiple targets)")
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        _refuse(name, f"doc_to_target giving {type(value).__name__}")
    if isinstance(value, int):
        return value if value < len(choices) else -100
    return choices.index(value) if value in choices else -100


def _as_choices(spec, value) -> list[str]:
    if isinstance(spec, dict):
        return list(spec.values())
    return ast.literal_eval(value) if isinstance(spec, str) and isinstance(value, str) else list(value)


def render_task(name: str, config: dict, docs: list[dict], columns: list[str]) -> Rendered:
    """Every document of a checked task as lm-eval would build its zero-shot requests."""
    env, cols = jinja_environment(), set(columns)
    text, target = Field(config.get("doc_to_text"), cols, env), Field(config.get("doc_to_target"), cols, env)
    choice_spec = config["doc_to_choice"]
    choice = Field(choice_spec, cols, env)
    metrics = [m["metric"] for m in config.get("metric_list") or [{"metric": "acc"}]]
    out = Rendered(name, metrics, delimiter=config.get("target_delimiter", " "))
    for doc in docs:
        choices = _as_choices(choice_spec if choice.column is None else None, choice(doc))
        out.contexts.append(_as_text(name, text(doc), text.template is not None))
        out.choices.append(choices)
        out.golds.append(_as_gold(name, target(doc), choices, target.template is not None))
    return out


# ------------------------------------------------------------------------------------ data

def eval_split(config: dict) -> str:
    """lm-eval scores the test split when the YAML names one, else the validation split."""
    split = config.get("test_split") or config.get("validation_split")
    if not split:
        raise UserError(f"task {config.get('task')}: no test_split or validation_split")
    return split


def read_mapped(path: Path, where: dict) -> tuple[list[dict], list[str]]:
    """A local jsonl file as lm-eval's ``json`` dataset gives it: rows in file order (those matching
    ``where``, slug-compared), every row holding every column (None where a row lacks it)."""
    import json

    from nestling.evaluation.multilingual import slug

    wanted = {f: slug(v) for f, v in where.items()}
    rows, columns = [], {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                columns.update(dict.fromkeys(row))
                rows.append(row)
    rows = [{c: r.get(c) for c in columns} for r in rows]
    return [r for r in rows if all(slug(r.get(k)) == v for k, v in wanted.items())], list(columns)


def read_hub(config: dict) -> tuple[list[dict], list[str]]:
    """The YAML's own dataset (the Hub, or the datasets cache), as lm-eval's download reads it."""
    import datasets

    kwargs = dict(config.get("dataset_kwargs") or {})
    kwargs.pop("trust_remote_code", None)
    data = datasets.load_dataset(path=config["dataset_path"], name=config.get("dataset_name"), **kwargs)
    split = data[eval_split(config)]
    return list(split), list(split.column_names)


# ------------------------------------------------------------------------------------ tokens

class Encoder:
    """lm-eval hf's tokenization of (context, continuation) requests (TemplateLM.loglikelihood,
    _encode_pair, HFLM.tok_encode with add_bos_token unset), batched through the fast tokenizer."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.prefix = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
        self.prefix_text = tokenizer.decode(self.prefix)

    def _encode(self, strings: list[str]) -> list[list[int]]:
        """tok_encode: special tokens as the tokenizer adds them, unless the string starts with BOS."""
        out: list[list[int] | None] = [None] * len(strings)
        for plain in (True, False):
            idx = [i for i, s in enumerate(strings) if (not s.startswith(self.prefix_text)) == plain]
            if idx:
                kwargs = {} if plain else {"add_special_tokens": False}
                for i, ids in zip(idx, self.tokenizer([strings[i] for i in idx], **kwargs)["input_ids"]):
                    out[i] = list(ids)
        return out

    def __call__(self, requests: list[tuple[str, str]]) -> list[tuple[list[int], list[int]]]:
        out: list = [None] * len(requests)
        empty = [i for i, (ctx, _) in enumerate(requests) if ctx == ""]
        if empty:
            conts = self.tokenizer([requests[i][1] for i in empty], add_special_tokens=False)["input_ids"]
            for i, cont in zip(empty, conts):
                cont = list(cont)
                out[i] = ([self.prefix], cont) if self.prefix != cont[0] else (cont[:1], cont[1:])
        full = [i for i, (ctx, _) in enumerate(requests) if ctx != ""]
        if full:
            pairs = [_move_spaces(*requests[i]) for i in full]
            wholes = self._encode([c + t for c, t in pairs])
            contexts = self._encode([c for c, _ in pairs])
            for i, whole, ctx in zip(full, wholes, contexts):
                out[i] = (ctx, whole[len(ctx):])
        return out


def _move_spaces(context: str, continuation: str) -> tuple[str, str]:
    """lm-eval moves a context's trailing whitespace to the front of its continuation."""
    n = len(context) - len(context.rstrip())
    return (context[:-n], context[-n:] + continuation) if n else (context, continuation)


def token_rows(requests, max_length: int) -> tuple[list[tuple[list[int], list[bool]]], list[int], list[int]]:
    """Token requests (anything, context ids, continuation ids) -> (unique (ids, scored mask) rows,
    row of each request, requests longer than the model's window: row -1, left to the caller)."""
    unique: dict[tuple[tuple[int, ...], tuple[int, ...]], int] = {}
    rows, index, too_long = [], [], []
    for n, (_, context, continuation) in enumerate(requests):
        if len(context) + len(continuation) > max_length:
            index.append(-1)
            too_long.append(n)
            continue
        key = (tuple(context), tuple(continuation))
        if key not in unique:
            unique[key] = len(rows)
            rows.append((list(context) + list(continuation), [False] * len(context) + [True] * len(continuation)))
        index.append(unique[key])
    return rows, index, too_long


def context_groups(rows: list[tuple[list[int], list[bool]]]) -> list[list[int]]:
    """Rows with the same context (a multiple-choice item's choices): candidates for one shared prefix."""
    by_context: dict[tuple[int, ...], list[int]] = {}
    for i, (ids, mask) in enumerate(rows):
        by_context.setdefault(tuple(ids[: mask.index(True)]), []).append(i)
    return [g for g in by_context.values() if len(g) > 1]


def tokenizer_fingerprint(folder: Path) -> str:
    """Revisions whose tokenizer files are byte-identical share one prepared suite."""
    digest = hashlib.sha256()
    for path in sorted(Path(folder).iterdir()):
        if path.is_file() and (path.name.startswith("tokenizer") or path.name in
                               ("special_tokens_map.json", "vocab.json", "merges.txt", "added_tokens.json")):
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


@dataclass
class Prepared:
    """A suite tokenized for one tokenizer: unique rows, the row of every request, shared contexts."""
    tasks: list[Rendered]
    rows: list[tuple[list[int], list[bool]]]
    index: np.ndarray
    groups: list[list[int]]
    longest: int


def prepare(tasks: list[Rendered], tokenizer) -> Prepared:
    """Tokenize every request of every task once; identical requests become one row."""
    requests = [(ctx, t.delimiter + choice) for t in tasks for ctx, choices in zip(t.contexts, t.choices)
                for choice in choices]
    encoded = Encoder(tokenizer)(requests)
    rows, index, _ = token_rows([(None, c, t) for c, t in encoded], max_length=math.inf)
    return Prepared(tasks, rows, np.asarray(index, dtype=np.int64), context_groups(rows),
                    max((len(ids) for ids, _ in rows), default=0))


# ------------------------------------------------------------------------------------ scores

def task_scores(task: Rendered, lls: np.ndarray) -> dict:
    """lm-eval's multiple_choice metrics from the item log-likelihoods (choices in item order)."""
    per_metric = {m: [] for m in task.metrics}
    start = 0
    for choices, gold in zip(task.choices, task.golds):
        item = lls[start:start + len(choices)]
        start += len(choices)
        if "acc" in per_metric:
            per_metric["acc"].append(1.0 if int(np.argmax(item)) == gold else 0.0)
        if "acc_norm" in per_metric:
            lengths = np.array([float(len(c)) for c in choices])
            per_metric["acc_norm"].append(1.0 if int(np.argmax(item / lengths)) == gold else 0.0)
    row = {}
    for metric, values in per_metric.items():
        row[metric] = sum(values) / len(values)
        row[f"{metric}_stderr"] = _mean_stderr(values)
    row["n"] = len(task.golds)
    return row


def _mean_stderr(values: list[float]) -> float:
    """lm-eval's mean_stderr: the sample standard deviation (n - 1) over sqrt(n)."""
    if len(values) < 2:
        return float("nan")
    mu = sum(values) / len(values)
    return math.sqrt(sum((x - mu) ** 2 for x in values) / (len(values) - 1)) / math.sqrt(len(values))


def group_scores(config: dict, leaves: list[str], scores: dict) -> dict | None:
    """A group's aggregate_metric_list over its leaf tasks that ran (lm-eval's Group.aggregate)."""
    row = {}
    for agg in (config or {}).get("aggregate_metric_list") or []:
        metric = agg["metric"]
        if agg.get("aggregation", "mean") != "mean" or agg.get("filter_list") not in (None, "none", ["none"]):
            _refuse(config.get("group", "?"), f"group aggregation {agg!r} (size-weighted or plain mean only)")
        present = [scores[t] for t in leaves if t in scores and metric in scores[t]]
        if not present:
            continue
        sizes = [s["n"] for s in present] if agg.get("weight_by_size", True) else [1] * len(present)
        row[metric] = sum(s[metric] * w for s, w in zip(present, sizes)) / sum(sizes)
        stderrs = [s[f"{metric}_stderr"] for s in present]
        if agg.get("weight_by_size", True):
            pooled = sum((n - 1) * e ** 2 * n for n, e in zip(sizes, stderrs)) / (sum(sizes) - len(sizes))
            row[f"{metric}_stderr"] = math.sqrt(pooled / sum(sizes))
        else:
            row[f"{metric}_stderr"] = math.sqrt(sum(e ** 2 for e in stderrs)) / len(stderrs)
    return row or None


# ------------------------------------------------------------------------------------ running

def load_rendered(manager, names: list[str], data_map, limit: int | None, log=print):
    """Check, read and render every leaf task once: (rendered tasks, {task: source}, {task: why skipped})."""
    from nestling.evaluation.multilingual import _raw_config, mapped_file, match_data_map, name_list

    rendered, sources, skipped, failed = [], {}, {}, {}
    files: dict[tuple, tuple] = {}  # BLiMP-NL's 22 tasks read one file: once
    for name in names:
        config = {**_raw_config(manager, name), "task": name}
        check_config(name, config)
        spec = match_data_map(data_map, name)
        source = config.get("dataset_path")
        try:
            if spec:
                path, where = mapped_file(config, spec)
                source = str(path)
                key = (str(path), tuple(sorted(where.items())))
                docs, columns = files[key] = files.get(key) or read_mapped(path, where)
            elif source in failed:
                skipped[name] = failed[source]
                continue
            else:
                docs, columns = read_hub(config)
        except FileNotFoundError as err:
            skipped[name] = str(err)
            continue
        except Exception as err:  # noqa: BLE001 - any failure to get a task's data means: skip it, say why
            skipped[name] = failed[source] = (f"data not mapped and not reachable "
                                              f"({type(err).__name__}: {str(err).splitlines()[0][:160]})")
            continue
        rendered.append(render_task(name, config, docs[:limit] if limit else docs, columns))
        sources[name] = source
    if skipped and log:
        log(f"skipped {len(skipped)} task(s) without data: {name_list(skipped)}")
    return rendered, sources, skipped


def revision_lls(model, prepared: Prepared, *, device, batch_size: int, max_tokens: int = 16384,
                 precision: str = "fp32") -> dict[str, np.ndarray]:
    """One revision's forward passes over a prepared suite -> {task: log-likelihood of every request},
    items in order, each item's choices in order."""
    from nestling.evaluation.scoring import score_encoded

    sums = score_encoded(model, prepared.rows, groups=prepared.groups, batch_size=batch_size,
                         max_tokens=max_tokens, device=device, precision=precision, progress=False)
    lls, start, out = sums[prepared.index], 0, {}
    for task in prepared.tasks:
        count = sum(len(c) for c in task.choices)
        out[task.name] = lls[start:start + count]
        start += count
    return out


def model_window(model, tokenizer) -> int:
    """The longest sequence lm-eval's hf model would score without truncating (its max_length)."""
    from lm_eval.models.utils import resolve_max_length

    return resolve_max_length(model.config, tokenizer, default=2048)


class Suite:
    """Rendered tasks, prepared once per distinct tokenizer and reused for every revision."""

    def __init__(self, tasks: list[Rendered]):
        self.tasks, self._prepared = tasks, {}

    def for_revision(self, folder: Path, tokenizer) -> Prepared:
        key = tokenizer_fingerprint(folder)
        if key not in self._prepared:
            self._prepared[key] = prepare(self.tasks, tokenizer)
        return self._prepared[key]


def run_revision(suite: Suite, folder: Path, *, device: str, batch_size: int, trust_remote_code: bool,
                 allow_tokenizer_mismatch: bool = False, precision: str = "fp32") -> dict:
    """Load one revision, reuse (or make) its tokenizer's prepared suite, score it."""
    from nestling.evaluation.evaluate import load_model

    model, tokenizer = load_model(Path(folder), device=device, trust_remote_code=trust_remote_code,
                                  allow_tokenizer_mismatch=allow_tokenizer_mismatch)
    prepared = suite.for_revision(Path(folder), tokenizer)
    window = model_window(model, tokenizer)
    if prepared.longest > window:
        raise UnsupportedTask(f"{folder}: a request of {prepared.longest} tokens exceeds the model's {window}; "
                              "the native engine does not implement lm-eval's left truncation: "
                              "run it with --backend lm-eval")
    lls = revision_lls(model, prepared, device=device, batch_size=batch_size, precision=precision)
    return {task.name: task_scores(task, lls[task.name]) for task in prepared.tasks}
