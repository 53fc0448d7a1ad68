"""Fine-tuning evaluation (`nestling finetune`), as the official BabyLM pipelines fine-tune.

- strict track (glue layout): `strict.finetune_task`, the official classifier head and training loop;
- multilingual track: `multilingual.finetune_task_hf`, transformers' Trainer with
  AutoModelForSequenceClassification, as ``multilingual/finetune/finetune_classification.py``;
- `finetune_path` runs tasks x revisions x seeds and writes the ``finetune`` section of results.json.
"""

import importlib

# Imported on first use (PEP 562): the CLI reads finetune.tasks' suite names without loading torch.
__all__ = ["finetune_path", "format_table", "merge_into"]


def __getattr__(name: str):
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.run"), name)
