"""Writing outputs, the one implementation: atomic files and folders (readers, and a resumed run after
SIGKILL, never see half-written ones), one writer lock per output (``output_lock``), the naming and
clean-up of temporaries, the checks made before long work (``check_output``, ``refuse_overlap``) and
the cache folder (``cache_dir``). The rules are in docs/architecture.md ("Writers").

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
    # Named by the temporaries rule (see TMP_MARK) so the next writer of ``path`` can clean up after a kill.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}{TMP_MARK}", suffix=".tmp", dir=path.parent)
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
    so a reader of ``out`` never meets a half-written file. ``kind`` names it (``.report.tmp-<pid>-1a2b3c4d``);
    one left by a killed run is removed by the next."""
    import uuid

    from nestling.errors import UserError

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    with output_lock(out):
        remove_stale_temporaries(out, kind)
        tmp = out / f".{kind}{TMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            yield tmp
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------- one writer per output, its temporaries

# A command's temporary for output X is ``.<X's name>.tmp-<pid>`` beside X (or inside the folder it
# writes, for the files it adds there). Only the holder of X's lock writes them, so whatever of that
# name the lock's new holder finds was left by a killed run: ``remove_stale_temporaries`` deletes it.
TMP_MARK = ".tmp-"
LOCK_WAIT_S = 120.0  # a short lock (a results.json merge) is waited for, never a long one


def lock_path(target: str | Path) -> Path:
    """The lock file of an output folder or file: ``.<name>.lock`` beside it (the output may not exist yet)."""
    target = Path(target).absolute()
    return target.parent / f".{target.name}.lock"


def _holder_path(lock: Path) -> Path:
    return lock.with_name(lock.name + ".holder")


def _holder(lock: Path) -> str:
    """Who holds ``lock``: "PID 123 (nestling train ...)" from the line its holder wrote beside it."""
    import json

    try:
        info = json.loads(_holder_path(lock).read_text(encoding="utf-8"))
        return f"PID {info['pid']} ({info['command'][:120]})"
    except (OSError, ValueError, KeyError, TypeError):
        return "a process that has not yet said who it is"


def command_line() -> str:
    """This process's command line as the user typed it (``nestling train ...``)."""
    import shlex
    import sys

    name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    name = "nestling" if name in ("__main__.py", "nestling") else name
    return shlex.join([name, *sys.argv[1:]])


@contextlib.contextmanager
def output_lock(target: str | Path, wait_s: float = 0.0) -> Iterator[Path]:
    """Hold the one writer lock of ``target`` (an output folder or file) for the block.

    A second writer fails at once (``wait_s`` 0) with one line naming the holder's PID and command;
    a short lock (``wait_s`` > 0) is waited for. The lock is an flock (``filelock``): the kernel releases
    it when its holder dies, so a lock left by a killed process is simply taken over.
    """
    import json

    from filelock import FileLock, Timeout

    from nestling.errors import UserError

    target = Path(target)
    path = lock_path(target)
    lock = FileLock(path, timeout=wait_s, on_acquired=_still_named(path))
    try:
        for attempt in range(3):
            try:
                lock.acquire()
                break
            except _LockFileGone:
                if attempt == 2:
                    raise Timeout(str(path)) from None
    except Timeout:
        raise UserError(f"{target}: another nestling process is writing it: {_holder(path)}; wait for it to "
                        "finish, or choose another output") from None
    except OSError as err:
        raise UserError(f"{target}: cannot write there ({err.strerror or err})") from None
    try:
        info = {"pid": os.getpid(), "command": command_line()}
        _holder_path(path).write_text(json.dumps(info) + "\n", encoding="utf-8")
        yield target
    finally:
        # Unlinked while still held, so nothing is left behind; a process that opened the old file in the
        # meantime finds it gone (``_still_named``) and tries again.
        _holder_path(path).unlink(missing_ok=True)
        path.unlink(missing_ok=True)
        lock.release()


class _LockFileGone(Exception):
    """The lock file was removed by its last holder between our open and our lock: take the new one."""


def _still_named(path: Path):
    def check(fd: int) -> None:
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if not same:
            raise _LockFileGone
    return check


def temporary_sibling(final: str | Path) -> Path:
    """The temporary path a command builds ``final`` in (see the rule above ``TMP_MARK``)."""
    final = Path(final)
    return final.parent / f".{final.name}{TMP_MARK}{os.getpid()}"


def remove_stale_temporaries(folder: str | Path, name: str = "*") -> list[Path]:
    """Delete the temporaries of outputs called ``name`` (every output: "*") in ``folder``, left by a
    killed earlier run; say so in one line each. Call it holding the output's lock."""
    import glob
    import sys

    folder = Path(folder)
    if not folder.is_dir():
        return []
    pattern = f".{name if name == '*' else glob.escape(name)}{TMP_MARK}*"
    removed = sorted(folder.glob(pattern))
    for path in removed:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        sys.stderr.write(f"nestling: removed {path}, left by an interrupted earlier run\n")
    return removed


# ---------------------------------------------------------------- checks before long work


def _existing_ancestor(path: Path) -> Path:
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path if path.is_dir() else path.parent


def check_output(target: str | Path, need_bytes: int = 0, what: str = "the output") -> None:
    """Refuse in one line, before long work, an output that cannot be written or lacks the free space.

    ``target`` may not exist yet: its nearest existing folder is tried (a file created and removed, which
    also catches read-only mounts that a root user's permission check would let through).
    """
    from nestling.errors import UserError

    folder = _existing_ancestor(Path(target))
    try:
        fd, probe = tempfile.mkstemp(prefix=".nestling-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise UserError(f"{target}: cannot write {what} in {folder} ({err.strerror or err})") from None
    free = shutil.disk_usage(folder).free
    if need_bytes > free:
        raise UserError(f"{target}: {what} needs about {_size(need_bytes)} but {folder} has {_size(free)} free")


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def folder_bytes(path: str | Path) -> int:
    """Bytes of the files under ``path`` (links not followed)."""
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def is_inside(path: str | Path, folder: str | Path) -> bool:
    """``path`` equals ``folder`` or lies under it (links resolved)."""
    path, folder = Path(path).resolve(), Path(folder).resolve()
    return path == folder or folder in path.parents


def refuse_overlap(out: str | Path, inputs, flag: str = "--out") -> None:
    """An output equal to or inside an input (or holding one) would write over the user's data."""
    from nestling.errors import UserError

    for source in inputs:
        if is_inside(out, source) or is_inside(source, out):
            raise UserError(f"{flag} {out}: overlaps the input {source}; choose an output outside every input")


# ---------------------------------------------------------------- the cache folder


def cache_dir() -> Path:
    """``$NESTLING_CACHE_DIR``, else ``$XDG_CACHE_HOME/nestling`` or ``~/.cache/nestling`` (not created)."""
    from nestling.errors import UserError

    # An empty variable counts as unset, as the XDG specification says.
    root = os.environ.get("NESTLING_CACHE_DIR") or None
    path = Path(root) if root else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "nestling"
    blocking = next((p for p in [path, *path.parents] if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        name = f"NESTLING_CACHE_DIR={root}" if root else f"cache folder {path}"
        raise UserError(f"{name}: cannot be a folder ({blocking} is a file)")
    return path
