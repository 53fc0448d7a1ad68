"""Per-language rewards for the EXP3 mixer, computed from held-out probe losses.

Two rewards. Both are reconstructions: the TAAM card names them (v1 "normalized excess loss", v2
"cross-lingual deficit") and says what each does to the hardest language, but gives no formula; the
windows, clips and normalisations below are nestling's (reasons in docs/reconstructions.md, the v1
starvation derived from them in docs/taam-v1-starvation.md):

- ``v1`` / ``normalized_excess_loss``: how much a language's loss just fell below its own recent
  level, in units of its own recent noise. It rewards languages that are *still improving fast*, so a
  language whose loss has a high floor (the hardest one) earns little, gets fewer tokens, improves
  even less, and is starved: the failure the simulator shows.
- ``v2`` / ``cross_lingual_deficit``: how far a language's loss sits above the best language's loss,
  in units of the pooled spread of recent deficits. It feeds whichever language lags.

Both keep a short history, so each is an object with ``state_dict``/``load_state_dict`` (plain lists
of floats: JSON round-trips them exactly).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nestling.errors import UserError
from nestling.recipe import REWARD_ALIASES  # every accepted spelling of mixing.reward -> v1 or v2

REF_WINDOW = 5  # v1: ref = mean of this many previous probe losses
SIGMA_WINDOW = 20  # both: std over this many recent values (v1) or rounds (v2)
SIGMA_MIN = 1e-8  # below this (or with < 2 values) sigma falls back to 1.0


def canonical_reward(name: str) -> str:
    """'v1' or 'v2' for any accepted spelling; UserError otherwise."""
    key = str(name).strip().lower()
    if key not in REWARD_ALIASES:
        raise UserError(f"mixing.reward: unknown reward {name!r} (choose from {', '.join(REWARD_ALIASES)})")
    return REWARD_ALIASES[key]


def sample_std(values: Sequence[float]) -> float:
    """Sample std (ddof=1), or 1.0 when there are fewer than 2 values or the spread is below 1e-8.

    The fallback keeps the first rounds (and a perfectly flat history) from dividing by ~0.
    """
    if len(values) < 2:
        return 1.0
    sigma = float(np.std(np.asarray(values, dtype=np.float64), ddof=1))
    return sigma if sigma >= SIGMA_MIN else 1.0


class NormalizedExcessLoss:
    """v1: r_l = clip((mean(last 5 losses_l) - loss_l) / std(last 20 raw_l), -2, 2).

    The history windows exclude the current loss for ``ref`` (the first probe uses ref = loss, so
    raw = 0) and include the current raw value for ``sigma``.
    """

    name = "v1"

    def __init__(self, langs: list[str]):
        self.langs = list(langs)
        self.losses: dict[str, list[float]] = {lang: [] for lang in self.langs}
        self.raws: dict[str, list[float]] = {lang: [] for lang in self.langs}

    def __call__(self, losses: dict[str, float]) -> dict[str, float]:
        rewards = {}
        for lang in self.langs:
            loss = float(losses[lang])
            past = self.losses[lang][-REF_WINDOW:]
            ref = float(np.mean(past)) if past else loss
            raw = ref - loss
            self.raws[lang] = (self.raws[lang] + [raw])[-SIGMA_WINDOW:]
            self.losses[lang] = (self.losses[lang] + [loss])[-REF_WINDOW:]
            sigma = sample_std(self.raws[lang])
            rewards[lang] = float(np.clip(raw / sigma, -2.0, 2.0))
        return rewards

    def state_dict(self) -> dict:
        return {"name": self.name, "losses": self.losses, "raws": self.raws}

    def load_state_dict(self, state: dict) -> None:
        self.losses = {lang: [float(x) for x in state["losses"][lang]] for lang in self.langs}
        self.raws = {lang: [float(x) for x in state["raws"][lang]] for lang in self.langs}


class CrossLingualDeficit:
    """v2: d_l = loss_l - min_k loss_k; r_l = clip(d_l / std(pooled d of the last 20 rounds), 0, 2).

    The pooled window includes the current round's K deficits.
    """

    name = "v2"

    def __init__(self, langs: list[str]):
        self.langs = list(langs)
        self.rounds: list[list[float]] = []  # [rounds][K] deficits, oldest first

    def __call__(self, losses: dict[str, float]) -> dict[str, float]:
        values = [float(losses[lang]) for lang in self.langs]
        target = min(values)
        deficits = [v - target for v in values]
        self.rounds = (self.rounds + [deficits])[-SIGMA_WINDOW:]
        sigma = sample_std([d for round_ in self.rounds for d in round_])
        return {lang: float(np.clip(d / sigma, 0.0, 2.0)) for lang, d in zip(self.langs, deficits)}

    def state_dict(self) -> dict:
        return {"name": self.name, "rounds": self.rounds}

    def load_state_dict(self, state: dict) -> None:
        self.rounds = [[float(x) for x in round_] for round_ in state["rounds"]]


def build_reward(name: str, langs: list[str]) -> NormalizedExcessLoss | CrossLingualDeficit:
    """The reward object for ``mixing.reward`` (v1/v2 or their long names)."""
    return NormalizedExcessLoss(langs) if canonical_reward(name) == "v1" else CrossLingualDeficit(langs)
