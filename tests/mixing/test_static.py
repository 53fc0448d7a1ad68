import pytest

from nestling.errors import UserError
from nestling.mixing import static

LANGS = ["eng", "nld", "zho"]
TOKENS = {"eng": 100, "nld": 300, "zho": 600}


def test_uniform_and_proportional():
    assert static.uniform(LANGS) == pytest.approx({"eng": 1 / 3, "nld": 1 / 3, "zho": 1 / 3})
    assert static.proportional(LANGS, TOKENS) == pytest.approx({"eng": 0.1, "nld": 0.3, "zho": 0.6})


def test_temperature():
    # tau = 2: sqrt(100, 300, 600) = 10, 17.3205, 24.4949; sum 51.8154
    assert static.temperature(LANGS, TOKENS, 2.0) == pytest.approx(
        {"eng": 0.192993, "nld": 0.334273, "zho": 0.472734}, abs=1e-6
    )
    assert static.temperature(LANGS, TOKENS, 1.0) == pytest.approx(static.proportional(LANGS, TOKENS))
    with pytest.raises(UserError):
        static.temperature(LANGS, TOKENS, 0.0)


def test_unimax_hand_computed():
    # total 1000, 2 epochs: eng min(200, 333.3) = 200; nld min(600, 800/2) = 400; zho min(1200, 400) = 400
    assert static.unimax_allocation(LANGS, TOKENS, 1000, 2) == pytest.approx({"eng": 200, "nld": 400, "zho": 400})
    assert static.unimax(LANGS, TOKENS, 1000, 2) == pytest.approx({"eng": 0.2, "nld": 0.4, "zho": 0.4})
    # total 3000: every language hits its 2-epoch cap -> proportional
    assert static.unimax(LANGS, TOKENS, 3000, 2) == pytest.approx({"eng": 0.1, "nld": 0.3, "zho": 0.6})
    # an extra cap (token budget) on zho leaves the rest to the others
    assert static.unimax_allocation(LANGS, TOKENS, 1000, 2, caps={"zho": 100})["zho"] == 100


def test_fixed():
    pstar = {"eng": 0.159, "nld": 0.258, "zho": 0.583}
    assert static.fixed(LANGS, pstar) == pytest.approx(pstar)
    assert static.fixed(LANGS, {"eng": 1, "nld": 1, "zho": 2}) == pytest.approx({"eng": 0.25, "nld": 0.25, "zho": 0.5})
    for bad in ({}, {"eng": 1, "nld": 1}, {"eng": 1, "nld": 1, "zho": 1, "deu": 1}, {"eng": -1, "nld": 1, "zho": 1},
                {"eng": "x", "nld": 1, "zho": 1}, {"eng": 0, "nld": 0, "zho": 0}):
        with pytest.raises(UserError):
            static.fixed(LANGS, bad)
