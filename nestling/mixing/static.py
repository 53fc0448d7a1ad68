"""Static mixing baselines: a probability per language, fixed for the whole run.

Each function maps per-language token counts (and the method's knob) to ``{lang: p}`` summing to 1.
The ``prior`` method lives in ``nestling.mixing.prior`` (it needs URIEL); the mixer that samples
from these lives in ``nestling.mixing.base``.
"""

from __future__ import annotations

import math

from nestling.errors import UserError


def _normalise(weights: dict[str, float], what: str) -> dict[str, float]:
    total = sum(weights.values())
    if not total > 0 or not math.isfinite(total):
        raise UserError(f"mixing: {what} gives no positive weight to any language ({weights})")
    return {lang: w / total for lang, w in weights.items()}


def _check_tokens(train_tokens: dict[str, int], langs: list[str]) -> None:
    missing = [lang for lang in langs if lang not in train_tokens]
    if missing:
        raise UserError(f"mixing: no train token count for {', '.join(missing)}")


def uniform(langs: list[str]) -> dict[str, float]:
    """1/K each."""
    return {lang: 1.0 / len(langs) for lang in langs}


def proportional(langs: list[str], train_tokens: dict[str, int]) -> dict[str, float]:
    """p_l = n_l / sum_k n_k, n = train tokens available."""
    _check_tokens(train_tokens, langs)
    return _normalise({lang: float(train_tokens[lang]) for lang in langs}, "proportional")


def temperature(langs: list[str], train_tokens: dict[str, int], tau: float) -> dict[str, float]:
    """p_l proportional to n_l^(1/tau): tau=1 is proportional, tau -> inf is uniform."""
    if not tau > 0:
        raise UserError(f"mixing.temperature_tau must be > 0, got {tau}")
    _check_tokens(train_tokens, langs)
    # Scale by the largest count first so n^(1/tau) cannot overflow for huge corpora.
    top = max(float(train_tokens[lang]) for lang in langs) or 1.0
    return _normalise({lang: (train_tokens[lang] / top) ** (1.0 / tau) for lang in langs}, "temperature")


def unimax_allocation(
    langs: list[str], train_tokens: dict[str, int], total_tokens: int, max_epochs: float,
    caps: dict[str, int] | None = None,
) -> dict[str, float]:
    """UniMax (Chung et al. 2023): tokens per language for a run of ``total_tokens``.

    Walk the languages from smallest to largest; each gets an equal share of what is left, but never
    more than ``max_epochs`` passes over its data (or its ``caps`` entry); what a small language
    cannot take is spread over the larger ones.
    """
    if not max_epochs > 0:
        raise UserError(f"mixing.unimax_max_epochs must be > 0, got {max_epochs}")
    _check_tokens(train_tokens, langs)
    remaining = float(total_tokens)
    alloc = {}
    order = sorted(langs, key=lambda lang: (train_tokens[lang], lang))
    for i, lang in enumerate(order):
        cap = train_tokens[lang] * max_epochs
        if caps is not None and lang in caps:
            cap = min(cap, caps[lang])
        alloc[lang] = min(cap, remaining / (len(order) - i))
        remaining -= alloc[lang]
    return {lang: alloc[lang] for lang in langs}


def unimax(
    langs: list[str], train_tokens: dict[str, int], total_tokens: int | None, max_epochs: float,
    caps: dict[str, int] | None = None,
) -> dict[str, float]:
    """UniMax probabilities: the allocation normalised. Without a planned total, one pass over all data."""
    total = total_tokens if total_tokens is not None else sum(train_tokens[lang] for lang in langs)
    return _normalise(unimax_allocation(langs, train_tokens, total, max_epochs, caps), "unimax")


def fixed(langs: list[str], probs: dict) -> dict[str, float]:
    """The recipe's ``mixing.probs``, checked to name exactly ``langs`` and renormalised to sum 1."""
    if not isinstance(probs, dict) or not probs:
        raise UserError("mixing.probs: method 'fixed' needs a mapping {lang: probability}")
    unknown = sorted(set(probs) - set(langs))
    missing = [lang for lang in langs if lang not in probs]
    if unknown or missing:
        raise UserError(f"mixing.probs: languages must be exactly {langs} (missing {missing}, unknown {unknown})")
    values = {}
    for lang in langs:
        try:
            values[lang] = float(probs[lang])
        except (TypeError, ValueError):
            raise UserError(f"mixing.probs.{lang}: not a number: {probs[lang]!r}") from None
        if values[lang] < 0 or not math.isfinite(values[lang]):
            raise UserError(f"mixing.probs.{lang}: must be a finite number >= 0, got {probs[lang]!r}")
    return _normalise(values, "mixing.probs")
