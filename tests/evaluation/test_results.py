"""Atomic results file and Markdown tables."""

from __future__ import annotations

import json

import pytest

from nestling.evaluation import format_table, write_results
from nestling.evaluation.results import format_learning_curve

TASK = {"format": "blimp", "files": [], "n_items": 3, "n_uids": 1, "n_ties": 0, "macro_acc": 2 / 3,
        "weighted_acc": 2 / 3, "macro_acc_tie_credit": 2 / 3, "weighted_acc_tie_credit": 2 / 3,
        "by_uid": {}, "by_field": {}, "by_term": {}}
ONE = {"model": "m", "revision": None, "words_seen": None, "headline_tie_rule": "random", "seed": 0,
       "tasks": {"blimp": TASK}}


def test_write_is_atomic(tmp_path):
    out = tmp_path / "sub" / "results.json"
    write_results(ONE, out)
    assert json.loads(out.read_text())["tasks"]["blimp"]["macro_acc"] == pytest.approx(2 / 3)
    with pytest.raises(TypeError):
        write_results({"bad": object()}, tmp_path / "broken.json")
    assert not (tmp_path / "broken.json").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["sub"]  # no temp file left behind
    # A failed rewrite leaves the previous file untouched.
    with pytest.raises(TypeError):
        write_results({"bad": object()}, out)
    assert json.loads(out.read_text())["model"] == "m"


def test_tables():
    assert "| blimp | blimp | 3 | 1 | 0 | 66.7 | 66.7 | 66.7 |" in format_table(ONE)
    run = {"run": "r", "revisions": {"chck_1M": ONE},
           "learning_curve": [{"revision": "chck_1M", "words_seen": 1_000_000, "blimp": 0.5},
                              {"revision": "final", "words_seen": None, "blimp": 0.75}]}
    table = format_learning_curve(run)
    assert table == format_table(run)
    assert "| chck_1M | 1,000,000 | 50.0 |" in table and "| final | - | 75.0 |" in table
