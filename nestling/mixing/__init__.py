"""Multilingual data mixing: static baselines and TAAM (typological prior + EXP3), behind one interface.

``build_mixer`` is the trainer's only entry; the contract is in docs/architecture.md ("Mixing").
Methods: uniform, proportional, temperature, unimax, prior, fixed (static) and taam (adaptive).
"""

from __future__ import annotations

import json
from pathlib import Path

from nestling.mixing import static
from nestling.mixing.base import BudgetExhausted, Mixer
from nestling.mixing.exp3 import Exp3Mixer

__all__ = ["build_mixer", "BudgetExhausted", "Mixer", "Exp3Mixer"]


def _static_pi(cfg, langs: list[str], train_tokens: dict[str, int], token_budgets, total_tokens) -> dict:
    method = cfg.method
    if method == "uniform":
        return static.uniform(langs)
    if method == "proportional":
        return static.proportional(langs, train_tokens)
    if method == "temperature":
        return static.temperature(langs, train_tokens, float(cfg.temperature_tau))
    if method == "unimax":
        return static.unimax(langs, train_tokens, total_tokens, float(cfg.unimax_max_epochs), token_budgets)
    return static.fixed(langs, cfg.probs)


def _prior(cfg, langs: list[str], run_dir: Path | None) -> dict:
    from nestling.mixing.prior import compute_prior

    record = compute_prior(langs, list(cfg.prior_features), float(cfg.prior_temperature), float(cfg.floor))
    if run_dir is not None:
        # The run keeps the features, distances and pi_0 it started from, beside its metrics.
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        (Path(run_dir) / "mixing_prior.json").write_text(json.dumps(record, indent=1) + "\n")
    return record


def build_mixer(
    mixing_cfg,
    langs: list[str],
    train_tokens: dict[str, int],
    token_budgets: dict[str, int] | None,
    total_tokens: int | None,
    seed: int,
    run_dir: Path | None,
) -> Mixer:
    """The mixer for the recipe's typed ``mixing`` section (``nestling.recipe.section("mixing", ...)``).

    ``token_budgets`` caps the tokens drawn per language (see nestling.data.ledger; None = no cap);
    ``total_tokens`` is the run's planned exposure (unimax spreads it); ``run_dir`` receives
    ``mixing_prior.json`` for the prior-based methods.
    """
    cfg = mixing_cfg
    method = cfg.method  # one of the schema's choices: load_recipe checked it
    langs = list(langs)
    interval = int(cfg.mix_interval)
    if method in ("prior", "taam"):
        record = _prior(cfg, langs, run_dir)
        if method == "prior":
            return Mixer(method, langs, record["pi_0"], seed, token_budgets, record, interval)
        return Exp3Mixer(
            method, langs, record["pi_0"], seed, reward=cfg.reward, update=cfg.update,
            gamma=float(cfg.gamma), eta=float(cfg.eta), floor=float(cfg.floor),
            mix_interval=interval, token_budgets=token_budgets, prior=record,
        )
    pi = _static_pi(cfg, langs, train_tokens, token_budgets, total_tokens)
    return Mixer(method, langs, pi, seed, token_budgets, None, interval)
