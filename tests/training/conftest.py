"""Trainer tests share the suite-wide one-thread fixture of tests/conftest.py."""

import pytest


@pytest.fixture(autouse=True)
def _probe_cache_in_tmp(tmp_path, monkeypatch):
    """The micro-batch memory probe caches under $NESTLING_CACHE: a test's own folder, not the user's home."""
    monkeypatch.setenv("NESTLING_CACHE", str(tmp_path / "nestling-cache"))
