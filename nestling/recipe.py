"""Recipes: YAML files that describe a run, with every key defined, typed and documented here.

This module is the one place a recipe default or allowed value exists. ``SCHEMA`` holds each key's
type, default, allowed values and meaning; the typed sections (frozen dataclasses, one per section)
are generated from it, ``docs/recipes.md`` is generated from it, and the CLI takes its defaults and
choices from it. ``load_recipe`` fills every default, applies command-line overrides
(``--set optimizer.muon_lr=1e-3``), rejects unknown keys and bad values, and builds the model's
config, so a typo fails in one line before any data work starts.

The ``model`` section is typed by architecture: ``arch`` picks the config class, and the other keys
must be fields of that class. When a layer of the recipe (a base recipe, the file, an override)
changes ``model.arch``, the model keys inherited from earlier layers that the new architecture does
not know are dropped (they described the other architecture); keys given in that layer or later
that the architecture does not know are an error.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import functools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from nestling.data.cleaning import FORMAT_ALIASES, FORMATS
from nestling.data.counting import TRACKS
from nestling.data.formats import BAD_LINE_POLICIES
from nestling.errors import UserError
from nestling.models import ARCHITECTURES
from nestling.safe_yaml import AliasRefused, load_yaml


@dataclass(frozen=True)
class Key:
    """One recipe key: its default, the types it accepts, its allowed values and what it means."""

    default: Any
    types: tuple
    doc: str
    choices: tuple | None = None
    positive: bool = False


# mixing.reward: every accepted spelling -> the reward it names (nestling.mixing.rewards implements both).
REWARD_ALIASES = {"v1": "v1", "normalized_excess_loss": "v1", "v2": "v2", "cross_lingual_deficit": "v2"}

NUM = (int, float)
PRECISIONS = ("auto", "fp32", "bf16")
# The official strict-track zero-shot suites (nestling.evaluation.suites runs them).
STRICT_SUITES = ("strict-fast", "strict-full")
# checkpoints.unit: what chck_1M ... chck_1000M count.
MILESTONE_UNITS = ("words", "tokens")
# BabyLM: at most 10 epochs over the data; more only with budget.allow_over_epochs (recorded).
BABYLM_MAX_EPOCHS = 10
OPT_INT = (int, type(None))
OPT_STR = (str, type(None))

SCHEMA: dict[str, Any] = {
    "name": Key("run", (str,), "Recipe name, shown in logs and the model card."),
    "method": Key("nestling", (str,), "Method name; the run folder is runs/<date>_<method>_seed<N>."),
    "seed": Key(0, (int,), "Seed for data order, mixing, initialisation and evaluation ties."),
    "base": Key(None, OPT_STR, "A recipe (shipped name or path) this one starts from; its keys are overridden here."),
    "citation": Key(None, OPT_STR, "BibTeX the model card prints under Citation (null: the run folder's "
                    "citation.bib or CITATION.cff, else no Citation section; never made up)."),
    "run": {
        "out_root": Key("runs", (str,), "Folder under which run folders are created."),
        "device": Key("auto", (str,), "auto (CUDA when present, else CPU), cpu, cuda or cuda:N."),
        "precision": Key("auto", (str,), "auto (bf16 autocast on CUDA, fp32 on CPU), fp32 or bf16; master weights stay fp32.",
                         choices=PRECISIONS),
        "compile": Key("auto", (bool, str), "auto (on CUDA), true or false: train through torch.compile(model, "
                       "fullgraph=True) (same loss and gradients to fp32 rounding; the first steps compile)."),
        "activation_checkpointing": Key(False, (bool,), "Recompute each block's activations in the backward pass "
                                        "instead of keeping them: less memory, about a third more compute."),
        "log_every": Key(10, (int,), "Steps between train records in metrics.jsonl.", positive=True),
        "eval_every": Key(200, (int,), "Steps between validation-loss records.", positive=True),
        "val_tokens": Key(16384, (int,), "Held-out tokens per language for the validation loss.", positive=True),
        "tensorboard": Key(True, (bool,), "Write TensorBoard events to <run>/tb."),
        "progress": Key(True, (bool,), "Show a tqdm progress bar with tokens/s and ETA."),
        "max_bad_steps": Key(10, (int,), "Consecutive non-finite steps that stop the run.", positive=True),
    },
    "data": {
        "dir": Key(None, OPT_STR, "Prepared dataset folder (ledger, tokenizer, shards); null = built-in data under data/."),
        "sources": Key({}, (dict,), "Raw corpora to prepare first, {lang: path or [paths]} (files or folders; "
                       "PATH:FORMAT sets that path's format, e.g. childes.train:text); empty = the built-in generator."),
        "track": Key("strict", (str,), "BabyLM track (sets the word budget).", choices=tuple(TRACKS)),
        "format": Key(None, OPT_STR, "Force one input format for every file; null = detect per file.",
                      choices=FORMATS + tuple(FORMAT_ALIASES)),
        "keep_child": Key(True, (bool,), "Keep child (*CHI) utterances from CHAT files."),
        "on_bad_line": Key("error", (str,), "error (stop, exit 2) or skip (drop and count in the ledger).",
                           choices=BAD_LINE_POLICIES),
        "allow_over_budget": Key(False, (bool,), "Prepare data over the track's word budget (recorded in the ledger)."),
        "allow_drops": Key(False, (bool,), "Let on_bad_line=skip drop more than 5% of a file's lines (recorded in "
                           "the ledger; nestling.data.prepare.MAX_DROP_SHARE)."),
        "builtin_root": Key("data", (str,), "Folder where built-in datasets are written once and reused."),
        "builtin_words": Key(2_000_000, (int,), "Words the built-in generator writes, split evenly over builtin_langs."),
        "builtin_langs": Key(["eng", "nld", "zho"], (list,), "Languages of the built-in data."),
        "builtin_pairs": Key(100, (int,), "Minimal pairs per phenomenon in the built-in evaluation set."),
    },
    "tokenizer": {
        "vocab_size": Key(16384, (int,), "Byte-level BPE vocabulary size (special tokens included).", positive=True),
        "balance_languages": Key(False, (bool,), "Train the tokenizer on equal text per language."),
    },
    "mixing": {
        "method": Key("uniform", (str,), "Mixing method (static baselines, or taam: prior + EXP3).",
                      choices=("uniform", "proportional", "temperature", "unimax", "prior", "fixed", "taam")),
        "reward": Key("v2", (str,), "TAAM reward: v1 (normalized_excess_loss) or v2 (cross_lingual_deficit).",
                      choices=tuple(REWARD_ALIASES)),
        "update": Key("full_information", (str,), "EXP3 update: full_information (all languages probed) or bandit.",
                      choices=("full_information", "bandit")),
        "gamma": Key(0.1, NUM, "EXP3 exploration rate."),
        "eta": Key(0.1, NUM, "EXP3 learning rate on rewards."),
        "floor": Key(0.10, NUM, "Least probability of any language: p <- f + (1 - K f) p."),
        "prior_temperature": Key(0.5, NUM, "Softmax temperature of the typological prior."),
        "prior_features": Key(["syntax_knn", "phonology_knn", "inventory_knn"], (list,), "URIEL feature sets."),
        "temperature_tau": Key(3.0, NUM, "Method temperature: q_l proportional to n_l^(1/tau)."),
        "unimax_max_epochs": Key(4, NUM, "Method unimax: most epochs over any language."),
        "probs": Key({}, (dict,), "Method fixed: the probabilities, {lang: p}."),
        "mix_interval": Key(50, (int,), "Steps between probes and EXP3 updates (adaptive methods).", positive=True),
        "probe_tokens": Key(4096, (int,), "Held-out tokens per language in each probe.", positive=True),
    },
    "optimizer": {
        "name": Key("muon_adamw", (str,), "muon_adamw (Muon on hidden matrices, AdamW on the rest) or adamw.",
                    choices=("muon_adamw", "adamw")),
        "muon_lr": Key(5e-3, NUM, "Peak learning rate of the Muon group."),
        "adamw_lr": Key(5e-4, NUM, "Peak learning rate of the AdamW group (all parameters with name adamw)."),
        "weight_decay": Key(0.1, NUM, "Decoupled weight decay of both groups (none on norms and biases)."),
        "betas": Key([0.9, 0.95], (list,), "AdamW betas."),
        "eps": Key(1e-8, NUM, "AdamW epsilon."),
        "muon_momentum": Key(0.95, NUM, "Muon momentum (Nesterov)."),
        "adjust_lr_fn": Key("match_rms_adamw", (str,), "Muon's learning-rate convention (torch.optim.Muon "
                            "adjust_lr_fn): match_rms_adamw scales each matrix's update to an RMS of 0.2 x lr, as "
                            "AdamW's (Moonshot); original scales it by sqrt(max(1, rows/cols)) (Keller Jordan; "
                            "torch's own default). One muon_lr is a 4.5-7.5x larger step under match_rms_adamw at "
                            "width 512, so a recipe that reproduces a published run names the one that run used.",
                            choices=("match_rms_adamw", "original")),
        "muon_ns_dtype": Key("auto", (str,), "Precision of Muon's Newton-Schulz iteration. bfloat16 is torch.optim.Muon's "
                             "own (and the cards', on GPUs); float32 is the same iteration without the rounding, "
                             "and about 13x faster on a CPU without native bfloat16 matrix products, where "
                             "bfloat16 takes about 40% of a demo-size step. auto: bfloat16 on CUDA, float32 "
                             "elsewhere.", choices=("auto", "bfloat16", "float32")),
        "grad_clip": Key(1.0, NUM, "Global gradient-norm clip; 0 disables."),
    },
    "schedule": {
        "name": Key("wsd", (str,), "wsd (warmup-stable-decay, transformers.get_wsd_schedule).", choices=("wsd",)),
        "warmup_fraction": Key(0.01, NUM, "Fraction of steps spent warming up."),
        "decay_fraction": Key(0.14, NUM, "Fraction of steps spent decaying (the rest is stable: 85% with the "
                              "default 1% warmup)."),
        "decay_type": Key("linear", (str,), "Decay shape of the WSD schedule.", choices=("linear", "cosine", "1-sqrt")),
        "min_lr_ratio": Key(0.0, NUM, "Final learning rate as a fraction of the peak."),
    },
    "budget": {
        "epochs": Key(10, NUM, "Planned length in epochs over the prepared train tokens (when max_* are null).",
                      positive=True),
        "max_steps": Key(None, OPT_INT, "Planned length in optimizer steps (overrides epochs).", positive=True),
        "max_tokens": Key(None, OPT_INT, "Planned length in training tokens (overrides epochs).", positive=True),
        "max_epochs": Key(BABYLM_MAX_EPOCHS, NUM, "BabyLM's limit on epochs over the data; exceeding it stops the run.",
                          positive=True),
        "allow_over_epochs": Key(False, (bool,), "Let the run pass max_epochs (recorded in the summary)."),
    },
    "batch": {
        "global_batch": Key(128, (int,), "Sequences per optimizer step, over all devices and accumulation.",
                            positive=True),
        "seq_len": Key(1024, (int,), "Tokens per training sequence.", positive=True),
        "micro_batch": Key("auto", (str, int), "Most sequences per forward pass (the largest divisor of the "
                           "per-process batch up to it); auto = the largest that fits the device's free memory with a 20% margin "
                           "(a probe of 1 and 2 sequences, cached per device and model); gradients accumulate to "
                           "the global batch either way."),
    },
    "checkpoints": {
        "unit": Key("words", (str,), "What the milestones count: words seen (BabyLM's rule) or tokens (token "
                    "exposures, as multilingual runs that publish chck_* by tokens do).", choices=MILESTONE_UNITS),
        "milestone_scale": Key(1.0, NUM, "Multiplies the BabyLM milestones (chck_1M = 1e6 x scale words or tokens).",
                               positive=True),
        "keep_last": Key(2, (int,), "Resumable training states kept."),
        "state_every": Key(200, (int,), "Steps between resumable training states.", positive=True),
    },
    "eval": {
        "data": Key(["builtin"], (list,), "Minimal-pair files or folders; 'builtin' = the built-in pairs."),
        "fast": Key(False, (bool,), "Use the official fast subsets (200 per BLiMP UID, 50 per supplement UID)."),
        "revisions": Key("all", (str, list), "Revisions of a run to evaluate: all, final, or a list of chck_* names."),
        "batch_size": Key(64, (int,), "Sentences per forward pass while scoring."),
        "suite": Key(None, OPT_STR, "Official strict-track suite for `nestling eval RUN` (data from eval.eval_root "
                     "or $NESTLING_EVAL_DATA; replaces eval.data).", choices=STRICT_SUITES),
        "eval_root": Key(None, OPT_STR, "The official evaluation_data folder (fast_eval/, full_eval/) for eval.suite; "
                         "null = $NESTLING_EVAL_DATA."),
    },
    # `nestling finetune` (nestling.evaluation.finetune): defaults are the official strict-track
    # fine-tuning (evaluation_pipeline/finetune/run.py and scripts/eval_finetuning.sh).
    "finetune": {
        "seeds": Key([42], (list,), "Fine-tuning seeds; scores are the mean over seeds."),
        "revisions": Key("final", (str, list), "Revisions of a run to fine-tune: final, all, or chck_* names."),
        "epochs": Key(10, (int,), "Epochs per task (all but WSC).", positive=True),
        "wsc_epochs": Key(30, (int,), "Epochs for WSC.", positive=True),
        "learning_rate": Key(3e-5, NUM, "Peak learning rate (AdamW)."),
        "batch_size": Key(32, (int,), "Training batch size (RTE, WSC, MRPC, QQP, MNLI...).", positive=True),
        "long_batch_size": Key(16, (int,), "Training batch size for the long-input tasks BoolQ and MultiRC.",
                               positive=True),
        "valid_batch_size": Key(64, (int,), "Batch size of the validation passes.", positive=True),
        "sequence_length": Key(512, (int,), "Tokens per input before truncation.", positive=True),
        "gradient_accumulation": Key(1, (int,), "Micro-batches per optimizer step (must divide the batch size).",
                                     positive=True),
        "max_train_examples": Key(None, OPT_INT, "Use only the first N training examples of each task; null = all.",
                                  positive=True),
        "classifier_dropout": Key(0.1, NUM, "Dropout in the classification head."),
        "classifier_layer_norm_eps": Key(1e-5, NUM, "Epsilon of the head's LayerNorms."),
        "weight_decay": Key(0.01, NUM, "AdamW weight decay (every parameter, as the official code)."),
        "warmup_proportion": Key(0.06, NUM, "Fraction of the steps with a linear warm-up."),
        "min_factor": Key(0.1, NUM, "Cosine decay ends at this fraction of the peak learning rate."),
        "beta1": Key(0.9, NUM, "AdamW beta1."),
        "beta2": Key(0.999, NUM, "AdamW beta2."),
        "optimizer_eps": Key(1e-8, NUM, "AdamW epsilon."),
        "pooling": Key("auto", (str,), "Hidden state the head reads: last (real token), first, or auto "
                       "(first for encoders, last otherwise).", choices=("auto", "last", "first")),
        "keep_best_model": Key(True, (bool,), "Report the best validation epoch (false: the last epoch)."),
        "device": Key("auto", (str,), "auto (CUDA when present, else CPU), cpu, cuda or cuda:N."),
        "precision": Key("auto", (str,), "auto (bf16 autocast on CUDA, fp32 on CPU), fp32 or bf16.",
                         choices=PRECISIONS),
        "multilingual": {
            "seeds": Key([12], (list,), "Seeds of the multilingual suite (official script: 12)."),
            "epochs": Key(10, (int,), "Maximum epochs per multilingual task.", positive=True),
            "learning_rate": Key(5e-5, NUM, "Peak learning rate (linear decay, as the official script)."),
            "batch_size": Key(64, (int,), "Training batch size of the multilingual suite.", positive=True),
            "sequence_length": Key(128, (int,), "Tokens per input (padded to this length, as the official script).",
                                   positive=True),
            "patience": Key(3, (int,), "Epochs without improvement before early stopping.", positive=True),
        },
    },
    # `nestling sweep` (nestling.sweep): the grid of recipe variants and the seeds each is trained with.
    "sweep": {
        "grid": Key({}, (dict,), "Recipe keys to vary, {dotted key: [values]}; `nestling sweep` trains the cartesian "
                    "product. A section name takes mappings merged into that section, e.g. mixing: [{method: "
                    "uniform}, {method: taam, reward: v1}]."),
        "seeds": Key(1, (int,), "Seeds per configuration: the recipe's seed, seed + 1, ...", positive=True),
        "parallel": Key(1, (int,), "Runs trained at once, each in its own process (1 = one after another in the "
                        "sweep's process, which also works under torchrun).", positive=True),
    },
}

# The model section: ``arch`` here, every other key a field of the architecture's config class.
MODEL_ARCH = Key("stream_mixer", (str,), "Architecture; the section's other keys go to its config class.",
                 choices=ARCHITECTURES)
# Config fields that come from the data (tokenizer) or from transformers, never from a recipe.
_NOT_RECIPE_KEYS = {"vocab_size", "bos_token_id", "eos_token_id", "pad_token_id", "transformers_version",
                    "architectures", "layer_types", "dtype", "id2label", "label2id", "problem_type",
                    "is_encoder_decoder", "chunk_size_feed_forward", "output_hidden_states", "return_dict",
                    "model_type", "auto_map"}


def choices(dotted: str) -> tuple:
    """The allowed values of a key (for the CLI and the modules that dispatch on it)."""
    return MODEL_ARCH.choices if dotted == "model.arch" else documented_keys()[dotted].choices


def default(dotted: str) -> Any:
    """The default of a key (for the CLI)."""
    return copy.deepcopy(documented_keys()[dotted].default)


# ---------------------------------------------------------------- typed sections


class Section(Mapping):
    """A frozen, typed recipe section; also reads like the mapping it was loaded from."""

    def __getitem__(self, name: str) -> Any:
        if name not in self._names():
            raise KeyError(name)
        return getattr(self, name)

    def __iter__(self):
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())

    def _names(self) -> tuple:
        return tuple(f.name for f in dataclasses.fields(self) if not f.name.startswith("_"))

    def to_dict(self) -> dict:
        """Plain, YAML/JSON-ready nested dicts (a copy)."""
        return {k: v.to_dict() if isinstance(v, Section) else copy.deepcopy(v) for k, v in self.items()}

    def replace(self, **changes) -> "Section":
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True, eq=False)
class ModelSection(Section):
    """``arch`` and the config keys of that architecture (``options``); reads as one flat mapping."""

    arch: str
    options: dict

    def _names(self) -> tuple:
        return ("arch", *self.options)

    def __getitem__(self, name: str) -> Any:
        return self.arch if name == "arch" else self.options[name]

    def to_dict(self) -> dict:
        return {"arch": self.arch, **copy.deepcopy(self.options)}


def _section_class(dotted: str, spec: dict) -> type:
    fields = [(key, Any) for key in spec]
    cls_name = "".join(part.capitalize() for part in dotted.replace(".", "_").split("_")) + "Section"
    return dataclasses.make_dataclass(cls_name, fields, bases=(Section,), frozen=True, eq=False)


def _sections(schema: dict, prefix: str = "") -> dict[str, type]:
    """A section class per (possibly nested) schema section, by dotted name (finetune.multilingual)."""
    out = {}
    for name, spec in schema.items():
        if isinstance(spec, dict):
            out[prefix + name] = _section_class(prefix + name, spec)
            out.update(_sections(spec, f"{prefix}{name}."))
    return out


SECTIONS: dict[str, type] = _sections(SCHEMA)
SECTIONS["model"] = ModelSection
# Top-level order of a recipe (and of a dumped recipe.yaml): the model section follows the tokenizer.
ORDER = tuple(name for key in SCHEMA for name in ((key, "model") if key == "tokenizer" else (key,)))
Recipe = dataclasses.make_dataclass(
    "Recipe", [(name, Any) for name in ORDER] + [("_source", str, dataclasses.field(default="<dict>"))],
    bases=(Section,), frozen=True, eq=False,
)
Recipe.__doc__ = "A loaded recipe: top-level keys and one typed section per schema section (see SCHEMA)."
# Generated classes live in this module under their names, so they pickle (torch.save, multiprocessing).
for _cls in (Recipe, *SECTIONS.values()):
    _cls.__module__ = __name__
    globals()[_cls.__name__] = _cls
Recipe.source = property(lambda self: self._source, doc="Where the recipe was read from.")


def _typed(tree: dict, source: str = "<dict>") -> Recipe:
    values = {name: _build_section(name, tree[name]) if name in SECTIONS else tree[name] for name in ORDER}
    return Recipe(**values, _source=source)


def _build_section(name: str, values: dict) -> Section:
    if name == "model":
        options = {k: copy.deepcopy(v) for k, v in values.items() if k != "arch"}
        return ModelSection(arch=values["arch"], options=options)
    return SECTIONS[name](**{k: _build_section(f"{name}.{k}", v) if f"{name}.{k}" in SECTIONS else copy.deepcopy(v)
                             for k, v in values.items()})


def section(name: str, /, **values) -> Section:
    """One typed section with defaults filled and values checked: ``section("mixing", method="taam")``.

    For code and tests that need one section without a whole recipe.
    """
    return load_recipe({name: values})[name]


# ---------------------------------------------------------------- reading


def documented_keys(schema: dict | None = None, prefix: str = "") -> dict[str, Key]:
    """Every recipe key as a dotted name, with its definition (``model.arch`` included)."""
    out = {}
    for name, value in (schema or SCHEMA).items():
        dotted = f"{prefix}{name}"
        if isinstance(value, dict):
            out.update(documented_keys(value, dotted + "."))
        else:
            out[dotted] = value
        if schema is None and name == "tokenizer":
            out["model.arch"] = MODEL_ARCH
    return out


def defaults(schema: dict | None = None) -> dict:
    """A recipe tree (plain dicts) with every default filled."""
    if schema is None:
        return {name: {"arch": MODEL_ARCH.default} if name == "model" else defaults({name: SCHEMA[name]})[name]
                for name in ORDER}
    return {name: defaults(value) if isinstance(value, dict) else copy.deepcopy(value.default)
            for name, value in schema.items()}


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
            _check_value(dotted, spec, value)
            base[name] = copy.deepcopy(value)


def _check_value(dotted: str, spec: Key, value: Any) -> None:
    if value is None and type(None) in spec.types:
        return
    # bool is an int in Python; a True where a number is expected is a typo, not a number
    if (isinstance(value, bool) and bool not in spec.types) or not isinstance(value, spec.types):
        raise UserError(f"recipe key {dotted!r} expects {_type_names(spec)}, got {value!r}")
    if spec.choices is not None and value not in spec.choices:
        raise UserError(f"recipe key {dotted!r} is {value!r}; expected one of {', '.join(spec.choices)}")
    if spec.positive and not (math.isfinite(value) and value > 0):
        if float in spec.types:
            raise UserError(f"recipe key {dotted!r} must be a finite number above 0, got {value!r}")
        extra = " or null" if type(None) in spec.types else ""
        raise UserError(f"recipe key {dotted!r} must be a positive integer{extra}, got {value!r}")


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
        value = load_yaml(raw, f"--set {text[:80]}") if raw.strip() else ""
    except AliasRefused:
        raise
    except UserError:
        value = raw  # not YAML: the plain string (a type check names it if the key wants something else)
    value = _number_or_same(value)
    nested: Any = value
    for part in reversed(dotted.strip().split(".")):
        nested = {part: nested}
    return nested


def _read_yaml(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise UserError(f"{path}: not a text file (invalid UTF-8 at byte {err.start})") from None
    raw = load_yaml(text, str(path)) or {}
    if not isinstance(raw, dict):
        raise UserError(f"{path}: a recipe must be a mapping of sections")
    return _without_bookkeeping(raw)


def _without_bookkeeping(raw: dict) -> dict:
    """Top-level keys starting with "_" (``_source`` in older run folders) are bookkeeping, not recipe."""
    return {k: copy.deepcopy(v) for k, v in raw.items() if not str(k).startswith("_")}


def _read_layers(path: Path, seen: tuple) -> list[dict]:
    """A recipe file as layers, oldest first: its ``base:`` recipe's layers, then its own keys."""
    raw = _read_yaml(path)
    base = raw.pop("base", None)
    if base is None:
        return [raw]
    if not isinstance(base, str) or not base.strip():
        raise UserError(f"{path}: 'base' must name a recipe (a shipped name or a path), got {str(base)[:80]}")
    sibling = path.parent / f"{base}.yaml"
    base_path = sibling if sibling.is_file() else resolve_recipe_path(base)
    if base_path.resolve() in seen:
        raise UserError(f"{path}: recipe bases form a cycle through {base_path}")
    return _read_layers(base_path, seen + (base_path.resolve(),)) + [raw]


def load_recipe(path_or_name: str | Path | Mapping, overrides: list[str] | None = None) -> Recipe:
    """Read a recipe (file, shipped name, mapping or loaded Recipe), fill defaults, apply overrides, validate.

    Returns a frozen, typed ``Recipe``; the model's config is built once here, so a bad ``model.*``
    key or value is a UserError before any data work.
    """
    if isinstance(path_or_name, Section):
        source, layers = getattr(path_or_name, "source", "<dict>"), [path_or_name.to_dict()]
    elif isinstance(path_or_name, Mapping):
        source, layers = str(path_or_name.get("_source", "<dict>")), [_without_bookkeeping(dict(path_or_name))]
    else:
        path = resolve_recipe_path(path_or_name)
        source, layers = str(path), _read_layers(path, seen=())
    tree = defaults()
    for layer in layers + [parse_override(o) for o in overrides or []]:
        layer = dict(layer)
        layer.pop("base", None)
        model_update = layer.pop("model", None)
        _merge(tree, layer, SCHEMA, "")
        if model_update is not None:
            tree["model"] = _merge_model(tree["model"], model_update)
    validate(tree)
    return _typed(tree, source)


def _merge_model(current: dict, update: Any) -> dict:
    """The model section after one layer: inherited keys foreign to a newly chosen arch are dropped."""
    if not isinstance(update, dict):
        raise UserError("recipe key 'model' must be a mapping")
    arch = update.get("arch", current["arch"])
    _check_value("model.arch", MODEL_ARCH, arch)
    known = model_keys(arch)
    unknown = sorted(k for k in update if k != "arch" and k not in known)
    if unknown:
        close = difflib.get_close_matches(unknown[0], sorted(known), n=1)
        hint = f"did you mean model.{close[0]}?" if close else f"known: {', '.join(sorted(known))}"
        raise UserError(f"unknown recipe key 'model.{unknown[0]}' for model.arch={arch} ({hint})")
    inherited = {k: v for k, v in current.items() if k == "arch" or k in known}
    return {**inherited, **copy.deepcopy(update), "arch": arch}


def _config_class(arch: str):
    if arch == "stream_mixer":
        from nestling.models.stream_mixer import StreamMixerConfig

        return StreamMixerConfig
    from transformers import LlamaConfig

    return LlamaConfig


@functools.lru_cache(maxsize=None)
def model_keys(arch: str) -> frozenset[str]:
    """The recipe keys the architecture's config class takes, less the data-given ones: its keyword
    arguments, its dataclass fields (transformers 5) and every attribute a default config records
    (the common ones its base class takes, e.g. tie_word_embeddings)."""
    import inspect

    cls = _config_class(arch)
    names = set(inspect.signature(cls.__init__).parameters) - {"self", "kwargs"}
    names |= {k for k in cls().to_dict() if not k.startswith("_")}
    if dataclasses.is_dataclass(cls):
        names |= {f.name for f in dataclasses.fields(cls)}
    if "rope_parameters" in names:
        # transformers 5 still takes the classic RoPE keywords and folds them into rope_parameters
        names |= {"rope_theta", "rope_scaling"}
    return frozenset(names - _NOT_RECIPE_KEYS)


def model_config(model: Mapping, vocab_size: int):
    """The architecture's config object for a model section (what ``build_model`` will build)."""
    options = {k: v for k, v in model.items() if k != "arch"}
    try:
        return _config_class(model["arch"])(vocab_size=vocab_size, **options)
    except Exception as err:  # config classes raise ValueError, TypeError or their own strict-field errors
        raise UserError(f"recipe section 'model' (arch {model['arch']}): {str(err).splitlines()[0]}") from None


def validate(tree: dict) -> None:
    """Checks across keys (each key's own type, choices and sign are checked as it is read)."""
    if tree["run"]["compile"] not in ("auto", True, False):
        raise UserError(f"recipe key 'run.compile' is {tree['run']['compile']!r}; expected auto, true or false")
    micro = tree["batch"]["micro_batch"]
    if micro != "auto" and (isinstance(micro, bool) or not isinstance(micro, int) or micro < 1):
        raise UserError(f"recipe key 'batch.micro_batch' must be auto or a positive integer, got {micro!r}")
    budget = tree["budget"]
    if budget["max_epochs"] > BABYLM_MAX_EPOCHS and not budget["allow_over_epochs"]:
        raise UserError(f"budget.max_epochs={budget['max_epochs']} passes BabyLM's {BABYLM_MAX_EPOCHS}-epoch limit; "
                        "set budget.allow_over_epochs=true to train past it (recorded in summary.json)")
    if tree["schedule"]["warmup_fraction"] + tree["schedule"]["decay_fraction"] > 1:
        raise UserError("schedule.warmup_fraction + schedule.decay_fraction must not exceed 1")
    model_config(tree["model"], tree["tokenizer"]["vocab_size"])
    check_grid(tree["sweep"]["grid"])
    check_sources(tree["data"]["sources"])


def check_sources(sources: Mapping) -> None:
    """data.sources is {language code: path or [paths]}, every path a non-empty string (``PATH:FORMAT`` allowed)."""
    for lang, paths in sources.items():
        if not isinstance(lang, str) or not lang.strip():
            raise UserError(f"data.sources: {lang!r} is not a language code (e.g. eng)")
        listed = paths if isinstance(paths, list) else [paths]
        if not listed or any(not isinstance(path, str) or not path.strip() for path in listed):
            raise UserError(f"data.sources.{lang}: expected a path or a list of paths (non-empty strings), "
                            f"got {str(paths)[:100]}")


# A sweep varies the seed through sweep.seeds, and its own settings are not part of a configuration.
_NOT_GRID_KEYS = ("seed", "base", "sweep")


def check_grid(grid: Mapping, where: str = "sweep.grid") -> None:
    """Every key of a sweep grid names a recipe key or section, every value is a non-empty list."""
    for key, values in grid.items():
        if str(key).split(".")[0] in _NOT_GRID_KEYS:
            raise UserError(f"{where}: {key!r} cannot be varied by a grid (seeds come from sweep.seeds / --seeds)")
        if not is_recipe_key(str(key)):
            close = difflib.get_close_matches(str(key), sorted(documented_keys()), n=1)
            hint = f"; did you mean {close[0]}?" if close else " (see docs/recipes.md)"
            raise UserError(f"{where}: unknown recipe key {key!r}{hint}")
        if not isinstance(values, list) or not values:
            raise UserError(f"{where}: {key!r} needs a non-empty list of values, got {values!r}")


def is_recipe_key(dotted: str) -> bool:
    """A documented key, a section (finetune.multilingual too), or a field of some architecture's config."""
    if dotted in documented_keys() or dotted in SECTIONS:
        return True
    section, _, name = dotted.partition(".")
    return section == "model" and any(name in model_keys(arch) for arch in ARCHITECTURES)


def get(recipe: Mapping, dotted: str) -> Any:
    value: Any = recipe
    for part in dotted.split("."):
        value = value[part]
    return value


def with_value(recipe: Recipe, dotted: str, value: Any) -> Recipe:
    """A copy of a loaded recipe with one key changed (and checked), e.g. ``data.dir`` once prepared."""
    tree = recipe.to_dict()
    parent = tree
    *path, last = dotted.split(".")
    for part in path:
        parent = parent[part]
    parent[last] = value
    return load_recipe({**tree, "_source": recipe.source})


def dump_recipe(recipe: Mapping) -> str:
    """The resolved recipe as YAML, keys in schema order (loads again with ``load_recipe``)."""
    tree = recipe.to_dict() if isinstance(recipe, Section) else _without_bookkeeping(dict(recipe))
    return yaml.safe_dump(tree, sort_keys=False, allow_unicode=True)


def reference_markdown() -> str:
    """docs/recipes.md: every key with its type, default, allowed values and meaning (a test keeps it current)."""
    lines = ["# Recipe keys", "", "Generated from `nestling/recipe.py` by `python -m nestling.recipe`; "
             "override any key with `--set KEY=VALUE`. The `model` section also takes every field of the "
             "chosen architecture's config class (`StreamMixerConfig` or `transformers.LlamaConfig`); "
             "a layer that changes `model.arch` drops the inherited keys the new architecture does not know.", "",
             "| key | type | default | allowed | meaning |", "|---|---|---|---|---|"]
    for dotted, key in documented_keys().items():
        allowed = ", ".join(f"`{c}`" for c in key.choices) if key.choices else ("> 0" if key.positive else "")
        lines.append(f"| `{dotted}` | {_type_names(key)} | `{json.dumps(key.default)}` | {allowed} | {key.doc} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(reference_markdown(), end="")
