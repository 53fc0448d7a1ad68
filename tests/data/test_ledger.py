import pytest

from nestling.errors import UserError
from nestling.data.ledger import token_budgets

METAS = {
    "eng": {"train_tokens": 1000, "words_per_token": 0.75},
    "zho": {"train_tokens": 2000, "words_per_token": 0.5},
}


def test_epochs_cap_without_ledger_budgets():
    assert token_budgets({"languages": {"eng": {}, "zho": {}}}, METAS, 4) == {"eng": 4000, "zho": 8000}
    assert token_budgets(None, METAS, 1.5) == {"eng": 1500, "zho": 3000}


def test_ledger_word_budget_in_english_word_equivalents():
    # zho may use 600 English-word equivalents = 600 / 0.5 = 1200 distinct tokens (< 2000 available) x 4
    ledger = {"languages": {"eng": {"word_budget": 10**6}, "zho": {"word_budget": 600}}}
    assert token_budgets(ledger, METAS, 4) == {"eng": 4000, "zho": 4800}


def test_per_language_byte_target():
    # Multilingual ledger: zho has twice its byte target, so half its tokens may be drawn; eng is under.
    ledger = {
        "limit_scope": "per_language",
        "languages": {"eng": {"bytes": 500, "byte_target": 543}, "zho": {"bytes": 2000, "byte_target": 1000}},
    }
    assert token_budgets(ledger, METAS, 4) == {"eng": 4000, "zho": 4000}
    # A global-scope ledger (strict tracks) caps no single language.
    assert token_budgets({**ledger, "limit_scope": "total"}, METAS, 4) == {"eng": 4000, "zho": 8000}


def test_bad_inputs():
    with pytest.raises(UserError):
        token_budgets(None, METAS, 0)
    with pytest.raises(UserError):
        token_budgets(None, {"eng": {}}, 1)
    with pytest.raises(UserError):
        token_budgets({"languages": {"eng": {"word_budget": 5}}}, {"eng": {"train_tokens": 10}}, 1)
