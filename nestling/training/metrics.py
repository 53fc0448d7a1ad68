"""Run metrics: metrics.jsonl (one JSON object per line), TensorBoard scalars, a tqdm progress bar.

Only rank 0 makes a MetricsLog that writes; the others get a silent one, so the loop never asks.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from tqdm.auto import tqdm


def truncate_after(path: Path, step: int) -> None:
    """Drop records past ``step`` (written after the state we resume from; they will be written again)."""
    if not path.is_file():
        return
    kept = [line for line in path.read_text().splitlines() if _record_step(line) <= step]
    path.write_text("".join(line + "\n" for line in kept))


def _record_step(line: str) -> float:
    """A record's step; a blank or partial line (a kill mid-write) counts as past every step, so it goes."""
    try:
        return json.loads(line).get("step", 0) if line.strip() else math.inf
    except (json.JSONDecodeError, AttributeError):
        return math.inf


def _finite_or_none(value):
    """NaN/inf become null, so every line is strict JSON (a skipped step has no loss)."""
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _scalars(record: dict, prefix: str = ""):
    """(tag, value) pairs of the numbers in ``record``, nested dicts as "a/b"."""
    for key, value in record.items():
        if key in ("kind", "step"):
            continue
        if isinstance(value, dict):
            yield from _scalars(value, f"{prefix}{key}/")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            yield f"{prefix}{key}", value


class MetricsLog:
    """Appends records to metrics.jsonl, mirrors numbers to TensorBoard, drives the progress bar."""

    def __init__(self, run_dir: Path | None, total_steps: int, start_step: int, tensorboard: bool, progress: bool):
        self.file = None
        self.tb = None
        if run_dir is not None:
            self.file = open(run_dir / "metrics.jsonl", "a", encoding="utf-8")
            if tensorboard:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(run_dir / "tb"), purge_step=start_step + 1 if start_step else None)
        self.bar = tqdm(total=total_steps, initial=start_step, disable=run_dir is None or not progress,
                        unit="step", dynamic_ncols=True)

    def log(self, record: dict) -> None:
        if self.file is None:
            return
        self.file.write(json.dumps(_finite_or_none(record)) + "\n")
        self.file.flush()
        if self.tb is not None:
            for tag, value in _scalars(record):
                self.tb.add_scalar(f"{record['kind']}/{tag}", value, record["step"])
        if record["kind"] == "train" and record["loss"] is not None and math.isfinite(record["loss"]):
            self.bar.set_postfix(loss=f"{record['loss']:.3f}", tok_s=f"{record['tokens_per_s']:.0f}", refresh=False)

    def advance(self, steps: int = 1) -> None:
        self.bar.update(steps)

    def close(self) -> None:
        self.bar.close()
        if self.tb is not None:
            self.tb.close()
        if self.file is not None:
            self.file.close()
