"""The run's mixer: built from the recipe's ``mixing`` section with the ledger's token budgets, asked
for the languages of every global batch, and probed on held-out windows every ``mix_interval`` steps."""

from __future__ import annotations

from typing import Callable

from nestling.data.ledger import token_budgets
from nestling.errors import UserError
from nestling.mixing import BudgetExhausted, Mixer, build_mixer
from nestling.training.data_plan import DataPlan


def build_run_mixer(recipe, plan: DataPlan, run_dir, is_main: bool) -> Mixer:
    """The mixer; languages past their budget (max_epochs over the ledger's words) are never drawn."""
    budget, dataset = recipe.budget, plan.dataset
    budgets = None if budget.allow_over_epochs else token_budgets(dataset.ledger, dataset.metas, float(budget.max_epochs))
    return build_mixer(recipe.mixing, dataset.langs, dataset.train_tokens, budgets, plan.total_tokens,
                       recipe.seed, run_dir if is_main else None)


def sample_languages(mixer: Mixer, plan: DataPlan, step: int, max_epochs: float) -> list[str]:
    """Languages of the next global batch; a clear UserError when every language's budget is spent."""
    try:
        return mixer.sample(plan.batch.global_batch, seq_tokens=plan.batch.seq_len)
    except BudgetExhausted as err:
        raise UserError(
            f"step {step}: every language has used its token budget ({max_epochs} epochs): {err}; lower the "
            "planned length, or set budget.allow_over_epochs=true and resume from the last state"
        ) from None


def probe_and_update(mixer: Mixer, step: int, words: float, probe_losses: Callable[[], dict]) -> dict | None:
    """When the mixer asks for it: probe losses, one mixer update, and the "mix" record (else None)."""
    if not mixer.needs_probe(step):
        return None
    probe = probe_losses()
    out = mixer.update(step, probe)
    return {"kind": "mix", "step": step, "words": words, "pi": out["pi"], "rewards": out.get("rewards", {}),
            "probe_loss": probe}
