"""Evaluate one causal LM folder (or one revision of a run) on minimal-pair tasks."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError

from nestling.errors import UserError
from nestling.evaluation.aggregate import aggregate
from nestling.evaluation.fast import fast_subset, per_uid_for
from nestling.evaluation.results import SCHEMA_VERSION, SCORING_RULE
from nestling.evaluation.scoring import resolve_device, score_texts, settle_near_ties
from nestling.evaluation.tasks import Task, load_tasks
from nestling.evaluation.tokenizer_match import check_tokenizer
from nestling.evaluation.trust import HINT, allow_remote_code
from nestling.run_folder import CHECKPOINTS, read_words_seen  # noqa: F401 (read_words_seen re-exported)


def resolve_revision(model_dir: str | Path, revision: str | None) -> Path | str:
    """Where a revision lives: RUN/checkpoints/REV, RUN/REV (e.g. final), or the folder itself.

    A model_dir that is not a local folder is returned unchanged (a hub id: the revision is then
    passed to from_pretrained as a branch name).
    """
    root = Path(model_dir)
    if not root.is_dir():
        if root.exists() or str(model_dir).startswith((".", "/")):
            raise UserError(f"{model_dir}: not a model folder")
        return str(model_dir)
    if revision is None:
        return root
    for candidate in (root / CHECKPOINTS / revision, root / revision):
        if (candidate / "config.json").is_file():
            return candidate
    raise UserError(f"{model_dir}: revision {revision!r} not found (looked in checkpoints/{revision} and {revision})")


def load_model(location: Path | str, *, revision: str | None = None, device: str = "auto",
               dtype: torch.dtype = torch.float32, trust_remote_code: bool = False,
               allow_tokenizer_mismatch: bool = False):
    """AutoModelForCausalLM + AutoTokenizer, on ``device``, in eval mode.

    The folder's own code runs only with ``trust_remote_code`` or when it is nestling's shipped code
    (see nestling.evaluation.trust); a damaged or unsafe folder is a UserError, never a traceback, and so is
    a tokenizer that does not match the model (nestling.evaluation.tokenizer_match) unless allowed.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    hub = {"revision": revision} if isinstance(location, str) and revision else {}
    if isinstance(location, Path) and not (location / "config.json").is_file():
        raise UserError(f"{location}: no config.json (not a transformers model folder)")
    remote = allow_remote_code(location, trust_remote_code)
    try:
        tokenizer = AutoTokenizer.from_pretrained(location, trust_remote_code=remote, **hub)
        model = AutoModelForCausalLM.from_pretrained(location, trust_remote_code=remote, dtype=dtype, **hub)
    except LOAD_ERRORS as err:
        raise UserError(f"{location}: cannot load model/tokenizer ({_load_reason(err)})") from None
    check_tokenizer(location, model.config.to_dict(), tokenizer, allow_tokenizer_mismatch)
    return model.to(resolve_device(device)).eval(), tokenizer


try:  # huggingface_hub >= 0.35: strict config dataclasses (transformers 5) raise this for a wrong type
    from huggingface_hub.errors import StrictDataclassError
except ImportError:  # older hub (transformers 4.x): wrong types surface as TypeError/ValueError
    StrictDataclassError = ValueError

# What a broken, foreign or unsafe model folder raises inside transformers / torch / safetensors.
LOAD_ERRORS = (OSError, ValueError, TypeError, KeyError, RuntimeError, pickle.UnpicklingError, SafetensorError,
               StrictDataclassError)


def _load_reason(err: Exception) -> str:
    text = (str(err).strip().splitlines() or [type(err).__name__])[0]
    if isinstance(err, pickle.UnpicklingError) or "weights_only" in str(err):
        return "a pickled weights file that torch refuses to load safely; use a model.safetensors folder"
    if "trust_remote_code" in str(err):
        return f"the model needs its own code; {HINT}"
    return text[:300]


def check_batch(batch_size: int, max_tokens: int) -> None:
    """Scoring needs at least one string and one token per forward pass."""
    for name, value in (("batch size", batch_size), ("max tokens", max_tokens)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise UserError(f"{name} must be a positive integer, got {value!r}")


def prepare_tasks(data_paths: list[Path], *, task_format: str = "auto", group_by: str | None = None,
                  fast: bool = False) -> list[Task]:
    """Load every data path as a task; in fast mode keep the deterministic subsets."""
    tasks = load_tasks([Path(p) for p in data_paths], task_format, group_by)
    if fast:
        for task in tasks:
            task.items = fast_subset(task.items, per_uid_for(task.format))
    return tasks


def score_items(model, tokenizer, tasks: list[Task], *, near_ties: dict | None = None,
                **score_kwargs) -> list[list[np.ndarray]]:
    """Every item's candidate scores, per task; all tasks in one sorted, deduplicated pass.

    Items whose best two candidates lie within ``scoring.NEAR_TIE_NATS`` are rescored as the
    official code scores them (``scoring.settle_near_ties``); ``near_ties``, when given, receives
    {task name: how many items took that path}.
    """
    requests, spans, groups = [], [], []
    for task in tasks:
        start = len(requests)
        for item in task.items:
            groups.append(list(range(len(requests), len(requests) + len(item.candidates))))
            requests.extend(item.candidates)
        spans.append((start, len(requests)))
    scores = score_texts(model, tokenizer, requests, groups=groups, **score_kwargs)
    settled = settle_near_ties(model, tokenizer, requests, scores, groups)
    out, first_item = [], 0
    for task, (start, end) in zip(tasks, spans):
        flat, per_item, pos = scores[start:end], [], 0
        for item in task.items:
            per_item.append(flat[pos: pos + len(item.candidates)])
            pos += len(item.candidates)
        out.append(per_item)
        if near_ties is not None:
            near_ties[task.name] = sum(first_item <= n < first_item + len(task.items) for n in settled)
        first_item += len(task.items)
    return out


def score_tasks(model, tokenizer, tasks: list[Task], *, seed: int = 0, **score_kwargs) -> dict:
    """Score all tasks' candidates in one sorted, deduplicated pass and aggregate each task."""
    near_ties: dict[str, int] = {}
    per_task = score_items(model, tokenizer, tasks, near_ties=near_ties, **score_kwargs)
    return {task.name: {"format": task.format, "files": [str(f) for f in task.files],
                        **aggregate(task.items, per_item, seed), "near_ties_rescored": near_ties[task.name]}
            for task, per_item in zip(tasks, per_task)}


def evaluate_loaded(model, tokenizer, tasks: list[Task], *, model_name: str, revision: str | None,
                    words_seen: int | None, fast: bool, seed: int, **score_kwargs) -> dict:
    """One-model result dict (schema in nestling.evaluation.results) for an already loaded model."""
    return {
        "schema_version": SCHEMA_VERSION,
        "model": model_name,
        "revision": revision,
        "words_seen": words_seen,
        "headline": "macro_acc",
        "headline_tie_rule": "random",
        "seed": seed,
        "fast": fast,
        "scoring": SCORING_RULE,
        "tasks": score_tasks(model, tokenizer, tasks, seed=seed, **score_kwargs),
    }


def evaluate_model(model_dir: str | Path, data_paths: list[Path], *, task_format: str = "auto",
                   group_by: str | None = None, fast: bool = False, batch_size: int = 64,
                   max_tokens: int = 16384, device: str = "auto", precision: str = "fp32",
                   seed: int = 0, revision: str | None = None, progress: bool = True,
                   trust_remote_code: bool = False, allow_tokenizer_mismatch: bool = False) -> dict:
    """Zero-shot minimal-pair evaluation of one causal LM, scored as the official BabyLM pipeline.

    model_dir: a transformers model folder, a run folder with ``revision``
    (``checkpoints/<revision>/`` or ``<revision>/``), or a hub id (``revision`` = branch).
    data_paths: jsonl files or folders of jsonl files, one task each (format auto-detected unless
    ``task_format`` is given; ``group_by`` names the UID key of generic sentence_good/bad files).
    fast: deterministic subsets (200 items per UID, 50 per supplement UID).
    batch_size / max_tokens: strings and padded tokens per forward pass. precision: "fp32" or
    "bf16" (CUDA autocast). seed: tie-break seed. Returns the result dict (nothing is written).
    """
    check_batch(batch_size, max_tokens)
    tasks = prepare_tasks(data_paths, task_format=task_format, group_by=group_by, fast=fast)
    location = resolve_revision(model_dir, revision)
    model, tokenizer = load_model(location, revision=revision, device=device, trust_remote_code=trust_remote_code,
                                  allow_tokenizer_mismatch=allow_tokenizer_mismatch)
    return evaluate_loaded(model, tokenizer, tasks, model_name=str(model_dir), revision=revision,
                           words_seen=read_words_seen(location), fast=fast, seed=seed,
                           batch_size=batch_size, max_tokens=max_tokens, precision=precision,
                           progress=progress)


def sentence_logprobs(model, tokenizer, sentences: list[str], **score_kwargs) -> np.ndarray:
    """Summed log-prob of each full sentence (the BLiMP score), float64 [N]."""
    return score_texts(model, tokenizer, [("", s) for s in sentences], **score_kwargs)
