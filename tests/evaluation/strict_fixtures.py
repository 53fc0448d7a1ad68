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


GLUE_LABELS = {"boolq": 2, "mnli": 3, "mrpc": 2, "multirc": 2, "qqp": 2, "rte": 2, "wsc": 2}


def build_full_eval(root: Path) -> Path:
    """root/full_eval/<every official full zero-shot task> + glue_filtered/<task>.valid.jsonl (needs fast_eval).

    Minimal pairs, EWoK, WUG adjectives, entity tracking and reading reuse the fast fixtures; WUG past
    tense and COMPS get their own files. The AoA files are built by aoa_fixtures.build_aoa_root.
    """
    fast, full = root / "fast_eval", root / "full_eval"
    for src, dest in (("blimp_fast", "blimp_filtered"), ("supplement_fast", "supplement_filtered"),
                      ("ewok_fast", "ewok_filtered"), ("entity_tracking_fast", "entity_tracking"),
                      ("wug_adj_nominalization", "wug_adj_nominalization")):
        shutil.copytree(fast / src, full / dest)
    shutil.copytree(root / "reading", full / "reading")
    write_jsonl(full / "wug_past_tense" / "wug_past_tense.jsonl", [
        {"sentences": f"Today I {v}. Yesterday I {v}ed.\tToday I {v}. Yesterday I {v[:-1]}ought.", "ratio": r}
        for v, r in (("spling", 0.8), ("gleed", 0.4), ("drit", 0.6), ("blick", 0.9), ("trame", 0.2), ("shink", 0.5),
                     ("zorp", 0.7))])
    for stem in ("comps_base", "comps_wugs"):
        write_jsonl(full / "comps" / f"{stem}.jsonl", [
            {"prefix_acceptable": f"A {a}", "prefix_unacceptable": f"A {b}", "property_phrase": p}
            for a, b, p in (("robin", "chair", "can fly."), ("dog", "rock", "can bark."), ("fish", "cat", "can swim."))])
    rng = np.random.default_rng(0)
    for task, n_labels in GLUE_LABELS.items():
        write_jsonl(full / "glue_filtered" / f"{task}.valid.jsonl",
                    [{"sentence1": f"s{i}", "label": int(rng.integers(n_labels))} for i in range(6 + len(task))])
    return root


def fixture_sizes(root: Path) -> dict:
    """{"fast": ..., "full": ...} in the shape of collate_preds.FAST_SIZES / FULL_SIZES, for this fixture."""
    def per_key(folder: Path, key) -> dict:
        counts: dict[str, int] = {}
        for file in sorted(folder.glob("*.jsonl")):
            for line in file.read_text(encoding="utf-8").splitlines():
                name = key(file, json.loads(line))
                counts[name] = counts.get(name, 0) + 1
        return counts

    comps_names = {"comps_base": "base", "comps_wugs": "wugs"}
    reading = len((root / "reading" / "reading_data.csv").read_text(encoding="utf-8").splitlines()) - 1
    fast, full = root / "fast_eval", root / "full_eval"
    entity = lambda file, r: f"{file.stem}_{r['numops']}_ops"  # noqa: E731
    return {
        "fast": {"blimp": 4, "blimp_supplement": 2, "ewok": 2, "wug_adj": 8, "wug_past": 6, "reading": reading,
                 "entity_tracking": per_key(fast / "entity_tracking_fast", entity)},
        "full": {"blimp": per_key(full / "blimp_filtered", lambda f, r: r["UID"]),
                 "blimp_supplement": per_key(full / "supplement_filtered", lambda f, r: f.stem),
                 "ewok": per_key(full / "ewok_filtered", lambda f, r: r["Domain"]),
                 "entity_tracking": per_key(full / "entity_tracking", entity),
                 "wug_adj": 8, "wug_past": 7, "reading": reading,
                 "comps": per_key(full / "comps", lambda f, r: comps_names[f.stem]),
                 **{task: 6 + len(task) for task in GLUE_LABELS}},
    }
