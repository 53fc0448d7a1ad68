"""Machinery shared by the built-in grammars: weighted choice, rendering, minimal-pair paradigms.

A grammar module (``english``, ``dutch``, ``mandarin``) builds every utterance as a list of words
whose last element is the utterance-final mark (``"."``, ``"?"``, ``"!"``, ``"。"``...). Keeping
words apart until the end lets a minimal pair be made by editing one list slot, and lets the
same list be rendered with spaces (English, Dutch) or without (Mandarin).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable, Sequence, TypeVar

T = TypeVar("T")

Words = list[str]
# A paradigm's maker returns (good words, bad words); both end with the final mark.
PairMaker = Callable[[random.Random], tuple[Words, Words]]

# The fields BLiMP uses, so per-field tables line up with BLiMP's.
FIELDS = ("morphology", "syntax", "semantics", "syntax_semantics")


@dataclass(frozen=True)
class Paradigm:
    """One minimal-pair phenomenon (a BLiMP UID) and the function that draws one of its pairs."""

    uid: str
    field: str
    term: str
    make: PairMaker
    # True when the bad sentence reorders the good one's words (BLiMP's ``lexically_identical``).
    reorders: bool = False


def expand(weighted: Sequence[tuple[T, int]]) -> list[T]:
    """Repeat each item by its integer weight, so ``rng.choice`` draws with those weights fast."""
    return [item for item, weight in weighted for _ in range(weight)]


def split_pairs(spec: str) -> list[tuple[str, ...]]:
    """``"dog dogs, cat cats"`` -> ``[("dog", "dogs"), ("cat", "cats")]``: compact lexicon tables."""
    return [tuple(item.split()) for item in spec.split(",") if item.strip()]


def render_spaced(words: Words) -> str:
    """English/Dutch: words joined by spaces, the final mark attached to the last word."""
    return " ".join(words[:-1]) + words[-1]


def render_unspaced(words: Words) -> str:
    """Mandarin: natural unspaced text."""
    return "".join(words)


def swap(words: Words, i: int, j: int) -> Words:
    """A copy of ``words`` with slots ``i`` and ``j`` exchanged (word-order minimal pairs)."""
    out = list(words)
    out[i], out[j] = out[j], out[i]
    return out


def replace(words: Words, i: int, new: str) -> Words:
    """A copy of ``words`` with slot ``i`` replaced (one-word minimal pairs)."""
    out = list(words)
    out[i] = new
    return out


def move(words: Words, start: int, stop: int, to: int) -> Words:
    """A copy with the span ``words[start:stop]`` moved to sit before index ``to`` of the rest."""
    span, rest = words[start:stop], words[:start] + words[stop:]
    return rest[:to] + span + rest[to:]
