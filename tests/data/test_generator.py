"""The built-in data: deterministic corpus of the requested size, and minimal pairs it can teach."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from nestling.data.builtin import GRAMMARS
from nestling.data.builtin.common import FIELDS
from nestling.data.counting import english_word_equivalents, whitespace_words
from nestling.data.generator import builtin_summary, generate_corpus, generate_minimal_pairs
from nestling.errors import UserError

LANGS = ("eng", "nld", "zho")
PAIR_KEYS = {"sentence_good", "sentence_bad", "field", "linguistics_term", "UID", "pairID"}
# Words without their punctuation, so "ball?" and "ball." are the same word.
WORD = re.compile(r"[\w']+|[^\w\s]")
# Pairs whose bad side is a word the grammar never makes (the child's "eated").
NEW_WORD_UIDS = {"irregular_past_tense"}


def tokens(lang: str, text: str) -> list[str]:
    """Words of English/Dutch; characters of Mandarin (the pairs edit single characters)."""
    return list(text) if lang == "zho" else WORD.findall(text)


def read_pairs(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict:
    """A 600k-word corpus (200k per language) and 50 pairs per paradigm, made once."""
    out = tmp_path_factory.mktemp("builtin")
    corpus = generate_corpus(out, words_total=600_000, seed=0)
    pairs = generate_minimal_pairs(out, per_paradigm=50, seed=0)
    lines = {lang: path.read_text(encoding="utf-8").splitlines() for lang, path in corpus.items()}
    return {"corpus": corpus, "pairs": {lang: read_pairs(p) for lang, p in pairs.items()}, "lines": lines}


def test_layout_matches_the_contract(built, tmp_path):
    assert {lang: p.relative_to(p.parents[1]).as_posix() for lang, p in built["corpus"].items()} == {
        lang: f"{lang}/builtin.txt" for lang in LANGS
    }
    paths = generate_minimal_pairs(tmp_path, langs=("nld",), per_paradigm=2)
    assert paths == {"nld": tmp_path / "nld_pairs.jsonl"}


def test_same_seed_same_bytes_other_seed_other_text(tmp_path):
    a = generate_corpus(tmp_path / "a", words_total=3000, seed=7)
    b = generate_corpus(tmp_path / "b", words_total=3000, seed=7)
    c = generate_corpus(tmp_path / "c", words_total=3000, seed=8)
    for lang in LANGS:
        assert a[lang].read_bytes() == b[lang].read_bytes()
        assert a[lang].read_bytes() != c[lang].read_bytes()
    pa = generate_minimal_pairs(tmp_path / "a", seed=7, per_paradigm=5)
    pb = generate_minimal_pairs(tmp_path / "b", seed=7, per_paradigm=5)
    pc = generate_minimal_pairs(tmp_path / "c", seed=8, per_paradigm=5)
    for lang in LANGS:
        assert pa[lang].read_bytes() == pb[lang].read_bytes()
        assert pa[lang].read_bytes() != pc[lang].read_bytes()


def test_a_language_does_not_depend_on_the_others(tmp_path):
    alone = generate_corpus(tmp_path / "alone", words_total=1000, langs=("nld",), seed=3)
    together = generate_corpus(tmp_path / "together", words_total=3000, seed=3)
    assert alone["nld"].read_bytes() == together["nld"].read_bytes()


def test_sizes_follow_the_counting_rule(built):
    summary = builtin_summary(built["corpus"])
    for lang, path in built["corpus"].items():
        text = path.read_text(encoding="utf-8")
        if lang == "zho":
            # Mandarin is unspaced; its size is English-word equivalents of its bytes.
            assert " " not in text
            words = english_word_equivalents(len(text.encode("utf-8")), "zho")
            assert summary[lang]["word_unit"] == "english_word_equivalent"
        else:
            words = whitespace_words(text)
            assert summary[lang]["word_unit"] == "whitespace"
        assert words == pytest.approx(200_000, rel=0.02)
        assert summary[lang]["words"] == round(words)
        assert summary[lang]["lines"] == len(built["lines"][lang])
        assert summary[lang]["bytes"] == path.stat().st_size


def test_utterances_are_short_and_varied(built):
    for lang, lines in built["lines"].items():
        lengths = [len(line) if lang == "zho" else len(line.split()) for line in lines]
        if lang == "zho":
            assert max(lengths) <= 24
        else:
            assert max(lengths) <= 12
            assert sum(3 <= n <= 12 for n in lengths) / len(lengths) > 0.95
        assert len(set(lines)) / len(lines) > 0.5
        marks = Counter(line[-1] for line in lines)
        # Declaratives, questions and imperatives all occur.
        assert {".", "?", "!"} <= set(marks) or {"。", "？", "！"} <= set(marks)


def test_pairs_have_blimp_fields_and_enough_phenomena(built):
    for lang, pairs in built["pairs"].items():
        uids = Counter(p["UID"] for p in pairs)
        assert len(uids) >= 6, lang
        assert set(uids.values()) == {50}
        for p in pairs:
            assert PAIR_KEYS <= set(p)
            assert p["field"] in FIELDS
            assert p["sentence_good"] != p["sentence_bad"]
        for uid in uids:
            ids = [p["pairID"] for p in pairs if p["UID"] == uid]
            goods = [p["sentence_good"] for p in pairs if p["UID"] == uid]
            assert ids == [str(i) for i in range(50)]
            assert len(set(goods)) == len(goods)


def test_pairs_differ_minimally(built):
    for lang, pairs in built["pairs"].items():
        for p in pairs:
            good, bad = tokens(lang, p["sentence_good"]), tokens(lang, p["sentence_bad"])
            if p["lexically_identical"]:
                # A word-order pair: the same words, another order.
                assert Counter(good) == Counter(bad) and good != bad, p
            else:
                # A one-word (Mandarin: one-character) substitution.
                assert len(good) == len(bad), p
                assert sum(g != b for g, b in zip(good, bad)) == 1, p


def test_pairs_use_the_corpus_lexicon(built):
    for lang, pairs in built["pairs"].items():
        vocab = {t for line in built["lines"][lang] for t in tokens(lang, line)}
        for p in pairs:
            assert set(tokens(lang, p["sentence_good"])) <= vocab, p
            if p["UID"] not in NEW_WORD_UIDS:
                assert set(tokens(lang, p["sentence_bad"])) <= vocab, p


def test_good_patterns_are_in_the_corpus_and_bad_sentences_never(built):
    for lang, pairs in built["pairs"].items():
        lines = built["lines"][lang]
        counts = Counter(lines)
        bigrams = set()
        for line in lines:
            t = ["<s>", *tokens(lang, line)]
            bigrams.update(zip(t, t[1:]))
        covered = []
        for p in pairs:
            t = ["<s>", *tokens(lang, p["sentence_good"])]
            pairs_of_words = list(zip(t, t[1:]))
            covered.append(sum(b in bigrams for b in pairs_of_words) / len(pairs_of_words))
            assert counts[p["sentence_bad"]] == 0, p
        # Every good sentence is mostly made of word pairs the corpus has (the rest: rare noun+verb combinations).
        assert min(covered) >= 0.7, lang
        assert sum(covered) / len(covered) > 0.95, lang


def test_good_sentences_are_mostly_new_to_the_corpus(built):
    for lang, pairs in built["pairs"].items():
        counts = Counter(built["lines"][lang])
        seen = [counts[p["sentence_good"]] for p in pairs]
        assert sum(n > 0 for n in seen) / len(seen) < 0.1, lang
        assert max(seen) <= 10, lang


def test_bad_input_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="no built-in grammar"):
        generate_corpus(tmp_path, words_total=100, langs=("eng", "fra"))
    with pytest.raises(UserError, match="twice"):
        generate_corpus(tmp_path, words_total=100, langs=("eng", "eng"))
    with pytest.raises(UserError, match="words_total"):
        generate_corpus(tmp_path, words_total=0)
    with pytest.raises(UserError, match="per_paradigm"):
        generate_minimal_pairs(tmp_path, per_paradigm=0)
    with pytest.raises(UserError, match="no languages"):
        generate_minimal_pairs(tmp_path, langs=(), per_paradigm=5)


def test_every_grammar_module_has_the_same_interface():
    for code, grammar in GRAMMARS.items():
        assert grammar.CODE == code
        assert callable(grammar.sentence) and callable(grammar.render)
        assert len({p.uid for p in grammar.PARADIGMS}) == len(grammar.PARADIGMS) >= 6
