"""AoA test data in the official formats, and a run whose revisions have different weights.

``cdi_childes.json`` (AoA_word/prepare_dataset.py output, read by eval_util.load_eval)::

    {word: [{"context": "beginning-of-sentence words", "word_in_context_stats":
             {"count": int, "frequency": float, "log_freq_per_million": float}}, ...]}

``cdi_human.csv`` (read by utils.AoAEvaluator): a ``word`` column and the proportion of children
producing the word at each age, columns ``16`` .. ``30`` (months), empty cells allowed.

The default sizes give exactly 8,005 (word, context) rows, the official collation's AOA_SIZE.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import shutil
from pathlib import Path

import numpy as np

REAL_WORDS = ["ball", "dog", "cat", "mommy", "daddy", "milk", "shoe", "book", "car", "baby", "cookie", "juice",
              "bath", "bird", "duck", "hat", "cup", "banana", "apple", "truck", "water", "spoon", "bed", "nose"]
CONTEXTS = ["I want the", "look at the", "where is the", "can you get the", "give me the", "that is a",
            "do you see the", "put it on the", "here is your", "we have a", "she has a", "he likes the",
            "where did the", "I see a", "you can have the", "this is my", "it is a", "let us find the",
            "do you want the", "show me the"]


def fixture_words(n: int) -> list[str]:
    """n distinct words: real early words first, then pronounceable made-up ones (all longer than 1 char)."""
    made_up = ("".join(p) for p in itertools.product("bdgkmnpst", "aeiou", "lmnr", "aeiou"))
    return (REAL_WORDS + [w for w in made_up if w not in REAL_WORDS])[:n]


def write_cdi_childes(path: Path, n_words: int = 401, contexts_per_word: int = 20, last_word_contexts: int = 5) -> Path:
    """Every word with ``contexts_per_word`` contexts (the last with ``last_word_contexts``): 8,005 rows by default.

    A one-character word is included too; the official loader drops it (so it adds no row).
    """
    data = {}
    for n, word in enumerate(fixture_words(n_words)):
        k = last_word_contexts if n == n_words - 1 else contexts_per_word
        data[word] = [{"context": CONTEXTS[(n + i) % len(CONTEXTS)] + ("  " if i % 7 == 3 else ""),
                       "word_in_context_stats": {"count": 50 - i, "frequency": round(1 / (i + 2), 6),
                                                 "log_freq_per_million": round(math.log(1e6 / (i + 2)), 6)}}
                      for i in range(k)]
    data["a"] = [{"context": "this is", "word_in_context_stats": {"count": 3, "frequency": 0.1,
                                                                  "log_freq_per_million": 11.5}}]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path


def write_cdi_human(path: Path, words: list[str], seed: int = 0) -> Path:
    """Sigmoid-shaped proportions per word (midpoints 18..28 months), some cells empty, some words absent."""
    rng = np.random.default_rng(seed)
    ages = list(range(16, 31))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["word", *map(str, ages)])
        for n, word in enumerate(words):
            if n % 9 == 8:
                continue  # not in the CDI
            mid, slope = rng.uniform(18, 28), rng.uniform(0.4, 1.2)
            cells = [min(1.0, max(0.0, 1 / (1 + math.exp(-slope * (a - mid))) + rng.normal(0, 0.02))) for a in ages]
            if n % 5 == 0:
                cells[3] = ""
            writer.writerow([word, *[c if c == "" else f"{c:.4f}" for c in cells]])
    return path


def build_aoa_root(root: Path, **sizes) -> Path:
    """root/full_eval/aoa/{cdi_childes.json, cdi_human.csv}."""
    contexts = write_cdi_childes(root / "full_eval" / "aoa" / "cdi_childes.json", **sizes)
    words = [w for w in json.loads(contexts.read_text()) if len(w) > 1]
    write_cdi_human(root / "full_eval" / "aoa" / "cdi_human.csv", words)
    return root


def build_learning_run(run: Path, model_dir: Path, revisions: list[str], final: bool = True) -> Path:
    """A run whose checkpoints interpolate from a flat start towards ``model_dir``'s weights.

    Revision k of n has every weight matrix scaled by (k + 1) / n, so surprisals change from one
    revision to the next (a run whose revisions were the same weights could not show that each
    revision's own folder is loaded).
    """
    from safetensors.torch import load_file, save_file

    from nestling.run_folder import revision_words

    weights = load_file(model_dir / "model.safetensors")
    for k, rev in enumerate(revisions):
        dest = run / "checkpoints" / rev
        shutil.copytree(model_dir, dest)
        scale = (k + 1) / len(revisions)
        save_file({name: (w * scale if w.dim() == 2 else w).contiguous() for name, w in weights.items()},
                  dest / "model.safetensors", metadata={"format": "pt"})
        (dest / "checkpoint.json").write_text(json.dumps({"words_seen": int(revision_words(rev))}))
    if final:
        shutil.copytree(model_dir, run / "final")
    return run
