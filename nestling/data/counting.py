"""How nestling counts words against a BabyLM budget. The rule is written here once.

The rule
--------
* **Whitespace words.** For a space-delimited language (English, Dutch) on the ``strict`` and
  ``strict-small`` tracks, a word is a whitespace-separated token of the *cleaned* text
  (``len(line.split())``), so "don't" is one word and a detached " ." is one too, as BabyLM counts.
* **English-word equivalents (EWE).** For a language written without spaces (Mandarin) on every
  track, and for *every* language on the ``multilingual`` track, words are counted from UTF-8
  bytes and the language's byte premium (Arnett et al. 2024, bytes needed to say the same thing
  relative to English)::

      EWE = utf8_bytes / (BYTES_PER_ENGLISH_WORD * byte_premium)
      BYTES_PER_ENGLISH_WORD = 5.43          # BabyBabelLM: 100M English words ~ 543 MB of text

  so a language's byte target for a budget of ``W`` words is ``W * 5.43 * premium`` bytes
  (543 MB x premium for 100M), and a language at its byte target holds exactly ``W`` EWE.
  Bytes are the bytes of the cleaned text file *including* the one "\\n" ending each line, so
  ``wc -c clean/<lang>.txt`` reproduces the ledger.

Premiums (relative to English, UTF-8): English 1.0, Dutch 1.051606, Mandarin simplified
0.935966 (``zho``), Mandarin traditional 0.989383 (``zho-hant``). A premium below 1 means fewer bytes
than English for the same content: Mandarin's byte target is *smaller* than English's.

The EWE formula, the 5.43 bytes per English word and these premiums are a reconstruction: the cards and
the track rules name byte-premium scaling but give no formula or values here; see docs/reconstructions.md.

Tracks: ``strict`` (100M words, all languages together), ``strict-small`` (10M, together),
``multilingual`` (each language is capped at its own byte target, i.e. 100M EWE per language).
"""

from __future__ import annotations

from dataclasses import dataclass

from nestling.errors import UserError

BYTES_PER_ENGLISH_WORD = 5.43

WORD_RULE = (
    "words are whitespace tokens of the cleaned text for space-delimited languages on the strict tracks; "
    "Mandarin, and every language on the multilingual track, counts English-word equivalents = "
    "UTF-8 bytes (lines incl. newline) / (5.43 x byte premium)"
)


@dataclass(frozen=True)
class Language:
    code: str
    name: str
    byte_premium: float
    space_delimited: bool


LANGUAGES: dict[str, Language] = {
    "eng": Language("eng", "English", 1.0, True),
    "nld": Language("nld", "Dutch", 1.051606, True),
    "zho": Language("zho", "Mandarin (simplified)", 0.935966, False),
    "zho-hant": Language("zho-hant", "Mandarin (traditional)", 0.989383, False),
}
# Accepted spellings that mean the same language; the ledger always stores the canonical code.
ALIASES = {"zho-hans": "zho", "cmn": "zho", "cmn-hans": "zho", "cmn-hant": "zho-hant", "en": "eng", "nl": "nld"}


@dataclass(frozen=True)
class Track:
    name: str
    limit_words: int
    # "total": all languages share the limit; "per_language": each language has its own byte target.
    scope: str


TRACKS: dict[str, Track] = {
    "strict": Track("strict", 100_000_000, "total"),
    "strict-small": Track("strict-small", 10_000_000, "total"),
    "multilingual": Track("multilingual", 100_000_000, "per_language"),
}


def language(code: str) -> Language:
    """The language for an ISO 639-3 code (or a listed alias); UserError names the known ones."""
    canonical = ALIASES.get(code.lower(), code.lower())
    if canonical not in LANGUAGES:
        known = ", ".join(LANGUAGES)
        raise UserError(f"unknown language code {code!r}; known: {known} (aliases: {', '.join(ALIASES)})")
    return LANGUAGES[canonical]


def track(name: str) -> Track:
    """The track's limit and scope; UserError names the known tracks."""
    if name not in TRACKS:
        raise UserError(f"unknown track {name!r}; choose one of: {', '.join(TRACKS)}")
    return TRACKS[name]


def word_unit(lang: str, track_name: str) -> str:
    """``"whitespace"`` or ``"english_word_equivalent"``: which count the budget uses for ``lang``."""
    if track_name == "multilingual" or not language(lang).space_delimited:
        return "english_word_equivalent"
    return "whitespace"


def english_word_equivalents(n_bytes: int, lang: str) -> float:
    """EWE of ``n_bytes`` UTF-8 bytes of ``lang`` text (the rule in the module docstring)."""
    return n_bytes / (BYTES_PER_ENGLISH_WORD * language(lang).byte_premium)


def byte_target(lang: str, words: int = 100_000_000) -> int:
    """Bytes of ``lang`` text worth ``words`` English words (543 MB x premium for 100M)."""
    return round(words * BYTES_PER_ENGLISH_WORD * language(lang).byte_premium)


def whitespace_words(text: str) -> int:
    """Whitespace-separated tokens: the word of the strict tracks for space-delimited languages."""
    return len(text.split())


# Every line of a language becomes one document "<s> ids </s>" in the shards: two marker tokens.
DOCUMENT_MARKERS = 2


def tokens_per_word(tokens: int, words: float) -> float:
    """Fertility, the one definition: shard tokens (document markers included) per budget word.

    ``nestling tokenizer train`` (on a sample) and ``nestling data tokenize`` (on the train shards)
    both report it; the trainer's ``words_per_token`` in meta.json is its inverse.
    """
    return tokens / words if words else float("nan")


def budget_words(whitespace: int, n_bytes: int, lang: str, track_name: str) -> float:
    """The number the budget counts for a text with ``whitespace`` tokens and ``n_bytes`` bytes."""
    if word_unit(lang, track_name) == "whitespace":
        return float(whitespace)
    return english_word_equivalents(n_bytes, lang)
