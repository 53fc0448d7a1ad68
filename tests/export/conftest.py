"""Session-wide fake runs and their export, shared by the export tests (built once: ~3 s)."""

from __future__ import annotations

import pytest

from nestling.export import export_run

from .fake_run import make_run, tiny_stream_mixer


@pytest.fixture(scope="session")
def runs_root(tmp_path_factory):
    return tmp_path_factory.mktemp("runs")


@pytest.fixture(scope="session")
def demo_run(runs_root):
    """A finished, evaluated multilingual Llama run (read-only: copy it before breaking it)."""
    return make_run(runs_root, name="demo", seed=0)


@pytest.fixture(scope="session")
def other_run(runs_root):
    """A second run of the same shape with different numbers, for Delta columns and overlays."""
    return make_run(runs_root, name="ablation", seed=1)


@pytest.fixture(scope="session")
def exported(demo_run, other_run, tmp_path_factory):
    """``demo_run`` exported with ``other_run`` as the comparison (read-only)."""
    return export_run(demo_run, tmp_path_factory.mktemp("export") / "repo", compare=other_run)


@pytest.fixture(scope="session")
def mixer_export(tmp_path_factory):
    """A one-language Stream Mixer run (remote code) exported.

    A broken model package fails these tests (an ImportError here), never turns them into skips.
    """
    import nestling.models.stream_mixer  # noqa: F401

    root = tmp_path_factory.mktemp("mixer")
    run = make_run(root / "runs", name="mixer", langs=("eng",), model_factory=tiny_stream_mixer)
    return export_run(run, root / "repo")
