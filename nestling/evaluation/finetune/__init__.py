"""Fine-tuning evaluation (`nestling finetune`), as the official BabyLM pipelines fine-tune.

- strict track (glue layout): `strict.finetune_task`, the official classifier head and training loop;
- multilingual track: `multilingual.finetune_task_hf`, transformers' Trainer with
  AutoModelForSequenceClassification, as ``multilingual/finetune/finetune_classification.py``;
- `finetune_path` runs tasks x revisions x seeds and writes the ``finetune`` section of results.json.
"""

from nestling.evaluation.finetune.run import finetune_path, format_table, merge_into

__all__ = ["finetune_path", "format_table", "merge_into"]
