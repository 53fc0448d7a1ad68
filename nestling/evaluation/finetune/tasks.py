"""Fine-tuning tasks: how each official task file is read and turned into (text, label) examples.

Two layouts, read as the official pipelines ship them:
- glue (strict track, ``evaluation_pipeline/finetune/dataset.py``): ``DIR/<task>.{train,valid}.jsonl``
  with integer labels; the input fields and templates per task are the official ones;
- multilingual (``multilingual/finetune/finetune_classification.py``):
  ``DIR/<lang>/<task>/<task>_<lang>.{train,valid}.jsonl``; labels may be strings and are numbered
  in sorted order of the training labels, as the official script does.

Every problem in a file is a `UserError` naming the file and the line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from nestling.errors import UserError


@dataclass(frozen=True)
class TaskSpec:
    """How one task's records become inputs: the fields joined on each side of the pair."""

    name: str
    a_keys: tuple[str, ...]
    b_keys: tuple[str, ...] = ()
    a_template: str | None = None  # str.format over the a_keys values; None joins them with spaces
    num_labels: int | None = None  # None: numbered from the training labels (multilingual layout)
    metrics: tuple[str, ...] = ("accuracy", "f1", "mcc")
    metric_for_valid: str = "accuracy"
    long_inputs: bool = False  # the official script fine-tunes these with the smaller batch size

    def fields(self) -> tuple[str, ...]:
        return (*self.a_keys, *self.b_keys, "label")


_MULTIRC_TEMPLATE = "Question: {} Answer: {}"
_WSC_TEMPLATE = "Does \"{}\" refer to \"{}\" in this passage?"

# Inputs as in the official dataset.py; labels, metrics and selection as in scripts/eval_finetuning.sh.
GLUE_TASKS: dict[str, TaskSpec] = {t.name: t for t in [
    TaskSpec("boolq", ("question",), ("passage",), num_labels=2, long_inputs=True),
    TaskSpec("multirc", ("question", "answer"), ("paragraph",), _MULTIRC_TEMPLATE, num_labels=2, long_inputs=True),
    TaskSpec("rte", ("sentence1",), ("sentence2",), num_labels=2),
    TaskSpec("wsc", ("span2_text", "span1_text"), ("text",), _WSC_TEMPLATE, num_labels=2),
    TaskSpec("mrpc", ("sentence1",), ("sentence2",), num_labels=2, metric_for_valid="f1"),
    TaskSpec("qqp", ("question1",), ("question2",), num_labels=2, metric_for_valid="f1"),
    TaskSpec("mnli", ("premise",), ("hypothesis",), num_labels=3, metrics=("accuracy",)),
    TaskSpec("cola", ("sentence",), num_labels=2),
    TaskSpec("qnli", ("question",), ("sentence",), num_labels=2),
    TaskSpec("sst2", ("sentence",), num_labels=2),
]}
# The tasks scripts/eval_finetuning.sh runs, in its order.
GLUE_SUITE = ("boolq", "multirc", "rte", "wsc", "mrpc", "qqp", "mnli")

# Input fields per task as the official multilingual script resolves them from the files' columns.
MULTILINGUAL_TASKS: dict[str, TaskSpec] = {t.name: t for t in [
    TaskSpec("arc", ("sentence",)), TaskSpec("belebele", ("sentence",)), TaskSpec("bmlama", ("sentence",)),
    TaskSpec("include", ("sentence",)), TaskSpec("mmlu", ("sentence",)),
    TaskSpec("mnli", ("premise",), ("hypothesis",)), TaskSpec("xnli", ("premise",), ("hypothesis",)),
    TaskSpec("sib200", ("sentence",)), TaskSpec("truthfulqa", ("sentence",)),
    TaskSpec("xcopa", ("sentence1",), ("sentence2",)),
]}
MULTILINGUAL_SUITE = ("arc", "belebele", "bmlama", "include", "mnli", "sib200", "truthfulqa", "xnli", "xcopa")
MULTILINGUAL_LANGS = ("en", "nl", "zh")


@dataclass
class Split:
    """One file's examples: input text (or text pair) and label per record."""

    path: Path
    texts: list[str | tuple[str, str]] = field(default_factory=list)
    labels: list = field(default_factory=list)
    lines: list[int] = field(default_factory=list)  # 1-based line of each example, for error messages


@dataclass
class TaskData:
    """A task ready to fine-tune: its spec, train and validation splits, and integer labels."""

    name: str  # e.g. "rte", or "xnli_en" in the multilingual layout
    spec: TaskSpec
    train: Split
    valid: Split
    label_names: list = field(default_factory=list)  # label id -> label as written in the files

    @property
    def num_labels(self) -> int:
        return len(self.label_names)


def _join(values: list[str], template: str | None) -> str:
    return template.format(*values) if template is not None else " ".join(values)


def read_split(path: Path, spec: TaskSpec) -> Split:
    """Read a JSONL file into a Split; a malformed record is a UserError naming file and line."""
    from nestling.evaluation.tasks import iter_jsonl

    split = Split(path)
    for number, record in iter_jsonl(path):
        missing = [k for k in spec.fields() if k not in record]
        if missing:
            raise UserError(f"{path}:{number}: missing field {', '.join(map(repr, missing))} "
                            f"(task {spec.name} reads {', '.join(spec.fields())})")
        bad = [k for k in (*spec.a_keys, *spec.b_keys) if not isinstance(record[k], str)]
        if bad:
            raise UserError(f"{path}:{number}: field {bad[0]!r} is not text")
        a = _join([record[k] for k in spec.a_keys], spec.a_template)
        split.texts.append((a, " ".join(record[k] for k in spec.b_keys)) if spec.b_keys else a)
        split.labels.append(record["label"])
        split.lines.append(number)
    if not split.texts:
        raise UserError(f"{path}: empty split (no examples)")
    return split


def _check_labels(split: Split, allowed: list) -> list[int]:
    """Label ids of a split; a label outside the task's labels is a UserError naming file and line."""
    index = {label: i for i, label in enumerate(allowed)}
    ids = []
    for label, number in zip(split.labels, split.lines):
        if isinstance(label, bool) or label not in index:
            raise UserError(f"{split.path}:{number}: label {label!r} outside the task's labels "
                            f"({', '.join(map(str, allowed))})")
        ids.append(index[label])
    return ids


def load_task(name: str, spec: TaskSpec, train_path: Path, valid_path: Path) -> TaskData:
    """Read and check both splits; labels become ids 0..N-1."""
    train, valid = read_split(train_path, spec), read_split(valid_path, spec)
    if spec.num_labels is not None:
        label_names = list(range(spec.num_labels))
    else:
        # As the official multilingual script: the sorted distinct training labels, numbered in order.
        kinds = {type(x) for x in train.labels}
        if len(kinds) > 1 or not kinds <= {int, str}:
            raise UserError(f"{train_path}: labels must be all integers or all strings")
        label_names = sorted(set(train.labels))
    train.labels = _check_labels(train, label_names)
    valid.labels = _check_labels(valid, label_names)
    return TaskData(name, spec, train, valid, label_names)


@dataclass(frozen=True)
class TaskFiles:
    """Where a task's splits live, before anything is read."""

    name: str
    spec: TaskSpec
    train: Path
    valid: Path

    def missing(self) -> str | None:
        """Why the task cannot run (a split's file is absent), or None."""
        if not self.train.is_file():
            return f"no train split: {self.train.name} not in {self.train.parent}"
        if not self.valid.is_file():
            return f"no validation split: {self.valid.name} not in {self.valid.parent}"
        return None


def glue_files(data_dir: Path, name: str) -> TaskFiles:
    if name not in GLUE_TASKS:
        raise UserError(f"unknown fine-tuning task {name!r}; glue tasks: {', '.join(GLUE_TASKS)}")
    return TaskFiles(name, GLUE_TASKS[name], data_dir / f"{name}.train.jsonl", data_dir / f"{name}.valid.jsonl")


def multilingual_files(data_dir: Path, name: str) -> TaskFiles:
    """`xnli_en` -> DIR/en/xnli/xnli_en.{train,valid}.jsonl."""
    task, _, lang = name.rpartition("_")
    if task not in MULTILINGUAL_TASKS or not lang:
        raise UserError(f"unknown multilingual fine-tuning task {name!r}; expected TASK_LANG with TASK one of "
                        f"{', '.join(MULTILINGUAL_TASKS)} (e.g. xnli_en)")
    folder = data_dir / lang / task
    return TaskFiles(name, MULTILINGUAL_TASKS[task], folder / f"{name}.train.jsonl", folder / f"{name}.valid.jsonl")


# `nestling finetune --suite`: the official layout each suite reads.
SUITES = ("glue", "multilingual")


def suite_files(suite: str, data_dir: Path) -> list[TaskFiles]:
    """Every task of a suite, present or not (absent ones are reported as skipped)."""
    if suite == "glue":
        return [glue_files(data_dir, name) for name in GLUE_SUITE]
    if suite == "multilingual":
        langs = sorted({p.name for p in data_dir.iterdir() if p.is_dir()} | set(MULTILINGUAL_LANGS)) \
            if data_dir.is_dir() else list(MULTILINGUAL_LANGS)
        return [multilingual_files(data_dir, f"{task}_{lang}") for lang in langs for task in MULTILINGUAL_SUITE]
    raise UserError(f"unknown suite {suite!r}; choose one of: {', '.join(SUITES)}")


def task_files(names: list[str], data_dir: Path, layout: str) -> list[TaskFiles]:
    """Named tasks in a layout (glue or multilingual); unknown names are a UserError."""
    return [glue_files(data_dir, n) if layout == "glue" else multilingual_files(data_dir, n) for n in names]
