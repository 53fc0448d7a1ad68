"""Atomic file writing, the one implementation: readers (and a resumed run after SIGKILL) never see
half-written files or folders.

A file is written to a temporary sibling and renamed over its target; a folder is built in a
temporary sibling and renamed into place. Temporary files from ``tempfile.mkstemp`` are private
(mode 0600), so everything published here is given the mode the user's umask asks for, like a file
opened normally (0644 under the usual umask 022).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator


def umask_mode(folder: bool = False) -> int:
    """The mode a new file (0666) or folder (0777) gets under the current umask."""
    mask = os.umask(0)
    os.umask(mask)
    return (0o777 if folder else 0o666) & ~mask


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block ends without error, publish it as ``path``.

    For writers that want a file name (``fig.savefig(tmp)``, ``torch.save(obj, tmp)``). On error the
    temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, umask_mode())
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_atomic(path: str | Path, data: str | bytes, encoding: str = "utf-8") -> Path:
    """Write ``data`` (text or bytes) to ``path`` atomically; returns ``path``."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data.encode(encoding) if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
    return Path(path)


def fix_modes(folder: str | Path) -> None:
    """Give every file and folder under ``folder`` (itself included) the umask's mode.

    Libraries that save through private temporary files (``save_pretrained`` writes safetensors so)
    leave 0600 files; a model folder is meant to be read by others.
    """
    folder = Path(folder)
    os.chmod(folder, umask_mode(folder=True))
    for path in folder.rglob("*"):
        if not path.is_symlink():
            os.chmod(path, umask_mode(folder=path.is_dir()))


def publish_folder(tmp: str | Path, final: str | Path) -> Path:
    """Flush ``tmp``'s files to disk, give them the umask's modes, and rename it over ``final``."""
    tmp, final = Path(tmp), Path(final)
    for path in tmp.rglob("*"):
        if path.is_file():
            with open(path, "rb") as f:
                os.fsync(f.fileno())
    fix_modes(tmp)
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    return final


@contextlib.contextmanager
def staging_folder(out: str | Path, kind: str) -> Iterator[Path]:
    """Create the output folder ``out`` and yield a hidden temporary folder inside it to draw files into;
    the caller moves each finished file into ``out`` (os.replace) and the temporary folder goes at the end,
    so a reader of ``out`` never meets a half-written file. ``kind`` names it (``.report-1a2b3c4d``)."""
    import uuid

    from nestling.errors import UserError

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".{kind}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
