"""Run metrics: metrics.jsonl (one JSON object per line), TensorBoard scalars, a tqdm progress bar,
the "train" record over a window of steps, and summary.json.

Only rank 0 makes a MetricsLog that writes; the others get a silent one, so the loop never asks.
"""

from __future__ import annotations

import json
import math
import platform
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from tqdm.auto import tqdm

from nestling.errors import UserError
from nestling.run_folder import METRICS, write_summary
from nestling.training.distributed import Dist, all_reduce_sum

if TYPE_CHECKING:
    from nestling.training.state import TrainState


def truncate_after(path: Path, step: int) -> None:
    """Drop records past ``step`` (written after the state we resume from; they will be written again)."""
    if not path.is_file():
        return
    lines = path.read_text().splitlines()
    kept = [line for n, line in enumerate(lines, 1) if _record_step(line, path, n) <= step]
    path.write_text("".join(line + "\n" for line in kept))


def _record_step(line: str, path: Path, lineno: int) -> float:
    """A record's step; a blank or partial line (a kill mid-write) counts as past every step, so it goes.

    A whole record whose step is not a number was not written by nestling: refused, not guessed at.
    """
    try:
        record = json.loads(line) if line.strip() else None
    except json.JSONDecodeError:
        return math.inf
    if not isinstance(record, dict):
        return math.inf
    value = record.get("step", 0)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise UserError(f"{path}:{lineno}: 'step' must be a number, got {json.dumps(value)[:60]}; "
                        "this line was not written by nestling: fix or delete it, then resume again")
    return value


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
            self.file = open(run_dir / METRICS, "a", encoding="utf-8")
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


class LogWindow:
    """Sums since the last train record: loss, per-language loss, tokens, step time."""

    def __init__(self, n_langs: int, device: torch.device, tokens: int):
        self.n_langs, self.device, self.tokens0 = n_langs, device, tokens
        self.reset()

    def reset(self) -> None:
        self.losses: list[float] = []
        self.lang_sums = torch.zeros(self.n_langs, 2, device=self.device)
        self.seconds = 0.0

    def add_step(self, loss: float, lang_sums: torch.Tensor) -> None:
        self.losses.append(loss)
        self.lang_sums += lang_sums

    def add_time(self, seconds: float) -> None:
        self.seconds += seconds

    def record(self, s: "TrainState", grad_norm: float) -> dict:
        """The "train" record over the steps since the last one (mean loss of the finite steps)."""
        c, mixer = s.counter, s.mixer
        sums = all_reduce_sum(self.lang_sums.clone(), s.dist).tolist()
        lang_loss = {lang: total / n for lang, (total, n) in zip(mixer.langs, sums) if n > 0}
        rec = {
            "kind": "train", "step": s.loop.step,
            "loss": float(np.mean(self.losses)) if self.losses else float("nan"),
            "lang_loss": lang_loss, "lr": s.optimizer.lrs(), "grad_norm": grad_norm,
            "tokens": c.tokens, "words": c.words,
            "tokens_per_s": (c.tokens - self.tokens0) / max(self.seconds, 1e-9),
            "epochs": c.epochs(), "pi": mixer.probabilities(), "wall_s": s.loop.wall_s,
        }
        self.tokens0 = c.tokens
        self.reset()
        return rec


def write_run_summary(s: "TrainState", finished: bool, final_val: float | None, checkpoints: list[str]) -> None:
    """summary.json (rank 0): what was trained, on what, for how long, and how it ended."""
    if not s.dist.is_main:
        return
    recipe, c, loop, plan = s.recipe, s.counter, s.loop, s.data.batch
    summary = {
        "name": recipe.name, "method": recipe.method, "seed": recipe.seed,
        "arch": recipe.model.arch, "params": sum(p.numel() for p in s.model.parameters()),
        "steps": loop.step, "total_steps": s.data.total_steps, "tokens_seen": c.tokens, "words_seen": c.words,
        "epochs": c.epochs(), "wall_clock_s": loop.wall_s,
        "final_val_loss": final_val,
        "final_val_ppl": math.exp(final_val) if final_val is not None and final_val < 50 else None,
        "device": str(s.dist.device), "world_size": s.dist.world_size, "hardware": hardware(s.dist),
        "optimizer": {**recipe.optimizer.to_dict(), "params_per_optimizer": s.optimizer.describe(),
                      "newton_schulz_dtype": s.optimizer.newton_schulz_dtype()},
        "schedule": {**recipe.schedule.to_dict(), "total_steps": s.data.total_steps, **s.schedule.phases},
        "batch": {**asdict(plan), "tokens_per_step": plan.tokens_per_step},
        "checkpoints": checkpoints, "skipped_steps": loop.skipped, "over_epochs": dict(loop.over_epochs),
        "finished": finished, "mixing": s.mixer.summary(),
    }
    write_summary(s.run_dir, summary)


def hardware(dist: Dist) -> str:
    if dist.device.type == "cuda":
        return f"{dist.world_size} x {torch.cuda.get_device_name(dist.device)}"
    return f"{dist.world_size} x CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
