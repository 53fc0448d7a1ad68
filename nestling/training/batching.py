"""Batches: micro-batch sizing with exact gradient accumulation, and windows drawn from the shards.

The global batch (sequences x seq_len tokens) is fixed by the recipe. Each of the W ranks takes
global_batch / W sequences, in ``accum`` micro-batches of ``micro`` sequences, so the gradient is that
of the full global batch whatever the device.

Every rank draws the languages and windows of the *whole* global batch from identically seeded
generators (cheap bookkeeping) and reads only its own slice. The data order therefore does not depend
on the number of ranks, and a 2-process run sees exactly the batches of a 1-process run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from nestling.errors import UserError

CPU_MICRO_BATCH = 8


@dataclass(frozen=True)
class BatchPlan:
    """Sequences per global batch, per rank, per micro-batch, and micro-batches per step."""

    global_batch: int
    per_rank: int
    micro: int
    accum: int
    seq_len: int

    @property
    def tokens_per_step(self) -> int:
        return self.global_batch * self.seq_len


def compile_enabled(setting: bool | str, device: torch.device) -> bool:
    """``run.compile``: true, false, or auto (compile on CUDA, where fusing the many small ops pays; on CPU
    the first steps' compilation costs minutes)."""
    return device.type == "cuda" if setting == "auto" else bool(setting)


def enable_activation_checkpointing(model) -> None:
    """``run.activation_checkpointing``: each block's activations are recomputed in the backward pass
    (non-reentrant checkpoints; transformers >= 5 names the switch activation_checkpointing_enable)."""
    enable = getattr(model, "activation_checkpointing_enable", None)
    if enable is not None:
        enable()
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})


def divisors_desc(n: int) -> list[int]:
    return [d for d in range(n, 0, -1) if n % d == 0]


def plan_batch(global_batch: int, seq_len: int, micro_batch: int | str, world_size: int, fits=None) -> BatchPlan:
    """Split ``global_batch`` over ranks and micro-batches.

    ``micro_batch="auto"`` takes the largest divisor of the per-rank batch for which ``fits(micro)`` is
    true (``memory_fits``: the device's free memory against a probed step), else (no probe) the largest
    divisor <= CPU_MICRO_BATCH. A number is
    the most sequences per forward pass: the largest divisor of the per-rank batch up to it, so one
    recipe runs on any number of processes (the gradient is the same; summary.json records the plan).
    """
    if global_batch % world_size:
        raise UserError(f"batch.global_batch={global_batch} must be divisible by the {world_size} processes")
    per_rank = global_batch // world_size
    if micro_batch == "auto":
        candidates = divisors_desc(per_rank)
        if fits is None:
            micro = next(d for d in candidates if d <= CPU_MICRO_BATCH)
        else:
            micro = next((d for d in candidates if fits(d)), 0)
            if not micro:
                raise UserError(f"not even one sequence of batch.seq_len={seq_len} fits on the device")
    else:
        if int(micro_batch) < 1:
            raise UserError(f"batch.micro_batch must be auto or a positive integer, got {micro_batch}")
        micro = next(d for d in divisors_desc(per_rank) if d <= int(micro_batch))
    return BatchPlan(global_batch, per_rank, micro, per_rank // micro, seq_len)


# Share of the free memory a micro-batch may plan to use: the rest absorbs allocator fragmentation and what
# the probe cannot see (on CPU, transient buffers of the backward pass).
MEMORY_MARGIN = 0.2
# On CPU the probe counts the tensors autograd saves; the backward's transients add about half again
# (a 48M step at 8 x 1,024: 6.3 GB saved, 9.5 GB peak).
CPU_TRANSIENT_FACTOR = 1.5


def _free_bytes(device: torch.device) -> int:
    """Memory a micro-batch may still take: free CUDA memory (plus what torch's cache holds), or available RAM."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device))
    import psutil

    return int(psutil.virtual_memory().available)


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return f"{props.name}/{props.total_memory}"
    import psutil

    return f"cpu/{psutil.virtual_memory().total}"


def step_bytes(model: torch.nn.Module, micro: int, seq_len: int, vocab_size: int, device: torch.device,
               autocast) -> int:
    """Bytes one forward/backward of ``micro`` sequences adds to memory: the measured peak on CUDA, the
    tensors autograd saves (times CPU_TRANSIENT_FACTOR) on CPU, where no allocator counts its peak."""
    # A generator of its own: the probe must not move the run's random streams (fresh and resumed runs
    # probe or read the cache alike, and must stay equal).
    ids = torch.randint(0, vocab_size, (micro, seq_len), generator=torch.Generator().manual_seed(0)).to(device)
    saved: dict[int, int] = {}

    def keep(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        saved[storage.data_ptr()] = storage.nbytes()
        return t

    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    hooks = torch.autograd.graph.saved_tensors_hooks(keep, lambda t: t) if device.type != "cuda" \
        else contextlib.nullcontext()
    with hooks, autocast():
        logits = model(input_ids=ids, use_cache=False).logits
        loss = torch.nn.functional.cross_entropy(logits.float().flatten(0, 1), ids.flatten())
    loss.backward()
    model.zero_grad(set_to_none=True)
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device) - base)
    return int(sum(saved.values()) * CPU_TRANSIENT_FACTOR)


def _probe_cache_path() -> Path:
    cache_home = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    root = os.environ.get("NESTLING_CACHE") or cache_home / "nestling"
    return Path(root) / "micro_batch_probe.json"


def memory_per_sequence(model, seq_len: int, vocab_size: int, device: torch.device, autocast,
                        setting: str) -> tuple[float, float]:
    """(fixed bytes, bytes per sequence) of a training step: two probes (1 and 2 sequences), cached per
    device, model config, sequence length and ``setting`` (precision, checkpointing, compile), so a second
    run of the same recipe on the same device does not probe again."""
    config = getattr(model, "config", None)
    config_json = config.to_json_string(use_diff=False) if config is not None else repr(model)
    key = hashlib.sha256(f"{_device_name(device)}|{config_json}|{seq_len}|{setting}".encode()).hexdigest()
    path = _probe_cache_path()
    try:
        cache = json.loads(path.read_text())
    except (OSError, ValueError):
        cache = {}
    if key not in cache:
        one, two = (step_bytes(model, n, seq_len, vocab_size, device, autocast) for n in (1, 2))
        per_seq = max(two - one, 1)
        cache[key] = [max(one - per_seq, 0), per_seq]
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(cache))
        except OSError:
            pass  # a read-only home only costs the probe again next time
    fixed, per_seq = cache[key]
    return float(fixed), float(per_seq)


def memory_fits(model: torch.nn.Module, seq_len: int, vocab_size: int, device: torch.device, autocast,
                setting: str = "") -> callable:
    """A ``fits(micro)`` test by memory: the probed step bytes of ``micro`` sequences, plus the gradients and
    the optimizer states yet to come (at most 4 fp32 copies of the weights: gradient, AdamW's two moments or
    Muon's momentum), within (1 - MEMORY_MARGIN) of the device's free memory."""
    fixed, per_seq = memory_per_sequence(model, seq_len, vocab_size, device, autocast, setting)
    states = 4 * 4 * sum(p.numel() for p in model.parameters())
    budget = (1 - MEMORY_MARGIN) * _free_bytes(device) - states - fixed

    def fits(micro: int) -> bool:
        return micro * per_seq <= budget

    return fits


class WindowSampler:
    """Windows of seq_len + 1 tokens from each language's train memmap, in a shuffled order per epoch.

    A language's train tokens are cut into non-overlapping windows (the last token of one is the first
    of the next: inputs and shifted targets); each epoch visits every window once, in an order seeded by
    (seed, language, epoch). The position (epoch, cursor) per language is the resumable data state.
    """

    def __init__(self, train: dict[str, np.ndarray], seq_len: int, seed: int):
        self.train, self.seq_len, self.seed = train, seq_len, seed
        self.langs = sorted(train)
        self.n_windows = {lang: (len(arr) - 1) // seq_len for lang, arr in train.items()}
        short = [f"{lang} ({len(train[lang])} tokens)" for lang, n in self.n_windows.items() if n < 1]
        if short:
            raise UserError(f"train shards shorter than batch.seq_len+1={seq_len + 1}: {', '.join(short)}")
        self.position = {lang: [0, 0] for lang in self.langs}
        self._orders: dict[str, tuple[int, np.ndarray]] = {}

    def _order(self, lang: str, epoch: int) -> np.ndarray:
        cached = self._orders.get(lang)
        if cached is None or cached[0] != epoch:
            rng = np.random.default_rng([self.seed, self.langs.index(lang), epoch])
            cached = (epoch, rng.permutation(self.n_windows[lang]))
            self._orders[lang] = cached
        return cached[1]

    def next_start(self, lang: str) -> int:
        """Token offset of the next window of ``lang``, advancing its position."""
        epoch, cursor = self.position[lang]
        start = int(self._order(lang, epoch)[cursor]) * self.seq_len
        cursor += 1
        self.position[lang] = [epoch + 1, 0] if cursor == self.n_windows[lang] else [epoch, cursor]
        return start

    def read(self, lang: str, start: int) -> np.ndarray:
        return np.asarray(self.train[lang][start : start + self.seq_len + 1], dtype=np.int64)

    def state_dict(self) -> dict:
        return {"position": {lang: list(p) for lang, p in self.position.items()}}

    def load_state_dict(self, state: dict) -> None:
        self.position = {lang: list(p) for lang, p in state["position"].items()}


def draw_batch(
    sampler: WindowSampler, langs: list[str], plan: BatchPlan, rank: int
) -> tuple[torch.Tensor, list[str]]:
    """This rank's slice of the global batch whose sequence languages are ``langs``.

    Returns windows [B_rank, T+1] (int64, CPU) and their languages. Every rank advances the sampler
    over the whole global batch, so ranks stay in step.
    """
    starts = [sampler.next_start(lang) for lang in langs]
    lo, hi = rank * plan.per_rank, (rank + 1) * plan.per_rank
    windows = np.stack([sampler.read(lang, s) for lang, s in zip(langs[lo:hi], starts[lo:hi])])
    return torch.from_numpy(windows), langs[lo:hi]


def held_out_split(tokens: np.ndarray, probe_tokens: int) -> tuple[np.ndarray, np.ndarray]:
    """A val shard split in two disjoint parts: (validation, probes).

    The mixer's probes are a split of their own: the last ``probe_tokens`` + 1 tokens of the shard, at most
    half of it; the validation loss reads only what comes before. Without the split, a val shard of about
    8,192 tokens read from its start for validation (16,384 tokens asked) and from its end for probes would
    give the mixer the validation data. Every run makes the split, adaptive or not, so every method is
    validated on the same tokens.
    """
    cut = max(len(tokens) - (probe_tokens + 1), len(tokens) // 2)
    return tokens[:cut], tokens[cut:]


def eval_windows(tokens: np.ndarray, seq_len: int, n_tokens: int, from_end: bool = False) -> torch.Tensor:
    """Fixed evaluation windows [N, T+1] covering ``n_tokens`` of a val shard (its start, or its end).

    A val shard shorter than seq_len + 1 gives one shorter window.
    """
    n_tokens = min(n_tokens, len(tokens) - 1)
    if n_tokens < 1:
        return torch.empty(0, 2, dtype=torch.long)
    T = min(seq_len, n_tokens)
    n = max(1, n_tokens // T)
    lo = len(tokens) - (n * T + 1) if from_end else 0
    flat = np.asarray(tokens[lo : lo + n * T + 1], dtype=np.int64)
    return torch.from_numpy(np.stack([flat[i * T : i * T + T + 1] for i in range(n)]))
