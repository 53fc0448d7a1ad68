"""Loaders for every minimal-pair format, on the real data and on small hand-made files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nestling.errors import UserError
from nestling.evaluation.tasks import detect_format, load_file, load_task, load_tasks


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def test_blimp_real(shared_data):
    task = load_task(shared_data / "eval" / "blimp" / "data")
    assert task.name == "blimp" and task.format == "blimp"
    assert len(task.items) == 67_000 and len({i.uid for i in task.items}) == 67
    item = next(i for i in task.items if i.uid == "anaphor_gender_agreement")
    assert item.candidates == (("", "Katherine can't help herself."), ("", "Katherine can't help himself."))
    assert item.field == "morphology" and item.term == "anaphor_agreement" and item.key == "0"
    # The pipeline standardises syntax_semantics to syntax/semantics.
    assert {i.field for i in task.items} == {"morphology", "syntax", "semantics", "syntax/semantics"}


def test_blimp_filtered_real(shared_data):
    task = load_task(shared_data / "eval" / "babylm_2025" / "blimp_filtered")
    assert task.format == "blimp" and len(task.items) == 59_875
    assert len({i.uid for i in task.items}) == 67


def test_supplement_real_uid_is_file_name(shared_data):
    task = load_task(shared_data / "eval" / "babylm_2025" / "supplement_filtered")
    assert task.format == "supplement" and len(task.items) == 5_218
    assert {i.uid for i in task.items} == {"hypernym", "qa_congruence_easy", "qa_congruence_tricky",
                                            "subject_aux_inversion", "turn_taking"}
    assert any("\n" in i.candidates[0][1] for i in task.items if i.uid == "turn_taking")


def test_entity_tracking_real(shared_data):
    task = load_task(shared_data / "eval" / "babylm_2025" / "entity_tracking")
    assert task.format == "entity_tracking" and len(task.items) == 9_483
    uids = {i.uid for i in task.items}
    assert "regular_0_ops" in uids and all(u.rsplit("_", 2)[0] in {"ambiref", "move_contents", "regular"}
                                           for u in uids)
    item = next(i for i in task.items if i.uid.startswith("regular"))
    assert len(item.candidates) == 5 and all(c[0].endswith("Box 1 contains ") for c in item.candidates[:1])
    assert item.candidates[0][1] == "the hat and the painting and the shell."


def test_blimp_nl_real(shared_data):
    task = load_task(shared_data / "eval" / "blimp_nl" / "blimp-nl.jsonl")
    assert task.format == "blimp_nl" and task.name == "blimp-nl" and len(task.items) == 8_400
    assert len({i.uid for i in task.items}) == 22


def test_zhoblimp_real(shared_data):
    task = load_task(shared_data / "eval" / "zhoblimp" / "data")
    assert task.name == "zhoblimp" and task.format == "zhoblimp"
    assert len(task.items) == 35_400 and len({i.uid for i in task.items}) == 118
    assert task.items[0].term == "BA"


def test_ewok_comps_multiblimp_generic(tmp_path):
    ewok = write_jsonl(tmp_path / "ewok.jsonl", [{"Domain": "social", "ContextType": "x", "TargetDiff": "y",
                                                   "Context1": "Ann is tall.", "Context2": "Ann is short.",
                                                   "Target1": "She reaches the shelf.", "Target2": "She can't."}])
    fmt, items = load_file(ewok)
    assert fmt == "ewok" and items[0].uid == "social"
    # Official decode_ewok: Context1 + Target1 against Context1 + Target2.
    assert items[0].candidates == (("Ann is tall.", " She reaches the shelf."),
                                   ("Ann is tall.", " She can't."))
    comps = write_jsonl(tmp_path / "comps_wugs_dist-before.jsonl", [
        {"prefix_acceptable": "A robin", "prefix_unacceptable": "A dax", "property_phrase": "can fly."}])
    fmt, items = load_file(comps)
    # Official decode_comps: completion = the phrase, the joining space stays in the context.
    assert fmt == "comps" and items[0].candidates == (("A robin ", "can fly."), ("A dax ", "can fly."))
    assert items[0].uid == "wugs_dist_before"
    wug = write_jsonl(tmp_path / "wug_adj_nominalization.jsonl", [{"sentences": "A dax. daxity\tA dax. daxness",
                                                                   "ratio": 0.25}])
    fmt, items = load_file(wug)
    assert fmt == "wug" and items[0].uid == "wug_adj" and items[0].ratio == 0.25
    assert items[0].candidates == (("", "A dax. daxity"), ("", "A dax. daxness"))
    multi = write_jsonl(tmp_path / "nld.jsonl", [{"sen": "Hij loopt.", "wrong_sen": "Hij lopen.",
                                                   "phenomenon": "SV-#", "lang": "nld"}])
    fmt, items = load_file(multi)
    assert fmt == "multiblimp" and items[0].uid == "SV-#" and items[0].field == "nld"
    generic = write_jsonl(tmp_path / "mine.jsonl", [{"sentence_good": "a", "sentence_bad": "b", "kind": "k1"}])
    fmt, items = load_file(generic, group_by="kind")
    assert fmt == "generic" and items[0].uid == "k1"


def test_detect_format_unknown_is_none():
    assert detect_format({"sentences": "a\tb", "score": 0.5}) is None


def test_duplicate_task_names_get_suffix(tmp_path):
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    for d in ("a", "b"):
        write_jsonl(tmp_path / d / "x.jsonl", [{"sentence_good": "a", "sentence_bad": "b"}])
    names = [t.name for t in load_tasks([tmp_path / "a" / "x.jsonl", tmp_path / "b" / "x.jsonl"])]
    assert names == ["x", "x_2"]


@pytest.mark.parametrize("content, message", [
    ('{"sentence_good": "a", "sentence_bad": "b"}\n{"sentence_good": "a",\n', "bad.jsonl:2: malformed JSON"),
    ("", "empty file"),
    ("\n\n", "empty file"),
    ('{"sentences": "a\\tb", "score": 1}\n', "unknown format"),
    ('[1, 2]\n', "expected a JSON object"),
    ('{"sentence_good": "a", "sentence_bad": "b", "UID": "u", "field": "f", "linguistics_term": "t"}\n'
     '{"sentence_good": "a", "UID": "u", "field": "f", "linguistics_term": "t"}\n',
     "bad.jsonl:2: missing sentence_bad for format 'blimp' (expected keys: sentence_good, sentence_bad, UID"),
])
def test_bad_input(tmp_path, content, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace("[", r"\[")) as err:
        load_file(path)
    assert "\n" not in str(err.value)


def test_bad_options(tmp_path):
    path = write_jsonl(tmp_path / "x.jsonl", [{"sentence_good": "a", "sentence_bad": "b"}])
    with pytest.raises(UserError, match="unknown task format 'nope'"):
        load_file(path, task_format="nope")
    with pytest.raises(UserError, match="needs --group-by"):
        load_file(path, task_format="generic")
    with pytest.raises(UserError, match="missing kind"):
        load_file(path, group_by="kind")
    with pytest.raises(UserError, match="no such file"):
        load_task(tmp_path / "absent.jsonl")
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(UserError, match="no .jsonl files"):
        load_task(tmp_path / "empty_dir")
    with pytest.raises(UserError, match="no evaluation data"):
        load_tasks([])
