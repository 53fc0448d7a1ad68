import math

import numpy as np
import pytest

from nestling.errors import UserError
from nestling.mixing.rewards import (
    CrossLingualDeficit,
    NormalizedExcessLoss,
    build_reward,
    canonical_reward,
    sample_std,
)


def test_aliases():
    assert canonical_reward("normalized_excess_loss") == "v1"
    assert canonical_reward("V2") == "v2"
    assert isinstance(build_reward("cross_lingual_deficit", ["a"]), CrossLingualDeficit)
    with pytest.raises(UserError):
        canonical_reward("v3")


def test_sample_std_fallbacks():
    assert sample_std([]) == 1.0
    assert sample_std([0.3]) == 1.0
    assert sample_std([2.0, 2.0, 2.0]) == 1.0  # spread below 1e-8
    assert sample_std([0.0, 0.2]) == pytest.approx(0.2 / math.sqrt(2))  # ddof=1


def test_v1_hand_computed():
    r = NormalizedExcessLoss(["a"])
    # First probe: ref = current loss, raw 0, sigma 1 (one value) -> 0.
    assert r({"a": 3.0}) == {"a": 0.0}
    # ref = 3.0, raw = 0.2; raws [0, 0.2], std(ddof=1) = 0.141421 -> 1.414214
    assert r({"a": 2.8})["a"] == pytest.approx(1.4142136, abs=1e-6)
    # ref = mean(3.0, 2.8) = 2.9, raw = 0.2; raws [0, .2, .2], std = 0.115470 -> 1.732051
    assert r({"a": 2.7})["a"] == pytest.approx(1.7320508, abs=1e-6)


def test_v1_flat_history_uses_sigma_one_and_clips():
    r = NormalizedExcessLoss(["a"])
    for _ in range(4):
        assert r({"a": 3.0})["a"] == 0.0  # raws all 0: sigma falls back to 1
    # raw = 3 - 6 = -3; raws [0,0,0,0,-3], std = sqrt(1.8) = 1.341641 -> -2.236 -> clipped to -2
    assert r({"a": 6.0})["a"] == -2.0


def test_v1_windows():
    r = NormalizedExcessLoss(["a"])
    for loss in [10, 9, 8, 7, 6, 5]:
        r({"a": loss})
    # ref = mean of the last 5 losses (9, 8, 7, 6, 5) = 7 -> raw 3; raws so far [0, 1, 1.5, 2, 2.5, 3, 3]
    expected = 3 / np.std([0, 1, 1.5, 2, 2.5, 3, 3], ddof=1)
    assert r({"a": 4})["a"] == pytest.approx(min(expected, 2.0))
    for _ in range(30):
        r({"a": 4})
    assert len(r.raws["a"]) == 20 and len(r.losses["a"]) == 5


def test_v2_hand_computed():
    r = CrossLingualDeficit(["eng", "nld", "zho"])
    # d = [0, .5, 1]; pooled std = 0.5 -> [0, 1, 2]
    assert r({"eng": 2.0, "nld": 2.5, "zho": 3.0}) == pytest.approx({"eng": 0.0, "nld": 1.0, "zho": 2.0})
    # d = [0, .2, .4]; pooled [0,.5,1,0,.2,.4]: std = sqrt(0.715/5) = 0.378153
    out = r({"eng": 2.0, "nld": 2.2, "zho": 2.4})
    assert out == pytest.approx({"eng": 0.0, "nld": 0.5288858, "zho": 1.0577716}, abs=1e-6)


def test_v2_clips_and_window():
    langs = list("abcde")
    r = CrossLingualDeficit(langs)
    # d = [0,0,0,0,5]: std = sqrt(5) -> 2.236 -> clipped to 2
    assert r(dict(zip(langs, [1, 1, 1, 1, 6])))["e"] == 2.0
    # A single round with all losses equal: spread 0 on that round alone would divide by ~0.
    r2 = CrossLingualDeficit(["a", "b"])
    assert r2({"a": 1.0, "b": 1.0}) == {"a": 0.0, "b": 0.0}
    for _ in range(25):
        r({k: 1.0 for k in langs})
    assert len(r.rounds) == 20


def test_reward_state_round_trips():
    import json

    for cls in (NormalizedExcessLoss, CrossLingualDeficit):
        a, b = cls(["x", "y"]), cls(["x", "y"])
        for i in range(7):
            a({"x": 3 - 0.1 * i, "y": 3.5 - 0.05 * i})
        b.load_state_dict(json.loads(json.dumps(a.state_dict())))
        assert a({"x": 2.0, "y": 2.9}) == b({"x": 2.0, "y": 2.9})
