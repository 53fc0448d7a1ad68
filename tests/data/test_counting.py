"""The word-counting rule: whitespace words, English-word equivalents, byte targets, tracks."""

import pytest

from nestling.data import counting
from nestling.errors import UserError


def test_byte_targets_are_543_mb_times_premium():
    assert counting.byte_target("eng") == 543_000_000
    assert counting.byte_target("nld") == round(543_000_000 * 1.051606)
    assert counting.byte_target("zho") == round(543_000_000 * 0.935966)
    assert counting.byte_target("zho-hant") == round(543_000_000 * 0.989383)
    assert counting.byte_target("eng", 10_000_000) == 54_300_000


def test_a_language_at_its_byte_target_holds_the_budget_in_ewe():
    for lang in ("eng", "nld", "zho", "zho-hant"):
        assert counting.english_word_equivalents(counting.byte_target(lang), lang) == pytest.approx(1e8)


def test_ewe_of_mandarin_text():
    text = "我们现在没有钱。\n"  # 7 Han characters + 1 full-width stop: 8 x 3 bytes + newline
    n = len(text.encode("utf-8"))
    assert n == 25
    assert counting.english_word_equivalents(n, "zho") == pytest.approx(25 / (5.43 * 0.935966))


@pytest.mark.parametrize("lang,track,unit", [
    ("eng", "strict", "whitespace"), ("nld", "strict-small", "whitespace"), ("zho", "strict", "english_word_equivalent"),
    ("eng", "multilingual", "english_word_equivalent"), ("nld", "multilingual", "english_word_equivalent"),
])
def test_word_unit_per_language_and_track(lang, track, unit):
    assert counting.word_unit(lang, track) == unit


def test_budget_words_picks_the_unit():
    assert counting.budget_words(4, 21, "eng", "strict") == 4.0
    assert counting.budget_words(4, 21, "eng", "multilingual") == pytest.approx(21 / 5.43)
    assert counting.whitespace_words(" don't  stop .\tnow ") == 4


def test_tracks_and_languages():
    assert counting.track("strict").limit_words == 100_000_000
    assert counting.track("strict-small").limit_words == 10_000_000
    assert counting.track("multilingual").scope == "per_language"
    assert counting.language("zho-hans").code == "zho" and counting.language("ZHO").code == "zho"
    with pytest.raises(UserError, match="unknown language code 'xx'"):
        counting.language("xx")
    with pytest.raises(UserError, match="unknown track"):
        counting.track("loose")
