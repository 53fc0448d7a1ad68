"""A fake official evaluation_data layout (every fast task, a few items each) and a fake run folder."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np

SENTENCES = ["The cat sat on the mat today.", "A dog barked at the mailman again.",
             "Many children like to read books.", "The box contains the hat and the map.",
             "She wound up talking to Barry about India.", "Emma put her mug of tea down.",
             "He smiled again and felt like a man.", "Finally Maria sat down with a cup."]


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def write_reading_csv(path: Path, seed: int = 0) -> Path:
    """reading_data.csv rows for every word (after the first) of SENTENCES, with random reading times."""
    rng = np.random.default_rng(seed)
    header = ["", "item", "word", "sentence", "context_length", "Subtlex_log10", "length", "RTfirstfix",
              "RTfirstpass", "RTgopast", "RTrightbound", "self_paced_reading_time", "ELAN", "LAN", "N400", "P600",
              "EPNP", "PNP", "prev_word", "prev_item", "prev_length"]
    rows = []
    for sentence in SENTENCES:
        words = sentence.split()
        for i in range(1, len(words)):
            word = words[i]
            rt = 150 + 12 * len(word) + rng.normal(0, 20, size=5)
            rows.append(["", " ".join(words[:i]), word, sentence, i, float(rng.uniform(5, 15)), len(word),
                         *[float(x) for x in rt], *[float(x) for x in rng.normal(0, 1, size=6)],
                         words[i - 1], " ".join(words[: i - 1]) if i > 1 else "", len(words[i - 1])])
    rng.shuffle(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for n, row in enumerate(rows):
            writer.writerow([n, *row[1:]])
    return path


def build_eval_root(root: Path, *, link_reading: bool = True) -> Path:
    """root/fast_eval/<every official fast task>; reading is a git-style link file when link_reading."""
    fast = root / "fast_eval"
    for uid, field in (("adjunct_island", "syntax"), ("anaphor_gender_agreement", "morphology")):
        write_jsonl(fast / "blimp_fast" / f"{uid}.jsonl", [
            {"sentence_good": g, "sentence_bad": b, "field": field, "linguistics_term": "t", "UID": uid, "pair_id": i}
            for i, (g, b) in enumerate([("The cat sat.", "The cat sat sat."), ("A dog barked.", "Dog a barked."),
                                        ("She is here.", "She is here."), ("They ran home.", "They runs home.")])])
    write_jsonl(fast / "supplement_fast" / "hypernym.jsonl", [
        {"sentence_good": "A robin is a bird.", "sentence_bad": "A bird is a robin."},
        {"sentence_good": "A dog is an animal.", "sentence_bad": "An animal is a dog."}])
    write_jsonl(fast / "ewok_fast" / "spatial-relations.jsonl", [
        {"Domain": "spatial-relations", "ContextType": "a", "ContextDiff": "b", "TargetDiff": "c",
         "Context1": "The cup is on the table.", "Context2": "The cup is under the table.",
         "Target1": "The cup is above the table.", "Target2": "The cup is below the table."},
        {"Domain": "spatial-relations", "ContextType": "a", "ContextDiff": "b", "TargetDiff": "c",
         "Context1": "Ann is left of Bob.", "Context2": "Ann is right of Bob.",
         "Target1": "Bob is right of Ann.", "Target2": "Bob is left of Ann."}])
    for name, stem, n in (("wug_adj_nominalization", "wug_adj_nominalization", 8),
                          ("wug_past_tense", "wug_past_tense", 6)):
        write_jsonl(fast / name / f"{stem}.jsonl", [
            {"sentences": f"Make a noun of dax{i}able. dax{i}ability\tMake a noun of dax{i}able. dax{i}ableness",
             "ratio": (i * 0.37) % 1} for i in range(n)])
    prefix = "Box 0 contains the hat, Box 1 contains the map. Box {} contains "
    write_jsonl(fast / "entity_tracking_fast" / "regular.jsonl", [
        {"sample_id": i, "numops": ops, "input_prefix": prefix.format(i % 2),
         "options": ["the hat.", "the map.", "nothing."] if i % 2 == 0 else ["the map.", "the hat.", "nothing."]}
        for i, ops in enumerate([0, 0, 0, 1, 1])])
    reading = root / "reading"
    write_reading_csv(reading / "reading_data.csv")
    if link_reading:
        (fast / "reading").write_text("../reading")  # a symlink as git writes it without symlink support
    else:
        shutil.copytree(reading, fast / "reading")
    return root


def build_run(run: Path, model_dir: Path, revisions=("chck_1M", "final")) -> Path:
    """A run folder whose revisions are copies of one model folder."""
    for rev in revisions:
        dest = run / "checkpoints" / rev if rev.startswith("chck_") else run / rev
        shutil.copytree(model_dir, dest)
        if rev.startswith("chck_"):
            (dest / "checkpoint.json").write_text(json.dumps({"words_seen": 1_000_000}))
    return run
