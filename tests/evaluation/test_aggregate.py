"""Accuracy per UID, field and term; macro vs item-weighted; random ties vs tie credit."""

from __future__ import annotations

import numpy as np
import pytest

from nestling.evaluation.aggregate import aggregate, item_outcome
from nestling.evaluation.tasks import Item


def item(uid, key, field="f", term="t", n=2):
    return Item(uid, field, term, str(key), tuple(("", f"s{i}") for i in range(n)))


def test_hand_computed_macro_and_weighted():
    # UID a: 3 items, 2 right -> 2/3; UID b: 1 item, right -> 1.
    items = [item("a", 0), item("a", 1), item("a", 2), item("b", 0, field="g", term="t")]
    scores = [np.array([-1.0, -2.0]), np.array([-3.0, -2.0]), np.array([-1.0, -1.5]), np.array([-1.0, -9.0])]
    out = aggregate(items, scores, seed=0)
    assert out["by_uid"]["a"]["acc"] == pytest.approx(2 / 3)
    assert out["by_uid"]["b"]["acc"] == 1.0
    assert out["macro_acc"] == pytest.approx((2 / 3 + 1) / 2)
    assert out["weighted_acc"] == pytest.approx(3 / 4)
    assert out["n_items"] == 4 and out["n_uids"] == 2 and out["n_ties"] == 0
    assert out["macro_acc_tie_credit"] == out["macro_acc"]
    assert out["by_field"]["f"] == {"n": 3, "n_uids": 1, "acc": pytest.approx(2 / 3),
                                    "acc_tie_credit": pytest.approx(2 / 3),
                                    "weighted_acc": pytest.approx(2 / 3),
                                    "weighted_acc_tie_credit": pytest.approx(2 / 3)}
    # Term t holds both UIDs: macro over them and item-weighted differ.
    assert out["by_term"]["t"]["acc"] == pytest.approx(5 / 6)
    assert out["by_term"]["t"]["weighted_acc"] == pytest.approx(3 / 4)


def test_ties_random_and_credit():
    # Two-way tie including the answer: credit 1/2; three-way tie among 4 incl. the answer: 1/3;
    # tie between two wrong candidates: 0.
    assert item_outcome(np.array([-1.0, -1.0]), "u", "0", 0)[1:] == (0.5, True)
    assert item_outcome(np.array([-1.0, -5.0, -1.0, -1.0]), "u", "0", 0)[1:] == (pytest.approx(1 / 3), True)
    hit, credit, tied = item_outcome(np.array([-5.0, -1.0, -1.0]), "u", "0", 0)
    assert (hit, credit, tied) == (0.0, 0.0, True)


def test_random_tie_break_is_seeded_and_fair():
    ties = np.array([-2.0, -2.0])
    draws = [item_outcome(ties, "u", str(k), seed=0)[0] for k in range(2000)]
    assert draws == [item_outcome(ties, "u", str(k), seed=0)[0] for k in range(2000)]  # deterministic
    assert 0.45 < np.mean(draws) < 0.55  # a fair coin over items
    other = [item_outcome(ties, "u", str(k), seed=1)[0] for k in range(2000)]
    assert draws != other  # the seed matters


def test_task_with_ties_reports_both_rules():
    items = [item("a", k) for k in range(4)]
    scores = [np.array([-1.0, -1.0])] * 2 + [np.array([0.0, -1.0]), np.array([-2.0, -1.0])]
    out = aggregate(items, scores, seed=3)
    assert out["n_ties"] == 2 and out["by_uid"]["a"]["n_ties"] == 2
    assert out["macro_acc_tie_credit"] == pytest.approx((0.5 + 0.5 + 1 + 0) / 4)
    expected = sum(item_outcome(s, "a", str(k), 3)[0] for k, s in enumerate(scores)) / 4
    assert out["macro_acc"] == pytest.approx(expected)


def test_uid_without_field_is_left_out_of_by_field():
    out = aggregate([item("a", 0, field=None, term=None)], [np.array([0.0, -1.0])])
    assert out["by_field"] == {} and out["by_term"] == {} and out["macro_acc"] == 1.0
