"""BabyLM checkpoint milestones: the 28 names chck_1M ... chck_1000M, reached by words seen.

BabyLM counts words seen in total (repeats count again), so a model trained for 10 epochs on 10M words
passes chck_100M. ``milestone_scale`` multiplies every threshold (e.g. 1e-4 for a tiny CPU run) while
the names, and so the spacing of the learning curve, stay the same.
"""

from __future__ import annotations

from dataclasses import dataclass

from nestling.errors import UserError

MILLION = 1_000_000


def milestone_names() -> list[str]:
    """The 28 BabyLM names in order: 1M..9M by 1M, 10M..100M by 10M, 200M..1000M by 100M."""
    return [f"chck_{m}M" for m in _millions()]


def _millions() -> list[int]:
    return list(range(1, 10)) + list(range(10, 101, 10)) + list(range(200, 1001, 100))


@dataclass(frozen=True)
class Milestone:
    """One checkpoint: its BabyLM name and the words seen (after scaling) that trigger it."""

    name: str
    words: float


def milestones(scale: float = 1.0) -> list[Milestone]:
    """All 28 milestones with thresholds ``scale`` x the nominal word counts, in increasing order."""
    if not scale > 0:
        raise UserError(f"checkpoints.milestone_scale must be > 0, got {scale}")
    return [Milestone(f"chck_{m}M", m * MILLION * scale) for m in _millions()]


def crossed(all_milestones: list[Milestone], done: int, words_seen: float) -> list[Milestone]:
    """The milestones after the first ``done`` ones whose threshold ``words_seen`` has reached."""
    return [m for m in all_milestones[done:] if words_seen >= m.words]
