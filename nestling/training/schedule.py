"""Warmup-stable-decay learning rate, from transformers.get_wsd_schedule, on every optimizer."""

from __future__ import annotations

from torch.optim.lr_scheduler import LambdaLR
from transformers import get_wsd_schedule

from nestling.errors import UserError
from nestling.training.optim import MuonAdamW


def wsd_phases(total_steps: int, warmup_fraction: float, decay_fraction: float) -> tuple[int, int, int]:
    """(warmup, stable, decay) step counts summing to ``total_steps``."""
    if not (0 <= warmup_fraction and 0 <= decay_fraction and warmup_fraction + decay_fraction <= 1):
        raise UserError(f"schedule: warmup_fraction and decay_fraction must be >= 0 and sum to <= 1, "
                        f"got {warmup_fraction} + {decay_fraction}")
    warmup = round(warmup_fraction * total_steps)
    decay = min(round(decay_fraction * total_steps), total_steps - warmup)
    return warmup, total_steps - warmup - decay, decay


class Schedules:
    """One LambdaLR per optimizer, all following the same WSD shape relative to their peak LR."""

    def __init__(self, optimizer: MuonAdamW, cfg, total_steps: int):
        """``cfg``: the recipe's typed ``schedule`` section (``name`` is wsd, the only schedule)."""
        fractions = float(cfg.warmup_fraction), float(cfg.decay_fraction)
        warmup, stable, decay = wsd_phases(total_steps, *fractions)
        self.phases = {"warmup": warmup, "stable": stable, "decay": decay}
        self.schedulers: dict[str, LambdaLR] = {
            key: get_wsd_schedule(
                opt,
                num_warmup_steps=warmup,
                num_decay_steps=decay,
                num_training_steps=total_steps,
                decay_type=cfg.decay_type,
                min_lr_ratio=float(cfg.min_lr_ratio),
            )
            for key, opt in optimizer.optimizers.items()
        }

    def step(self) -> None:
        for s in self.schedulers.values():
            s.step()

    def state_dict(self) -> dict:
        return {k: s.state_dict() for k, s in self.schedulers.items()}

    def load_state_dict(self, state: dict) -> None:
        for k, s in self.schedulers.items():
            s.load_state_dict(state[k])


def build_schedule(optimizer: MuonAdamW, cfg, total_steps: int) -> Schedules:
    """The recipe's ``schedule`` section -> WSD schedulers for every optimizer in ``optimizer``."""
    return Schedules(optimizer, cfg, total_steps)
