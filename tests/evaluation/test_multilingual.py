"""The official multilingual task YAMLs, run by nestling through lm-eval on local data."""

from __future__ import annotations

import json

import pytest

from nestling.errors import UserError
from nestling.evaluation.multilingual import match_data_map, read_data_map, slug

REFERENCE = "reference/babylm-eval/multilingual/tasks"


def test_data_map_exact_name_wins_then_first_pattern(tmp_path):
    path = tmp_path / "map.yaml"
    path.write_text("blimp_nl_*: {data_files: nl.jsonl, where: {category: '{dataset_name}'}}\n"
                    "blimp_*: en/{dataset_name}.jsonl\nblimp_nl_passive: passive.jsonl\n")
    data_map = read_data_map(path)
    assert match_data_map(data_map, "blimp_nl_passive")["data_files"] == str(tmp_path / "passive.jsonl")
    assert match_data_map(data_map, "blimp_nl_r_words")["where"] == {"category": "{dataset_name}"}
    assert match_data_map(data_map, "blimp_adjunct_island")["data_files"] == str(tmp_path / "en/{dataset_name}.jsonl")
    assert match_data_map(data_map, "zhoblimp_BA_deletion") is None
    assert slug("Binding (Principle A)") == "binding_principle_a" and slug("R-Words") == "r_words"
    path.write_text("- a list\n")
    with pytest.raises(UserError):
        read_data_map(path)


@pytest.fixture(scope="module")
def official(shared_data):
    pytest.importorskip("lm_eval", reason="lm-evaluation-harness not installed (pip install 'nestling[lmeval]')")
    tasks_dir = shared_data.parent / REFERENCE
    if not tasks_dir.is_dir():
        pytest.skip(f"official babylm-eval task YAMLs not found at {tasks_dir}")
    return tasks_dir


@pytest.fixture(scope="module")
def data_map(shared_data, tmp_path_factory):
    path = tmp_path_factory.mktemp("map") / "map.yaml"
    path.write_text(f"zhoblimp_BA_d*: {shared_data}/eval/zhoblimp/data\n"
                    f"blimp_nl_*: {{data_files: {shared_data}/eval/blimp_nl/blimp-nl.jsonl, "
                    f"where: {{category: '{{dataset_name}}'}}}}\n")
    return path


def test_group_of_mapped_tasks_equals_lmeval_hf(official, data_map, tiny_model_dir, tmp_path):
    """zhoblimp with two mapped paradigms (the rest skipped offline): nestling's backend gives lm-eval's
    hf numbers, the group is their size-weighted mean, and a skipped task is reported, not fatal."""
    from nestling.evaluation.multilingual import evaluate_multilingual, write_multilingual

    common = dict(tasks=["zhoblimp", "blimp_nl_passive"], tasks_dir=official, data_map=data_map, offline=True,
                  device="cpu", batch_size=16, log=None)
    ours = evaluate_multilingual(tiny_model_dir, **common)
    theirs = evaluate_multilingual(tiny_model_dir, backend="lm-eval", **common)
    scores = ours["revisions"]["main"]["scores"]
    assert set(scores) == {"zhoblimp", "zhoblimp_BA_deletion", "zhoblimp_BA_duplicate_argument", "blimp_nl_passive"}
    for name, row in scores.items():
        assert row["acc"] == theirs["revisions"]["main"]["scores"][name]["acc"], name
    parts = [scores["zhoblimp_BA_deletion"], scores["zhoblimp_BA_duplicate_argument"]]
    assert scores["zhoblimp"]["acc"] == pytest.approx(sum(p["acc"] * p["n"] for p in parts) / sum(p["n"] for p in parts))
    assert scores["blimp_nl_passive"]["n"] == 400  # the Dutch rows of that phenomenon only
    assert "zhoblimp_BA_negation" in ours["skipped"] and ours["groups"] == ["zhoblimp"]
    out = tmp_path / "results.json"
    out.write_text(json.dumps({"revisions": {}, "learning_curve": []}))
    write_multilingual(ours, out)
    written = json.loads(out.read_text())
    assert written["revisions"] == {} and written["multilingual"]["learning_curve"][0]["zhoblimp"] == scores["zhoblimp"]["acc"]


def test_bad_input_is_one_clean_error(official, data_map, tiny_model_dir, tmp_path, capsys):
    from nestling.cli import main

    base = ["eval", str(tiny_model_dir), "--suite", "multilingual", "--tasks-dir", str(official),
            "--data-map", str(data_map), "--offline", "--device", "cpu"]
    for extra, message in [(["--tasks", "no_such_task"], "unknown task or group 'no_such_task'"),
                           (["--tasks", "zhoblimp_BA_negation"], "task zhoblimp_BA_negation: data not mapped"),
                           (["--tasks", "zhoblimp_BA_deletion", "--revisions", "chck_1M"], "has no revisions")]:
        with pytest.raises(SystemExit) as exc:
            main(base + extra)
        err = capsys.readouterr().err
        assert exc.value.code == 2 and message in err and err.count("\n") == 1, err


def test_missing_extra_is_a_one_line_hint(monkeypatch, tmp_path, capsys):
    import sys

    from nestling.cli import main

    monkeypatch.setitem(sys.modules, "lm_eval", None)  # import lm_eval now raises ImportError
    with pytest.raises(SystemExit) as exc:
        main(["eval", str(tmp_path), "--suite", "multilingual"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "pip install 'nestling[lmeval]'" in err and err.count("\n") == 1


def test_minimal_pair_results_keep_the_multilingual_section(tmp_path):
    from nestling.evaluation.runs import write_run_outputs

    out = tmp_path / "results.json"
    out.write_text(json.dumps({"multilingual": {"revisions": {}}}))
    write_run_outputs({"schema_version": 1, "run": "r", "revisions": {}, "learning_curve": []}, out)
    assert json.loads(out.read_text())["multilingual"] == {"revisions": {}}
