"""Shared fixtures: where the real data of ../shared lives, and a skip when it is absent."""

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """`../shared/data` beside the checkout, or $NESTLING_SHARED_DATA."""
    return Path(os.environ.get("NESTLING_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"real data not found at {path} (clone with ../shared beside it, or set NESTLING_SHARED_DATA)")
    return path
