"""EXP3 over languages: the adaptive half of TAAM.

pi = floor((1 - gamma) * w / sum(w) + gamma / K), with the floor p <- f + (1 - K f) p.
EXP3 is the textbook algorithm; the probability floor and the full-information update are nestling's
reconstruction of what the TAAM card leaves unsaid (docs/reconstructions.md).
Every ``mix_interval`` steps the trainer probes each language's loss on a fixed held-out slice; the
reward (``nestling.mixing.rewards``) turns those losses into r_l and the weights move as
log w_l += eta * r_hat_l.

Update modes (``mixing.update``):
- ``full_information`` (default): r_hat_l = r_l for every language. The trainer probes all K
  languages anyway (a few thousand tokens each, every 50 steps: well under 1% of training compute),
  so every reward is observed; using them all gives an unbiased, low-variance update. The bandit
  estimator would throw away K-1 of the K observations.
- ``bandit``: classic EXP3. One arm a ~ pi is drawn with the mixer's RNG and only its reward is used,
  importance-weighted: r_hat_a = r_a / pi_a. Kept for comparison and for trainers that probe one
  language per round; with the floor, 1/pi_a <= 1/f bounds the estimator's variance.

Weights live in log space and are shifted so their maximum is 0 after every update, so they neither
overflow nor lose precision however long the run.
"""

from __future__ import annotations

import math

import numpy as np

from nestling.errors import UserError
from nestling.mixing.base import Mixer, apply_floor
from nestling.mixing.rewards import build_reward, canonical_reward

# Allowed values (and defaults) of mixing.update, reward, gamma, eta, floor live in nestling.recipe.SCHEMA.


def exp3_pi(log_w: np.ndarray, gamma: float, floor: float) -> np.ndarray:
    """[K] log-weights -> [K] probabilities: softmax mixed with uniform exploration, then the floor."""
    w = np.exp(log_w - log_w.max())
    K = len(log_w)
    return apply_floor((1.0 - gamma) * w / w.sum() + gamma / K, floor)


def log_weights_for(pi_0: np.ndarray, gamma: float, floor: float) -> np.ndarray:
    """Log-weights whose ``exp3_pi`` is ``pi_0`` (so a run starts exactly at its prior).

    Inverts the floor and the exploration mix; a target below what those allow (p < f + (1-Kf) gamma/K)
    is clamped to that minimum.
    """
    K = len(pi_0)
    q = (np.asarray(pi_0, dtype=np.float64) - floor) / (1.0 - K * floor) if K * floor < 1 else np.full(K, 1 / K)
    share = (q - gamma / K) / (1.0 - gamma) if gamma < 1 else np.full(K, 1 / K)
    share = np.maximum(share, 1e-12)
    log_w = np.log(share / share.sum())
    return log_w - log_w.max()


class Exp3Mixer(Mixer):
    """TAAM's adaptive mixer: starts at ``pi_0`` (the typological prior) and follows EXP3."""

    adaptive = True

    def __init__(
        self,
        method: str,
        langs: list[str],
        pi_0: dict[str, float],
        seed: int,
        *,
        reward: str,
        update: str,
        gamma: float,
        eta: float,
        floor: float,
        mix_interval: int,
        token_budgets: dict[str, int] | None = None,
        prior: dict | None = None,
    ):
        super().__init__(method, langs, pi_0, seed, token_budgets, prior, mix_interval)
        if not 0 <= gamma <= 1:
            raise UserError(f"mixing.gamma must be in [0, 1], got {gamma}")
        if not (eta > 0 and math.isfinite(eta)):
            raise UserError(f"mixing.eta must be > 0, got {eta}")
        self.reward_name = canonical_reward(reward)
        self.update_mode = update
        self.gamma = float(gamma)
        self.eta = float(eta)
        self.floor = float(floor)
        apply_floor(np.ones(len(self.langs)) / len(self.langs), self.floor)  # validates K * floor <= 1
        self.reward = build_reward(self.reward_name, self.langs)
        self.log_w = log_weights_for(self._pi, self.gamma, self.floor)
        self._pi = exp3_pi(self.log_w, self.gamma, self.floor)
        self.rounds = 0
        self.last_arm: str | None = None

    def needs_probe(self, step: int) -> bool:
        """True on every ``mix_interval``-th step (never at step 0, before any training)."""
        return step > 0 and step % self.mix_interval == 0

    def update(self, step: int, probe_losses: dict[str, float]) -> dict:
        """One EXP3 round from this round's probe losses; returns the new pi and the rewards.

        A round with a missing language raises ValueError; a round with a non-finite loss (a diverged
        probe) is skipped, leaving pi and the reward history untouched, and returns empty rewards.
        """
        missing = [lang for lang in self.langs if lang not in probe_losses]
        if missing:
            raise ValueError(f"mixer update at step {step}: no probe loss for {', '.join(missing)}")
        if not all(math.isfinite(float(probe_losses[lang])) for lang in self.langs):
            return {"pi": self.probabilities(), "rewards": {}}
        rewards = self.reward(probe_losses)
        r = np.array([rewards[lang] for lang in self.langs], dtype=np.float64)
        if self.update_mode == "full_information":
            self.log_w = self.log_w + self.eta * r
        else:
            arm = int(self.rng.choice(len(self.langs), p=self._pi / self._pi.sum()))
            self.last_arm = self.langs[arm]
            self.log_w = self.log_w.copy()
            self.log_w[arm] += self.eta * r[arm] / self._pi[arm]
        self.log_w = self.log_w - self.log_w.max()
        self._pi = exp3_pi(self.log_w, self.gamma, self.floor)
        self.rounds += 1
        return {"pi": self.probabilities(), "rewards": rewards}

    def state_dict(self) -> dict:
        state = super().state_dict()
        state.update(
            log_w=[float(x) for x in self.log_w],
            rounds=self.rounds,
            last_arm=self.last_arm,
            reward=self.reward.state_dict(),
        )
        return state

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        if state["reward"]["name"] != self.reward_name:
            raise UserError(
                f"mixer state used reward {state['reward']['name']}, the recipe asks for {self.reward_name}"
            )
        self.log_w = np.array([float(x) for x in state["log_w"]], dtype=np.float64)
        self.rounds = int(state["rounds"])
        self.last_arm = state.get("last_arm")
        self.reward.load_state_dict(state["reward"])

    def summary(self) -> dict:
        out = super().summary()
        out.update(
            reward=self.reward_name, update=self.update_mode, gamma=self.gamma, eta=self.eta,
            floor=self.floor, mix_interval=self.mix_interval, rounds=self.rounds,
        )
        return out
