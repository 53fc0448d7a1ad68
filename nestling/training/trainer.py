"""The training loop behind every nestling run: plain PyTorch, read top to bottom in ``train``.

One step: the mixer picks the language of each sequence of the global batch, the sampler cuts the
windows, the model runs ``accum`` micro-batches (gradients accumulate; DDP all-reduces on the last),
the gradient is clipped, a non-finite loss or gradient skips the update, the optimizers and WSD
schedules step. Around it: counting (tokens, words, epochs), metrics, validation, mixer probes,
BabyLM milestone checkpoints and resumable state.

Exact resume: the state holds everything a step reads (weights, optimizer and schedule state, the
mixer with its RNG, the sampler's data position, counters, RNG states), so on CPU a resumed run
ends bit-identical to an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import platform
import random
import shutil
import signal
import time
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import yaml

from nestling.data.shards import load_shards
from nestling.errors import UserError
from nestling.training import checkpoint, distributed
from nestling.training.batching import BatchPlan, WindowSampler, cuda_fits, draw_batch, eval_windows, plan_batch
from nestling.training.counting import Counter, check_epochs, plan_steps
from nestling.training.distributed import Dist, all_reduce_sum, any_rank
from nestling.training.metrics import MetricsLog, truncate_after
from nestling.training.milestones import crossed, milestones
from nestling.training.optim import build_optimizer
from nestling.training.schedule import build_schedule
from nestling.training.validate import BABYLM_MAX_EPOCHS, check_recipe


class TrainingDiverged(UserError):
    """Too many consecutive non-finite steps: the run stops (its last finite state is kept)."""


@dataclass
class LoopState:
    """The loop's own counters, saved with the state."""

    step: int = 0
    skipped: int = 0
    bad_streak: int = 0
    milestones_done: int = 0
    wall_s: float = 0.0
    over_epochs: dict = field(default_factory=dict)


def train(recipe: dict, out_dir: Path | None = None, resume: Path | None = None) -> Path:
    """Train the recipe's model on its prepared dataset; return the run directory.

    ``out_dir`` overrides ``runs/<date>_<method>_seed<N>/``; ``resume`` is a run directory to continue
    from its newest state. Under torchrun (RANK/WORLD_SIZE set) every process calls this; rank 0 writes.
    """
    check_recipe(recipe)
    dist = distributed.init(recipe["run"].get("device", "auto"))
    try:
        return _train(recipe, out_dir, resume, dist)
    finally:
        distributed.shutdown(dist)


def _train(recipe: dict, out_dir, resume, dist: Dist) -> Path:
    run_cfg, budget = recipe["run"], recipe["budget"]
    seed = int(recipe.get("seed", 0))
    _seed_everything(seed)
    data = _open_dataset(recipe)
    run_dir = _run_dir(recipe, out_dir, resume, dist)
    autocast = _autocast(run_cfg.get("precision", "auto"), dist.device)

    model = _build_model(recipe, data).to(dist.device)
    plan = _plan_batch(recipe, model, data, dist, autocast)
    total_steps = plan_steps(budget, sum(data["train_tokens"].values()), plan.tokens_per_step)
    allow_over = bool(budget.get("allow_over_epochs", False))
    max_epochs = float(budget.get("max_epochs", 10))
    planned_epochs = total_steps * plan.tokens_per_step / sum(data["train_tokens"].values())
    check_epochs({"all languages": planned_epochs}, max_epochs, allow_over, "budget")
    optimizer = build_optimizer(model, recipe["optimizer"])
    schedule = build_schedule(optimizer, recipe["schedule"], total_steps)
    mixer = _build_mixer(recipe, data, total_steps * plan.tokens_per_step, max_epochs, allow_over, run_dir, dist)
    sampler = WindowSampler({lang: s.train for lang, s in data["shards"].items()}, plan.seq_len, seed)
    counter = Counter(data["words_per_token"], data["train_tokens"])
    loop = LoopState()

    if resume is not None:
        state = checkpoint.load_latest_state(run_dir)
        _check_same_run(recipe, state)
        _restore(state, model, optimizer, schedule, mixer, sampler, counter, loop)
    elif dist.is_main:
        _write_run_files(recipe, run_dir, data)
    if dist.is_main:
        truncate_after(run_dir / "metrics.jsonl", loop.step)
    distributed.barrier(dist)

    fwd = _wrap(model, run_cfg, dist)
    all_milestones = milestones(float(recipe["checkpoints"].get("milestone_scale", 1.0)))
    # Fixed held-out windows: validation from the start of each val shard, mixer probes from its end.
    val_n, probe_n = int(run_cfg.get("val_tokens", 16384)), int(recipe["mixing"].get("probe_tokens", 4096))
    val = {lang: eval_windows(s.val, plan.seq_len, val_n) for lang, s in data["shards"].items()}
    probes = {lang: eval_windows(s.val, plan.seq_len, probe_n, from_end=True) for lang, s in data["shards"].items()}
    log = MetricsLog(run_dir if dist.is_main else None, total_steps, loop.step,
                     bool(run_cfg.get("tensorboard", True)), bool(run_cfg.get("progress", True)))
    ctx = dict(recipe=recipe, run_dir=run_dir, dist=dist, model=model, fwd=fwd, plan=plan, autocast=autocast,
               optimizer=optimizer, schedule=schedule, mixer=mixer, sampler=sampler, counter=counter, loop=loop,
               log=log, data=data, val=val, probes=probes, milestones=all_milestones, total_steps=total_steps)

    try:
        return _loop(ctx)
    finally:
        log.close()


def _loop(ctx: dict) -> Path:
    """Steps until the planned end or a stop signal, then the final state, model and summary."""
    loop, dist, log, mixer, counter = (ctx[k] for k in ("loop", "dist", "log", "mixer", "counter"))
    finished = False
    # wall_s: wall-clock of the whole run over all its sessions (evaluation and checkpoints included).
    start, wall_before = time.perf_counter(), loop.wall_s
    with _StopOnSignal() as stop:
        window = _LogWindow(len(mixer.langs), dist.device, counter.tokens)
        while loop.step < ctx["total_steps"]:
            if any_rank(stop.requested, dist):
                break
            t0 = time.perf_counter()
            loss, grad_norm = run_step(ctx, window)
            window.add_time(time.perf_counter() - t0)
            loop.wall_s = wall_before + time.perf_counter() - start
            log.advance()
            _after_step(ctx, window, loss, grad_norm)
        else:
            finished = True

    loop.wall_s = wall_before + time.perf_counter() - start
    _save_state(ctx)
    if finished:
        _finish(ctx)
    else:
        _write_summary(ctx, finished=False, final_val=None)
    return ctx["run_dir"]


def run_step(ctx: dict, window: "_LogWindow") -> tuple[float, float]:
    """One optimizer step over the global batch; returns (loss, grad_norm) as floats (NaN when skipped)."""
    plan, mixer, counter, loop, dist = (ctx[k] for k in ("plan", "mixer", "counter", "loop", "dist"))
    langs = _sample_languages(ctx)
    for lang in sorted(set(langs)):
        n = langs.count(lang) * plan.seq_len
        mixer.record_exposure(lang, n)
        counter.add(lang, n)
    _check_epoch_guard(ctx)
    windows, my_langs = draw_batch(ctx["sampler"], langs, plan, dist.rank)
    if dist.device.type == "cuda":
        # Pinned host memory lets the non_blocking copies overlap with compute.
        windows = windows.pin_memory()
    lang_idx = torch.tensor([mixer.langs.index(lang) for lang in my_langs])

    loss_sum, lang_sums = accumulate_gradients(
        ctx["fwd"], windows, lang_idx, plan, len(mixer.langs), dist, ctx["autocast"]
    )
    clip = ctx["recipe"]["optimizer"].get("grad_clip") or math.inf
    grad_norm = torch.nn.utils.clip_grad_norm_(ctx["model"].parameters(), clip)
    loss = all_reduce_sum(loss_sum, dist) / plan.global_batch
    loss_f, grad_f = torch.stack([loss.float(), grad_norm.float().to(loss.device)]).tolist()

    loop.step += 1
    if math.isfinite(loss_f) and math.isfinite(grad_f):
        ctx["optimizer"].step()
        loop.bad_streak = 0
        window.add_step(loss_f, lang_sums)
    else:
        loop.skipped += 1
        loop.bad_streak += 1
    ctx["optimizer"].zero_grad()
    # The schedule follows the step count, skipped steps included, so the planned WSD shape ends on time.
    ctx["schedule"].step()
    return loss_f, grad_f


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
def mean_losses(ctx: dict, windows: dict[str, torch.Tensor]) -> dict[str, float]:
    """Mean token loss per language over fixed windows, in eval mode, split over ranks."""
    model, dist, plan = ctx["model"], ctx["dist"], ctx["plan"]
    langs = list(windows)
    sums = torch.zeros(len(langs), 2, dtype=torch.float64, device=dist.device)
    model.eval()
    for i, lang in enumerate(langs):
        for x in windows[lang][dist.rank :: dist.world_size].split(plan.micro):
            with ctx["autocast"]():
                per_token = token_losses(model, x.to(dist.device))
            sums[i] += torch.stack([per_token.double().sum(), torch.tensor(per_token.numel(), device=dist.device)])
    model.train()
    all_reduce_sum(sums, dist)
    return {lang: float(sums[i, 0] / sums[i, 1]) if sums[i, 1] > 0 else float("nan") for i, lang in enumerate(langs)}


def _sample_languages(ctx: dict) -> list[str]:
    from nestling.mixing import BudgetExhausted

    try:
        return ctx["mixer"].sample(ctx["plan"].global_batch, seq_tokens=ctx["plan"].seq_len)
    except BudgetExhausted as err:
        raise UserError(
            f"step {ctx['loop'].step + 1}: every language has used its token budget "
            f"({ctx['recipe']['budget'].get('max_epochs', 10)} epochs): {err}; lower the planned length, or set "
            "budget.allow_over_epochs=true and resume from the last state"
        ) from None


def _check_epoch_guard(ctx: dict) -> None:
    """Past max_epochs: stop with a UserError unless allowed; when allowed, record it once per language."""
    budget, loop = ctx["recipe"]["budget"], ctx["loop"]
    max_epochs, allow = float(budget.get("max_epochs", 10)), bool(budget.get("allow_over_epochs", False))
    # Allowed past max_epochs: still record every language past BabyLM's limit, so the summary says so.
    max_epochs = min(max_epochs, BABYLM_MAX_EPOCHS)
    epochs = ctx["counter"].epochs()
    # No state is written here: the last periodic state stays the one to resume from (with allow_over_epochs).
    for lang, e in check_epochs(epochs, max_epochs, allow, f"step {loop.step + 1}").items():
        if lang not in loop.over_epochs:
            ctx["log"].log({"kind": "over_epochs", "step": loop.step + 1, "lang": lang, "epochs": e,
                            "max_epochs": max_epochs})
        loop.over_epochs[lang] = e


def _after_step(ctx: dict, window: "_LogWindow", loss: float, grad_norm: float) -> None:
    """Everything between two steps: skip bookkeeping, metrics, validation, mixer probe, checkpoints."""
    loop, run_cfg, log = ctx["loop"], ctx["recipe"]["run"], ctx["log"]
    step = loop.step
    if not (math.isfinite(loss) and math.isfinite(grad_norm)):
        log.log({"kind": "skip", "step": step, "reason": f"non-finite loss {loss} or grad norm {grad_norm}"})
        limit = int(run_cfg.get("max_bad_steps", 10))
        if loop.bad_streak >= limit:
            _save_state(ctx)
            raise TrainingDiverged(
                f"step {step}: {loop.bad_streak} consecutive non-finite steps (run.max_bad_steps={limit}); "
                "the run stopped with its last finite weights saved; lower the learning rate or check the data"
            )
    if step % int(run_cfg.get("log_every", 10)) == 0 or step == ctx["total_steps"]:
        log.log(window.record(ctx, grad_norm))
    if step % int(run_cfg.get("eval_every", 200)) == 0 and step < ctx["total_steps"]:
        _log_val(ctx)
    if ctx["mixer"].needs_probe(step):
        probe = mean_losses(ctx, ctx["probes"])
        out = ctx["mixer"].update(step, probe)
        log.log({"kind": "mix", "step": step, "words": ctx["counter"].words, "pi": out["pi"],
                 "rewards": out.get("rewards", {}), "probe_loss": probe})
    _write_milestones(ctx)
    if step % int(ctx["recipe"]["checkpoints"].get("state_every", 200)) == 0:
        _save_state(ctx)


def _log_val(ctx: dict) -> float:
    lang_loss = mean_losses(ctx, ctx["val"])
    val_loss = float(np.mean(list(lang_loss.values())))
    c = ctx["counter"]
    ctx["log"].log({"kind": "val", "step": ctx["loop"].step, "words": c.words, "tokens": c.tokens,
                    "val_loss": val_loss, "val_lang_loss": lang_loss})
    return val_loss


def _write_milestones(ctx: dict) -> None:
    """Model folders for every BabyLM milestone the words seen have reached (rank 0 writes)."""
    loop, counter = ctx["loop"], ctx["counter"]
    reached = crossed(ctx["milestones"], loop.milestones_done, counter.words)
    first = None
    for m in reached:
        info = {"name": m.name, "words_seen": counter.words, "tokens_seen": counter.tokens, "step": loop.step}
        if ctx["dist"].is_main:
            folder = ctx["run_dir"] / "checkpoints" / m.name
            if first is None:
                first = checkpoint.save_model_folder(ctx["model"], ctx["data"]["tokenizer_dir"], folder, info)
            else:
                checkpoint.copy_model_folder(first, folder, info)
        ctx["log"].log({"kind": "checkpoint", "step": loop.step, "name": m.name, "words": counter.words,
                        "tokens": counter.tokens})
        loop.milestones_done += 1


def _finish(ctx: dict) -> None:
    final_val = _log_val(ctx)
    c, loop = ctx["counter"], ctx["loop"]
    if ctx["dist"].is_main:
        info = {"name": "final", "words_seen": c.words, "tokens_seen": c.tokens, "step": loop.step}
        checkpoint.save_model_folder(ctx["model"], ctx["data"]["tokenizer_dir"], ctx["run_dir"] / "final", info)
    _write_summary(ctx, finished=True, final_val=final_val)


def _write_summary(ctx: dict, finished: bool, final_val: float | None) -> None:
    if not ctx["dist"].is_main:
        return
    recipe, c, loop, model = ctx["recipe"], ctx["counter"], ctx["loop"], ctx["model"]
    plan: BatchPlan = ctx["plan"]
    names = [m.name for m in ctx["milestones"][: loop.milestones_done]]
    summary = {
        "name": recipe.get("name"), "method": recipe.get("method"), "seed": recipe.get("seed"),
        "arch": recipe["model"].get("arch"), "params": sum(p.numel() for p in model.parameters()),
        "steps": loop.step, "total_steps": ctx["total_steps"], "tokens_seen": c.tokens, "words_seen": c.words,
        "epochs": c.epochs(), "wall_clock_s": loop.wall_s,
        "final_val_loss": final_val,
        "final_val_ppl": math.exp(final_val) if final_val is not None and final_val < 50 else None,
        "device": str(ctx["dist"].device), "world_size": ctx["dist"].world_size, "hardware": _hardware(ctx["dist"]),
        "optimizer": {**recipe["optimizer"], "params_per_optimizer": ctx["optimizer"].describe()},
        "schedule": {**recipe["schedule"], "total_steps": ctx["total_steps"], **ctx["schedule"].phases},
        "batch": {**asdict(plan), "tokens_per_step": plan.tokens_per_step},
        "checkpoints": names, "skipped_steps": loop.skipped, "over_epochs": dict(loop.over_epochs),
        "finished": finished, "mixing": ctx["mixer"].summary(),
    }
    (ctx["run_dir"] / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")


def _save_state(ctx: dict) -> None:
    """Resumable state of this step (rank 0 writes; every rank holds the same state)."""
    loop = ctx["loop"]
    if ctx["dist"].is_main:
        checkpoint.assert_finite(ctx["model"])
        state = {
            "step": loop.step, "loop": asdict(loop), "model": ctx["model"].state_dict(),
            "optimizer": ctx["optimizer"].state_dict(), "schedule": ctx["schedule"].state_dict(),
            "mixer": ctx["mixer"].state_dict(), "sampler": ctx["sampler"].state_dict(),
            "counter": ctx["counter"].state_dict(), "rng": _rng_state(),
            "identity": _identity(ctx["recipe"]),
        }
        checkpoint.save_state(ctx["run_dir"], loop.step, state, int(ctx["recipe"]["checkpoints"].get("keep_last", 2)))
    distributed.barrier(ctx["dist"])


def _identity(recipe: dict) -> dict:
    """The recipe parts a resumed run must share with the state (others, e.g. logging, may change)."""
    return {"seed": recipe.get("seed"), "model": recipe["model"], "batch": recipe["batch"]}


def _check_same_run(recipe: dict, state: dict | None) -> None:
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


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class _LogWindow:
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

    def record(self, ctx: dict, grad_norm: float) -> dict:
        """The "train" record over the steps since the last one (mean loss of the finite steps)."""
        c, loop, mixer = ctx["counter"], ctx["loop"], ctx["mixer"]
        sums = all_reduce_sum(self.lang_sums.clone(), ctx["dist"]).tolist()
        lang_loss = {lang: s / n for lang, (s, n) in zip(mixer.langs, sums) if n > 0}
        rec = {
            "kind": "train", "step": loop.step,
            "loss": float(np.mean(self.losses)) if self.losses else float("nan"),
            "lang_loss": lang_loss, "lr": ctx["optimizer"].lrs(), "grad_norm": grad_norm,
            "tokens": c.tokens, "words": c.words,
            "tokens_per_s": (c.tokens - self.tokens0) / max(self.seconds, 1e-9),
            "epochs": c.epochs(), "pi": mixer.probabilities(), "wall_s": loop.wall_s,
        }
        self.tokens0 = c.tokens
        self.reset()
        return rec


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


def _open_dataset(recipe: dict) -> dict:
    """The prepared dataset: shards, per-language counts, tokenizer folder, ledger and special ids."""
    if not recipe["data"].get("dir"):
        raise UserError("data.dir: the trainer needs a prepared dataset folder (nestling train prepares one first)")
    data_dir = Path(recipe["data"]["dir"])
    shards = load_shards(data_dir, recipe["data"].get("langs") or None)
    tokenizer_dir = data_dir / "tokenizer"
    if not (tokenizer_dir / "tokenizer.json").is_file() and not (tokenizer_dir / "tokenizer_config.json").is_file():
        raise UserError(f"{tokenizer_dir}: no tokenizer; run `nestling tokenizer train {data_dir}` first")
    ledger_path = data_dir / "ledger.json"
    metas = {lang: s.meta for lang, s in shards.items()}
    first = next(iter(metas.values()))
    for lang, meta in metas.items():
        if meta["vocab_size"] != first["vocab_size"]:
            raise UserError(f"{data_dir}/shards/{lang}/meta.json: vocab_size differs from the other languages")
    return {
        "dir": data_dir, "shards": shards, "metas": metas, "tokenizer_dir": tokenizer_dir,
        "ledger": json.loads(ledger_path.read_text()) if ledger_path.is_file() else None,
        "train_tokens": {lang: int(len(s.train)) for lang, s in shards.items()},
        "words_per_token": {lang: s.words_per_token for lang, s in shards.items()},
        "vocab_size": int(first["vocab_size"]), "bos": first.get("bos_token_id"), "eos": first.get("eos_token_id"),
    }


def _build_model(recipe: dict, data: dict):
    from transformers import AutoTokenizer

    from nestling.models import build_model

    pad = AutoTokenizer.from_pretrained(data["tokenizer_dir"]).pad_token_id
    pad = pad if pad is not None else data["eos"]
    model = build_model(recipe["model"], data["vocab_size"], data["bos"], data["eos"], pad)
    # Master weights are fp32 whatever the compute precision (autocast handles bf16).
    return model.float().train()


def _build_mixer(recipe, data, total_tokens, max_epochs, allow_over, run_dir, dist):
    from nestling.mixing import build_mixer
    from nestling.mixing.budget import token_budgets

    budgets = None if allow_over else token_budgets(data["ledger"], data["metas"], max_epochs)
    langs = sorted(data["shards"])
    return build_mixer(recipe["mixing"], langs, data["train_tokens"], budgets, total_tokens,
                       int(recipe.get("seed", 0)), run_dir if dist.is_main else None)


def _plan_batch(recipe: dict, model, data: dict, dist: Dist, autocast) -> BatchPlan:
    b = recipe["batch"]
    fits = None
    if b.get("micro_batch", "auto") == "auto" and dist.device.type == "cuda":
        fits = cuda_fits(model, int(b["seq_len"]), data["vocab_size"], dist.device, autocast)
    plan = plan_batch(int(b["global_batch"]), int(b["seq_len"]), b.get("micro_batch", "auto"), dist.world_size, fits)
    if dist.active and fits is not None:
        # Ranks may measure different free memory: all take the smallest micro-batch any found.
        t = torch.tensor([plan.micro], device=dist.device)
        torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MIN)
        plan = plan_batch(plan.global_batch, plan.seq_len, int(t.item()), dist.world_size)
    return plan


def _wrap(model, run_cfg: dict, dist: Dist):
    """The module the training forward goes through: DDP across ranks, optionally torch.compile'd."""
    fwd = model
    if dist.active:
        ids = [dist.device.index] if dist.device.type == "cuda" else None
        fwd = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
    if run_cfg.get("compile", False):
        fwd = torch.compile(fwd)
    return fwd


def _autocast(precision: str, device: torch.device):
    """A context factory: bf16 autocast ("auto" on CUDA, or "bf16"), else plain fp32."""
    if precision == "auto":
        precision = "bf16" if device.type == "cuda" else "fp32"
    if precision == "fp32":
        return contextlib.nullcontext
    if precision == "bf16":
        if device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
        return partial(torch.autocast, device_type=device.type, dtype=torch.bfloat16)
    raise UserError(f"run.precision must be auto, fp32 or bf16, got {precision!r}")


def _run_dir(recipe: dict, out_dir, resume, dist: Dist) -> Path:
    """The run folder: ``resume``, else ``out_dir``, else runs/<date>_<method>_seed<N> (rank 0's date)."""
    if resume is not None:
        run_dir = Path(resume)
        if not checkpoint.list_states(run_dir):
            raise UserError(f"--resume {run_dir}: no training state found under {run_dir}/state/")
        return run_dir
    if out_dir is None:
        date = distributed.broadcast_object(dt.date.today().isoformat(), dist)
        name = f"{date}_{recipe.get('method', 'run')}_seed{recipe.get('seed', 0)}"
        out_dir = Path(recipe["run"].get("out_root", "runs")) / name
    run_dir = Path(out_dir)
    if checkpoint.list_states(run_dir) or (run_dir / "summary.json").exists():
        raise UserError(f"{run_dir} already holds a run; continue it with --resume {run_dir} or choose another --out")
    # Created by _write_run_files once the model, batch plan and budget have passed their checks:
    # a refused recipe leaves no empty run folder behind.
    return run_dir


def _write_run_files(recipe: dict, run_dir: Path, data: dict) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "recipe.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False, allow_unicode=True))
    if (data["dir"] / "ledger.json").is_file():
        shutil.copy2(data["dir"] / "ledger.json", run_dir / "ledger.json")


def _hardware(dist: Dist) -> str:
    if dist.device.type == "cuda":
        return f"{dist.world_size} x {torch.cuda.get_device_name(dist.device)}"
    return f"{dist.world_size} x CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
