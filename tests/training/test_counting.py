import pytest

from nestling.recipe import section

from nestling.errors import UserError
from nestling.training.counting import Counter, check_epochs, plan_steps


def test_words_and_epochs_from_tokens():
    c = Counter({"eng": 0.75, "zho": 0.5}, {"eng": 1000, "zho": 400})
    c.add("eng", 2000)
    c.add("zho", 100)
    c.add("eng", 500)
    assert c.tokens == 2600 and c.words == pytest.approx(2500 * 0.75 + 100 * 0.5)
    assert c.epochs() == {"eng": 2.5, "zho": 0.25}
    d = Counter({"eng": 0.75, "zho": 0.5}, {"eng": 1000, "zho": 400})
    d.load_state_dict(c.state_dict())
    assert d.words == c.words


def test_ten_epoch_guard():
    assert check_epochs({"eng": 10.0}, 10, allow=False, where="x") == {}
    with pytest.raises(UserError, match="10 epochs.*eng 10.50.*allow_over_epochs"):
        check_epochs({"eng": 10.5, "nld": 2.0}, 10, allow=False, where="step 3")
    assert check_epochs({"eng": 10.5, "nld": 2.0}, 10, allow=True, where="x") == {"eng": 10.5}


def test_plan_steps():
    assert plan_steps(section("budget", **{"max_steps": 7, "max_tokens": 10**9}), 10_000, 100) == 7
    assert plan_steps(section("budget", **{"max_steps": None, "max_tokens": 1050}), 10_000, 100) == 10
    assert plan_steps(section("budget", **{"epochs": 10}), 1_005, 100) == 100  # rounds down: never past 10 epochs
    with pytest.raises(UserError, match="less than one batch"):
        plan_steps(section("budget", **{"epochs": 1}), 50, 100)
