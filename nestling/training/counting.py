"""Counting what the model has seen: tokens, words (BabyLM: all words seen, repeats included), epochs.

Words seen are derived from tokens through each language's ``words_per_token`` (train_words /
train_tokens in the shard metadata), so a word budget certified on the text carries over to training.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from nestling.errors import UserError


@dataclass
class Counter:
    """Tokens drawn per language (integers, so words and epochs are exact functions of them)."""

    words_per_token: dict[str, float]
    train_tokens: dict[str, int]
    lang_tokens: dict[str, int] = field(default_factory=dict)

    def add(self, lang: str, tokens: int) -> None:
        self.lang_tokens[lang] = self.lang_tokens.get(lang, 0) + tokens

    @property
    def tokens(self) -> int:
        return sum(self.lang_tokens.values())

    @property
    def words(self) -> float:
        return sum(n * self.words_per_token[lang] for lang, n in self.lang_tokens.items())

    def epochs(self) -> dict[str, float]:
        """Passes over each language's prepared train tokens so far."""
        return {lang: self.lang_tokens.get(lang, 0) / self.train_tokens[lang] for lang in self.train_tokens}

    def state_dict(self) -> dict:
        return {"lang_tokens": dict(self.lang_tokens)}

    def load_state_dict(self, state: dict) -> None:
        self.lang_tokens = dict(state["lang_tokens"])


def over_epochs(epochs: dict[str, float], max_epochs: float) -> dict[str, float]:
    """The languages past ``max_epochs`` (a hair of float slack so exactly max_epochs passes)."""
    return {lang: e for lang, e in epochs.items() if e > max_epochs * (1 + 1e-9)}


def check_epochs(epochs: dict[str, float], max_epochs: float, allow: bool, where: str) -> dict[str, float]:
    """Raise UserError when a language went past ``max_epochs`` unless ``allow``; return the excess."""
    excess = over_epochs(epochs, max_epochs)
    if excess and not allow:
        shown = ", ".join(f"{lang} {e:.2f}" for lang, e in sorted(excess.items()))
        raise UserError(
            f"{where}: training would pass {max_epochs:g} epochs over the prepared data ({shown}); "
            "prepare more data, lower budget.epochs/max_steps/max_tokens, or set budget.allow_over_epochs=true"
        )
    return excess


def plan_steps(budget, train_tokens_total: int, tokens_per_step: int) -> int:
    """Optimizer steps for the run: ``max_steps``, else ``max_tokens``, else ``epochs`` over the data.

    Token and epoch budgets round down, so a planned 10 epochs never steps past the 10-epoch guard.
    """
    if budget.max_steps:
        return int(budget.max_steps)
    if budget.max_tokens:
        return max(1, int(budget.max_tokens) // tokens_per_step)
    planned = float(budget.epochs) * train_tokens_total
    steps = math.floor(planned / tokens_per_step)
    if steps < 1:
        raise UserError(
            f"budget.epochs={budget.epochs} over {train_tokens_total} prepared train tokens is less than one "
            f"batch of {tokens_per_step} tokens; lower batch.global_batch or batch.seq_len"
        )
    return steps
