"""Official strict-pipeline scoring rules against hand-computed expectations."""

from __future__ import annotations

import numpy as np
import pytest

from nestling.evaluation.aggregate import aggregate, official_choice
from nestling.evaluation.official import entity_tracking_average, task_predictions, task_result, wug_probabilities
from nestling.evaluation.tasks import Item, Task


def _item(uid, key, n=2, ratio=None, candidates=None):
    return Item(uid, None, None, key, candidates or tuple(("", f"s{i}") for i in range(n)), ratio=ratio)


def test_official_tie_goes_to_the_first_candidate():
    assert official_choice(np.array([-3.0, -3.0])) == 0
    assert official_choice(np.array([-4.0, -3.0, -3.0])) == 1
    # Sums equal in float32 tie there too, as in the official float32 sums.
    assert official_choice(np.array([-10.0, -10.0 + 1e-9])) == 0


def test_macro_over_uids_with_official_ties():
    items = [_item("a", "0"), _item("a", "1"), _item("a", "2"), _item("b", "0")]
    scores = [np.array([-1.0, -2.0]), np.array([-2.0, -2.0]), np.array([-3.0, -1.0]), np.array([-5.0, -1.0])]
    result = aggregate(items, scores)
    # UID a: correct, tie (correct), wrong -> 2/3; UID b: 0/1; macro (2/3 + 0) / 2.
    assert result["by_uid"]["a"]["acc_official"] == pytest.approx(2 / 3)
    assert result["macro_acc_official"] == pytest.approx(1 / 3)


def test_entity_tracking_averages_splits_then_uids():
    by_uid = {"regular_0_ops": {"acc_official": 1.0}, "regular_1_ops": {"acc_official": 0.5},
              "ambiref_0_ops": {"acc_official": 0.0}}
    score, splits = entity_tracking_average(by_uid)
    assert splits == {"regular": 0.75, "ambiref": 0.0}
    assert score == pytest.approx(0.375)


def test_wug_is_spearman_of_the_softmax_preference():
    pytest.importorskip("scipy", reason="scipy not installed (pip install -e . adds it)")
    items = [_item("wug_adj", str(i), ratio=r) for i, r in enumerate([0.1, 0.9, 0.5, 0.3])]
    scores = [np.array([-2.0, -1.0]), np.array([-1.0, -3.0]), np.array([-1.0, -1.0]), np.array([-4.0, -1.0])]
    probs = wug_probabilities(scores)
    assert probs == pytest.approx([1 / (1 + np.e), 1 / (1 + np.e ** -2), 0.5, 1 / (1 + np.e ** 3)], rel=1e-6)
    task = Task("wug_adj_nominalization", "wug", items, [])
    result = task_result("wug_adj", task, scores)
    # Ranks of probs: 2, 4, 3, 1; of ratios: 1, 4, 3, 2 -> rho = 1 - 6 * (1 + 0 + 0 + 1) / (4 * 15) = 0.8.
    assert result["metric"] == "spearman" and result["score"] == pytest.approx(0.8)
    preds = task_predictions("wug_adj", task, scores)["wug_adj"]["predictions"]
    assert preds[0] == {"id": "wug_adj_0", "pred": "s1", "prob": pytest.approx(probs[0])}


def test_predictions_follow_the_official_shape():
    comps = Task("comps", "comps", [Item("base", None, None, "0", (("A robin ", "can fly."), ("A table ", "can fly.")))],
                 [])
    preds = task_predictions("comps", comps, [np.array([-5.0, -1.0])])
    assert preds == {"base": {"predictions": [{"id": "base_0", "pred": "A table can fly."}]}}
    ewok = Task("ewok", "ewok", [Item("social", None, None, "0", (("Ann.", " T1."), ("Ann.", " T2."))),
                                 Item("social", None, None, "1", (("Bob.", " T1."), ("Bob.", " T2.")))], [])
    preds = task_predictions("ewok", ewok, [np.array([-1.0, -1.0]), np.array([-3.0, -1.0])])
    assert preds["social"]["predictions"] == [{"id": "social_0", "pred": " T1."}, {"id": "social_1", "pred": " T2."}]
