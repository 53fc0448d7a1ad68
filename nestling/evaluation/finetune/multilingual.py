"""The multilingual track's fine-tuning method, as ``multilingual/finetune/finetune_classification.py``.

transformers' Trainer on ``AutoModelForSequenceClassification`` (the model's own classification head):
inputs padded to ``sequence_length``, AdamW with a linear decay and no warm-up, the last partial batch
dropped, one validation pass per epoch with early stopping (``patience`` epochs without an improvement
over 0.001 in F1 for binary tasks, accuracy otherwise), and, as the official script (which saves no
checkpoint to go back to), the scores of the model at the end of training.

One deliberate difference: the official script sets the model's pad token to the EOS token even when the
tokenizer pads with another one, which makes the sequence-classification head read a pad position; here
the model's pad token is the tokenizer's (EOS where the tokenizer has none, the usual case), so the head
reads the last real token and the padding never changes a prediction.
"""

from __future__ import annotations

import tempfile

import numpy as np
import torch

from nestling.errors import UserError
from nestling.evaluation.finetune.strict import compute_metrics
from nestling.evaluation.finetune.tasks import TaskData


class _Examples(torch.utils.data.Dataset):
    def __init__(self, encodings: dict, labels: list[int]):
        self.encodings, self.labels = encodings, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict:
        item = {k: torch.tensor(v[i]) for k, v in self.encodings.items()}
        item["labels"] = torch.tensor(self.labels[i])
        return item


def _encode(tokenizer, texts: list, max_length: int) -> dict:
    args = ([t[0] for t in texts], [t[1] for t in texts]) if isinstance(texts[0], tuple) else (texts,)
    enc = tokenizer(*args, padding="max_length", max_length=max_length, truncation=True)
    return {k: enc[k] for k in ("input_ids", "attention_mask")}


def load_classifier(location, num_labels: int, pad_token_id: int):
    from transformers import AutoConfig, AutoModelForSequenceClassification

    try:
        config = AutoConfig.from_pretrained(location, num_labels=num_labels, trust_remote_code=True)
        config.pad_token_id = pad_token_id
        return AutoModelForSequenceClassification.from_pretrained(location, config=config, trust_remote_code=True)
    except (OSError, ValueError) as err:
        raise UserError(f"{location}: cannot load it for sequence classification "
                        f"({str(err).splitlines()[0]})") from None


def finetune_task_hf(location, tokenizer, task: TaskData, cfg: dict, *, seed: int, device: torch.device,
                     precision: str = "fp32", epoch_callback=None) -> dict:
    """Fine-tune AutoModelForSequenceClassification on one task; scores of the final model."""
    from transformers import EarlyStoppingCallback, Trainer, TrainerCallback, TrainingArguments, set_seed

    binary = task.num_labels == 2
    metric_names = ("accuracy", "f1", "mcc") if binary else ("accuracy",)
    history, training = [], [True]

    class Progress(TrainerCallback):
        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            if not training[0]:
                return
            history.append({k: (metrics or {}).get(f"eval_{k}") for k in metric_names})
            if epoch_callback is not None:
                epoch_callback(len(history), history[-1])

    def metrics_fn(p) -> dict:
        logits = p.predictions[0] if isinstance(p.predictions, tuple) else p.predictions
        return compute_metrics(p.label_ids, np.argmax(logits, axis=1), metric_names)

    set_seed(seed)
    model = load_classifier(location, task.num_labels, tokenizer.pad_token_id)
    train = _Examples(_encode(tokenizer, task.train.texts, cfg["sequence_length"]), task.train.labels)
    valid = _Examples(_encode(tokenizer, task.valid.texts, cfg["sequence_length"]), task.valid.labels)
    with tempfile.TemporaryDirectory(prefix="nestling-finetune-") as tmp:
        args = TrainingArguments(
            output_dir=tmp, per_device_train_batch_size=cfg["batch_size"], learning_rate=cfg["learning_rate"],
            num_train_epochs=cfg["epochs"], eval_strategy="epoch", save_strategy="no", seed=seed,
            dataloader_drop_last=True, report_to=[], disable_tqdm=True, logging_strategy="no",
            metric_for_best_model="f1" if binary else "accuracy", greater_is_better=True,
            use_cpu=device.type == "cpu", bf16=precision == "bf16")
        # As the official script: early stopping reads the best metric, but nothing is saved to reload.
        args.load_best_model_at_end = True
        trainer = Trainer(model=model, args=args, train_dataset=train, eval_dataset=valid, compute_metrics=metrics_fn,
                          callbacks=[EarlyStoppingCallback(cfg["patience"], 0.001), Progress()])
        trainer.train()
        training[0] = False
        final = trainer.evaluate()
    result = {k: float(final[f"eval_{k}"]) for k in metric_names}
    return {**result, "epochs_run": len(history), "history": history}
