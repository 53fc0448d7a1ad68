"""Writing checkpoints: complete model folders per milestone, and atomic resumable training state.

Both are written into a temporary sibling folder and renamed into place, so a reader (or a resumed
run after SIGKILL) only ever sees complete folders.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
from pathlib import Path

import torch
from safetensors import SafetensorError

from nestling.errors import UserError
from nestling.files import publish_folder, temporary_sibling
from nestling.run_folder import write_checkpoint_info
from nestling.training.safe_state import DamagedState, read_state, write_state

STATE_DIR = "state"
META_FILE = "meta.json"


def _publish(tmp: Path, final: Path) -> None:
    """Flush, give the files the umask's modes (save_pretrained leaves 0600 safetensors), rename into place."""
    publish_folder(tmp, final)


@contextlib.contextmanager
def _writing(tmp: Path, final: Path):
    """A failed write (disk full, permissions) removes its temporary folder; the last good copy stays."""
    try:
        yield
    except (OSError, SafetensorError) as err:  # safetensors reports a full disk as SafetensorError
        shutil.rmtree(tmp, ignore_errors=True)
        reason = getattr(err, "strerror", None) or str(err).splitlines()[0]
        raise UserError(f"{final}: cannot write ({reason}); the previous complete copy, if any, is kept") from None


def assert_finite(model: torch.nn.Module) -> None:
    """Refuse to save non-finite weights: a checkpoint must always be a usable model."""
    bad = [n for n, p in model.named_parameters() if not torch.isfinite(p).all()]
    if bad:
        raise RuntimeError(f"refusing to write a checkpoint: non-finite weights in {', '.join(bad[:5])}")


@contextlib.contextmanager
def _quiet_transformers():
    """No "Writing model shards" bar inside the trainer's own progress bar."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def save_model_folder(model, tokenizer_dir: Path, folder: Path, info: dict) -> Path:
    """A complete transformers model folder: safetensors F32, config (+ code), tokenizer, checkpoint.json.

    ``info`` is {"name", "words_seen", "tokens_seen", "step"}.
    """
    assert_finite(model)
    tmp = temporary_sibling(folder)
    shutil.rmtree(tmp, ignore_errors=True)
    # Master weights stay fp32 (autocast computes in bf16 but never casts the parameters), so F32 on disk.
    with _writing(tmp, folder):
        with _quiet_transformers():
            model.save_pretrained(tmp)
        for path in Path(tokenizer_dir).iterdir():
            if path.is_file():
                shutil.copy2(path, tmp / path.name)
        write_checkpoint_info(tmp, info)
        _publish(tmp, folder)
    return folder


def copy_model_folder(src: Path, folder: Path, info: dict) -> Path:
    """A second milestone crossed in the same step: same weights, its own checkpoint.json."""
    tmp = temporary_sibling(folder)
    shutil.rmtree(tmp, ignore_errors=True)
    with _writing(tmp, folder):
        shutil.copytree(src, tmp)
        write_checkpoint_info(tmp, info)
        _publish(tmp, folder)
    return folder


def state_folder(run_dir: Path, step: int) -> Path:
    return run_dir / STATE_DIR / f"step_{step:08d}"


def save_state(run_dir: Path, step: int, state: dict, keep_last: int) -> Path:
    """Write ``state`` as state/step_XXXXXXXX/ (JSON + safetensors, no pickle) atomically; keep the last N."""
    folder = state_folder(run_dir, step)
    tmp = temporary_sibling(folder)
    shutil.rmtree(tmp, ignore_errors=True)
    with _writing(tmp, folder):
        tmp.mkdir(parents=True)
        write_state(tmp, state)
        (tmp / META_FILE).write_text(json.dumps({"step": step}) + "\n")
        _publish(tmp, folder)
    for old in list_states(run_dir)[:-keep_last] if keep_last > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return folder


def list_states(run_dir: Path) -> list[Path]:
    """Published state folders, oldest first (temporary folders are ignored)."""
    root = Path(run_dir) / STATE_DIR
    if not root.is_dir():
        return []
    return sorted(p for p in root.glob("step_*") if (p / META_FILE).is_file())


def load_latest_state(run_dir: Path) -> dict | None:
    """The newest readable training state of ``run_dir``, or None when it has none.

    A damaged newest state (truncated by a kill or a full disk) falls back to the one before, saying
    so on stderr. A state nestling did not write (a pickle) is refused, never loaded.
    """
    states = list_states(run_dir)
    damaged = []
    for folder in reversed(states):
        try:
            state = read_state(folder)
        except DamagedState as err:
            damaged.append(str(err))
            continue
        for why in damaged:
            sys.stderr.write(f"nestling: skipping a damaged training state: {why}; resuming from {folder}\n")
        return state
    if damaged:
        raise UserError(f"{run_dir}: no readable training state ({damaged[0]})")
    return None
