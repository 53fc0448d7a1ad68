"""`nestling finetune` end to end: table, results.json section, skipped tasks, clean refusals."""

from __future__ import annotations

import json

import pytest

from nestling import cli
from nestling.evaluation.finetune.run import finetune_path, merge_into
from tests.evaluation.finetune.conftest import write_jsonl

QUICK = ["finetune.epochs=1", "finetune.wsc_epochs=1", "finetune.sequence_length=32", "finetune.batch_size=16"]


def run_cli(capsys, *args) -> tuple[int, str, str]:
    """`nestling finetune ARGS` in-process (a subprocess would spend its time importing torch)."""
    try:
        cli.main(["finetune", *map(str, args)])
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def test_suite_on_a_run_writes_the_finetune_section_beside_zero_shot(tiny_run_dir, glue_dir):
    table = finetune_path(tiny_run_dir, suite="glue", data=glue_dir, overrides=QUICK, seeds=[1, 2], progress=False)
    assert "| final | rte | accuracy |" in table and "| final | mnli | accuracy |" in table
    assert "boolq: skipped (no train split" in table and "multirc: skipped" in table
    results = json.loads((tiny_run_dir / "results.json").read_text())
    assert results["revisions"]["final"]["tasks"]["blimp"]["macro_acc"] == 0.6  # zero-shot untouched
    ft = results["finetune"]["revisions"]["final"]
    assert ft["words_seen"] == 1000 and set(ft["tasks"]) == {"rte", "wsc", "mnli"}
    rte = ft["tasks"]["rte"]
    assert set(rte["seeds"]) == {"1", "2"} and rte["metric"] == "accuracy"
    assert rte["score"] == pytest.approx(sum(s["accuracy"] for s in rte["seeds"].values()) / 2)
    assert rte["settings"]["epochs"] == 1 and rte["settings"]["sequence_length"] == 32
    assert set(ft["tasks"]["mnli"]["metrics"]) == {"accuracy"}
    assert "boolq" in results["finetune"]["skipped"]
    # The official predictions.json of each task (first seed's best epoch), not item predictions in results.json.
    assert "predictions" not in ft and "predictions" not in rte["seeds"]["1"]
    written = json.loads((tiny_run_dir / "submission" / tiny_run_dir.name / "main" / "finetune" / "rte"
                          / "predictions.json").read_text())
    preds = written["rte"]["predictions"]
    assert len(preds) == 32 and preds[0]["id"] == "rte_0" and {p["pred"] for p in preds} <= {0, 1}
    assert "official predictions:" in table
    collated = json.loads((tiny_run_dir / "submission" / tiny_run_dir.name / "main" / "all_full_preds_causal.json")
                          .read_text())
    assert collated["glue"]["rte"] == written["rte"]


def test_same_seed_same_score(tiny_llama_dir, glue_dir, tmp_path):
    outs = []
    for name in ("a.json", "b.json"):
        finetune_path(tiny_llama_dir, tasks=["wsc"], data=glue_dir, overrides=QUICK, out=tmp_path / name,
                      progress=False)
        outs.append(json.loads((tmp_path / name).read_text())["finetune"]["revisions"]["main"]["tasks"]["wsc"])
    assert outs[0]["seeds"]["42"]["history"] == outs[1]["seeds"]["42"]["history"]


def test_cli_task_prints_the_table_and_merges_into_out(tiny_llama_dir, glue_dir, tmp_path, capsys):
    out = tmp_path / "results.json"
    out.write_text(json.dumps({"schema_version": 1, "tasks": {"blimp": {}}}))
    sets = [a for s in QUICK for a in ("--set", s)]
    code, stdout, stderr = run_cli(capsys, tiny_llama_dir, "--task", "rte", "--data", glue_dir, "--out", out, *sets)
    assert code == 0, stderr
    assert "| main | rte | accuracy |" in stdout
    saved = json.loads(out.read_text())
    assert "blimp" in saved["tasks"] and "rte" in saved["finetune"]["revisions"]["main"]["tasks"]


@pytest.mark.parametrize("case", ["unknown_task", "missing_label", "label_range", "empty", "no_train", "bad_set",
                                  "zero_epochs"])
def test_bad_input_is_one_line_exit_2_and_nothing_written(tiny_llama_dir, glue_dir, tmp_path, case, capsys):
    data = tmp_path / "data"
    for f in glue_dir.glob("*.jsonl"):
        write_jsonl(data / f.name, [json.loads(x) for x in f.read_text().splitlines()])
    task, sets = "rte", []
    if case == "unknown_task":
        task = "nope"
    elif case == "missing_label":
        write_jsonl(data / "rte.valid.jsonl", [{"sentence1": "a", "sentence2": "b", "label": 0},
                                               {"sentence1": "a", "sentence2": "b"}])
    elif case == "label_range":
        write_jsonl(data / "rte.train.jsonl", [{"sentence1": "a", "sentence2": "b", "label": 5}])
    elif case == "empty":
        (data / "rte.valid.jsonl").write_text("")
    elif case == "no_train":
        task = "boolq"
    elif case == "zero_epochs":
        sets = ["--set", "finetune.epochs=0"]
    else:
        sets = ["--set", "optimizer.lr=1"]
    out = tmp_path / "results.json"
    code, _, stderr = run_cli(capsys, tiny_llama_dir, "--task", task, "--data", data, "--out", out, *sets)
    assert code == 2 and len(stderr.strip().splitlines()) == 1, stderr
    expected = {"unknown_task": "unknown fine-tuning task 'nope'", "missing_label": "rte.valid.jsonl:2: missing field",
                "label_range": "rte.train.jsonl:1: label 5", "empty": "rte.valid.jsonl: empty split",
                "no_train": "boolq: no train split", "bad_set": "only finetune.* keys",
                "zero_epochs": "'finetune.epochs' must be a positive integer"}[case]
    assert expected in stderr
    assert not out.exists()


def test_merge_keeps_earlier_tasks_and_drops_resolved_skips():
    first = {"revisions": {"final": {"words_seen": 5, "tasks": {"rte": {"score": 0.5}}}}, "skipped": {"wsc": "x"}}
    second = {"revisions": {"final": {"words_seen": 5, "tasks": {"wsc": {"score": 0.6}}}}, "skipped": {}}
    merged = merge_into(merge_into({"tasks": {}}, first), second)
    assert set(merged["finetune"]["revisions"]["final"]["tasks"]) == {"rte", "wsc"}
    assert merged["finetune"]["skipped"] == {} and "tasks" in merged


def test_a_zero_shot_rerun_keeps_the_finetune_section(tmp_path):
    from nestling.evaluation.runs import write_run_outputs

    out = tmp_path / "results.json"
    out.write_text(json.dumps({"revisions": {}, "finetune": {"revisions": {"final": {"tasks": {"rte": {}}}}}}))
    write_run_outputs({"schema_version": 1, "run": "r", "revisions": {}, "learning_curve": []}, out)
    assert json.loads(out.read_text())["finetune"]["revisions"]["final"]["tasks"] == {"rte": {}}


def test_every_revision_of_a_run_on_request(tiny_run_dir, glue_dir, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tiny_run_dir, run)
    shutil.copytree(run / "final", run / "checkpoints" / "chck_1M")
    (run / "checkpoints" / "chck_1M" / "checkpoint.json").write_text(json.dumps({"words_seen": 10}))
    table = finetune_path(run, tasks=["wsc"], data=glue_dir, revisions="all", overrides=QUICK, progress=False)
    assert "| chck_1M | wsc |" in table and "| final | wsc |" in table
    revisions = json.loads((run / "results.json").read_text())["finetune"]["revisions"]
    assert set(revisions) == {"chck_1M", "final"} and revisions["chck_1M"]["words_seen"] == 10
