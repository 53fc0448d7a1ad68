"""What the trainer checkpoints: BabyLM milestone model folders, the final model, and the resumable
training state (everything a step reads, so a resumed run continues exactly). The files themselves
are written by ``nestling.training.checkpoint``; where they go is ``nestling.run_folder``'s."""

from __future__ import annotations

import random
from dataclasses import asdict

import numpy as np
import torch

from nestling.errors import UserError
from nestling.run_folder import FINAL, checkpoint_dir
from nestling.training import checkpoint, distributed
from nestling.training.milestones import crossed, planned_end_credit, seen_in
from nestling.training.state import LoopState, TrainState


def write_milestones(s: TrainState, seen: float | None = None) -> None:
    """Model folders for every BabyLM milestone reached (rank 0 writes): by the words or tokens seen
    (``checkpoints.unit``), or by ``seen`` when given (the budget credited at the planned end)."""
    if seen is None:
        seen = seen_in(s.recipe.checkpoints.unit, s.counter.tokens, s.counter.words)
    first = None
    for m in crossed(s.milestones, s.loop.milestones_done, seen):
        if s.dist.is_main:
            folder = checkpoint_dir(s.run_dir, m.name)
            if first is None:
                first = checkpoint.save_model_folder(s.model, s.data.dataset.tokenizer_dir, folder, _info(s, m.name))
            else:
                checkpoint.copy_model_folder(first, folder, _info(s, m.name))
        s.log.log({"kind": "checkpoint", "step": s.loop.step, "name": m.name, "words": s.counter.words,
                   "tokens": s.counter.tokens})
        s.loop.milestones_done += 1


def write_planned_end_milestones(s: TrainState) -> None:
    """At the planned end: the milestones up to the budget the plan stood for, when it is stated in the
    milestone unit (see nestling.training.milestones; checkpoint.json keeps the amounts actually seen)."""
    credit = planned_end_credit(s.recipe.checkpoints.unit, s.recipe.budget, s.data.dataset.corpus,
                                s.recipe.data.track)
    if credit is not None:
        write_milestones(s, seen=credit)


def save_final_model(s: TrainState) -> None:
    if s.dist.is_main:
        checkpoint.save_model_folder(s.model, s.data.dataset.tokenizer_dir, checkpoint_dir(s.run_dir, FINAL),
                                     _info(s, FINAL))


def _info(s: TrainState, name: str) -> dict:
    """checkpoint.json of a model folder."""
    return {"name": name, "words_seen": s.counter.words, "tokens_seen": s.counter.tokens, "step": s.loop.step}


def milestone_names_done(s: TrainState) -> list[str]:
    return [m.name for m in s.milestones[: s.loop.milestones_done]]


def save_state(s: TrainState) -> None:
    """Resumable state of this step (rank 0 writes; every rank holds the same state)."""
    if s.dist.is_main:
        checkpoint.assert_finite(s.model)
        state = {
            "step": s.loop.step, "loop": asdict(s.loop), "model": s.model.state_dict(),
            "optimizer": s.optimizer.state_dict(), "schedule": s.schedule.state_dict(),
            "mixer": s.mixer.state_dict(), "sampler": s.data.sampler.state_dict(),
            "counter": s.counter.state_dict(), "rng": _rng_state(),
            "identity": _identity(s.recipe),
        }
        checkpoint.save_state(s.run_dir, s.loop.step, state, s.recipe.checkpoints.keep_last)
    distributed.barrier(s.dist)


def resume(s: TrainState) -> None:
    """Continue from the run folder's newest state: same recipe identity, every component restored."""
    state = checkpoint.load_latest_state(s.run_dir)
    _check_same_run(s.recipe, state)
    _restore(state, s.model, s.optimizer, s.schedule, s.mixer, s.data.sampler, s.counter, s.loop)


def _identity(recipe) -> dict:
    """The recipe parts a resumed run must share with the state (others, e.g. logging, may change)."""
    return {"seed": recipe.seed, "model": recipe.model.to_dict(), "batch": recipe.batch.to_dict()}


def _check_same_run(recipe, state: dict | None) -> None:
    if state is None:
        return
    saved, now = state.get("identity", {}), _identity(recipe)
    changed = [k for k in now if k in saved and saved[k] != now[k]]
    if changed:
        raise UserError(f"--resume: the recipe's {', '.join(changed)} differ from the run being resumed "
                        f"(was {', '.join(f'{k}={saved[k]}' for k in changed)})")


def _restore(state, model, optimizer, schedule, mixer, sampler, counter, loop: LoopState) -> None:
    if state is None:
        raise UserError("--resume: the run folder holds no complete training state (state/step_*/)")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    schedule.load_state_dict(state["schedule"])
    mixer.load_state_dict(state["mixer"])
    sampler.load_state_dict(state["sampler"])
    counter.load_state_dict(state["counter"])
    for key, value in state["loop"].items():
        setattr(loop, key, value)
    _set_rng_state(state["rng"])


def _rng_state() -> dict:
    return {
        "python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def _set_rng_state(rng: dict) -> None:
    random.setstate(rng["python"])
    np.random.set_state(rng["numpy"])
    torch.set_rng_state(rng["torch"])
    if rng["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
