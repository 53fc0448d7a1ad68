"""The training engine: a plain PyTorch loop (trainer.py) over small parts.

optim (MuonAdamW), schedule (WSD), batching (micro-batches, windows from the shards), counting (tokens,
words, epochs), milestones (BabyLM checkpoint names), checkpoint (model folders, resumable state),
metrics (metrics.jsonl, TensorBoard, tqdm), distributed (torchrun DDP).
"""

from nestling.training.trainer import TrainingDiverged, train

__all__ = ["train", "TrainingDiverged"]
