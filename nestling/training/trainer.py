"""The training loop behind every nestling run: plain PyTorch, read top to bottom.

``train`` sets a run up (``_setup``: dataset, model, data plan, optimizer, schedule, mixer, metrics)
into one typed ``TrainState``; ``_loop`` steps until the planned end or a stop signal. One step
(``run_step``): the mixer picks the language of each sequence of the global batch, the sampler cuts the
windows, the model runs ``accum`` micro-batches (gradients accumulate; DDP all-reduces on the last), the
gradient is clipped, a non-finite loss or gradient skips the update, the optimizers and WSD schedules
step. Between steps (``_after_step``): metrics, validation, mixer probes, BabyLM milestone checkpoints
and resumable state.

The parts live beside this file: data_plan (dataset, batch shape, windows), mixer (the run's mixer),
optim and schedule (the optimiser), checkpointing (milestones, final model, resumable state), metrics
(metrics.jsonl, the train record, summary.json), state (TrainState, LoopState).

Exact resume: the state holds everything a step reads (weights, optimizer and schedule state, the
mixer with its RNG, the sampler's data position, counters, RNG states), so on CPU a resumed run
ends bit-identical to an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import math
import shutil
import signal
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from nestling.data.ledger import LEDGER, exposure_report, unique_tokens
from nestling.errors import UserError
from nestling.recipe import BABYLM_MAX_EPOCHS, dump_recipe, load_recipe
from nestling.files import check_output, output_lock, remove_stale_temporaries
from nestling.run_folder import (CHECKPOINTS, FINAL, METRICS, RECIPE, SUMMARY, foreign_run_files, run_dir_name,
                                 write_recipe)
from nestling.training import checkpoint, checkpointing, distributed
from nestling.training.batching import BatchPlan, compile_enabled, draw_batch, enable_activation_checkpointing
from nestling.training.counting import Counter, check_epochs
from nestling.training.data_plan import make_data_plan, open_dataset
from nestling.training.distributed import Dist, all_reduce_sum, any_rank
from nestling.training.metrics import LogWindow, MetricsLog, truncate_after, write_run_summary
from nestling.training.milestones import milestones, plan_message
from nestling.training.mixer import build_run_mixer, probe_and_update, sample_languages
from nestling.training.optim import build_optimizer
from nestling.training.schedule import build_schedule
from nestling.training.state import LoopState, TrainState


class TrainingDiverged(UserError):
    """Too many consecutive non-finite steps: the run stops (its last finite state is kept)."""


def train(recipe, out_dir: Path | None = None, resume: Path | None = None) -> Path:
    """Train the recipe's model on its prepared dataset; return the run directory.

    ``out_dir`` overrides ``runs/<date>_<method>_seed<N>/``; ``resume`` is a run directory to continue
    from its newest state. Under torchrun (RANK/WORLD_SIZE set) every process calls this; rank 0 writes.
    ``recipe`` is a loaded recipe (``nestling.recipe.load_recipe``); a plain mapping is loaded first.
    """
    recipe = load_recipe(recipe)
    dist = distributed.init(recipe.run.device)
    try:
        run_dir = _run_path(recipe, out_dir, resume, dist)
        with _run_lock(run_dir, dist):
            s = _setup(recipe, run_dir, resume, dist)
            try:
                return _loop(s)
            finally:
                s.log.close()
                # The DDP wrapper's reducer holds the process group: it must go before the group is
                # destroyed, or gloo's destructor can wait forever on a peer that has already left.
                s.fwd = s.model
                del s
                gc.collect()
    finally:
        distributed.shutdown(dist)


def _setup(recipe, run_dir: Path, resume, dist: Dist) -> TrainState:
    """Every part of the run, in the order that keeps the random streams of a fresh and a resumed run equal."""
    checkpointing.seed_everything(recipe.seed)
    dataset = open_dataset(recipe)
    _check_run_dir(run_dir, resume)
    autocast = _autocast(recipe.run.precision, dist.device)
    model = _build_model(recipe, dataset).to(dist.device)
    check_output(run_dir, _disk_need(model, recipe), "the run")  # every rank: none goes on alone
    if dist.is_main:  # the trainer's own temporaries only: an eval may be writing results.json meanwhile
        for folder, name in ((run_dir / checkpoint.STATE_DIR, "*"), (run_dir / CHECKPOINTS, "*"), (run_dir, FINAL),
                             (run_dir, SUMMARY), (run_dir, RECIPE)):
            remove_stale_temporaries(folder, name)
    plan = make_data_plan(recipe, dataset, model, dist, autocast)
    optimizer = build_optimizer(model, recipe.optimizer)
    s = TrainState(
        recipe=recipe, run_dir=run_dir, dist=dist, data=plan, model=model, fwd=model, autocast=autocast,
        optimizer=optimizer, schedule=build_schedule(optimizer, recipe.schedule, plan.total_steps),
        mixer=build_run_mixer(recipe, plan, run_dir, dist.is_main),
        counter=Counter(dataset.words_per_token, dataset.train_tokens), loop=LoopState(), log=None,
        milestones=milestones(float(recipe.checkpoints.milestone_scale)),
    )
    if resume is not None:
        checkpointing.resume(s)
    elif dist.is_main:
        _write_run_files(s)
        # Said before the first step, so a budget that stops short of the track is known at plan time.
        print(plan_message(recipe, dataset.corpus), file=sys.stderr)
        print(exposure_report(unique_tokens(dataset.ledger, dataset.metas), s.mixer.probabilities(),
                              plan.total_tokens), file=sys.stderr)
    if dist.is_main:
        truncate_after(run_dir / METRICS, s.loop.step)
    distributed.barrier(dist)
    s.fwd = _wrap(model, recipe.run, dist)
    s.log = MetricsLog(run_dir if dist.is_main else None, plan.total_steps, s.loop.step,
                       recipe.run.tensorboard, recipe.run.progress)
    return s


def _loop(s: TrainState) -> Path:
    """Steps until the planned end or a stop signal, then the final state, model and summary."""
    finished = False
    # wall_s: wall-clock of the whole run over all its sessions (evaluation and checkpoints included).
    start, wall_before = time.perf_counter(), s.loop.wall_s
    window = LogWindow(len(s.mixer.langs), s.dist.device, s.counter.tokens)
    with _StopOnSignal() as stop:
        while s.loop.step < s.data.total_steps:
            if any_rank(stop.requested, s.dist):
                break
            t0 = time.perf_counter()
            loss, grad_norm = run_step(s, window)
            window.add_time(time.perf_counter() - t0)
            s.loop.wall_s = wall_before + time.perf_counter() - start
            s.log.advance()
            _after_step(s, window, loss, grad_norm)
        else:
            finished = True
    s.loop.wall_s = wall_before + time.perf_counter() - start
    if finished:
        checkpointing.write_planned_end_milestones(s)
    checkpointing.save_state(s)
    final_val = None
    if finished:
        final_val = _log_val(s)
        checkpointing.save_final_model(s)
    write_run_summary(s, finished, final_val, checkpointing.milestone_names_done(s))
    return s.run_dir


def run_step(s: TrainState, window: LogWindow) -> tuple[float, float]:
    """One optimizer step over the global batch; returns (loss, grad_norm) as floats (NaN when skipped)."""
    plan, mixer, loop, dist = s.data.batch, s.mixer, s.loop, s.dist
    langs = sample_languages(mixer, s.data, loop.step + 1, s.recipe.budget.max_epochs)
    for lang in sorted(set(langs)):
        n = langs.count(lang) * plan.seq_len
        mixer.record_exposure(lang, n)
        s.counter.add(lang, n)
    _check_epoch_guard(s)
    windows, my_langs = draw_batch(s.data.sampler, langs, plan, dist.rank)
    if dist.device.type == "cuda":
        # Pinned host memory lets the non_blocking copies overlap with compute.
        windows = windows.pin_memory()
    lang_idx = torch.tensor([mixer.langs.index(lang) for lang in my_langs])

    loss_sum, lang_sums = accumulate_gradients(s.fwd, windows, lang_idx, plan, len(mixer.langs), dist, s.autocast)
    clip = s.recipe.optimizer.grad_clip or math.inf
    grad_norm = torch.nn.utils.clip_grad_norm_(s.model.parameters(), clip)
    loss = all_reduce_sum(loss_sum, dist) / plan.global_batch
    loss_f, grad_f = torch.stack([loss.float(), grad_norm.float().to(loss.device)]).tolist()

    loop.step += 1
    if math.isfinite(loss_f) and math.isfinite(grad_f):
        s.optimizer.step()
        loop.bad_streak = 0
        window.add_step(loss_f, lang_sums)
    else:
        loop.skipped += 1
        loop.bad_streak += 1
    s.optimizer.zero_grad()
    # The schedule follows the step count, skipped steps included, so the planned WSD shape ends on time.
    s.schedule.step()
    return loss_f, grad_f


def _after_step(s: TrainState, window: LogWindow, loss: float, grad_norm: float) -> None:
    """Everything between two steps: skip bookkeeping, metrics, validation, mixer probe, checkpoints."""
    run_cfg, step = s.recipe.run, s.loop.step
    if not (math.isfinite(loss) and math.isfinite(grad_norm)):
        _record_skip(s, loss, grad_norm)
    if step % run_cfg.log_every == 0 or step == s.data.total_steps:
        s.log.log(window.record(s, grad_norm))
    if step % run_cfg.eval_every == 0 and step < s.data.total_steps:
        _log_val(s)
    mix = probe_and_update(s.mixer, step, s.counter.words, lambda: mean_losses(s, s.data.probes))
    if mix is not None:
        s.log.log(mix)
    checkpointing.write_milestones(s)
    if step % s.recipe.checkpoints.state_every == 0:
        checkpointing.save_state(s)


def _record_skip(s: TrainState, loss: float, grad_norm: float) -> None:
    """Log a skipped step; too many in a row stop the run with its last finite weights saved."""
    step, limit = s.loop.step, s.recipe.run.max_bad_steps
    s.log.log({"kind": "skip", "step": step, "reason": f"non-finite loss {loss} or grad norm {grad_norm}"})
    if s.loop.bad_streak >= limit:
        checkpointing.save_state(s)
        raise TrainingDiverged(
            f"step {step}: {s.loop.bad_streak} consecutive non-finite steps (run.max_bad_steps={limit}); "
            "the run stopped with its last finite weights saved; lower the learning rate or check the data"
        )


def accumulate_gradients(fwd, windows, lang_idx, plan: BatchPlan, n_langs: int, dist: Dist, autocast):
    """Forward/backward this rank's sequences in ``plan.accum`` micro-batches of ``plan.micro``.

    windows [B, T+1] (B = plan.per_rank); each micro-batch's mean loss is scaled by 1/accum so the summed
    gradient is that of the mean over B sequences (DDP then averages the equal-sized ranks). Returns
    the summed per-sequence loss (a 0-d tensor) and per-language [L, 2] sums of (loss, sequences).
    """
    device = dist.device
    loss_sum = torch.zeros((), device=device)
    lang_sums = torch.zeros(n_langs, 2, device=device)
    for k, (x, li) in enumerate(zip(windows.split(plan.micro), lang_idx.split(plan.micro))):
        x, li = x.to(device, non_blocking=True), li.to(device, non_blocking=True)
        last = k == plan.accum - 1
        sync = contextlib.nullcontext() if last or not dist.active else fwd.no_sync()
        with sync:
            with autocast():
                per_token = token_losses(fwd, x)
            (per_token.mean() / plan.accum).backward()
        per_seq = per_token.detach().mean(dim=1)
        loss_sum += per_seq.sum()
        lang_sums.index_add_(0, li, torch.stack([per_seq, torch.ones_like(per_seq)], dim=1))
    return loss_sum, lang_sums


def token_losses(model, x: torch.Tensor) -> torch.Tensor:
    """Next-token cross-entropy per position: x [B, T+1] -> losses [B, T] (fp32)."""
    # No cache: training and scoring never decode step by step.
    logits = model(input_ids=x[:, :-1], use_cache=False).logits
    B, T, V = logits.shape
    return F.cross_entropy(logits.float().reshape(B * T, V), x[:, 1:].reshape(B * T), reduction="none").view(B, T)


@torch.no_grad()
def mean_losses(s: TrainState, windows: dict[str, torch.Tensor]) -> dict[str, float]:
    """Mean token loss per language over fixed windows, in eval mode, split over ranks."""
    model, dist = s.model, s.dist
    langs = list(windows)
    sums = torch.zeros(len(langs), 2, dtype=torch.float64, device=dist.device)
    model.eval()
    for i, lang in enumerate(langs):
        for x in windows[lang][dist.rank :: dist.world_size].split(s.data.batch.micro):
            with s.autocast():
                per_token = token_losses(model, x.to(dist.device))
            sums[i] += torch.stack([per_token.double().sum(), torch.tensor(per_token.numel(), device=dist.device)])
    model.train()
    all_reduce_sum(sums, dist)
    return {lang: float(sums[i, 0] / sums[i, 1]) if sums[i, 1] > 0 else float("nan") for i, lang in enumerate(langs)}


def _check_epoch_guard(s: TrainState) -> None:
    """Past max_epochs: stop with a UserError unless allowed; when allowed, record it once per language."""
    budget, loop = s.recipe.budget, s.loop
    # Allowed past max_epochs: still record every language past BabyLM's limit, so the summary says so.
    max_epochs = min(float(budget.max_epochs), BABYLM_MAX_EPOCHS)
    # No state is written here: the last periodic state stays the one to resume from (with allow_over_epochs).
    for lang, e in check_epochs(s.counter.epochs(), max_epochs, budget.allow_over_epochs, f"step {loop.step + 1}").items():
        if lang not in loop.over_epochs:
            s.log.log({"kind": "over_epochs", "step": loop.step + 1, "lang": lang, "epochs": e, "max_epochs": max_epochs})
        loop.over_epochs[lang] = e


def _log_val(s: TrainState) -> float:
    lang_loss = mean_losses(s, s.data.val)
    val_loss = float(np.mean(list(lang_loss.values())))
    c = s.counter
    s.log.log({"kind": "val", "step": s.loop.step, "words": c.words, "tokens": c.tokens, "wall_s": s.loop.wall_s,
               "val_loss": val_loss, "val_lang_loss": lang_loss})
    return val_loss


class _StopOnSignal:
    """SIGTERM/SIGINT set a flag; the loop stops at the next step boundary and writes its state."""

    def __init__(self):
        self.requested = False
        self._old = {}

    def _handle(self, signum, frame) -> None:
        if self.requested:
            # A second signal (Ctrl-C twice): stop now, without waiting for the step to end.
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:
                # Not the main thread (e.g. a notebook worker): signals cannot be caught there.
                pass
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def _build_model(recipe, dataset):
    from transformers import AutoTokenizer

    from nestling.models import build_model

    pad = AutoTokenizer.from_pretrained(dataset.tokenizer_dir).pad_token_id
    pad = pad if pad is not None else dataset.eos
    model = build_model(recipe.model.to_dict(), dataset.vocab_size, dataset.bos, dataset.eos, pad)
    if recipe.run.activation_checkpointing:
        enable_activation_checkpointing(model)
    # Master weights are fp32 whatever the compute precision (autocast handles bf16).
    return model.float().train()


def _wrap(model, run_cfg, dist: Dist):
    """The module the training forward goes through: DDP across ranks, optionally torch.compile'd."""
    fwd = model
    if dist.active:
        ids = [dist.device.index] if dist.device.type == "cuda" else None
        fwd = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
    if compile_enabled(run_cfg.compile, dist.device):
        # fullgraph: a graph break would be a silent slow path; both architectures compile whole (tests).
        fwd = torch.compile(fwd, fullgraph=not dist.active)
    return fwd


def _autocast(precision: str, device: torch.device):
    """A context factory: bf16 autocast ("auto" on CUDA, or "bf16"), else plain fp32."""
    if precision == "auto":
        precision = "bf16" if device.type == "cuda" else "fp32"
    if precision == "fp32":
        return contextlib.nullcontext
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
    return partial(torch.autocast, device_type=device.type, dtype=torch.bfloat16)


def _run_path(recipe, out_dir, resume, dist: Dist) -> Path:
    """The run folder: ``resume``, else ``out_dir``, else runs/<date>_<method>_seed<N> (rank 0's date)."""
    if resume is not None:
        return Path(resume)
    if out_dir is None:
        date = distributed.broadcast_object(dt.date.today().isoformat(), dist)
        out_dir = Path(recipe.run.out_root) / run_dir_name(recipe.method, recipe.seed, date)
    return Path(out_dir)


def _check_run_dir(run_dir: Path, resume) -> None:
    """Checked holding the run's lock: a resumed run has a state; a new one neither replaces a run nor
    writes over files nestling did not write (a user's own recipe.yaml in the --out folder)."""
    if resume is not None:
        if not checkpoint.list_states(run_dir):
            raise UserError(f"--resume {run_dir}: no training state found under {run_dir}/state/")
        return
    if checkpoint.list_states(run_dir) or (run_dir / SUMMARY).exists():
        raise UserError(f"{run_dir} already holds a run; continue it with --resume {run_dir} or choose another --out")
    foreign = foreign_run_files(run_dir)
    if foreign:
        raise UserError(f"--out {run_dir}: holds {', '.join(foreign)}, not written by nestling train; a run would "
                        "replace them; choose another --out")
    # Created by _write_run_files once the model, batch plan and budget have passed their checks:
    # a refused recipe leaves no empty run folder behind.


@contextlib.contextmanager
def _run_lock(run_dir: Path, dist: Dist):
    """One writer per run folder: a second `nestling train` on it fails at once. Rank 0 holds the lock and
    every rank learns whether it got it, so no rank goes on to wait for a refused one."""
    with contextlib.ExitStack() as stack:
        refused = None
        if dist.is_main:
            try:
                stack.enter_context(output_lock(run_dir))
            except UserError as err:
                refused = str(err)
        refused = distributed.broadcast_object(refused, dist)
        if refused is not None:
            raise UserError(refused)
        yield


def _disk_need(model, recipe) -> int:
    """Bytes a run needs at least: the final model, and the kept training states (weights and two optimizer
    moments each, one more while the next is written). Milestone checkpoints come on top."""
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    return weights * (1 + 3 * (recipe.checkpoints.keep_last + 1))


def _write_run_files(s: TrainState) -> None:
    s.run_dir.mkdir(parents=True, exist_ok=True)
    write_recipe(s.run_dir, dump_recipe(s.recipe))
    ledger = s.data.dataset.dir / LEDGER
    if ledger.is_file():
        shutil.copy2(ledger, s.run_dir / LEDGER)
