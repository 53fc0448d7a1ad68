"""From per-candidate scores to accuracies per UID, field, linguistics term and task.

Ties (two or more candidates sharing the best score, e.g. the BLiMP pairs whose two sentences are
identical) are counted two ways:
- "random" (the headline, as the 2026 strict pipeline): one of the tied candidates is drawn with
  a generator seeded by (seed, UID, item key), so a tie resolves the same way in every run,
  every checkpoint and every subset;
- "tie credit" (as the multilingual pipeline): a tie among k candidates that includes the correct
  one earns 1/k;
- "first" (the strict pipeline's code, sentence_zero_shot/compute_results.py): the prediction is
  torch.max's index, the first of the tied candidates, so a tie holding candidate 0 counts as
  correct. Reported as ``acc_official`` / ``macro_acc_official``.
"""

from __future__ import annotations

import random
from collections import defaultdict

import numpy as np

from nestling.evaluation.tasks import Item


def item_outcome(scores: np.ndarray, uid: str, key: str, seed: int) -> tuple[float, float, bool]:
    """(random-tie-break correct, tie-credit correct, tied) for one item; candidate 0 is correct."""
    best = scores.max()
    winners = np.flatnonzero(scores == best)
    if len(winners) == 1:
        hit = float(winners[0] == 0)
        return hit, hit, False
    # String seeds hash with SHA-512 in CPython: stable across processes and platforms.
    chosen = random.Random(f"{seed}\x1f{uid}\x1f{key}").choice(list(winners))
    credit = 1.0 / len(winners) if 0 in winners else 0.0
    return float(chosen == 0), credit, True


def official_choice(scores: np.ndarray) -> int:
    """The candidate the official pipeline predicts: the first of the best (torch.max's index).

    Compared in float32, the precision the official sums are held in, so sums that differ only
    below float32 resolution tie there as well.
    """
    return int(np.argmax(np.asarray(scores, dtype=np.float32)))


def _summary(per_uid: dict[str, dict]) -> dict:
    """Macro (mean over UIDs) and item-weighted accuracies of a group of UIDs."""
    n = sum(u["n"] for u in per_uid.values())
    acc = [u["acc"] for u in per_uid.values()]
    credit = [u["acc_tie_credit"] for u in per_uid.values()]
    return {
        "n": n,
        "n_uids": len(per_uid),
        "acc": float(np.mean(acc)),
        "acc_tie_credit": float(np.mean(credit)),
        "weighted_acc": sum(u["acc"] * u["n"] for u in per_uid.values()) / n,
        "weighted_acc_tie_credit": sum(u["acc_tie_credit"] * u["n"] for u in per_uid.values()) / n,
    }


def aggregate(items: list[Item], scores: list[np.ndarray], seed: int = 0) -> dict:
    """Task result: macro/item-weighted accuracy (random ties and tie credit), by UID, field, term.

    ``scores[i]`` holds item i's candidate scores (candidate 0 correct).
    """
    hits: dict[str, list[tuple[float, float, bool, float]]] = defaultdict(list)
    meta: dict[str, Item] = {}
    for item, item_scores in zip(items, scores):
        item_scores = np.asarray(item_scores)
        official = float(official_choice(item_scores) == 0)
        hits[item.uid].append((*item_outcome(item_scores, item.uid, item.key, seed), official))
        meta.setdefault(item.uid, item)
    by_uid = {}
    for uid in sorted(hits):
        outcomes = np.array(hits[uid], dtype=np.float64)  # n, 4
        by_uid[uid] = {
            "n": len(outcomes),
            "acc": float(outcomes[:, 0].mean()),
            "acc_tie_credit": float(outcomes[:, 1].mean()),
            "n_ties": int(outcomes[:, 2].sum()),
            "acc_official": float(outcomes[:, 3].mean()),
            "field": meta[uid].field,
            "term": meta[uid].term,
        }
    overall = _summary(by_uid)
    return {
        "n_items": overall["n"],
        "n_uids": overall["n_uids"],
        "n_ties": sum(u["n_ties"] for u in by_uid.values()),
        "macro_acc": overall["acc"],
        "weighted_acc": overall["weighted_acc"],
        "macro_acc_tie_credit": overall["acc_tie_credit"],
        "weighted_acc_tie_credit": overall["weighted_acc_tie_credit"],
        "macro_acc_official": float(np.mean([u["acc_official"] for u in by_uid.values()])),
        "by_uid": by_uid,
        "by_field": _group(by_uid, "field"),
        "by_term": _group(by_uid, "term"),
    }


def _group(by_uid: dict[str, dict], attribute: str) -> dict:
    """Summaries of the UIDs sharing a field (or term); UIDs without one are left out."""
    groups: dict[str, dict] = defaultdict(dict)
    for uid, entry in by_uid.items():
        if entry[attribute] is not None:
            groups[str(entry[attribute])][uid] = entry
    return {name: _summary(members) for name, members in sorted(groups.items())}
