"""Writing checkpoints: complete model folders per milestone, and atomic resumable training state.

Both are written into a temporary sibling folder and renamed into place, so a reader (or a resumed
run after SIGKILL) only ever sees complete folders.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path

import torch

from nestling.files import publish_folder
from nestling.run_folder import write_checkpoint_info

STATE_DIR = "state"
STATE_FILE = "state.pt"


def _publish(tmp: Path, final: Path) -> None:
    """Flush, give the files the umask's modes (save_pretrained leaves 0600 safetensors), rename into place."""
    publish_folder(tmp, final)


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
    tmp = folder.with_name(f".tmp-{folder.name}")
    shutil.rmtree(tmp, ignore_errors=True)
    # Master weights stay fp32 (autocast computes in bf16 but never casts the parameters), so F32 on disk.
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
    tmp = folder.with_name(f".tmp-{folder.name}")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp)
    write_checkpoint_info(tmp, info)
    _publish(tmp, folder)
    return folder


def state_folder(run_dir: Path, step: int) -> Path:
    return run_dir / STATE_DIR / f"step_{step:08d}"


def save_state(run_dir: Path, step: int, state: dict, keep_last: int) -> Path:
    """Write ``state`` (torch-serialisable) as state/step_XXXXXXXX/state.pt atomically; keep the last N."""
    folder = state_folder(run_dir, step)
    tmp = folder.with_name(f".tmp-{folder.name}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    torch.save(state, tmp / STATE_FILE)
    (tmp / "meta.json").write_text(json.dumps({"step": step}) + "\n")
    _publish(tmp, folder)
    for old in list_states(run_dir)[:-keep_last] if keep_last > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return folder


def list_states(run_dir: Path) -> list[Path]:
    """Complete state folders, oldest first (temporary folders are ignored)."""
    root = Path(run_dir) / STATE_DIR
    if not root.is_dir():
        return []
    return sorted(p for p in root.glob("step_*") if (p / STATE_FILE).is_file() and (p / "meta.json").is_file())


def load_latest_state(run_dir: Path) -> dict | None:
    """The newest complete training state of ``run_dir``, or None."""
    states = list_states(run_dir)
    if not states:
        return None
    return torch.load(states[-1] / STATE_FILE, map_location="cpu", weights_only=False)
