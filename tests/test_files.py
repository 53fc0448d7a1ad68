"""Atomic writes publish whole files and folders with the modes the umask asks for."""

import json
import os
import stat
from pathlib import Path

import pytest

from nestling.files import atomic_path, publish_folder, write_atomic


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_write_atomic_gives_the_umask_mode(tmp_path, umask_022):
    path = write_atomic(tmp_path / "a" / "x.json", "{}\n")
    assert path.read_text() == "{}\n" and _mode(path) == 0o644
    assert [p.name for p in path.parent.iterdir()] == ["x.json"], "no temporary file left behind"


def test_a_failed_write_leaves_the_old_file(tmp_path):
    path = write_atomic(tmp_path / "x.txt", "old")
    with pytest.raises(RuntimeError):
        with atomic_path(path) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["x.txt"]


def test_published_folders_are_readable_by_others(tmp_path, umask_022):
    tmp = tmp_path / ".tmp-model"
    tmp.mkdir()
    (tmp / "model.safetensors").write_bytes(b"x")
    os.chmod(tmp / "model.safetensors", 0o600)  # as save_pretrained leaves it
    final = publish_folder(tmp, tmp_path / "model")
    assert _mode(final / "model.safetensors") == 0o644 and _mode(final) == 0o755 and not tmp.exists()


# ---------------------------------------------------------------- writers: locks, temporaries, checks


def test_a_second_holder_is_refused_naming_the_first_and_nothing_stays(tmp_path):
    from nestling.errors import UserError
    from nestling.files import lock_path, output_lock

    with output_lock(tmp_path / "run"):
        assert json.loads((tmp_path / ".run.lock.holder").read_text())["pid"] == os.getpid()
        with pytest.raises(UserError, match=rf"run: another nestling process is writing it: PID {os.getpid()} \("):
            with output_lock(tmp_path / "run"):
                pass
    assert not lock_path(tmp_path / "run").exists() and list(tmp_path.iterdir()) == []


def test_a_dead_holders_lock_is_taken_over(tmp_path):
    """A process killed while holding the lock leaves its files; the flock went with it."""
    import signal
    import subprocess
    import sys

    from nestling.files import output_lock

    code = ("import sys, time\nfrom nestling.files import output_lock\n"
            "with output_lock(sys.argv[1]):\n    print('held', flush=True)\n    time.sleep(60)\n")
    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": f"{repo}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "run")], stdout=subprocess.PIPE, text=True,
                            env=env)
    assert proc.stdout.readline().strip() == "held"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert json.loads((tmp_path / ".run.lock.holder").read_text())["pid"] == proc.pid
    with output_lock(tmp_path / "run"):
        assert json.loads((tmp_path / ".run.lock.holder").read_text())["pid"] == os.getpid()


def test_stale_temporaries_are_removed_by_name_saying_so(tmp_path, capsys):
    from nestling.files import remove_stale_temporaries, temporary_sibling

    (tmp_path / ".ds.tmp-12" / "clean").mkdir(parents=True)
    (tmp_path / ".ds.tmp-13").write_text("half")
    (tmp_path / ".other.tmp-12").mkdir()
    assert temporary_sibling(tmp_path / "ds") == tmp_path / f".ds.tmp-{os.getpid()}"
    removed = remove_stale_temporaries(tmp_path, "ds")
    assert sorted(p.name for p in removed) == [".ds.tmp-12", ".ds.tmp-13"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.tmp-12"]
    assert capsys.readouterr().err.count("left by an interrupted earlier run") == 2


def test_check_output_names_the_figures(tmp_path, monkeypatch):
    import shutil

    from nestling.errors import UserError
    from nestling.files import check_output

    check_output(tmp_path / "new" / "deeper", 10)  # a folder that does not exist yet is checked at its parent
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda p: real(p)._replace(free=1500))
    with pytest.raises(UserError, match=r"the run needs about 2\.0 MB but .* has 1\.5 KB free"):
        check_output(tmp_path / "run", 2_000_000, "the run")


def test_overlapping_output_and_input_are_refused(tmp_path):
    from nestling.errors import UserError
    from nestling.files import refuse_overlap

    refuse_overlap(tmp_path / "out", [tmp_path / "in"])
    for out in (tmp_path / "in", tmp_path / "in" / "sub"):
        with pytest.raises(UserError, match="overlaps the input"):
            refuse_overlap(out, [tmp_path / "in"])
    with pytest.raises(UserError, match="overlaps the input"):
        refuse_overlap(tmp_path, [tmp_path / "in" / "a.txt"])


def test_cache_dir_that_cannot_be_a_folder(tmp_path, monkeypatch):
    from nestling.errors import UserError
    from nestling.files import cache_dir

    monkeypatch.setenv("NESTLING_CACHE_DIR", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("NESTLING_CACHE_DIR", str(tmp_path / "file" / "below"))
    with pytest.raises(UserError, match=r"NESTLING_CACHE_DIR=.*below: cannot be a folder \(.*file is a file\)"):
        cache_dir()
