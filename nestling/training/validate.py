"""The check a resumed run must pass before training touches the disk: it keeps its recorded recipe.

Every check of a single recipe (types, allowed values, positive and finite numbers, BabyLM's 10-epoch
rule, the model section's keys and values) is ``nestling.recipe``'s, made as the recipe is loaded.
"""

from __future__ import annotations

from collections.abc import Mapping

from nestling.errors import UserError
from nestling.run_folder import RECIPE, read_recipe

# What may differ between a run's recorded recipe and the one it is resumed with: logging, evaluation,
# fine-tuning, the sweep it belongs to, how many states to keep, and the explicit permission to pass
# max_epochs (the epoch guard asks for it).
RESUME_MAY_CHANGE = ("run.", "eval.", "finetune.", "sweep.", "checkpoints.keep_last", "budget.allow_over_epochs",
                     "data.dir", "_")


def _flat(tree: Mapping, prefix: str = "") -> dict:
    out = {}
    for key, value in tree.items():
        if isinstance(value, Mapping) and key not in ("sources", "probs"):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def check_resume(recipe: Mapping, run_dir) -> None:
    """A resumed run keeps its recorded recipe: a changed key (a recipe edit or --set) is refused, never
    silently ignored while summary.json records the new value."""
    recorded = read_recipe(run_dir)
    if recorded is None:
        return
    recorded, now = _flat(recorded), _flat(recipe)
    changed = sorted(k for k in set(recorded) | set(now)
                     if not k.startswith(RESUME_MAY_CHANGE) and recorded.get(k) != now.get(k))
    if changed:
        shown = ", ".join(f"{k}={now.get(k)!r} (run: {recorded.get(k)!r})" for k in changed[:3])
        raise UserError(f"--resume {run_dir}: {shown} differ from the run's {RECIPE}; a resumed run keeps its "
                        "recipe (only run.*, eval.*, finetune.*, sweep.*, checkpoints.keep_last, "
                        "budget.allow_over_epochs may change)")
