"""The strict method: the official schedule and metrics, and a loop that learns an easy task."""

from __future__ import annotations

import math

import pytest
import torch

from nestling.evaluation.finetune.run import strict_settings
from nestling.evaluation.finetune.strict import compute_metrics, finetune_task, make_schedule
from nestling.evaluation.finetune.tasks import GLUE_TASKS, load_task
from nestling.recipe import section


def official(**values):
    """One task's settings: the schema's official defaults (the finetune section) with ``values`` changed."""
    return strict_settings(section("finetune", **values), "rte")


def official_factor(step: int, warmup: int, total: int, min_factor: float) -> float:
    """The official utils.cosine_schedule_with_warmup, written out step by step (the slow reference)."""
    if step < warmup:
        return step / max(1, warmup)
    progress = (step - warmup) / max(1, total - warmup)
    return max(min_factor, min_factor + (1 - min_factor) * 0.5 * (1.0 + math.cos(math.pi * progress)))


@pytest.mark.parametrize("total", [7, 50, 333])
def test_schedule_equals_the_official_one(total):
    settings = official()
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    schedule = make_schedule(optimizer, total, settings)
    warmup = int(settings.warmup_proportion * total)
    for step in range(total):
        assert optimizer.param_groups[0]["lr"] == pytest.approx(official_factor(step, warmup, total, 0.1), abs=1e-9)
        optimizer.step()
        schedule.step()


def test_metrics_are_the_official_ones():
    from sklearn.metrics import f1_score, matthews_corrcoef

    labels, preds = [0, 1, 1, 0, 1, 1], [0, 1, 0, 0, 1, 0]
    m = compute_metrics(labels, preds, ("accuracy", "f1", "mcc"))
    assert m == {"accuracy": pytest.approx(4 / 6), "f1": pytest.approx(f1_score(labels, preds)),
                 "mcc": pytest.approx(matthews_corrcoef(labels, preds))}


def test_finetuning_learns_an_easy_pair_task_and_keeps_the_best_epoch(tiny_llama_dir, glue_dir):
    from transformers import AutoTokenizer

    from nestling.evaluation.finetune.model import load_backbone
    from nestling.evaluation.finetune.strict import seed_everything

    task = load_task("rte", GLUE_TASKS["rte"], glue_dir / "rte.train.jsonl", glue_dir / "rte.valid.jsonl")
    tokenizer = AutoTokenizer.from_pretrained(tiny_llama_dir)
    settings = official(epochs=4, learning_rate=3e-3, batch_size=16, sequence_length=32)
    seed_everything(0)
    result = finetune_task(load_backbone(tiny_llama_dir), tokenizer, task, settings, device=torch.device("cpu"))
    scores = [h["accuracy"] for h in result["history"]]
    assert len(scores) == 4 and result["accuracy"] == max(scores)
    assert result["best_epoch"] == scores.index(max(scores)) + 1
    assert set(result) >= {"accuracy", "f1", "mcc"}
    assert result["accuracy"] > 0.6, scores  # chance is 0.5


def test_the_stream_mixer_fine_tunes_too(glue_dir, tmp_path):
    from nestling.evaluation.finetune.model import load_backbone
    from nestling.evaluation.finetune.strict import seed_everything
    from tests.export.fake_run import build_tokenizer, tiny_stream_mixer

    tokenizer = build_tokenizer()
    tiny_stream_mixer(tokenizer, seed=0).save_pretrained(tmp_path)
    task = load_task("wsc", GLUE_TASKS["wsc"], glue_dir / "wsc.train.jsonl", glue_dir / "wsc.valid.jsonl")
    seed_everything(0)
    backbone = load_backbone(tmp_path)
    before = [p.detach().clone() for p in backbone.parameters()]
    result = finetune_task(backbone, tokenizer, task, official(epochs=1, batch_size=8, sequence_length=32),
                           device=torch.device("cpu"))
    assert 0 <= result["accuracy"] <= 1 and result["best_epoch"] == 1
    assert any(not torch.equal(a, b) for a, b in zip(before, backbone.parameters()))  # the backbone trained
