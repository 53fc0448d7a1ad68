"""Deterministic fast subsets: a fixed number of items per UID, the same on every run.

The official BabyLM fast evaluation ships pre-made subset files (``evaluation_data/fast_eval`` on
OSF: 200 pairs per BLiMP UID, 50 per supplement UID) without the code that drew them. Where you
have those files, pass them with ``--data`` (no ``--fast``) to reproduce the official fast numbers
exactly. ``--fast`` draws subsets of the same sizes from full files: each item is ranked by
SHA-256 of (UID, pair id); the lowest ``n`` per UID are kept, in file order. The draw does not
depend on the seed, on file order or on other UIDs, so every checkpoint of a run sees the same
items and an item, once chosen, stays chosen when the file grows.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict

from nestling.evaluation.tasks import Item

# Items per UID in fast mode, by format; formats not listed take DEFAULT_PER_UID.
PER_UID = {"supplement": 50}
DEFAULT_PER_UID = 200


def per_uid_for(task_format: str) -> int:
    """The fast subset size of a format (the supplement's 50, otherwise BLiMP's 200)."""
    return PER_UID.get(task_format, DEFAULT_PER_UID)


def _rank(item: Item) -> str:
    return hashlib.sha256(f"{item.uid}\x1f{item.key}".encode()).hexdigest()


def fast_subset(items: list[Item], per_uid: int) -> list[Item]:
    """At most ``per_uid`` items of each UID, chosen by hash rank, kept in their original order."""
    by_uid: dict[str, list[int]] = defaultdict(list)
    for index, item in enumerate(items):
        by_uid[item.uid].append(index)
    keep = set()
    for indices in by_uid.values():
        keep.update(sorted(indices, key=lambda i: (_rank(items[i]), i))[:per_uid])
    return [item for index, item in enumerate(items) if index in keep]
