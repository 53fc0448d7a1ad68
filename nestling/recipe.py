"""Recipes: YAML files that describe a run, with every key defined, typed and documented here.

A recipe is a nested mapping with the sections below. ``load_recipe`` fills every default, applies
command-line overrides (``--set optimizer.muon_lr=1e-3``), and rejects unknown keys, so a typo fails
before any work starts. The ``model`` section is open: its keys go to the architecture's config
class, which validates them itself.
"""

from __future__ import annotations

import copy
import json
import datetime as dt
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from nestling.errors import UserError


@dataclass(frozen=True)
class Key:
    """One recipe key: its default, the types it accepts, and what it means."""

    default: Any
    types: tuple
    doc: str


NUM = (int, float)
OPT_INT = (int, type(None))
OPT_STR = (str, type(None))

SCHEMA: dict[str, Any] = {
    "name": Key("run", (str,), "Recipe name, shown in logs and the model card."),
    "method": Key("nestling", (str,), "Method name; the run folder is runs/<date>_<method>_seed<N>."),
    "seed": Key(0, (int,), "Seed for data order, mixing, initialisation and evaluation ties."),
    "base": Key(None, OPT_STR, "A recipe (shipped name or path) this one starts from; its keys are overridden here."),
    "run": {
        "out_root": Key("runs", (str,), "Folder under which run folders are created."),
        "device": Key("auto", (str,), "auto (CUDA when present, else CPU), cpu, cuda or cuda:N."),
        "precision": Key("auto", (str,), "auto (bf16 autocast on CUDA, fp32 on CPU), fp32 or bf16; master weights stay fp32."),
        "compile": Key(False, (bool,), "Wrap the model in torch.compile (CUDA runs)."),
        "log_every": Key(10, (int,), "Steps between train records in metrics.jsonl."),
        "eval_every": Key(200, (int,), "Steps between validation-loss records."),
        "val_tokens": Key(16384, (int,), "Held-out tokens per language for the validation loss."),
        "tensorboard": Key(True, (bool,), "Write TensorBoard events to <run>/tb."),
        "progress": Key(True, (bool,), "Show a tqdm progress bar with tokens/s and ETA."),
        "max_bad_steps": Key(10, (int,), "Consecutive non-finite steps that stop the run."),
    },
    "data": {
        "dir": Key(None, OPT_STR, "Prepared dataset folder (ledger, tokenizer, shards); null = built-in data under data/."),
        "sources": Key({}, (dict,), "Raw corpora to prepare first, {lang: path}; empty = the built-in generator."),
        "track": Key("strict", (str,), "BabyLM track: strict, strict-small or multilingual (sets the word budget)."),
        "format": Key(None, OPT_STR, "Force one input format for every file (txt, chat, srt, wiki, html); null = detect."),
        "keep_child": Key(True, (bool,), "Keep child (*CHI) utterances from CHAT files."),
        "on_bad_line": Key("error", (str,), "error (stop, exit 2) or skip (drop and count in the ledger)."),
        "allow_over_budget": Key(False, (bool,), "Prepare data over the track's word budget (recorded in the ledger)."),
        "builtin_root": Key("data", (str,), "Folder where built-in datasets are written once and reused."),
        "builtin_words": Key(2_000_000, (int,), "Words the built-in generator writes, split evenly over builtin_langs."),
        "builtin_langs": Key(["eng", "nld", "zho"], (list,), "Languages of the built-in data."),
        "builtin_pairs": Key(100, (int,), "Minimal pairs per phenomenon in the built-in evaluation set."),
    },
    "tokenizer": {
        "vocab_size": Key(16384, (int,), "Byte-level BPE vocabulary size (special tokens included)."),
        "balance_languages": Key(False, (bool,), "Train the tokenizer on equal text per language."),
    },
    "model": Key({"arch": "stream_mixer"}, (dict,), "Architecture (arch: stream_mixer|llama) and its config keys."),
    "mixing": {
        "method": Key("uniform", (str,), "uniform, proportional, temperature, unimax, prior, fixed or taam."),
        "reward": Key("v2", (str,), "TAAM reward: v1 (normalized_excess_loss) or v2 (cross_lingual_deficit)."),
        "update": Key("full_information", (str,), "EXP3 update: full_information (all languages probed) or bandit."),
        "gamma": Key(0.1, NUM, "EXP3 exploration rate."),
        "eta": Key(0.1, NUM, "EXP3 learning rate on rewards."),
        "floor": Key(0.10, NUM, "Least probability of any language: p <- f + (1 - K f) p."),
        "prior_temperature": Key(0.5, NUM, "Softmax temperature of the typological prior."),
        "prior_features": Key(["syntax_knn", "phonology_knn", "inventory_knn"], (list,), "URIEL feature sets."),
        "temperature_tau": Key(3.0, NUM, "Method temperature: q_l proportional to n_l^(1/tau)."),
        "unimax_max_epochs": Key(4, NUM, "Method unimax: most epochs over any language."),
        "probs": Key({}, (dict,), "Method fixed: the probabilities, {lang: p}."),
        "mix_interval": Key(50, (int,), "Steps between probes and EXP3 updates (adaptive methods)."),
        "probe_tokens": Key(4096, (int,), "Held-out tokens per language in each probe."),
    },
    "optimizer": {
        "name": Key("muon_adamw", (str,), "muon_adamw (Muon on hidden matrices, AdamW on the rest) or adamw."),
        "muon_lr": Key(5e-3, NUM, "Peak learning rate of the Muon group."),
        "adamw_lr": Key(5e-4, NUM, "Peak learning rate of the AdamW group (all parameters with name adamw)."),
        "weight_decay": Key(0.1, NUM, "Decoupled weight decay of both groups (none on norms and biases)."),
        "betas": Key([0.9, 0.95], (list,), "AdamW betas."),
        "eps": Key(1e-8, NUM, "AdamW epsilon."),
        "muon_momentum": Key(0.95, NUM, "Muon momentum (Nesterov)."),
        "adjust_lr_fn": Key("match_rms_adamw", (str,), "torch.optim.Muon adjust_lr_fn: match_rms_adamw or original."),
        "grad_clip": Key(1.0, NUM, "Global gradient-norm clip; 0 disables."),
    },
    "schedule": {
        "name": Key("wsd", (str,), "wsd (warmup-stable-decay, transformers.get_wsd_schedule)."),
        "warmup_fraction": Key(0.01, NUM, "Fraction of steps spent warming up."),
        "decay_fraction": Key(0.15, NUM, "Fraction of steps spent decaying (the rest is stable)."),
        "decay_type": Key("linear", (str,), "Decay shape: linear, cosine or 1-sqrt."),
        "min_lr_ratio": Key(0.0, NUM, "Final learning rate as a fraction of the peak."),
    },
    "budget": {
        "epochs": Key(10, NUM, "Planned length in epochs over the prepared train tokens (when max_* are null)."),
        "max_steps": Key(None, OPT_INT, "Planned length in optimizer steps (overrides epochs)."),
        "max_tokens": Key(None, OPT_INT, "Planned length in training tokens (overrides epochs)."),
        "max_epochs": Key(10, NUM, "BabyLM's limit on epochs over the data; exceeding it stops the run."),
        "allow_over_epochs": Key(False, (bool,), "Let the run pass max_epochs (recorded in the summary)."),
    },
    "batch": {
        "global_batch": Key(128, (int,), "Sequences per optimizer step, over all devices and accumulation."),
        "seq_len": Key(1024, (int,), "Tokens per training sequence."),
        "micro_batch": Key("auto", (str, int), "Most sequences per forward pass (the largest divisor of the "
                       "per-process batch up to it); auto = largest that fits (CUDA) or 8 (CPU)."),
    },
    "checkpoints": {
        "milestone_scale": Key(1.0, NUM, "Multiplies the BabyLM milestones (chck_1M = 1e6 x scale words)."),
        "keep_last": Key(2, (int,), "Resumable training states kept."),
        "state_every": Key(200, (int,), "Steps between resumable training states."),
    },
    "eval": {
        "data": Key(["builtin"], (list,), "Minimal-pair files or folders; 'builtin' = the built-in pairs."),
        "fast": Key(False, (bool,), "Use the official fast subsets (200 per BLiMP UID, 50 per supplement UID)."),
        "revisions": Key("all", (str, list), "Revisions of a run to evaluate: all, final, or a list of chck_* names."),
        "batch_size": Key(64, (int,), "Sentences per forward pass while scoring."),
        "suite": Key(None, OPT_STR, "Official strict-track suite for `nestling eval RUN`: strict-fast or strict-full "
                     "(data from eval.eval_root or $NESTLING_EVAL_DATA; replaces eval.data)."),
        "eval_root": Key(None, OPT_STR, "The official evaluation_data folder (fast_eval/, full_eval/) for eval.suite; "
                         "null = $NESTLING_EVAL_DATA."),
    },
    # `nestling finetune` (nestling.evaluation.finetune): defaults are the official strict-track
    # fine-tuning (evaluation_pipeline/finetune/run.py and scripts/eval_finetuning.sh).
    "finetune": {
        "seeds": Key([42], (list,), "Fine-tuning seeds; scores are the mean over seeds."),
        "revisions": Key("final", (str, list), "Revisions of a run to fine-tune: final, all, or chck_* names."),
        "epochs": Key(10, (int,), "Epochs per task (all but WSC)."),
        "wsc_epochs": Key(30, (int,), "Epochs for WSC."),
        "learning_rate": Key(3e-5, NUM, "Peak learning rate (AdamW)."),
        "batch_size": Key(32, (int,), "Training batch size (RTE, WSC, MRPC, QQP, MNLI...)."),
        "long_batch_size": Key(16, (int,), "Training batch size for the long-input tasks BoolQ and MultiRC."),
        "valid_batch_size": Key(64, (int,), "Batch size of the validation passes."),
        "sequence_length": Key(512, (int,), "Tokens per input before truncation."),
        "gradient_accumulation": Key(1, (int,), "Micro-batches per optimizer step (must divide the batch size)."),
        "max_train_examples": Key(None, OPT_INT, "Use only the first N training examples of each task; null = all."),
        "classifier_dropout": Key(0.1, NUM, "Dropout in the classification head."),
        "classifier_layer_norm_eps": Key(1e-5, NUM, "Epsilon of the head's LayerNorms."),
        "weight_decay": Key(0.01, NUM, "AdamW weight decay (every parameter, as the official code)."),
        "warmup_proportion": Key(0.06, NUM, "Fraction of the steps with a linear warm-up."),
        "min_factor": Key(0.1, NUM, "Cosine decay ends at this fraction of the peak learning rate."),
        "beta1": Key(0.9, NUM, "AdamW beta1."),
        "beta2": Key(0.999, NUM, "AdamW beta2."),
        "optimizer_eps": Key(1e-8, NUM, "AdamW epsilon."),
        "pooling": Key("auto", (str,), "Hidden state the head reads: last (real token), first, or auto "
                       "(first for encoders, last otherwise)."),
        "keep_best_model": Key(True, (bool,), "Report the best validation epoch (false: the last epoch)."),
        "device": Key("auto", (str,), "auto (CUDA when present, else CPU), cpu, cuda or cuda:N."),
        "precision": Key("auto", (str,), "auto (bf16 autocast on CUDA, fp32 on CPU), fp32 or bf16."),
        "multilingual": {
            "seeds": Key([12], (list,), "Seeds of the multilingual suite (official script: 12)."),
            "epochs": Key(10, (int,), "Maximum epochs per multilingual task."),
            "learning_rate": Key(5e-5, NUM, "Peak learning rate (linear decay, as the official script)."),
            "batch_size": Key(64, (int,), "Training batch size of the multilingual suite."),
            "sequence_length": Key(128, (int,), "Tokens per input (padded to this length, as the official script)."),
            "patience": Key(3, (int,), "Epochs without improvement before early stopping."),
        },
    },
}


def documented_keys(schema: dict | None = None, prefix: str = "") -> dict[str, Key]:
    """Every recipe key as a dotted name, with its definition."""
    out = {}
    for name, value in (schema or SCHEMA).items():
        dotted = f"{prefix}{name}"
        if isinstance(value, dict):
            out.update(documented_keys(value, dotted + "."))
        else:
            out[dotted] = value
    return out


def defaults(schema: dict | None = None) -> dict:
    """A recipe with every default filled."""
    return {
        name: defaults(value) if isinstance(value, dict) else copy.deepcopy(value.default)
        for name, value in (schema or SCHEMA).items()
    }


def recipe_dir() -> Path:
    """The recipes shipped with nestling (also reachable as recipes/ at the repository root)."""
    return Path(str(resources.files("nestling") / "recipes"))


def available_recipes() -> list[str]:
    return sorted(p.stem for p in recipe_dir().glob("*.yaml"))


def resolve_recipe_path(path_or_name: str | Path) -> Path:
    """A recipe file, given its path or the name of a shipped recipe (``demo``)."""
    path = Path(path_or_name)
    if path.is_file():
        return path
    shipped = recipe_dir() / f"{path_or_name}.yaml"
    if shipped.is_file():
        return shipped
    raise UserError(f"recipe {path_or_name!r} not found: not a file, nor one of {', '.join(available_recipes())}")


def _merge(base: dict, update: dict, schema: dict, where: str) -> None:
    for name, value in update.items():
        dotted = f"{where}{name}"
        if name not in schema:
            raise UserError(f"unknown recipe key {dotted!r} (known here: {', '.join(schema)})")
        spec = schema[name]
        if isinstance(spec, dict):
            if not isinstance(value, dict):
                raise UserError(f"recipe key {dotted!r} must be a mapping, got {value!r}")
            _merge(base[name], value, spec, dotted + ".")
        else:
            if float in spec.types:
                value = _number_or_same(value)
            _check_type(dotted, spec, value)
            base[name] = copy.deepcopy(value)


def _check_type(dotted: str, spec: Key, value: Any) -> None:
    if value is None and type(None) in spec.types:
        return
    # bool is an int in Python; a True where a number is expected is a typo, not a number
    if isinstance(value, bool) and bool not in spec.types:
        raise UserError(f"recipe key {dotted!r} expects {_type_names(spec)}, got {value!r}")
    if not isinstance(value, spec.types):
        raise UserError(f"recipe key {dotted!r} expects {_type_names(spec)}, got {value!r}")


def _type_names(spec: Key) -> str:
    return " or ".join("null" if t is type(None) else t.__name__ for t in spec.types)


def _number_or_same(value: Any) -> Any:
    """YAML 1.1 reads ``1e-3`` as a string; a researcher means the number."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def parse_override(text: str) -> dict:
    """``a.b=value`` -> {"a": {"b": value}}, the value read as YAML (numbers, lists, null)."""
    if "=" not in text:
        raise UserError(f"--set expects KEY=VALUE, got {text!r}")
    dotted, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    value = _number_or_same(value)
    parts = dotted.strip().split(".")
    # model keys are free-form, so "model.hidden_size=64" must nest into the model mapping
    nested: Any = value
    for part in reversed(parts):
        nested = {part: nested}
    return nested


def _apply_model(recipe: dict, model_update: dict) -> None:
    recipe["model"] = {**recipe["model"], **model_update}


def _read_yaml(path: Path) -> dict:
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise UserError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path}: a recipe must be a mapping of sections")
    return raw


def _deep_update(base: dict, update: dict) -> dict:
    out = copy.deepcopy(base)
    for name, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(name), dict):
            out[name] = _deep_update(out[name], value)
        else:
            out[name] = copy.deepcopy(value)
    return out


def _read_with_base(path: Path, seen: tuple) -> dict:
    """A recipe file, on top of the recipe its ``base:`` key names (a shipped name or a path)."""
    raw = _read_yaml(path)
    base = raw.pop("base", None)
    if base is None:
        return raw
    base_path = resolve_recipe_path(base) if not (path.parent / f"{base}.yaml").is_file() else path.parent / f"{base}.yaml"
    if base_path.resolve() in seen:
        raise UserError(f"{path}: recipe bases form a cycle through {base_path}")
    return _deep_update(_read_with_base(base_path, seen + (base_path.resolve(),)), raw)


def load_recipe(path_or_name: str | Path | dict, overrides: list[str] | None = None) -> dict:
    """Read a recipe (file, shipped name or mapping), fill defaults, apply overrides, validate."""
    if isinstance(path_or_name, dict):
        raw = {k: copy.deepcopy(v) for k, v in path_or_name.items() if not k.startswith("_")}
        source = path_or_name.get("_source", "<dict>")
    else:
        path = resolve_recipe_path(path_or_name)
        source = str(path)
        # A run's recorded recipe.yaml carries private keys (_source): it must train again as it is.
        raw = {k: v for k, v in _read_with_base(path, seen=()).items() if not str(k).startswith("_")}
    recipe = defaults()
    updates = [raw] + [parse_override(o) for o in overrides or []]
    for update in updates:
        model_update = update.pop("model", None)
        _merge(recipe, update, SCHEMA, "")
        if model_update is not None:
            if not isinstance(model_update, dict):
                raise UserError("recipe key 'model' must be a mapping")
            _apply_model(recipe, model_update)
    validate(recipe)
    recipe["_source"] = source
    return recipe


CHOICES = {
    "data.track": ("strict", "strict-small", "multilingual"),
    "run.precision": ("auto", "fp32", "bf16"),
    "data.on_bad_line": ("error", "skip"),
    "mixing.method": ("uniform", "proportional", "temperature", "unimax", "prior", "fixed", "taam"),
    "mixing.reward": ("v1", "v2", "normalized_excess_loss", "cross_lingual_deficit"),
    "mixing.update": ("full_information", "bandit"),
    "optimizer.name": ("muon_adamw", "adamw"),
    "optimizer.adjust_lr_fn": ("match_rms_adamw", "original"),
    "schedule.name": ("wsd",),
    "schedule.decay_type": ("linear", "cosine", "1-sqrt"),
    "model.arch": ("stream_mixer", "llama"),
    "finetune.pooling": ("auto", "last", "first"),
    "finetune.precision": ("auto", "fp32", "bf16"),
}


def get(recipe: dict, dotted: str) -> Any:
    value: Any = recipe
    for part in dotted.split("."):
        value = value[part]
    return value


def validate(recipe: dict) -> None:
    """Reject values outside their choices and impossible numbers, each with one clear line."""
    for dotted, choices in CHOICES.items():
        value = get(recipe, dotted) if dotted != "model.arch" else recipe["model"].get("arch", "stream_mixer")
        if value not in choices:
            raise UserError(f"recipe key {dotted!r} is {value!r}; expected one of {', '.join(choices)}")
    for dotted in ("batch.global_batch", "batch.seq_len", "tokenizer.vocab_size", "mixing.mix_interval"):
        if get(recipe, dotted) <= 0:
            raise UserError(f"recipe key {dotted!r} must be positive")
    micro = recipe["batch"]["micro_batch"]
    if isinstance(micro, str) and micro != "auto":
        raise UserError(f"recipe key 'batch.micro_batch' is {micro!r}; expected auto or a positive integer")
    if recipe["schedule"]["warmup_fraction"] + recipe["schedule"]["decay_fraction"] > 1:
        raise UserError("schedule.warmup_fraction + schedule.decay_fraction must not exceed 1")


def run_dir_name(recipe: dict, today: dt.date | None = None) -> str:
    """runs/<YYYY-MM-DD>_<method>_seed<N>: what a BabyLM researcher files results under."""
    day = (today or dt.date.today()).isoformat()
    return f"{day}_{recipe['method']}_seed{recipe['seed']}"


def dump_recipe(recipe: dict) -> str:
    """The resolved recipe as YAML, keys in schema order."""
    clean = {k: v for k, v in recipe.items() if not k.startswith("_")}
    return yaml.safe_dump(clean, sort_keys=False, allow_unicode=True)


def reference_markdown() -> str:
    """docs/recipes.md: every key with its type, default and meaning (a test keeps the file current)."""
    lines = ["# Recipe keys", "", "Generated from `nestling/recipe.py` by `python -m nestling.recipe`; "
             "override any key with `--set KEY=VALUE`.", "",
             "| key | type | default | meaning |", "|---|---|---|---|"]
    for dotted, key in documented_keys().items():
        default = json.dumps(key.default)
        lines.append(f"| `{dotted}` | {_type_names(key)} | `{default}` | {key.doc} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(reference_markdown(), end="")
