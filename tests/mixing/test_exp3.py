import json

import numpy as np
import pytest

from nestling.errors import UserError
from nestling.mixing.exp3 import Exp3Mixer, exp3_pi, log_weights_for
from nestling.recipe import section

LANGS = ["eng", "nld", "zho"]
PI_0 = {"eng": 0.3213, "nld": 0.3227, "zho": 0.3560}


def make(seed=0, **kw):
    """An Exp3Mixer with the recipe's default mixing settings, ``kw`` overriding them."""
    cfg = section("mixing")
    defaults = dict(reward=cfg.reward, update=cfg.update, gamma=cfg.gamma, eta=cfg.eta, floor=cfg.floor,
                    mix_interval=cfg.mix_interval)
    return Exp3Mixer("taam", LANGS, PI_0, seed, **{**defaults, **kw})


def losses_for(round_, rng):
    """zho is always worst and improves least; small noise."""
    base = {"eng": 2.0 + 3.0 / (1 + round_), "nld": 2.3 + 3.0 / (1 + round_), "zho": 3.2 + 1.0 / (1 + round_)}
    return {lang: v + float(rng.normal(0, 0.01)) for lang, v in base.items()}


def test_starts_at_pi_0():
    m = make()
    assert m.probabilities() == pytest.approx(PI_0, abs=1e-12)
    assert sum(m.probabilities().values()) == pytest.approx(1.0)


def test_formula_without_floor_or_gamma():
    log_w = np.log(np.array([1.0, 2.0, 5.0]))
    assert exp3_pi(log_w, 0.0, 0.0) == pytest.approx([0.125, 0.25, 0.625])
    # gamma 0.1, floor 0.1: 0.1 + 0.7 * (0.9 * w/sum + 0.1/3)
    expected = 0.1 + 0.7 * (0.9 * np.array([0.125, 0.25, 0.625]) + 0.1 / 3)
    assert exp3_pi(log_w, 0.1, 0.1) == pytest.approx(expected)
    assert exp3_pi(log_weights_for(expected, 0.1, 0.1), 0.1, 0.1) == pytest.approx(expected)


def test_full_information_update_hand_computed():
    m = Exp3Mixer("taam", ["a", "b"], {"a": 0.5, "b": 0.5}, 0, reward="v2", update="full_information",
                  gamma=0.0, eta=1.0, floor=0.0, mix_interval=50)
    out = m.update(50, {"a": 1.0, "b": 2.0})  # d = [0, 1], pooled std 0.7071 -> r = [0, 1.4142]
    assert out["rewards"] == pytest.approx({"a": 0.0, "b": 2**0.5})
    pb = np.exp(2**0.5) / (1 + np.exp(2**0.5))
    assert out["pi"] == pytest.approx({"a": 1 - pb, "b": pb})


@pytest.mark.parametrize("reward", ["v1", "v2"])
@pytest.mark.parametrize("update", ["full_information", "bandit"])
def test_floor_respected_at_every_step(reward, update):
    m = make(reward=reward, update=update)
    rng = np.random.default_rng(0)
    for r in range(300):
        pi = m.update(50 * (r + 1), losses_for(r, rng))["pi"]
        assert min(pi.values()) >= 0.10 - 1e-12
        assert sum(pi.values()) == pytest.approx(1.0, abs=1e-12)
    # The lowest EXP3 can go: the floor plus the exploration share.
    assert min(pi.values()) >= 0.10 + 0.7 * 0.1 / 3 - 1e-12


@pytest.mark.parametrize("update", ["full_information", "bandit"])
def test_state_round_trips_through_json(update):
    rng = np.random.default_rng(1)
    m = make(seed=5, reward="v1", update=update)
    for r in range(12):
        for lang in m.sample(8, seq_tokens=64):
            m.record_exposure(lang, 64)
        m.update(50 * (r + 1), losses_for(r, rng))
    state = json.loads(json.dumps(m.state_dict()))
    resumed = make(seed=123, reward="v1", update=update)
    resumed.load_state_dict(state)
    assert resumed.probabilities() == m.probabilities()
    assert resumed.state_dict() == m.state_dict()
    for r in range(12, 20):
        losses = losses_for(r, rng)
        assert resumed.sample(16) == m.sample(16)
        assert resumed.update(50 * (r + 1), losses) == m.update(50 * (r + 1), losses)
    with pytest.raises(UserError):
        make(reward="v2", update=update).load_state_dict(state)


def test_determinism_for_a_seed():
    def run(seed):
        m, rng, draws = make(seed=seed, update="bandit"), np.random.default_rng(0), []
        for r in range(20):
            draws += m.sample(4)
            m.update(50 * (r + 1), losses_for(r, rng))
        return draws, m.probabilities()

    assert run(3) == run(3)
    assert run(3)[0] != run(4)[0]


def test_long_run_stays_finite():
    # eta 1000 with rewards of +-2 every round spreads the log-weights by ~4e6: naive exp() would overflow.
    m = make(reward="v2", eta=1000.0)
    rng = np.random.default_rng(2)
    for r in range(2000):
        pi = m.update(r + 1, losses_for(r, rng))["pi"]
    assert all(np.isfinite(list(pi.values())))
    assert m.log_w.max() == 0.0 and np.isfinite(m.log_w).all()
    assert pi["zho"] == pytest.approx(0.1 + 0.7 * (0.9 + 0.1 / 3))
    assert min(pi.values()) >= 0.1


def test_needs_probe_and_bad_rounds():
    m = make(mix_interval=50)
    assert [s for s in range(0, 201) if m.needs_probe(s)] == [50, 100, 150, 200]
    before = m.probabilities()
    assert m.update(50, {"eng": float("nan"), "nld": 1.0, "zho": 1.0}) == {"pi": before, "rewards": {}}
    with pytest.raises(ValueError):
        m.update(50, {"eng": 1.0})


def test_bad_settings():
    for kw in ({"gamma": 1.5}, {"eta": 0.0}, {"floor": 0.5}, {"reward": "v9"}):
        with pytest.raises(UserError):
            make(**kw)
    with pytest.raises(UserError, match="mixing.update"):  # allowed values are checked when the recipe is read
        section("mixing", update="greedy")
