import pytest

from nestling.errors import UserError
from nestling.data.ledger import exposure_report, token_budgets, unique_tokens

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


def test_unique_tokens_are_the_budget_before_epochs():
    ledger = {"languages": {"eng": {"word_budget": 10**6}, "zho": {"word_budget": 600}}}
    assert unique_tokens(ledger, METAS) == {"eng": 1000, "zho": 1200}
    assert token_budgets(ledger, METAS, 4) == {lang: 4 * n for lang, n in unique_tokens(ledger, METAS).items()}


def test_the_taam_cards_exposures_are_about_six_and_a_half_passes():
    # The card: 655,360,000 exposures at its final pi over a corpus of at most 100M unique tokens.
    metas = {"eng": {"train_tokens": 30_000_000}, "nld": {"train_tokens": 30_000_000},
             "zho": {"train_tokens": 40_000_000}}
    unique = unique_tokens(None, metas)
    pi = {"eng": 0.159, "nld": 0.258, "zho": 0.583}
    line = exposure_report(unique, pi, 655_360_000)
    assert sum(unique.values()) == 100_000_000
    assert line.endswith("total 655,360,000 over 100,000,000 (6.55 passes)")
    assert "zho 382,074,880 over 40,000,000 (9.55 passes)" in line
