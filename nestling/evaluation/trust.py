"""When a model folder's own Python code may run: only when the user says so, or when it is nestling's.

transformers runs a folder's ``modeling_*.py`` when ``trust_remote_code=True``; a downloaded folder
can ship anything there. Without the user's word, remote code is allowed for one case only: a local
folder whose every ``*.py`` file is byte-identical (sha256) to the model code nestling itself ships
in ``nestling/models/<arch>/``, and whose ``auto_map`` names only those files. A hub id never gets
remote code unless asked.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from importlib import resources
from pathlib import Path

from nestling.errors import UserError

HINT = "pass --trust-remote-code (library: trust_remote_code=True) only if you trust that code"
_AUTO_MAP_FILES = ("config.json", "tokenizer_config.json")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@lru_cache(maxsize=1)
def shipped_code() -> dict[str, frozenset[str]]:
    """File name -> sha256 digests of the model code nestling ships (read as files, not imported)."""
    root = Path(str(resources.files("nestling") / "models"))
    found: dict[str, set[str]] = {}
    for pattern in ("configuration_*.py", "modeling_*.py", "ops_*.py"):
        for path in root.glob(f"*/{pattern}"):
            found.setdefault(path.name, set()).add(_sha256(path))
    return {name: frozenset(digests) for name, digests in found.items()}


def _auto_map_modules(folder: Path) -> set[str]:
    """Module names that the folder's auto_map entries point to ("modeling_x.Class" -> "modeling_x")."""
    modules = set()
    for name in _AUTO_MAP_FILES:
        path = folder / name
        if not path.is_file():
            continue
        try:
            auto_map = json.loads(path.read_text(encoding="utf-8")).get("auto_map") or {}
        except (UnicodeDecodeError, json.JSONDecodeError, AttributeError):
            continue  # the loader reports a broken config itself
        for ref in auto_map.values():
            for r in ref if isinstance(ref, list) else [ref]:
                if isinstance(r, str):
                    modules.add(r.rsplit(".", 1)[0])
    return modules


def code_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if p.is_file())


def is_nestling_code(folder: Path) -> bool:
    """Every .py file is one nestling ships, byte for byte, and auto_map names only those files."""
    files = code_files(folder)
    shipped = shipped_code()
    if not files or any(p.parent != folder or _sha256(p) not in shipped.get(p.name, ()) for p in files):
        return False
    # "repo--module.Class" would fetch code from another hub repository.
    return all("--" not in m and f"{m}.py" in {p.name for p in files} for m in _auto_map_modules(folder))


def allow_remote_code(location: Path | str, trust_remote_code: bool = False) -> bool:
    """The ``trust_remote_code`` value to pass to transformers for ``location``.

    Raises UserError, saying how to allow it, for a local folder that needs code that is not nestling's.
    """
    if trust_remote_code:
        return True
    if not isinstance(location, Path):
        return False  # a hub id: transformers refuses custom code with a message we pass on
    folder = location
    if is_nestling_code(folder):
        return True
    modules = _auto_map_modules(folder)
    if modules:
        shown = ", ".join(sorted(f"{m}.py" for m in modules))
        raise UserError(f"{folder}: the model needs its own code ({shown}), which is not the code nestling "
                        f"ships; it was not run; {HINT}")
    return False
