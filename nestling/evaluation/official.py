"""Task scores and prediction lists exactly as the official strict pipeline makes them.

Source: strict/evaluation_pipeline/sentence_zero_shot/{compute_results.py, run.py} (causal backend,
temperature 1):

- the prediction is torch.max over the candidates' summed log-probs: the first of tied candidates
  (`aggregate.official_choice`); candidate 0 is correct;
- a task's accuracy is the mean over its UIDs of each UID's accuracy (per-UID macro); entity
  tracking first averages the UIDs of each split (regular, ambiref, move_contents) and then the
  splits;
- WUG tasks: the softmax over each item's two summed log-probs (float32) gives the model's
  preference for sentence 0; the score is Spearman's rho between it and the human ``ratio``;
- predictions: per UID, in item order, ``{"id": f"{uid}_{n}", "pred": <chosen completion>}``
  (COMPS: the whole chosen sentence; WUG adds ``"prob"``), wrapped as ``{uid: {"predictions": [...]}}``.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import torch

from nestling.evaluation.aggregate import aggregate, official_choice
from nestling.evaluation.tasks import Task

ENTITY_TRACKING_SPLITS = ("regular", "ambiref", "move_contents")
WUG_KINDS = ("wug_adj", "wug_past")


def wug_probabilities(per_item: list[np.ndarray]) -> np.ndarray:
    """Softmax weight of candidate 0 per item, in float32 as the official code computes it."""
    if not per_item:
        return np.zeros(0)
    stacked = torch.tensor(np.stack([np.asarray(s, dtype=np.float32) for s in per_item]))
    return torch.softmax(stacked, dim=1)[:, 0].double().numpy()


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(x, y)[0])


def entity_tracking_average(by_uid: dict[str, dict]) -> tuple[float, dict[str, float]]:
    """(mean over splits of the mean over each split's UIDs, the split means), as run.process_results."""
    splits = {}
    for split in ENTITY_TRACKING_SPLITS:
        accs = [u["acc_official"] for uid, u in by_uid.items() if uid.startswith(split)]
        if accs:
            splits[split] = sum(accs) / len(accs)
    return (sum(splits.values()) / len(splits) if splits else float("nan")), splits


def task_result(kind: str, task: Task, per_item: list[np.ndarray], seed: int = 0) -> dict:
    """A task's result: nestling's aggregate plus ``metric`` and the official ``score``."""
    base = {"format": task.format, "kind": kind, "files": [str(f) for f in task.files]}
    if kind in WUG_KINDS:
        probs = wug_probabilities(per_item)
        ratios = np.array([item.ratio for item in task.items], dtype=np.float64)
        return {**base, "metric": "spearman", "n_items": len(task.items), "score": _spearman(probs, ratios)}
    result = {**base, "metric": "accuracy", **aggregate(task.items, per_item, seed)}
    if kind == "entity_tracking":
        result["score"], result["by_split"] = entity_tracking_average(result["by_uid"])
    else:
        result["score"] = result["macro_acc_official"]
    return result


def task_predictions(kind: str, task: Task, per_item: list[np.ndarray]) -> dict:
    """The official predictions.json content of a minimal-pair or WUG task."""
    out: dict[str, list[dict]] = defaultdict(list)
    probs = wug_probabilities(per_item) if kind in WUG_KINDS else None
    for n, (item, scores) in enumerate(zip(task.items, per_item)):
        chosen = official_choice(scores)
        context, continuation = item.candidates[chosen]
        pred = {"id": f"{item.uid}_{len(out[item.uid])}",
                "pred": context + continuation if kind == "comps" else continuation}
        if probs is not None:
            pred["prob"] = float(probs[n])
        out[item.uid].append(pred)
    return {uid: {"predictions": preds} for uid, preds in out.items()}
