"""The training engine: a plain PyTorch loop (trainer.py, read top to bottom) over small parts.

state (TrainState, LoopState), data_plan (dataset, batch shape, planned steps, held-out windows),
mixer (the run's mixer: budgets, sampling, probes), optim (MuonAdamW), schedule (WSD), checkpointing
(what is saved and restored: milestones, final model, resumable state), checkpoint (writing those
folders), metrics (metrics.jsonl, TensorBoard, tqdm, summary.json), batching (micro-batches, windows
from the shards), counting (tokens, words, epochs), milestones (BabyLM checkpoint thresholds),
distributed (torchrun DDP).
"""

from nestling.training.trainer import TrainingDiverged, train

__all__ = ["train", "TrainingDiverged"]
