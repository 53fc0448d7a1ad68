"""Read a run folder (docs/architecture.md, "Run folder") into one object, checking what export needs.

Reading is lenient (a report may plot a run that is still training); `validate_checkpoint` and
`require_exportable` are strict, because a published repository must load.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from nestling import run_folder as rf
from nestling.errors import UserError
from nestling.run_folder import read_json, revision_sort_key  # noqa: F401 (re-exported for card, push)


@dataclass
class Checkpoint:
    """One model folder of a run: ``name`` is ``final`` or a BabyLM revision such as ``chck_10M``."""

    name: str
    path: Path
    meta: dict = field(default_factory=dict)  # checkpoint.json: name, words_seen, tokens_seen, step
    config: dict = field(default_factory=dict)

    @property
    def words_seen(self) -> int | None:
        return self.meta.get("words_seen")

    @property
    def needs_remote_code(self) -> bool:
        return bool(self.config.get("auto_map"))


@dataclass
class Run:
    """Everything export, card and report read from one run folder; absent files are None/empty."""

    path: Path
    summary: dict | None
    ledger: dict | None
    recipe: dict | None
    results: dict | None
    metrics: list[dict]
    final: Checkpoint | None
    checkpoints: list[Checkpoint]  # sorted by words seen

    @property
    def name(self) -> str:
        return str((self.summary or {}).get("name") or (self.recipe or {}).get("name") or self.path.name)

    def records(self, kind: str) -> list[dict]:
        """The metrics.jsonl records of one kind (train, val, mix, checkpoint, skip), in file order."""
        return [r for r in self.metrics if r.get("kind") == kind]


def read_metrics(path: Path) -> list[dict]:
    """The records of metrics.jsonl; a run still being written may end in one partial line, skipped."""
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8").split("\n")
    records = []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as e:
            if i == len(lines):  # last line without its newline: the trainer is mid-write
                break
            raise UserError(f"{path}:{i}: not a JSON record ({e.msg})") from None
    return records


def _read_checkpoint(path: Path, name: str) -> Checkpoint:
    config = rf.optional_json(path / "config.json") or {}
    return Checkpoint(name=name, path=path, meta=rf.read_checkpoint_info(path), config=config)


def load_run(run_dir: str | Path) -> Run:
    """Read a run folder leniently: only a missing folder or a corrupt JSON file is an error."""
    path = Path(run_dir)
    if not path.is_dir():
        raise UserError(f"{path}: not a run folder (it does not exist)")
    ck_root = path / rf.CHECKPOINTS
    checkpoints = [_read_checkpoint(p, p.name) for p in sorted(ck_root.glob("chck_*")) if p.is_dir()]
    checkpoints.sort(key=lambda c: (c.words_seen if c.words_seen is not None else float("inf"),
                                    revision_sort_key(c.name)))
    final = rf.checkpoint_dir(path, rf.FINAL)
    return Run(
        path=path,
        summary=rf.read_summary(path),
        ledger=rf.optional_json(path / rf.LEDGER),
        recipe=rf.read_recipe(path),
        results=rf.optional_json(path / rf.RESULTS),
        metrics=read_metrics(path / rf.METRICS),
        final=_read_checkpoint(final, rf.FINAL) if final.is_dir() else None,
        checkpoints=checkpoints,
    )


def _weight_files(folder: Path) -> list[Path]:
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        weight_map = read_json(index).get("weight_map")
        if not isinstance(weight_map, dict) or not weight_map:
            raise UserError(f"{index}: no weight_map")
        return [folder / name for name in sorted(set(weight_map.values()))]
    if (folder / "model.safetensors").is_file():
        return [folder / "model.safetensors"]
    raise UserError(f"{folder}: no model.safetensors (corrupt or incomplete checkpoint)")


def _check_weights(file: Path) -> None:
    from safetensors import safe_open

    try:
        # safe_open parses the header and checks it against the file length, so truncation shows here.
        with safe_open(str(file), framework="numpy") as f:
            dtypes = {f.get_slice(k).get_dtype() for k in f.keys()}
    except Exception as e:  # safetensors raises its own error types and OSError
        why = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise UserError(f"{file}: unreadable safetensors ({why})") from None
    if not dtypes:
        raise UserError(f"{file}: holds no tensors")
    floating = {d for d in dtypes if d.startswith(("F", "BF"))}
    if floating - {"F32"}:
        raise UserError(f"{file}: weights are {', '.join(sorted(floating))}; the export contract is F32 safetensors")


_RELATIVE_IMPORT_RE = re.compile(r"^\s*from\s+\.([A-Za-z_][A-Za-z0-9_]*)\s+import\s", re.MULTILINE)


def _check_remote_code(folder: Path, config: dict) -> None:
    """Every module auto_map names, and every module those import relatively, must ship in the folder."""
    for code in folder.glob("*.py"):
        for module in _RELATIVE_IMPORT_RE.findall(code.read_text(encoding="utf-8", errors="replace")):
            if not (folder / f"{module}.py").is_file():
                raise UserError(f"{code}: imports .{module} but {module}.py is missing (corrupt checkpoint)")
    auto_map = config.get("auto_map") or {}
    for ref in auto_map.values():
        for one in ref if isinstance(ref, list) else [ref]:
            if not one:
                continue
            module = one.split("--")[-1].rsplit(".", 1)[0]
            if not (folder / (module.replace(".", "/") + ".py")).is_file():
                raise UserError(f"{folder / 'config.json'}: auto_map names {one} but {module}.py is missing")


def validate_checkpoint(ck: Checkpoint) -> None:
    """Raise UserError unless ``ck`` is a loadable model folder: config, F32 safetensors, code, tokenizer."""
    folder = ck.path
    if not (folder / "config.json").is_file():
        raise UserError(f"{folder}: no config.json (corrupt or incomplete checkpoint)")
    ck.config = read_json(folder / "config.json")
    if "model_type" not in ck.config:
        raise UserError(f"{folder / 'config.json'}: no model_type (corrupt checkpoint)")
    for file in _weight_files(folder):
        if not file.is_file():
            raise UserError(f"{file}: weight shard missing (corrupt checkpoint)")
        _check_weights(file)
    _check_remote_code(folder, ck.config)
    if (folder / "tokenizer.json").is_file():
        read_json(folder / "tokenizer.json")
    elif not (folder / "tokenizer_config.json").is_file():
        raise UserError(f"{folder}: no tokenizer files (tokenizer.json / tokenizer_config.json)")


def require_exportable(run: Run, *, allow_unevaluated: bool = False) -> None:
    """Raise UserError (one line) unless ``run`` is finished, evaluated and every checkpoint is sound."""
    if run.final is None:
        raise UserError(f"{run.path}: unfinished run (no final/ checkpoint); finish or resume training first")
    if run.summary is None:
        raise UserError(f"{run.path}: no summary.json (unfinished run?)")
    if run.summary.get("finished") is False:
        raise UserError(f"{run.path / 'summary.json'}: finished is false; finish or resume training first")
    if run.results is None and not allow_unevaluated:
        raise UserError(f"{run.path}: no results.json; run `nestling eval {run.path}` first "
                        "(or export with --allow-unevaluated)")
    for name in run.summary.get("checkpoints") or []:
        if name not in {c.name for c in run.checkpoints}:
            raise UserError(f"{run.path / 'summary.json'} lists {name} but checkpoints/{name}/ is missing")
    for ck in run.checkpoints:
        if not rf.is_revision_name(ck.name):
            raise UserError(f"{ck.path}: {ck.name!r} is not a BabyLM revision name such as chck_10M")
    for ck in [run.final, *run.checkpoints]:
        validate_checkpoint(ck)
