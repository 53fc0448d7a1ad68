"""The built-in default data: child-directed-speech-like text and minimal pairs, written by nestling.

``generate_corpus`` writes ``out_dir/<lang>/builtin.txt`` (one utterance per line) for English,
Dutch and Mandarin from small seeded grammars (``nestling/data/builtin/<language>.py``: a lexicon
of about 60 nouns and 30 verbs each, and weighted templates for declaratives, questions and
imperatives). ``generate_minimal_pairs`` writes ``out_dir/<lang>_pairs.jsonl`` in BLiMP's format
from the same lexicon and rules, 7-8 phenomena (UIDs) per language; the bad sentence of each pair
breaks one rule of the grammar by one word or one word-order change, so a model trained on the
corpus can learn every contrast it is tested on.

Sizes follow nestling's counting rule (``nestling.data.counting``): English and Dutch count
whitespace words; Mandarin, written without spaces, counts English-word equivalents,
``EWE = UTF-8 bytes (each line with its "\\n") / (5.43 x 0.935966)``, i.e. 5.43 bytes per English
word (BabyBabelLM: 100M words ~ 543 MB) times Mandarin's byte premium (Arnett et al. 2024). The word
budget is split evenly across the languages and each file stops at the first line that reaches its
share, so a file overshoots its share by less than one line.

Determinism: each (language, seed, purpose) gets its own ``random.Random`` seeded with a string
(hashed with SHA-512 by Python, stable across runs and platforms), so the same seed gives the same
bytes, and a language's text does not depend on which other languages are generated.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Iterable, Sequence

from nestling.data.builtin import GRAMMARS
from nestling.data.counting import BYTES_PER_ENGLISH_WORD, english_word_equivalents, language
from nestling.errors import UserError
from nestling.files import write_atomic

DEFAULT_LANGS = tuple(GRAMMARS)  # every language the generator has a grammar for
CORPUS_NAME = "builtin.txt"
# Draws per requested pair before a paradigm gives up finding new distinct pairs.
MAX_DRAWS_PER_PAIR = 50


def _check_langs(langs: Iterable[str]) -> list[str]:
    """The languages as a list; UserError for none, an unknown one, or a repeat."""
    langs = list(langs)
    if not langs:
        raise UserError("no languages given for the built-in data; choose from: " + ", ".join(GRAMMARS))
    for lang in langs:
        if lang not in GRAMMARS:
            raise UserError(f"no built-in grammar for language {lang!r}; choose from: {', '.join(GRAMMARS)}")
    if len(set(langs)) != len(langs):
        raise UserError(f"a language is listed twice: {', '.join(langs)}")
    return langs


def _rng(lang: str, purpose: str, seed: int) -> random.Random:
    """The random stream of one language and purpose ("corpus" or "pairs") for ``seed``."""
    return random.Random(f"nestling-builtin:{lang}:{purpose}:{seed}")


def _lines_for_budget(lang: str, words: float, seed: int) -> list[str]:
    """Utterances until their count (whitespace words, or EWE for Mandarin) reaches ``words``."""
    grammar, rng, lines = GRAMMARS[lang], _rng(lang, "corpus", seed), []
    render, sentence = grammar.render, grammar.sentence
    if language(lang).space_delimited:
        counted, target = 0, words
        while counted < target:
            line = render(sentence(rng))
            lines.append(line)
            # Lines hold single spaces only, so this is len(line.split()), faster.
            counted += line.count(" ") + 1
    else:
        counted, target = 0, words * BYTES_PER_ENGLISH_WORD * language(lang).byte_premium
        while counted < target:
            line = render(sentence(rng))
            lines.append(line)
            counted += len(line.encode("utf-8")) + 1
    return lines


def generate_corpus(out_dir: str | os.PathLike, words_total: int,
                    langs: Sequence[str] = DEFAULT_LANGS, seed: int = 0) -> dict[str, Path]:
    """Write ``out_dir/<lang>/builtin.txt`` for each language; ``words_total`` is split evenly.

    Returns ``{lang: path}``. Mandarin's share is counted in English-word equivalents (module
    docstring). The same ``seed`` gives byte-identical files; another seed gives other text.
    """
    langs = _check_langs(langs)
    if not isinstance(words_total, int) or words_total <= 0:
        raise UserError(f"words_total must be a positive whole number of words, got {words_total!r}")
    share = words_total / len(langs)
    paths = {}
    for lang in langs:
        path = Path(out_dir) / lang / CORPUS_NAME
        write_atomic(path, "\n".join(_lines_for_budget(lang, share, seed)) + "\n")
        paths[lang] = path
    return paths


def _paradigm_pairs(paradigm, rng: random.Random, render, per_paradigm: int) -> list[dict]:
    """``per_paradigm`` distinct pairs of one UID (distinct good sentences), in BLiMP's record layout."""
    records, seen = [], set()
    for _ in range(per_paradigm * MAX_DRAWS_PER_PAIR):
        good_words, bad_words = paradigm.make(rng)
        good, bad = render(good_words), render(bad_words)
        if good in seen:
            continue
        seen.add(good)
        records.append({
            "sentence_good": good, "sentence_bad": bad, "field": paradigm.field,
            "linguistics_term": paradigm.term, "UID": paradigm.uid,
            "lexically_identical": paradigm.reorders, "pairID": str(len(records)),
        })
        if len(records) == per_paradigm:
            return records
    raise UserError(f"per_paradigm={per_paradigm} is more distinct pairs than {paradigm.uid} can make")


def generate_minimal_pairs(out_dir: str | os.PathLike, langs: Sequence[str] = DEFAULT_LANGS, seed: int = 0,
                           *, per_paradigm: int) -> dict[str, Path]:
    """Write ``out_dir/<lang>_pairs.jsonl``: BLiMP-format minimal pairs from the built-in grammars.

    Each line holds ``sentence_good, sentence_bad, field, linguistics_term, UID, pairID`` (plus
    BLiMP's ``lexically_identical``: true where the bad sentence only reorders the good one's
    words). ``per_paradigm`` distinct pairs per UID; returns ``{lang: path}``.
    """
    langs = _check_langs(langs)
    if not isinstance(per_paradigm, int) or per_paradigm <= 0:
        raise UserError(f"per_paradigm must be a positive whole number, got {per_paradigm!r}")
    paths = {}
    for lang in langs:
        grammar, rng = GRAMMARS[lang], _rng(lang, "pairs", seed)
        records = [r for p in grammar.PARADIGMS for r in _paradigm_pairs(p, rng, grammar.render, per_paradigm)]
        path = Path(out_dir) / f"{lang}_pairs.jsonl"
        write_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
        paths[lang] = path
    return paths


def builtin_summary(paths: dict[str, str | os.PathLike]) -> dict[str, dict]:
    """Per language: ``lines``, ``words`` (whitespace or English-word equivalents), ``word_unit``, ``bytes``.

    ``paths`` is what ``generate_corpus`` returned; Mandarin's ``words`` are EWE, rounded.
    """
    summary = {}
    for lang, path in paths.items():
        data = Path(path).read_bytes()
        lines = data.count(b"\n")
        if language(lang).space_delimited:
            words, unit = len(data.split()), "whitespace"
        else:
            words, unit = round(english_word_equivalents(len(data), lang)), "english_word_equivalent"
        summary[lang] = {"lines": lines, "words": words, "word_unit": unit, "bytes": len(data)}
    return summary


def write_builtin_data(root: Path, words: int, seed: int, langs: list[str], pairs_per_uid: int) -> str:
    """Write the built-in corpus (root/raw/<lang>/) and minimal pairs (root/pairs/); returns a summary.

    The defaults (words, languages, pairs per UID) are the recipe's ``data.builtin_*`` keys.
    """
    root = Path(root)
    corpus = generate_corpus(root / "raw", words_total=words, langs=tuple(langs), seed=seed)
    pairs = generate_minimal_pairs(root / "pairs", langs=tuple(langs), seed=seed, per_paradigm=pairs_per_uid)
    summary = builtin_summary(corpus)
    lines = [f"built-in data in {root} (seed {seed})"]
    lines += [f"  {lang}: {json.dumps(summary[lang])}  pairs: {pairs[lang]}" for lang in langs]
    return "\n".join(lines)
