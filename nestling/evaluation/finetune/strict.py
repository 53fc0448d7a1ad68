"""The strict track's fine-tuning method, as ``evaluation_pipeline/finetune/trainer.py`` runs it.

AdamW on every parameter, linear warm-up then cosine decay to ``min_factor`` of the peak rate (stepped per
optimizer step), shuffled training batches with the last partial batch dropped, cross-entropy, one
validation pass per epoch and the best epoch's scores kept (``keep_best_model``; strict improvement on
the task's selection metric). Metrics are scikit-learn's, computed as the official code does.
"""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from nestling.evaluation.finetune.model import SequenceClassifier, load_backbone
from nestling.evaluation.finetune.tasks import TaskData


@dataclass
class StrictSettings:
    """The hyper-parameters of one task's fine-tuning run. No defaults here: they live once, in the recipe
    schema's ``finetune`` section (the official ones); build it with ``run.strict_settings``."""

    epochs: int
    learning_rate: float
    batch_size: int
    valid_batch_size: int
    sequence_length: int
    gradient_accumulation: int
    classifier_dropout: float
    classifier_layer_norm_eps: float
    weight_decay: float
    warmup_proportion: float
    min_factor: float
    beta1: float
    beta2: float
    optimizer_eps: float
    pooling: str
    keep_best_model: bool


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def load_pristine(location, revision: str | None = None, remote: bool = False):
    """The backbone as saved, on CPU: each task and seed fine-tunes a deep copy of it."""
    return load_backbone(location, revision, remote)


def compute_metrics(labels, predictions, names: tuple[str, ...]) -> dict[str, float]:
    """The official metrics: accuracy, binary F1 (positive label 1) and Matthews correlation."""
    from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

    funcs = {"accuracy": accuracy_score, "f1": f1_score, "mcc": matthews_corrcoef}
    return {name: float(funcs[name](labels, predictions)) for name in names}


def encode(tokenizer, texts: list, max_length: int) -> list[dict]:
    """Tokenize once (truncated as the official per-batch call truncates); padding happens per batch."""
    pairs = isinstance(texts[0], tuple)
    enc = tokenizer([t[0] for t in texts], [t[1] for t in texts], truncation=True, max_length=max_length) \
        if pairs else tokenizer(texts, truncation=True, max_length=max_length)
    return [{"input_ids": ids, "attention_mask": mask} for ids, mask in zip(enc["input_ids"], enc["attention_mask"])]


def _collate(tokenizer, features: list[dict]) -> dict[str, torch.Tensor]:
    labels = [f["label"] for f in features] if "label" in features[0] else None
    batch = tokenizer.pad([{k: f[k] for k in ("input_ids", "attention_mask")} for f in features],
                          return_tensors="pt")
    if labels is not None:
        batch["labels"] = torch.tensor(labels, dtype=torch.long)
    return batch


def make_schedule(optimizer, total_steps: int, settings: StrictSettings):
    """Linear warm-up over warmup_proportion of the steps, then cosine decay to min_factor x peak."""
    from transformers import get_cosine_with_min_lr_schedule_with_warmup

    return get_cosine_with_min_lr_schedule_with_warmup(
        optimizer, int(settings.warmup_proportion * total_steps), total_steps, min_lr_rate=settings.min_factor)


def autocast(device: torch.device, precision: str):
    """bf16 autocast on CUDA (as training), nothing on CPU."""
    if device.type == "cuda" and precision == "bf16":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@torch.no_grad()
def predict(model, features: list[dict], tokenizer, batch_size: int, device, precision: str) -> np.ndarray:
    """Argmax predictions in the order of ``features``; batches by length (padding never changes a result)."""
    model.eval()
    order = sorted(range(len(features)), key=lambda i: len(features[i]["input_ids"]))
    preds = np.empty(len(features), dtype=np.int64)
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        batch = _collate(tokenizer, [features[i] for i in idx])
        with autocast(device, precision):
            logits = model(batch["input_ids"].to(device), batch["attention_mask"].to(device))
        preds[idx] = logits.argmax(-1).cpu().numpy()
    return preds


def finetune_task(backbone, tokenizer, task: TaskData, settings: StrictSettings, *, device: torch.device,
                  precision: str = "fp32", epoch_callback=None) -> dict:
    """Fine-tune a fresh head (and the backbone) on one task; the best epoch's validation scores.

    ``backbone`` is consumed (trained in place). ``epoch_callback(epoch, metrics)`` is called after each
    validation pass (progress bars).
    """
    spec = task.spec
    model = SequenceClassifier(backbone, task.num_labels, pooling=settings.pooling,
                               dropout=settings.classifier_dropout,
                               layer_norm_eps=settings.classifier_layer_norm_eps).to(device)
    train = [dict(f, label=y) for f, y in zip(encode(tokenizer, task.train.texts, settings.sequence_length),
                                                task.train.labels)]
    valid = encode(tokenizer, task.valid.texts, settings.sequence_length)
    micro = settings.batch_size // settings.gradient_accumulation
    loader = DataLoader(train, batch_size=micro, shuffle=True, drop_last=True,
                        collate_fn=lambda feats: _collate(tokenizer, feats))
    total_steps = max(1, len(loader) // settings.gradient_accumulation * settings.epochs)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay,
                                  betas=(settings.beta1, settings.beta2), eps=settings.optimizer_eps)
    schedule = make_schedule(optimizer, total_steps, settings)
    history, best, best_preds = [], None, None
    for epoch in range(1, settings.epochs + 1):
        _train_epoch(model, loader, optimizer, schedule, settings.gradient_accumulation, device, precision)
        preds = predict(model, valid, tokenizer, settings.valid_batch_size, device, precision)
        metrics = compute_metrics(task.valid.labels, preds, spec.metrics)
        history.append(metrics)
        score = metrics[spec.metric_for_valid]
        if best is None or score > history[best - 1][spec.metric_for_valid] or not settings.keep_best_model:
            best, best_preds = epoch, preds
        if epoch_callback is not None:
            epoch_callback(epoch, metrics)
    # "predictions": the best epoch's validation predictions, for the official predictions.json.
    return {"best_epoch": best, **history[best - 1], "history": history, "predictions": best_preds.tolist()}


def _train_epoch(model, loader, optimizer, schedule, accumulation: int, device, precision: str) -> None:
    model.train()
    optimizer.zero_grad()
    for i, batch in enumerate(loader, 1):
        with autocast(device, precision):
            logits = model(batch["input_ids"].to(device), batch["attention_mask"].to(device))
        loss = F.cross_entropy(logits.float(), batch["labels"].to(device))
        loss.backward()
        if i % accumulation:
            continue
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
