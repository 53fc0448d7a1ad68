"""Minimal-pair task files: read every supported jsonl format into one item shape.

Every format becomes a list of `Item`s. An item holds its candidates as (context, continuation)
strings; candidate 0 is the correct one, as in the official BabyLM pipeline (label 0). A
full-sentence candidate has context "" and the sentence as its continuation; prefix formats
(entity tracking, EWoK, COMPS) score only the continuation, conditioned on the context.

Formats (detected from the keys of a file's first line, or forced with ``task_format``):

| format          | keys                                                        | UID            |
|-----------------|-------------------------------------------------------------|----------------|
| blimp           | sentence_good, sentence_bad, UID, field, linguistics_term   | UID            |
| supplement      | sentence_good, sentence_bad (no UID)                        | the file name  |
| blimp_nl        | sentence_good, sentence_bad, category                       | category       |
| zhoblimp        | sentence_good, sentence_bad, UID, phenomenon                | UID            |
| multiblimp      | sen, wrong_sen (+ phenomenon, lang when present)            | phenomenon     |
| entity_tracking | input_prefix, options (options[0] correct), numops          | <file>_<n>_ops |
| ewok            | Context1, Context2, Target1, Target2 (+ Domain)             | Domain         |
| comps           | prefix_acceptable, prefix_unacceptable, property_phrase     | subset of file |
| wug             | sentences ("<a>\t<b>"), ratio (human preference for <a>)    | wug_adj/_past  |
| generic         | sentence_good, sentence_bad + the key named by ``group_by`` | item[group_by] |

BabyLM-filtered BLiMP (``pair_id``) and original BLiMP (``pairID``) are both "blimp".

EWoK, COMPS and WUG follow the official decoders (strict/evaluation_pipeline/sentence_zero_shot/
read_files.py, causal backend): EWoK compares P(" " + Target1 | Context1) with P(" " + Target2 |
Context1) (Context2 is not used); COMPS scores the property phrase after each prefix; WUG scores two
full sentences and keeps the human ``ratio`` (its metric is a rank correlation, not an accuracy).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from nestling.errors import UserError

FORMATS = ("blimp", "supplement", "blimp_nl", "zhoblimp", "multiblimp", "entity_tracking",
           "ewok", "comps", "wug", "generic")

# Keys each format needs; named in the error when a line lacks one.
REQUIRED_KEYS = {
    "blimp": ("sentence_good", "sentence_bad", "UID", "field", "linguistics_term"),
    "supplement": ("sentence_good", "sentence_bad"),
    "blimp_nl": ("sentence_good", "sentence_bad", "category"),
    "zhoblimp": ("sentence_good", "sentence_bad", "UID", "phenomenon"),
    "multiblimp": ("sen", "wrong_sen"),
    "entity_tracking": ("input_prefix", "options", "numops"),
    "ewok": ("Context1", "Context2", "Target1", "Target2"),
    "comps": ("prefix_acceptable", "prefix_unacceptable", "property_phrase"),
    "wug": ("sentences", "ratio"),
    "generic": ("sentence_good", "sentence_bad"),
}

# Keys whose value is text the model reads: anything but a string (e.g. null) is a broken line.
TEXT_KEYS = {"sentence_good", "sentence_bad", "sen", "wrong_sen", "input_prefix", "Context1", "Context2",
             "Target1", "Target2", "prefix_acceptable", "prefix_unacceptable", "property_phrase"}

# Official COMPS subset names by file stem (read_files.decode_comps); any other comps* file is
# "wugs_dist_in_between", as there.
COMPS_SUBSETS = {"comps_base": "base", "comps_wugs": "wugs", "comps_wugs_dist-before": "wugs_dist_before"}


def wug_uid(stem: str) -> str:
    """The official UID of a WUG file: its task name (wug_adj / wug_past), else the file stem."""
    for uid in ("wug_adj", "wug_past"):
        if stem.startswith(uid):
            return uid
    return stem


# Folder names that say nothing about the task; the parent folder names it instead.
_ANONYMOUS_DIRS = {"data", "eval", "test", "dev", "jsonl", "full_eval", "fast_eval"}


@dataclass(frozen=True)
class Item:
    """One minimal pair (or n-way choice): candidate 0 is correct."""

    uid: str
    field: str | None
    term: str | None
    key: str  # stable id inside its UID (pair id or line number); drives fast subsets and ties
    candidates: tuple[tuple[str, str], ...]  # (context, continuation) per candidate
    ratio: float | None = None  # WUG only: the human preference for candidate 0


@dataclass
class Task:
    """All items read from one data path (a file, or a folder of jsonl files)."""

    name: str
    format: str
    items: list[Item]
    files: list[Path]


def detect_format(record: dict, group_by: str | None = None) -> str | None:
    """The format a record's keys imply, or None when no format fits."""
    if "input_prefix" in record and "options" in record:
        return "entity_tracking"
    if "Context1" in record and "Target1" in record:
        return "ewok"
    if "prefix_acceptable" in record and "property_phrase" in record:
        return "comps"
    if "sentences" in record and "ratio" in record:
        return "wug"
    if "sen" in record and "wrong_sen" in record:
        return "multiblimp"
    if "sentence_good" in record and "sentence_bad" in record:
        if group_by is not None:
            return "generic"
        if "UID" in record and "phenomenon" in record:
            return "zhoblimp"
        if "category" in record:
            return "blimp_nl"
        if "UID" in record and "field" in record:
            return "blimp"
        return "supplement"
    return None


def iter_jsonl(path: Path):
    """(line number, record) of each non-blank line of a jsonl file; a bad line raises UserError naming the
    file and line number."""
    with open(path, "rb") as f:
        for line_no, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise UserError(f"{path}:{line_no}: not valid UTF-8 (byte {err.start + 1} of the line)") from None
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise UserError(f"{path}:{line_no}: malformed JSON ({err.msg})") from None
            if not isinstance(record, dict):
                raise UserError(f"{path}:{line_no}: expected a JSON object, got {type(record).__name__}")
            yield line_no, record


def read_jsonl(path: Path) -> list[dict]:
    """Parse a jsonl file; a bad or empty file raises UserError naming the file (and line)."""
    records = [record for _, record in iter_jsonl(path)]
    if not records:
        raise UserError(f"{path}: empty file (no JSON lines)")
    return records


def _pair_key(record: dict, line_index: int) -> str:
    for name in ("pair_id", "pairID", "pair_ID", "sample_id", "id", "ID"):
        if name in record:
            return str(record[name])
    return str(line_index)


def _sentences(good: str, bad: str) -> tuple[tuple[str, str], ...]:
    return (("", good), ("", bad))


def _decode(record: dict, fmt: str, path: Path, index: int, group_by: str | None) -> Item:
    """One record of a known format -> Item (field names mirror the official pipeline)."""
    key = _pair_key(record, index)
    stem = path.stem
    if fmt == "blimp":
        # The official pipeline standardises this one field name.
        field = "syntax/semantics" if record["field"] == "syntax_semantics" else record["field"]
        return Item(record["UID"], field, record["linguistics_term"], key,
                    _sentences(record["sentence_good"], record["sentence_bad"]))
    if fmt == "supplement":
        return Item(stem, "supplement", "supplement", key,
                    _sentences(record["sentence_good"], record["sentence_bad"]))
    if fmt == "blimp_nl":
        return Item(record["category"], None, None, key,
                    _sentences(record["sentence_good"], record["sentence_bad"]))
    if fmt == "zhoblimp":
        return Item(record["UID"], None, record["phenomenon"], key,
                    _sentences(record["sentence_good"], record["sentence_bad"]))
    if fmt == "multiblimp":
        uid = str(record.get("phenomenon", stem))
        return Item(uid, record.get("lang"), record.get("grammatical_feature"), key,
                    _sentences(record["sen"], record["wrong_sen"]))
    if fmt == "entity_tracking":
        options = record["options"]
        if not isinstance(options, list) or len(options) < 2 or not all(isinstance(o, str) for o in options):
            raise UserError(f"{path}:{index + 1}: 'options' must be a list of at least 2 strings")
        prefix = record["input_prefix"]
        return Item(f"{stem}_{record['numops']}_ops", stem, None, key,
                    tuple((prefix, option) for option in options))
    if fmt == "ewok":
        # Official decode_ewok (causal): P(" " + Target1 | Context1) against P(" " + Target2 | Context1).
        context = record["Context1"]
        return Item(str(record.get("Domain", stem)), record.get("ContextType"), record.get("TargetDiff"), key,
                    ((context, " " + record["Target1"]), (context, " " + record["Target2"])))
    if fmt == "comps":
        # Official decode_comps: sentence = prefix + " " + phrase, completion = phrase (so the space
        # belongs to the context when tokens are assigned to the completion).
        phrase = record["property_phrase"]
        return Item(COMPS_SUBSETS.get(stem, "wugs_dist_in_between" if stem.startswith("comps") else stem),
                    None, None, key,
                    ((record["prefix_acceptable"] + " ", phrase), (record["prefix_unacceptable"] + " ", phrase)))
    if fmt == "wug":
        sentences = str(record["sentences"]).split("\t")
        if len(sentences) < 2:
            raise UserError(f"{path}:{index + 1}: 'sentences' must hold two tab-separated sentences")
        return Item(wug_uid(stem), None, None, key, tuple(("", s) for s in sentences),
                    ratio=float(record["ratio"]))
    if fmt == "generic":
        return Item(str(record[group_by]), None, None, key,
                    _sentences(record["sentence_good"], record["sentence_bad"]))
    raise UserError(f"unknown task format {fmt!r}; choose one of: auto, {', '.join(FORMATS)}")


def _check_keys(record: dict, fmt: str, path: Path, line_no: int, group_by: str | None) -> None:
    expected = REQUIRED_KEYS[fmt] + ((group_by,) if fmt == "generic" else ())
    missing = [k for k in expected if k not in record]
    if missing:
        raise UserError(f"{path}:{line_no}: missing {', '.join(missing)} for format {fmt!r} "
                        f"(expected keys: {', '.join(expected)})")
    for key in expected:
        if key in TEXT_KEYS and not isinstance(record[key], str):
            raise UserError(f"{path}:{line_no}: {key!r} must be a string, got {json.dumps(record[key])}")


def load_file(path: Path, task_format: str = "auto", group_by: str | None = None) -> tuple[str, list[Item]]:
    """Read one jsonl file -> (format, items). Bad input raises UserError naming file and line."""
    path = Path(path)
    if task_format != "auto" and task_format not in FORMATS:
        raise UserError(f"unknown task format {task_format!r}; choose one of: auto, {', '.join(FORMATS)}")
    if task_format == "generic" and not group_by:
        raise UserError("task format 'generic' needs --group-by KEY (the field that names each item's group)")
    records = read_jsonl(path)
    fmt = task_format if task_format != "auto" else detect_format(records[0], group_by)
    if fmt is None:
        raise UserError(f"{path}: unknown format (keys: {', '.join(sorted(records[0]))}); expected one of "
                        f"{', '.join(FORMATS)} (see --task-format)")
    items = []
    for index, record in enumerate(records):
        _check_keys(record, fmt, path, index + 1, group_by)
        items.append(_decode(record, fmt, path, index, group_by))
    return fmt, items


def task_name(path: Path) -> str:
    """A readable task name: the file stem for a file, the folder (or its parent) for a folder."""
    path = Path(path).resolve()
    if path.is_file():
        return path.stem
    if path.name in _ANONYMOUS_DIRS and path.parent.name:
        return path.parent.name
    return path.name


def load_task(path: Path, task_format: str = "auto", group_by: str | None = None) -> Task:
    """Read a file, or every ``*.jsonl`` file of a folder (sorted), as one task."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.jsonl"))
        if not files:
            raise UserError(f"{path}: folder holds no .jsonl files")
    elif path.is_file():
        files = [path]
    else:
        raise UserError(f"{path}: no such file or folder")
    formats, items = [], []
    for file in files:
        fmt, file_items = load_file(file, task_format, group_by)
        formats.append(fmt)
        items.extend(file_items)
    fmt = formats[0] if len(set(formats)) == 1 else "+".join(sorted(set(formats)))
    return Task(task_name(path), fmt, items, files)


def load_tasks(paths: list[Path], task_format: str = "auto", group_by: str | None = None) -> list[Task]:
    """Load every data path as its own task; repeated names get a numeric suffix."""
    if not paths:
        raise UserError("no evaluation data given (use --data PATH)")
    tasks, seen = [], {}
    for path in paths:
        task = load_task(path, task_format, group_by)
        count = seen.get(task.name, 0)
        seen[task.name] = count + 1
        if count:
            task.name = f"{task.name}_{count + 1}"
        tasks.append(task)
    return tasks
