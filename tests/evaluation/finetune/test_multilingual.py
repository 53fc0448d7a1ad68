"""The multilingual suite: the official layout, transformers' Trainer with AutoModelForSequenceClassification."""

from __future__ import annotations

import json

from nestling.evaluation.finetune.run import finetune_path
from tests.evaluation.finetune.conftest import WORDS, write_jsonl

TOPICS = ["health", "travel", "science"]


def _sib(n: int) -> list[dict]:
    return [{"idx": i, "sentence": f"the {WORDS[i % 10]} and the {WORDS[(i + 3) % 10]}", "label": TOPICS[i % 3]}
            for i in range(n)]


def test_multilingual_suite_runs_present_tasks_and_skips_the_rest(tiny_llama_dir, tmp_path):
    data = tmp_path / "multilingual"
    write_jsonl(data / "en" / "sib200" / "sib200_en.train.jsonl", _sib(48))
    write_jsonl(data / "en" / "sib200" / "sib200_en.valid.jsonl", _sib(12))
    out = tmp_path / "results.json"
    table = finetune_path(tiny_llama_dir, suite="multilingual", data=data, out=out, progress=False,
                          overrides=["finetune.multilingual.epochs=2", "finetune.multilingual.batch_size=8",
                                     "finetune.multilingual.sequence_length=24"])
    assert "| main | sib200_en | accuracy |" in table and "xnli_en: skipped (no train split" in table
    task = json.loads(out.read_text())["finetune"]["revisions"]["main"]["tasks"]["sib200_en"]
    assert task["method"] == "multilingual" and task["num_labels"] == 3 and set(task["seeds"]) == {"12"}
    run = task["seeds"]["12"]
    assert 1 <= run["epochs_run"] <= 2 and len(run["history"]) == run["epochs_run"]
    assert 0 <= task["score"] <= 1 and set(task["metrics"]) == {"accuracy"}
