"""Tiny fine-tuning fixtures: a random tiny Llama folder and small GLUE-layout task files built in the test."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

WORDS = ["cat", "dog", "bird", "fish", "tree", "house", "car", "book", "sun", "moon"]


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def rte_records(n: int, seed: int = 0) -> list[dict]:
    """An easy pair task: label 0 when the hypothesis repeats the premise's word, else 1."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        a = rng.choice(WORDS)
        label = i % 2
        b = a if label == 0 else rng.choice([w for w in WORDS if w != a])
        out.append({"sentence1": f"the {a} is here", "sentence2": f"a {b}", "label": label, "idx": i})
    return out


def wsc_records(n: int) -> list[dict]:
    return [{"text": f"The {WORDS[i % 10]} saw the {WORDS[(i + 1) % 10]} because it was there.",
             "span1_text": WORDS[i % 10], "span2_text": "it", "span1_index": 1, "span2_index": 6,
             "label": i % 2, "idx": i} for i in range(n)]


def mnli_records(n: int) -> list[dict]:
    return [{"premise": f"the {WORDS[i % 10]} runs", "hypothesis": f"a {WORDS[(i * 3) % 10]} sleeps",
             "label": i % 3, "idx": i} for i in range(n)]


@pytest.fixture(scope="session")
def glue_dir(tmp_path_factory) -> Path:
    """rte (train 96, valid 32), wsc and mnli small splits, and a boolq with only a validation split."""
    root = tmp_path_factory.mktemp("glue")
    write_jsonl(root / "rte.train.jsonl", rte_records(96, seed=1))
    write_jsonl(root / "rte.valid.jsonl", rte_records(32, seed=2))
    write_jsonl(root / "wsc.train.jsonl", wsc_records(40))
    write_jsonl(root / "wsc.valid.jsonl", wsc_records(12))
    write_jsonl(root / "mnli.train.jsonl", mnli_records(48))
    write_jsonl(root / "mnli.valid.jsonl", mnli_records(15))
    write_jsonl(root / "boolq.valid.jsonl", [{"question": "is it", "passage": "it is", "label": 1}])
    return root


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory) -> Path:
    from tests.evaluation.conftest import FALLBACK_SENTENCES, build_tiny_model

    sentences = FALLBACK_SENTENCES * 5 + [f"{r['sentence1']} {r['sentence2']}" for r in rte_records(50)]
    return build_tiny_model(tmp_path_factory.mktemp("tiny_llama"), sentences, vocab_size=300, hidden=32)


@pytest.fixture(scope="session")
def tiny_run_dir(tmp_path_factory, tiny_llama_dir) -> Path:
    """A run folder with final/ (the tiny Llama) and a results.json holding a zero-shot section."""
    import shutil

    run = tmp_path_factory.mktemp("run")
    shutil.copytree(tiny_llama_dir, run / "final")
    (run / "final" / "checkpoint.json").write_text(json.dumps({"name": "final", "words_seen": 1000}))
    (run / "results.json").write_text(json.dumps({"schema_version": 1, "run": str(run), "revisions": {
        "final": {"tasks": {"blimp": {"macro_acc": 0.6}}}}, "learning_curve": []}))
    return run
