"""Mixing fixtures: the URIEL prior is computed once per session into a private cache (lang2vec is slow)."""

import os

import pytest

from nestling.mixing.prior import compute_prior

LANGS = ["eng", "nld", "zho"]


@pytest.fixture(scope="session")
def prior_record(tmp_path_factory):
    """The eng/nld/zho prior; NESTLING_CACHE_DIR points at a session folder holding its cache file."""
    cache_dir = tmp_path_factory.mktemp("uriel_cache")
    old = os.environ.get("NESTLING_CACHE_DIR")
    os.environ["NESTLING_CACHE_DIR"] = str(cache_dir)
    try:
        yield compute_prior(LANGS)
    finally:
        if old is None:
            os.environ.pop("NESTLING_CACHE_DIR", None)
        else:
            os.environ["NESTLING_CACHE_DIR"] = old
