"""The data plan: what a run reads. The prepared dataset (shards, tokenizer, ledger, counts), the batch
shape, the planned number of steps, the window sampler, and the fixed held-out windows for the
validation loss and the mixer's probes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from nestling.data.ledger import read_ledger
from nestling.data.shards import LanguageShards, load_shards
from nestling.errors import UserError
from nestling.training.batching import (BatchPlan, WindowSampler, eval_windows, held_out_split, memory_fits,
                                        plan_batch)
from nestling.training.counting import check_epochs, plan_steps
from nestling.training.distributed import Dist
from nestling.training.milestones import Corpus


@dataclass(frozen=True)
class Dataset:
    """A prepared dataset folder, opened: shards per language, tokenizer folder, ledger, special ids."""

    dir: Path
    shards: dict[str, LanguageShards]
    tokenizer_dir: Path
    ledger: dict | None
    vocab_size: int
    bos: int | None
    eos: int | None

    @property
    def langs(self) -> list[str]:
        return sorted(self.shards)

    @property
    def metas(self) -> dict[str, dict]:
        return {lang: s.meta for lang, s in self.shards.items()}

    @property
    def train_tokens(self) -> dict[str, int]:
        return {lang: int(len(s.train)) for lang, s in self.shards.items()}

    @property
    def words_per_token(self) -> dict[str, float]:
        return {lang: s.words_per_token for lang, s in self.shards.items()}

    @property
    def corpus(self) -> Corpus:
        """The corpus's size over all languages, held-out slice included (what a budget is counted on)."""
        metas = self.metas.values()
        return Corpus(train_tokens=sum(self.train_tokens.values()),
                      val_tokens=sum(int(len(s.val)) for s in self.shards.values()),
                      train_words=sum(float(m["train_words"]) for m in metas),
                      val_words=sum(float(m.get("val_words", 0)) for m in metas))


@dataclass
class DataPlan:
    """The dataset, the batch shape, the planned steps, the sampler and the fixed held-out windows."""

    dataset: Dataset
    batch: BatchPlan
    total_steps: int
    sampler: WindowSampler
    val: dict[str, torch.Tensor]  # validation windows, from the start of each val shard's validation part
    probes: dict[str, torch.Tensor]  # mixer probe windows: each val shard's probe part (held_out_split)

    @property
    def total_tokens(self) -> int:
        return self.total_steps * self.batch.tokens_per_step


def open_dataset(recipe) -> Dataset:
    """The recipe's prepared dataset (``data.dir``); UserError when it is not one."""
    if not recipe.data.dir:
        raise UserError("data.dir: the trainer needs a prepared dataset folder (nestling train prepares one first)")
    data_dir = Path(recipe.data.dir)
    shards = load_shards(data_dir)
    tokenizer_dir = data_dir / "tokenizer"
    if not (tokenizer_dir / "tokenizer.json").is_file() and not (tokenizer_dir / "tokenizer_config.json").is_file():
        raise UserError(f"{tokenizer_dir}: no tokenizer; run `nestling tokenizer train {data_dir}` first")
    first = next(iter(shards.values())).meta
    for lang, s in shards.items():
        if s.meta["vocab_size"] != first["vocab_size"]:
            raise UserError(f"{data_dir}/shards/{lang}/meta.json: vocab_size differs from the other languages")
    return Dataset(dir=data_dir, shards=shards, tokenizer_dir=tokenizer_dir, ledger=read_ledger(data_dir, required=False),
                   vocab_size=int(first["vocab_size"]), bos=first.get("bos_token_id"), eos=first.get("eos_token_id"))


def make_data_plan(recipe, dataset: Dataset, model, dist: Dist, autocast) -> DataPlan:
    """Batch shape (micro-batch sized by memory), planned steps (checked against max_epochs), windows."""
    batch = _batch_plan(recipe.batch, model, dataset, dist, autocast)
    train_total = sum(dataset.train_tokens.values())
    total_steps = plan_steps(recipe.budget, train_total, batch.tokens_per_step)
    planned_epochs = total_steps * batch.tokens_per_step / train_total
    check_epochs({"all languages": planned_epochs}, float(recipe.budget.max_epochs), recipe.budget.allow_over_epochs,
                 "budget")
    sampler = WindowSampler({lang: s.train for lang, s in dataset.shards.items()}, batch.seq_len, recipe.seed)
    val, probes = {}, {}
    for lang, s in dataset.shards.items():
        val_part, probe_part = held_out_split(s.val, recipe.mixing.probe_tokens)
        val[lang] = eval_windows(val_part, batch.seq_len, recipe.run.val_tokens)
        probes[lang] = eval_windows(probe_part, batch.seq_len, recipe.mixing.probe_tokens)
    return DataPlan(dataset, batch, total_steps, sampler, val, probes)


def _batch_plan(b, model, dataset: Dataset, dist: Dist, autocast) -> BatchPlan:
    fits = None
    if b.micro_batch == "auto":
        setting = f"{autocast}|checkpointing={getattr(model, 'is_gradient_checkpointing', False)}"
        fits = memory_fits(model, b.seq_len, dataset.vocab_size, dist.device, autocast, setting)
    plan = plan_batch(b.global_batch, b.seq_len, b.micro_batch, dist.world_size, fits)
    if dist.active and fits is not None:
        # Ranks may measure different free memory: all take the smallest micro-batch any found.
        t = torch.tensor([plan.micro], device=dist.device)
        torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MIN)
        plan = plan_batch(plan.global_batch, plan.seq_len, int(t.item()), dist.world_size)
    return plan
