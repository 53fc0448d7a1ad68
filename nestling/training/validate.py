"""Checks a recipe must pass before training touches the disk: each failure is one line.

Kept apart from nestling.recipe (whose schema checks types) so the checks can move into a typed schema
as they are: numbers that must be positive and finite, BabyLM's 10-epoch rule, the model section's
keys (a typo such as ``hiden_size`` would otherwise go silently into config.json) and values.
"""

from __future__ import annotations

import difflib
import math

from nestling.errors import UserError

# BabyLM: at most 10 epochs over the data; more only with budget.allow_over_epochs (recorded).
BABYLM_MAX_EPOCHS = 10

_POSITIVE_INTS = ("run.log_every", "run.eval_every", "run.val_tokens", "run.max_bad_steps",
                  "checkpoints.state_every", "mixing.probe_tokens", "batch.global_batch", "batch.seq_len")
_OPTIONAL_POSITIVE_INTS = ("budget.max_steps", "budget.max_tokens")
_POSITIVE_NUMBERS = ("budget.epochs", "budget.max_epochs", "checkpoints.milestone_scale")


_MISSING = object()


def _get(recipe: dict, dotted: str):
    """The value, or _MISSING (a partial recipe dict leaves the trainer's default in place)."""
    section, key = dotted.split(".")
    return recipe.get(section, {}).get(key, _MISSING)


def check_recipe(recipe: dict) -> None:
    """Raise UserError for the first value no run can use."""
    _check_numbers(recipe)
    budget = recipe.get("budget", {})
    if budget.get("max_epochs", BABYLM_MAX_EPOCHS) > BABYLM_MAX_EPOCHS and not budget.get("allow_over_epochs"):
        raise UserError(f"budget.max_epochs={budget['max_epochs']} passes BabyLM's {BABYLM_MAX_EPOCHS}-epoch limit; "
                        "set budget.allow_over_epochs=true to train past it (recorded in summary.json)")
    check_model_section(recipe.get("model", {}))


def _check_numbers(recipe: dict) -> None:
    for dotted in _POSITIVE_INTS + _OPTIONAL_POSITIVE_INTS:
        value = _get(recipe, dotted)
        if value is _MISSING or value is None and dotted in _OPTIONAL_POSITIVE_INTS:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            extra = " or null" if dotted in _OPTIONAL_POSITIVE_INTS else ""
            raise UserError(f"recipe key {dotted!r} must be a positive integer{extra}, got {value!r}")
    for dotted in _POSITIVE_NUMBERS:
        value = _get(recipe, dotted)
        if value is _MISSING:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise UserError(f"recipe key {dotted!r} must be a finite number above 0, got {value!r}")
    micro = _get(recipe, "batch.micro_batch")
    bad_micro = isinstance(micro, bool) or not isinstance(micro, int) or micro < 1
    if micro is not _MISSING and micro != "auto" and bad_micro:
        raise UserError(f"recipe key 'batch.micro_batch' must be auto or a positive integer, got {micro!r}")


def _config_class(arch: str):
    if arch == "stream_mixer":
        from nestling.models.stream_mixer import StreamMixerConfig

        return StreamMixerConfig
    if arch == "llama":
        from transformers import LlamaConfig

        return LlamaConfig
    from nestling.models import ARCHITECTURES

    raise UserError(f"model.arch {arch!r} is unknown; expected one of {', '.join(ARCHITECTURES)}")


def check_model_section(model_cfg: dict) -> None:
    """Every model key is one the architecture's config knows, and the config accepts the values."""
    cfg = dict(model_cfg)
    cls = _config_class(cfg.pop("arch", "stream_mixer"))
    defaults = cls().to_dict()
    known = set(defaults)
    for key, value in cfg.items():
        expected = defaults.get(key)
        if _is_number(expected) and not _is_number(value) or isinstance(expected, list) and not isinstance(value, list):
            kind = "a number" if _is_number(expected) else "a list"
            raise UserError(f"recipe key 'model.{key}' must be {kind}, got {value!r}")
        # A key the config class keeps verbatim as an extra attribute is one it does not know
        # (a key it consumes, e.g. Llama's rope_theta into rope_parameters, is fine).
        if key not in known and key in _quiet(cls, {key: value}):
            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f" (did you mean model.{close[0]}?)" if close else ""
            raise UserError(f"unknown recipe key 'model.{key}' for arch {cls.model_type!r}{hint}")
    try:
        cls(**cfg)
    except (ValueError, TypeError) as err:
        raise UserError(f"recipe section 'model': {str(err).splitlines()[0]}") from None


def _quiet(cls, kwargs: dict) -> dict:
    try:
        return cls(**kwargs).to_dict()
    except (ValueError, TypeError):
        return {}  # the value is wrong, not the key: the full construction below reports it


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


# What may differ between a run's recorded recipe and the one it is resumed with: logging, evaluation,
# how many states to keep, and the explicit permission to pass max_epochs (the epoch guard asks for it).
RESUME_MAY_CHANGE = ("run.", "eval.", "checkpoints.keep_last", "budget.allow_over_epochs", "data.dir", "_")


def _flat(tree: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict) and key not in ("sources", "probs"):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def check_resume(recipe: dict, run_dir) -> None:
    """A resumed run keeps its recorded recipe: a changed key (a recipe edit or --set) is refused, never
    silently ignored while summary.json records the new value."""
    from pathlib import Path

    import yaml

    path = Path(run_dir) / "recipe.yaml"
    if not path.is_file():
        return
    try:
        recorded = _flat(yaml.safe_load(path.read_text()) or {})
    except yaml.YAMLError:
        raise UserError(f"{path}: not valid YAML; the run's recorded recipe is damaged") from None
    now = _flat(recipe)
    changed = sorted(k for k in set(recorded) | set(now)
                     if not k.startswith(RESUME_MAY_CHANGE) and recorded.get(k) != now.get(k))
    if changed:
        shown = ", ".join(f"{k}={now.get(k)!r} (run: {recorded.get(k)!r})" for k in changed[:3])
        raise UserError(f"--resume {run_dir}: {shown} differ from the run's recipe.yaml; a resumed run keeps its "
                        "recipe (only run.*, eval.*, checkpoints.keep_last, budget.allow_over_epochs may change)")
