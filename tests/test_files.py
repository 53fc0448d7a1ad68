"""Atomic writes publish whole files and folders with the modes the umask asks for."""

import os
import stat

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
