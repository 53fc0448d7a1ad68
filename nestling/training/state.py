"""The trainer's state, typed: what one run holds while it trains (``TrainState``) and the loop's own
counters that go into every resumable state (``LoopState``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from torch import nn

from nestling.mixing import Mixer
from nestling.recipe import Recipe
from nestling.training.counting import Counter
from nestling.training.data_plan import DataPlan
from nestling.training.distributed import Dist
from nestling.training.metrics import MetricsLog
from nestling.training.milestones import Milestone
from nestling.training.optim import MuonAdamW
from nestling.training.schedule import Schedules


@dataclass
class LoopState:
    """The loop's own counters, saved with the state."""

    step: int = 0
    skipped: int = 0
    bad_streak: int = 0
    milestones_done: int = 0
    wall_s: float = 0.0
    over_epochs: dict = field(default_factory=dict)


@dataclass
class TrainState:
    """Everything a step reads or changes. ``model`` holds the weights; ``fwd`` is the module the
    training forward goes through (DDP and/or torch.compile around ``model``)."""

    recipe: Recipe
    run_dir: Path
    dist: Dist
    data: DataPlan
    model: nn.Module
    fwd: nn.Module
    autocast: Callable
    optimizer: MuonAdamW
    schedule: Schedules
    mixer: Mixer
    counter: Counter
    loop: LoopState
    log: MetricsLog
    milestones: list[Milestone]
