"""BabyLM checkpoint milestones: the 28 names chck_1M ... chck_1000M, reached by words seen.

BabyLM counts words seen in total (repeats count again), so a model trained for 10 epochs on 10M words
passes chck_100M. ``milestone_scale`` multiplies every threshold (e.g. 1e-4 for a tiny CPU run) while
the names, and so the spacing of the learning curve, stay the same.
"""

from __future__ import annotations

from dataclasses import dataclass

from nestling.errors import UserError
from nestling.run_folder import MILLION, milestone_millions, milestone_names  # noqa: F401 (names re-exported)


@dataclass(frozen=True)
class Milestone:
    """One checkpoint: its BabyLM name and the words seen (after scaling) that trigger it."""

    name: str
    words: float


def milestones(scale: float = 1.0) -> list[Milestone]:
    """All 28 milestones with thresholds ``scale`` x the nominal word counts, in increasing order."""
    if not scale > 0:
        raise UserError(f"checkpoints.milestone_scale must be > 0, got {scale}")
    return [Milestone(name, m * MILLION * scale) for name, m in zip(milestone_names(), milestone_millions())]


def crossed(all_milestones: list[Milestone], done: int, words_seen: float) -> list[Milestone]:
    """The milestones after the first ``done`` ones whose threshold ``words_seen`` has reached."""
    return [m for m in all_milestones[done:] if words_seen >= m.words]
