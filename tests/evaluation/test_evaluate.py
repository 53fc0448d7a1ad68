"""evaluate_model end to end on slices of every real format, plus hand-made EWoK/COMPS/MultiBLiMP."""

from __future__ import annotations

import json
import shutil
from itertools import islice
from pathlib import Path

import numpy as np
import pytest

from nestling.errors import UserError
from nestling.evaluation import evaluate_model, format_table, sentence_logprobs
from nestling.evaluation.tasks import load_task


def head_copy(src: Path, dst_dir: Path, n: int) -> Path:
    """The first n lines of a real file, under the same file name (the name can be the UID)."""
    dst_dir.mkdir(parents=True, exist_ok=True)
    with open(src, encoding="utf-8") as f:
        (dst_dir / src.name).write_text("".join(islice(f, n)), encoding="utf-8")
    return dst_dir / src.name


@pytest.fixture(scope="module")
def data_dirs(shared_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("eval_data")
    ev = shared_data / "eval"
    dirs = {}
    for name, files, n in [
        ("blimp", [ev / "blimp/data/anaphor_gender_agreement.jsonl", ev / "blimp/data/wh_island.jsonl"], 60),
        ("blimp_filtered", [ev / "babylm_2025/blimp_filtered/passive_1.jsonl"], 60),
        ("supplement_filtered", sorted((ev / "babylm_2025/supplement_filtered").glob("*.jsonl")), 30),
        ("entity_tracking", sorted((ev / "babylm_2025/entity_tracking").glob("*.jsonl")), 6),
        ("blimp_nl", [ev / "blimp_nl/blimp-nl.jsonl"], 40),
        ("zhoblimp", sorted((ev / "zhoblimp/data").glob("*.jsonl"))[:3], 30),
    ]:
        for file in files:
            head_copy(file, root / name, n)
        dirs[name] = root / name
    ewok = root / "ewok"
    ewok.mkdir()
    (ewok / "ewok.jsonl").write_text("".join(json.dumps(r) + "\n" for r in [
        {"Domain": "spatial", "ContextType": "a", "TargetDiff": "b", "Context1": "The cup is on the table.",
         "Context2": "The cup is under the table.", "Target1": "The cup is above the table.", "Target2": "x"},
        {"Domain": "social", "ContextType": "a", "TargetDiff": "b", "Context1": "Ann helps Bob.",
         "Context2": "Ann hits Bob.", "Target1": "Ann is kind.", "Target2": "x"}]))
    comps = root / "comps"
    comps.mkdir()
    (comps / "comps_base.jsonl").write_text(json.dumps(
        {"prefix_acceptable": "A robin", "prefix_unacceptable": "A table", "property_phrase": "can fly."}) + "\n")
    multi = root / "multiblimp"
    multi.mkdir()
    (multi / "nld.jsonl").write_text("".join(json.dumps(r) + "\n" for r in [
        {"sen": "De kinderen lopen.", "wrong_sen": "De kinderen loopt.", "phenomenon": "SV-#", "lang": "nld"},
        {"sen": "Ik loop.", "wrong_sen": "Ik lopen.", "phenomenon": "SV-P", "lang": "nld"}]))
    dirs.update(ewok=ewok, comps=comps, multiblimp=multi)
    return dirs


def test_every_format_end_to_end(tiny_model_dir, data_dirs):
    paths = list(data_dirs.values())
    result = evaluate_model(tiny_model_dir, paths, device="cpu", batch_size=32, progress=False)
    assert result["headline_tie_rule"] == "random" and result["seed"] == 0 and result["revision"] is None
    formats = {name: task["format"] for name, task in result["tasks"].items()}
    assert formats == {"blimp": "blimp", "blimp_filtered": "blimp", "supplement_filtered": "supplement",
                       "entity_tracking": "entity_tracking", "blimp_nl": "blimp_nl", "zhoblimp": "zhoblimp",
                       "ewok": "ewok", "comps": "comps", "multiblimp": "multiblimp"}
    for name, task in result["tasks"].items():
        assert 0.0 <= task["macro_acc"] <= 1.0 and 0.0 <= task["weighted_acc"] <= 1.0
        assert task["n_items"] == sum(u["n"] for u in task["by_uid"].values())
    assert result["tasks"]["supplement_filtered"]["n_uids"] == 5
    assert result["tasks"]["entity_tracking"]["by_uid"].keys() >= {"regular_0_ops"}
    assert result["tasks"]["blimp"]["by_field"].keys() == {"morphology", "syntax"}
    json.dumps(result)  # JSON-serialisable
    table = format_table(result)
    assert table.count("\n") == 3 + len(paths) and "| blimp | blimp |" in table


def test_accuracy_matches_hand_scoring(tiny_model, tiny_model_dir, data_dirs):
    """The BLiMP accuracy equals comparing the two sentences' summed log-probs ourselves."""
    model, tokenizer = tiny_model
    task = load_task(data_dirs["blimp"])
    good = sentence_logprobs(model, tokenizer, [i.candidates[0][1] for i in task.items], progress=False)
    bad = sentence_logprobs(model, tokenizer, [i.candidates[1][1] for i in task.items], progress=False)
    assert not np.any(good == bad)  # no ties in this slice
    result = evaluate_model(tiny_model_dir, [data_dirs["blimp"]], device="cpu", progress=False)
    assert result["tasks"]["blimp"]["weighted_acc"] == pytest.approx(np.mean(good > bad))


def test_fast_and_group_by(tiny_model_dir, data_dirs, tmp_path):
    result = evaluate_model(tiny_model_dir, [data_dirs["supplement_filtered"]], fast=True, device="cpu",
                            progress=False)
    assert result["fast"] and result["tasks"]["supplement_filtered"]["n_items"] == 5 * 30  # < 50 per UID
    generic = tmp_path / "mine.jsonl"
    generic.write_text("".join(json.dumps({"sentence_good": f"The cat sat {i}.", "sentence_bad": f"Cat the sat {i}.",
                                           "kind": f"k{i % 2}"}) + "\n" for i in range(6)))
    out = evaluate_model(tiny_model_dir, [generic], group_by="kind", device="cpu", progress=False)
    assert out["tasks"]["mine"]["format"] == "generic" and set(out["tasks"]["mine"]["by_uid"]) == {"k0", "k1"}


def test_revision_and_words_seen(tiny_model_dir, data_dirs, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_model_dir, run / "checkpoints" / "chck_1M")
    (run / "checkpoints" / "chck_1M" / "checkpoint.json").write_text(json.dumps(
        {"name": "chck_1M", "words_seen": 1_000_321, "tokens_seen": 1, "step": 1}))
    result = evaluate_model(run, [data_dirs["blimp_filtered"]], revision="chck_1M", device="cpu", progress=False)
    assert result["revision"] == "chck_1M" and result["words_seen"] == 1_000_321
    with pytest.raises(UserError, match="revision 'chck_9M' not found"):
        evaluate_model(run, [data_dirs["blimp_filtered"]], revision="chck_9M", device="cpu")


def test_bad_model_paths(tmp_path, data_dirs):
    with pytest.raises(UserError, match="not a model folder"):
        evaluate_model(tmp_path / "nothing", [data_dirs["blimp"]], device="cpu")
    with pytest.raises(UserError, match="no config.json"):
        evaluate_model(tmp_path, [data_dirs["blimp"]], device="cpu")
