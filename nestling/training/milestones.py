"""BabyLM checkpoint milestones: the 28 names chck_1M ... chck_1000M, reached by words (or tokens) seen.

BabyLM counts words seen in total (repeats count again), so a model trained for 10 epochs on 10M words
passes chck_100M. ``checkpoints.unit: tokens`` counts token exposures instead (multilingual runs that
publish their revisions by tokens). ``milestone_scale`` multiplies every threshold (e.g. 1e-4 for a
tiny CPU run) while the names, and so the spacing of the learning curve, stay the same.

The planned end. A run falls short of the budget it was planned for by up to one optimizer step (planned
steps round down to whole batches) plus the held-out validation slice (the trainer never reads it): a
strict run of 10 epochs over a 100M-word corpus counts at most 990M words and could never write
chck_1000M. BabyLM names a checkpoint by the budget it stands for, so when a run completes its plan and
its budget is stated in the milestone's unit (``budget.epochs`` for words or tokens, ``budget.max_tokens``
for tokens), the budget itself is credited: the milestones up to it are written with the final weights.
Each checkpoint.json still records the words and tokens actually seen.

The track's epochs. A cleaned corpus counts slightly under its track's limit (cleaning drops blank lines
and markup: 99.85M words of a 100M-word corpus), so ten passes over it count 998.5M words. The rule: an
epoch over a corpus that holds at least ``TRACK_CORPUS_SHARE`` of its track's word limit is credited with
the whole limit, so a run that completes the track's 10 epochs writes ``chck_1000M`` as its last revision.
A smaller corpus is credited with its own words. Tracks whose limit is per language (multilingual) are
credited with the corpus's own words (their cards count token exposures instead).

Stopping short. A budget below the track's (``budget.max_tokens: 1e9`` is about 630M words at 0.63 words
per token) never writes the later milestones; ``unwritten_revisions`` names them and the trainer says so
at plan time, before the first step.
"""

from __future__ import annotations

from dataclasses import dataclass

from nestling.data.counting import track as track_limit
from nestling.errors import UserError
from nestling.run_folder import MILLION, milestone_millions, milestone_names  # noqa: F401 (names re-exported)
from nestling.training.counting import plan_steps

# Float slack for "reached": a credited budget of exactly 1e9 words reaches chck_1000M at scale 1.
_SLACK = 1e-9
# A corpus that holds at least this share of its track's word limit stands for the track's full corpus
# (what cleaning removes is well under 1%); see "The track's epochs" above.
TRACK_CORPUS_SHARE = 0.99


@dataclass(frozen=True)
class Milestone:
    """One checkpoint: its BabyLM name and the words or tokens seen (after scaling) that trigger it."""

    name: str
    threshold: float


@dataclass(frozen=True)
class Corpus:
    """A prepared corpus's size over all its languages (the shards' meta.json): what a budget is counted on."""

    train_tokens: int
    val_tokens: int
    train_words: float
    val_words: float

    @property
    def words_per_token(self) -> float:
        return self.train_words / self.train_tokens


def milestones(scale: float = 1.0) -> list[Milestone]:
    """All 28 milestones with thresholds ``scale`` x the nominal counts, in increasing order."""
    if not scale > 0:
        raise UserError(f"checkpoints.milestone_scale must be > 0, got {scale}")
    return [Milestone(name, m * MILLION * scale) for name, m in zip(milestone_names(), milestone_millions())]


def crossed(all_milestones: list[Milestone], done: int, seen: float) -> list[Milestone]:
    """The milestones after the first ``done`` ones whose threshold ``seen`` has reached."""
    return [m for m in all_milestones[done:] if seen >= m.threshold * (1 - _SLACK)]


def seen_in(unit: str, tokens: float, words: float) -> float:
    """What the milestones count (``checkpoints.unit``): ``words`` or ``tokens``."""
    return tokens if unit == "tokens" else words


def epoch_words(corpus: Corpus, track: str | None) -> float:
    """Words one completed epoch is credited with: the track's limit when the corpus stands for the
    track's full corpus (module docstring, "The track's epochs"), else the corpus's own words."""
    words = corpus.train_words + corpus.val_words
    if track is None:
        return words
    limit = track_limit(track)
    if limit.scope == "total" and words >= TRACK_CORPUS_SHARE * limit.limit_words:
        return max(words, float(limit.limit_words))
    return words


def planned_end_credit(unit: str, budget, corpus: Corpus, track: str | None = None) -> float | None:
    """The budget a run that completes its plan is credited with, in ``unit``; None when the budget is not
    stated in that unit (a step budget is exact; a token budget says nothing exact about words)."""
    if budget.max_steps:
        return None
    if budget.max_tokens:
        return float(budget.max_tokens) if unit == "tokens" else None
    if unit == "tokens":
        return float(budget.epochs) * (corpus.train_tokens + corpus.val_tokens)
    return float(budget.epochs) * epoch_words(corpus, track)


def planned_revisions(recipe, corpus: Corpus) -> list[str]:
    """The chck_* names a run of ``recipe`` on ``corpus`` writes when it completes its plan.

    Words are counted at the corpus's mean words per token (exact for one language or proportional mixing).
    """
    unit, tokens_per_step = recipe.checkpoints.unit, recipe.batch.global_batch * recipe.batch.seq_len
    tokens = plan_steps(recipe.budget, corpus.train_tokens, tokens_per_step) * tokens_per_step
    reached = seen_in(unit, tokens, tokens * corpus.words_per_token)
    credit = planned_end_credit(unit, recipe.budget, corpus, recipe.data.track)
    reached = max(reached, credit) if credit is not None else reached
    return [m.name for m in crossed(milestones(float(recipe.checkpoints.milestone_scale)), 0, reached)]


def unwritten_revisions(recipe, corpus: Corpus) -> list[str]:
    """The chck_* names a completed run of ``recipe`` on ``corpus`` will not write (its budget stops short)."""
    written = set(planned_revisions(recipe, corpus))
    return [name for name in milestone_names() if name not in written]


def plan_message(recipe, corpus: Corpus) -> str:
    """One line said at plan time: the revisions the run writes and, when it stops short, those it will not."""
    written, missing = planned_revisions(recipe, corpus), unwritten_revisions(recipe, corpus)
    span = f"{written[0]} ... {written[-1]}" if written else "none"
    line = f"plan: writes {len(written)} revisions ({span}) and final"
    if missing:
        line += f"; its budget stops short, so it will not write {missing[0]} ... {missing[-1]} ({len(missing)})"
    return line
