"""Reading the official fine-tuning layouts, and one clear line for every bad file."""

from __future__ import annotations

import json

import pytest

from nestling.errors import UserError
from nestling.evaluation.finetune.tasks import GLUE_TASKS, MULTILINGUAL_TASKS, load_task, read_split, suite_files
from tests.evaluation.finetune.conftest import rte_records, write_jsonl


def test_shared_glue_data_reads_as_the_official_dataset(shared_data):
    root = shared_data / "eval" / "babylm_2025" / "glue_filtered"
    files = {f.name: f for f in suite_files("glue", root)}
    assert {n for n, f in files.items() if f.missing()} == {"boolq", "multirc", "mrpc", "qqp"}
    assert "no train split" in files["boolq"].missing()
    wsc = load_task("wsc", GLUE_TASKS["wsc"], files["wsc"].train, files["wsc"].valid)
    first = json.loads(files["wsc"].train.read_text().splitlines()[0])
    # dataset.py: A = template over (span2_text, span1_text), B = text
    assert wsc.train.texts[0] == (f'Does "{first["span2_text"]}" refer to "{first["span1_text"]}" in this passage?',
                                  first["text"])
    assert (len(wsc.train.texts), len(wsc.valid.texts), wsc.num_labels) == (554, 52, 2)
    mnli = load_task("mnli", GLUE_TASKS["mnli"], files["mnli"].train, files["mnli"].valid)
    assert (len(mnli.train.texts), mnli.num_labels, set(mnli.valid.labels)) == (10000, 3, {0, 1, 2})


def test_multirc_template_joins_question_and_answer(tmp_path):
    path = write_jsonl(tmp_path / "m.jsonl", [{"paragraph": "P.", "question": "Q?", "answer": "A.", "label": 1}])
    assert read_split(path, GLUE_TASKS["multirc"]).texts == [("Question: Q? Answer: A.", "P.")]


def test_multilingual_labels_are_numbered_in_sorted_order(tmp_path):
    spec = MULTILINGUAL_TASKS["sib200"]
    train = write_jsonl(tmp_path / "t.jsonl", [{"sentence": s, "label": lab} for s, lab in
                                                [("a", "travel"), ("b", "health"), ("c", "travel")]])
    valid = write_jsonl(tmp_path / "v.jsonl", [{"sentence": "d", "label": "health"}])
    task = load_task("sib200_en", spec, train, valid)
    assert task.label_names == ["health", "travel"] and task.train.labels == [1, 0, 1] and task.valid.labels == [0]
    write_jsonl(valid, [{"sentence": "d", "label": "health"}, {"sentence": "e", "label": "science"}])
    with pytest.raises(UserError, match=r"v\.jsonl:2: label 'science' outside"):
        load_task("sib200_en", spec, train, valid)


@pytest.mark.parametrize("records, message", [
    ([{"sentence1": "a", "label": 0}], r"bad\.jsonl:1: missing field 'sentence2'"),
    ([{"sentence1": "a", "sentence2": "b", "label": 0}, {"sentence1": "a", "sentence2": "b"}],
     r"bad\.jsonl:2: missing field 'label'"),
    ([{"sentence1": "a", "sentence2": "b", "label": 2}], r"bad\.jsonl:1: label 2 outside the task's labels \(0, 1\)"),
    ([{"sentence1": "a", "sentence2": "b", "label": True}], r"bad\.jsonl:1: label True outside"),
    ([{"sentence1": "a", "sentence2": 3, "label": 0}], r"bad\.jsonl:1: field 'sentence2' is not text"),
    ([], r"bad\.jsonl: empty split"),
])
def test_bad_records_name_file_and_line(tmp_path, records, message):
    bad = write_jsonl(tmp_path / "bad.jsonl", records)
    good = write_jsonl(tmp_path / "good.jsonl", rte_records(4))
    with pytest.raises(UserError, match=message):
        load_task("rte", GLUE_TASKS["rte"], good, bad)


def test_invalid_json_names_the_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(rte_records(1)[0]) + "\n{oops\n")
    with pytest.raises(UserError, match=r"bad\.jsonl:2: malformed JSON"):
        read_split(bad, GLUE_TASKS["rte"])
