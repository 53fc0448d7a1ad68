import json

import pytest

from nestling.errors import UserError
from nestling.mixing import BudgetExhausted, Exp3Mixer, build_mixer
from nestling.recipe import choices, section

LANGS = ["eng", "nld", "zho"]
TOKENS = {"eng": 100, "nld": 300, "zho": 600}


def build(cfg, run_dir=None, budgets=None, total=1000):
    return build_mixer(section("mixing", **cfg), LANGS, TOKENS, budgets, total, 0, run_dir)


@pytest.mark.parametrize(
    "cfg, expected",
    [
        ({}, {"eng": 1 / 3, "nld": 1 / 3, "zho": 1 / 3}),
        ({"method": "proportional"}, {"eng": 0.1, "nld": 0.3, "zho": 0.6}),
        ({"method": "temperature", "temperature_tau": 1.0}, {"eng": 0.1, "nld": 0.3, "zho": 0.6}),
        ({"method": "unimax", "unimax_max_epochs": 2}, {"eng": 0.2, "nld": 0.4, "zho": 0.4}),
        ({"method": "fixed", "probs": {"eng": 0.159, "nld": 0.258, "zho": 0.583}},
         {"eng": 0.159, "nld": 0.258, "zho": 0.583}),
    ],
)
def test_static_methods(cfg, expected):
    m = build(cfg)
    assert m.probabilities() == pytest.approx(expected)
    assert not m.adaptive and not m.needs_probe(50)


def test_prior_and_taam_record_the_prior(prior_record, tmp_path):
    fixed_prior = build({"method": "prior"}, run_dir=tmp_path)
    assert fixed_prior.probabilities() == pytest.approx(prior_record["pi_0"])
    saved = json.loads((tmp_path / "mixing_prior.json").read_text())
    assert saved["pi_0"] == prior_record["pi_0"] and saved["features_used"]
    taam = build({"method": "taam", "reward": "v1", "mix_interval": 10})
    assert isinstance(taam, Exp3Mixer) and taam.needs_probe(10)
    assert taam.probabilities() == pytest.approx(prior_record["pi_0"], abs=1e-12)
    taam.update(10, {"eng": 3.0, "nld": 3.1, "zho": 3.5})
    summary = json.loads(json.dumps(taam.summary()))
    assert summary["pi_0"] == prior_record["pi_0"] and summary["prior"]["distances"]
    assert summary["reward"] == "v1" and summary["rounds"] == 1
    assert set(summary) >= {"method", "final_pi", "exposures", "total_exposure", "pi_0", "prior"}


def test_budgets_pass_through():
    m = build({}, budgets={"eng": 0, "nld": 0, "zho": 0})
    with pytest.raises(BudgetExhausted):
        m.sample(1)


def test_bad_configs():
    assert "taam" in choices("mixing.method")
    for cfg in ({"method": "magic"}, {"mix_rate": 3}, {"method": "fixed"}, {"mix_interval": 0}):
        with pytest.raises(UserError):
            build(cfg)
