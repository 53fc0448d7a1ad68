"""Several processes: torchrun sets RANK/WORLD_SIZE/LOCAL_RANK; we pick gloo on CPU, nccl on CUDA.

Rank 0 alone writes files. Collectives here are no-ops in a single process, so the loop reads the same.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as tdist

from nestling import launch
from nestling.errors import UserError


@dataclass(frozen=True)
class Dist:
    """Where this process stands: rank, world size and the device it trains on."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    # This process joined the group here, so its shutdown leaves it; a caller that joined first (a sweep
    # training run after run under torchrun) keeps the group across runs.
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1


def pick_device(pref: str, local_rank: int) -> torch.device:
    """``run.device``: "auto" is CUDA when present, else CPU."""
    if pref == "auto":
        pref = "cuda" if torch.cuda.is_available() else "cpu"
    if pref.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError(f"run.device={pref} but no CUDA device is visible; use run.device=cpu or auto")
        # Under torchrun each process takes its LOCAL_RANK's GPU; "cuda:N" pins a single process to GPU N.
        device = torch.device(pref) if ":" in pref else torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        return device
    if pref != "cpu":
        raise UserError(f"run.device must be auto, cpu, cuda or cuda:N, got {pref!r}")
    return torch.device("cpu")


def init(device_pref: str) -> Dist:
    """Join the torchrun process group when launched by torchrun, else a single process."""
    rank, world, local = launch.ranks()
    device = pick_device(device_pref, local)
    owns = world > 1 and not tdist.is_initialized()
    if owns:
        tdist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return Dist(rank, world, local, device, owns)


def shutdown(dist: Dist) -> None:
    if dist.owns_group and tdist.is_initialized():
        tdist.destroy_process_group()


def all_reduce_sum(t: torch.Tensor, dist: Dist) -> torch.Tensor:
    """Sum of ``t`` over ranks (in place); ``t`` itself in a single process."""
    if dist.active:
        tdist.all_reduce(t, op=tdist.ReduceOp.SUM)
    return t


def any_rank(flag: bool, dist: Dist) -> bool:
    """True when ``flag`` is true on any rank (so every rank takes the same branch)."""
    if not dist.active:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=dist.device)
    return bool(all_reduce_sum(t, dist).item() > 0)


def broadcast_object(obj, dist: Dist):
    """Rank 0's ``obj`` on every rank."""
    if not dist.active:
        return obj
    box = [obj]
    tdist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(dist: Dist) -> None:
    if dist.active:
        tdist.barrier()
