"""The run folder, one owner: its name, its paths, its revision names and their order, and reading
and writing summary.json, recipe.yaml and checkpoint.json (layout in docs/architecture.md); and the
sweep folder that holds run folders (its manifest.json, written by ``nestling.sweep``).

The trainer writes through this module; evaluation and export read through it. It imports nothing
of nestling's packages (only ``errors`` and ``files``), so every part may use it.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any


from nestling.errors import UserError
from nestling.files import write_atomic
from nestling.safe_yaml import load_yaml

RECIPE, LEDGER, METRICS, SUMMARY, RESULTS = "recipe.yaml", "ledger.json", "metrics.jsonl", "summary.json", "results.json"
CHECKPOINTS, FINAL, CHECKPOINT_INFO = "checkpoints", "final", "checkpoint.json"
SWEEP_MANIFEST = "manifest.json"
STATE = "state"
# What `nestling train` writes into a run folder: in a folder that is not a nestling run, a file of one of
# these names is the user's, and a new run there would replace it.
RUN_OUTPUTS = (RECIPE, LEDGER, METRICS, SUMMARY, RESULTS, CHECKPOINTS, FINAL, STATE)
# The first line of every recipe.yaml nestling writes: how a run folder is recognised before it has a
# summary.json or a state (a run killed in its first steps).
RECIPE_HEADER = "# nestling run recipe (written by nestling train; resume with --resume)\n"

MILLION = 1_000_000
# BabyLM revision names: chck_<number><K|M|B>. They double as git branch names, so the alphabet is ref-safe.
REVISION_RE = re.compile(r"^chck_([0-9]+(?:\.[0-9]+)?)([KMB]?)$")
_UNITS = {"": 1.0, "K": 1e3, "M": 1e6, "B": 1e9}


# ---------------------------------------------------------------- names


def run_dir_name(method: str, seed: int, today: dt.date | str | None = None) -> str:
    """<YYYY-MM-DD>_<method>_seed<N>: what a BabyLM researcher files results under."""
    day = today if isinstance(today, str) else (today or dt.date.today()).isoformat()
    return f"{day}_{method}_seed{seed}"


def milestone_millions() -> list[int]:
    """The 28 BabyLM milestones in millions of words: 1..9, 10..100 by 10, 200..1000 by 100."""
    return list(range(1, 10)) + list(range(10, 101, 10)) + list(range(200, 1001, 100))


def milestone_names() -> list[str]:
    """The 28 BabyLM revision names in order, chck_1M .. chck_1000M (``final`` comes after them)."""
    return [f"chck_{m}M" for m in milestone_millions()]


def is_revision_name(name: str) -> bool:
    return bool(REVISION_RE.match(name))


def revision_words(name: str) -> float | None:
    """Words a revision name stands for (chck_10M -> 1e7); None for other names (final, main)."""
    match = REVISION_RE.match(name)
    return float(match.group(1)) * _UNITS[match.group(2)] if match else None


def revision_sort_key(name: str) -> tuple[int, float, str]:
    """Order ``chck_1M < chck_2M < chck_10M < ... < final/main`` by the nominal word count."""
    words = revision_words(name)
    return (0, words, name) if words is not None else (1, 0.0, name)


# ---------------------------------------------------------------- paths


def checkpoint_dir(run_dir: str | Path, name: str) -> Path:
    """The model folder of a revision: <run>/final or <run>/checkpoints/<name>."""
    return Path(run_dir) / FINAL if name == FINAL else Path(run_dir) / CHECKPOINTS / name


def is_model_folder(folder: Path) -> bool:
    return (folder / "config.json").is_file()


def model_folders(run_dir: str | Path) -> dict[str, Path]:
    """Revision name -> model folder: every checkpoints/chck_* by words seen (name when unknown), then final."""
    run_dir = Path(run_dir)
    found = [p for p in (run_dir / CHECKPOINTS).glob("chck_*") if p.is_dir() and is_model_folder(p)]
    found.sort(key=lambda p: (_seen_or_named(p), revision_sort_key(p.name)))
    ordered = {p.name: p for p in found}
    if is_model_folder(run_dir / FINAL):
        ordered[FINAL] = run_dir / FINAL
    return ordered


def _seen_or_named(folder: Path) -> float:
    seen = read_words_seen(folder)
    if seen is not None:
        return float(seen)
    words = revision_words(folder.name)
    return words if words is not None else float("inf")


def is_run_dir(path: str | Path) -> bool:
    """A training run folder (checkpoints/chck_* or final/), as opposed to a single model folder."""
    path = Path(path)
    return path.is_dir() and not is_model_folder(path) and bool(model_folders(path))


# ---------------------------------------------------------------- reading and writing


def read_json(path: Path) -> dict:
    """A JSON object from ``path``; a clear UserError when it is unreadable or not an object."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserError(f"{path}: not readable JSON ({e})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a JSON object, found {type(data).__name__}")
    return data


def optional_json(path: Path) -> dict | None:
    return read_json(path) if Path(path).is_file() else None


def write_json(path: Path, data: Any) -> Path:
    """Indented JSON with a final newline, written atomically."""
    return write_atomic(path, json.dumps(data, indent=2, default=str) + "\n")


def read_checkpoint_info(folder: str | Path) -> dict:
    """checkpoint.json of a model folder ({"name", "words_seen", "tokens_seen", "step"}); {} when absent."""
    return optional_json(Path(folder) / CHECKPOINT_INFO) or {}


def read_words_seen(folder: str | Path) -> int | None:
    """words_seen from a model folder's checkpoint.json (None when absent, e.g. a hub id)."""
    path = Path(folder) / CHECKPOINT_INFO
    return read_json(path).get("words_seen") if path.is_file() else None


def write_checkpoint_info(folder: str | Path, info: dict) -> Path:
    return write_json(Path(folder) / CHECKPOINT_INFO, info)


def read_summary(run_dir: str | Path) -> dict | None:
    return optional_json(Path(run_dir) / SUMMARY)


def write_summary(run_dir: str | Path, summary: dict) -> Path:
    return write_json(Path(run_dir) / SUMMARY, summary)


def is_nestling_run(folder: str | Path) -> bool:
    """A folder `nestling train` made: its summary.json, a saved state, or a recipe.yaml with nestling's header."""
    folder = Path(folder)
    if (folder / SUMMARY).is_file() or any((folder / STATE).glob("step_*")):
        return True
    try:
        with open(folder / RECIPE, encoding="utf-8") as f:
            return f.readline() == RECIPE_HEADER
    except (OSError, UnicodeDecodeError):
        return False


def foreign_run_files(folder: str | Path) -> list[str]:
    """The names a new run would write over in ``folder`` when ``folder`` is not a nestling run."""
    folder = Path(folder)
    if not folder.is_dir() or is_nestling_run(folder):
        return []
    return [name for name in RUN_OUTPUTS if (folder / name).exists() or (folder / name).is_symlink()]


def read_recipe(run_dir: str | Path) -> dict | None:
    """The run's resolved recipe as plain data (lenient: a report may read any run); None when absent."""
    path = Path(run_dir) / RECIPE
    if not path.is_file():
        return None
    recipe = load_yaml(path.read_text(encoding="utf-8"), str(path))
    return recipe if isinstance(recipe, dict) else None


def write_recipe(run_dir: str | Path, recipe_yaml: str) -> Path:
    """recipe.yaml, as ``nestling.recipe.dump_recipe`` renders it (so it loads again with load_recipe)."""
    return write_atomic(Path(run_dir) / RECIPE, RECIPE_HEADER + recipe_yaml)


# ---------------------------------------------------------------- sweep folders


def is_sweep_dir(path: str | Path) -> bool:
    """A folder of runs made by ``nestling sweep`` (it has a manifest.json)."""
    return (Path(path) / SWEEP_MANIFEST).is_file()


def read_manifest(sweep_dir: str | Path) -> dict | None:
    """manifest.json of a sweep folder: {"recipe", "overrides", "grid", "seeds", "runs": [...]}; None when absent."""
    return optional_json(Path(sweep_dir) / SWEEP_MANIFEST)


def write_manifest(sweep_dir: str | Path, manifest: dict) -> Path:
    return write_json(Path(sweep_dir) / SWEEP_MANIFEST, manifest)


def sweep_run_dirs(sweep_dir: str | Path) -> list[Path]:
    """The run folders of a sweep, in the manifest's order (those that exist)."""
    manifest = read_manifest(sweep_dir) or {}
    folders = [Path(sweep_dir) / str(run.get("folder", "")) for run in manifest.get("runs", [])]
    return [f for f in folders if f.is_dir() and f != Path(sweep_dir)]
