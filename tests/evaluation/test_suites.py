"""Strict suites on a fake evaluation_data layout; submission files read by the official scripts."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from nestling.errors import UserError
from nestling.evaluation.suites import (FAST_TASKS, evaluate_suite_path, format_suite_table, locate_tasks,
                                        resolve_task_path, run_suite)
from tests.conftest import REPO_ROOT
from tests.evaluation.strict_fixtures import build_eval_root, build_run

OFFICIAL = REPO_ROOT.parent / "shared" / "reference" / "babylm-eval" / "strict"


@pytest.fixture
def eval_root(tmp_path):
    return build_eval_root(tmp_path / "evaluation_data")


def test_locate_reports_missing_and_follows_link_files(eval_root):
    assert resolve_task_path(eval_root, "fast_eval/reading/reading_data.csv") is not None  # link file followed
    fast, full, missing = locate_tasks("strict-full", eval_root)
    assert set(fast) == {t.name for t in FAST_TASKS}
    assert full == {} and {m["task"] for m in missing} == {"blimp_filtered", "supplement_filtered", "ewok_filtered",
                                                            "entity_tracking", "wug_adj_nominalization",
                                                            "wug_past_tense", "comps", "reading"}
    with pytest.raises(UserError, match="unknown suite"):
        locate_tasks("strict-medium", eval_root)


def test_suite_on_a_run_scores_every_revision(tiny_model_dir, eval_root, tmp_path):
    pytest.importorskip("statsmodels", reason="statsmodels not installed (pip install -e . adds it)")
    import shutil

    shutil.rmtree(eval_root / "fast_eval" / "wug_past_tense")
    run = build_run(tmp_path / "run", tiny_model_dir)
    logged = []
    result = run_suite(run, "strict-fast", eval_root, device="cpu", progress=False, log=logged.append,
                       submission_dir=tmp_path / "sub")
    assert any("wug_past_tense" in line and "not found" in line for line in logged)
    assert [m["task"] for m in result["missing"]] == ["wug_past_tense"]
    assert list(result["revisions"]) == ["chck_1M", "final"]
    tasks = result["revisions"]["final"]["tasks"]
    assert set(tasks) == {"blimp_fast", "supplement_fast", "ewok_fast", "wug_adj_nominalization",
                          "entity_tracking_fast", "reading"}
    assert tasks["blimp_fast"]["by_uid"]["adjunct_island"]["n"] == 4
    # Identical sentences tie: the official rule counts them correct.
    assert tasks["blimp_fast"]["n_ties"] >= 2
    assert tasks["entity_tracking_fast"]["by_split"].keys() == {"regular"}
    assert -1 <= tasks["wug_adj_nominalization"]["score"] <= 1
    assert {"eye_tracking", "self_paced_reading"} <= tasks["reading"].keys()
    # Same weights at both revisions: same numbers.
    assert result["revisions"]["chck_1M"]["tasks"]["reading"]["eye_tracking"] == tasks["reading"]["eye_tracking"]
    sub = tmp_path / "sub" / "run"
    assert (sub / "main" / "zero_shot" / "causal" / "blimp" / "blimp_fast" / "predictions.json").is_file()
    assert (sub / "chck_1M" / "zero_shot" / "causal" / "reading" / "predictions.json").is_file()
    collated = json.loads((sub / "main" / "all_fast_preds_causal.json").read_text())
    assert set(collated) == {"blimp", "blimp_supplement", "ewok", "wug_adj", "entity_tracking", "reading"}
    assert "| final |" in format_suite_table(result)


def test_strict_full_runs_full_tasks_on_final_only(tiny_model_dir, eval_root, tmp_path):
    pytest.importorskip("statsmodels", reason="statsmodels not installed (pip install -e . adds it)")
    import shutil

    shutil.copytree(eval_root / "fast_eval" / "wug_adj_nominalization", eval_root / "full_eval" / "wug_adj_nominalization")
    run = build_run(tmp_path / "run", tiny_model_dir)
    result = run_suite(run, "strict-full", eval_root, device="cpu", progress=False, log=lambda _: None)
    assert result["revisions"]["final"]["task_set"] == "full"
    assert list(result["revisions"]["final"]["tasks"]) == ["wug_adj_nominalization"]
    assert len(result["revisions"]["chck_1M"]["tasks"]) == len(FAST_TASKS)


def test_eval_root_from_the_environment(monkeypatch, tiny_model_dir, tmp_path):
    monkeypatch.delenv("NESTLING_EVAL_DATA", raising=False)
    with pytest.raises(UserError, match="NESTLING_EVAL_DATA"):
        run_suite(tiny_model_dir, "strict-fast", None)
    monkeypatch.setenv("NESTLING_EVAL_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(UserError, match="evaluation root not found"):
        run_suite(tiny_model_dir, "strict-fast", None)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="none of the strict-fast tasks"):
        run_suite(tiny_model_dir, "strict-fast", tmp_path / "empty", log=lambda _: None)


def _official_ok():
    if not (OFFICIAL / "evaluation_pipeline" / "calculate_results_from_pred.py").is_file():
        pytest.skip(f"official strict pipeline not found at {OFFICIAL}")
    pytest.importorskip("statsmodels")
    pytest.importorskip("scipy")


def test_official_scripts_read_the_submission(tiny_model_dir, tmp_path, monkeypatch):
    """calculate_results_from_pred.py (as a script) and collate_preds' fast metrics accept the files."""
    _official_ok()
    root = build_eval_root(tmp_path / "evaluation_data", link_reading=False)
    model = tmp_path / "tinylm"
    import shutil

    shutil.copytree(tiny_model_dir, model)
    sub = tmp_path / "results"
    out = evaluate_suite_path(model, "strict-fast", root, out=tmp_path / "results.json", submission=sub,
                              device="cpu", progress=False)
    assert "results:" in out
    ours = json.loads((tmp_path / "results.json").read_text())["revisions"]["main"]["tasks"]

    proc = subprocess.run([sys.executable, "calculate_results_from_pred.py", "--model_path_or_name", "tinylm",
                           "--backend", "causal", "--results_dir", str(sub), "--evaluation_data_dir", str(root),
                           "--fast"], cwd=OFFICIAL / "evaluation_pipeline", capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    printed = dict(re.findall(r"^([A-Z][A-Z ()]+?)\s+(-?[\d.]+|nan)$", proc.stdout, flags=re.M))
    expect = {"BLIMP": 100 * ours["blimp_fast"]["score"], "SUPPLEMENT": 100 * ours["supplement_fast"]["score"],
              "EWOK": 100 * ours["ewok_fast"]["score"], "ENTITY TRACKING": 100 * ours["entity_tracking_fast"]["score"],
              "WUG ADJ": 100 * ours["wug_adj_nominalization"]["score"],
              "WUG PAST": 100 * ours["wug_past_tense"]["score"],
              "READING (SPR)": ours["reading"]["self_paced_reading"], "READING (ET)": ours["reading"]["eye_tracking"]}
    for key, value in expect.items():
        assert float(printed[key]) == pytest.approx(value, abs=0.006), key

    monkeypatch.syspath_prepend(str(OFFICIAL))
    import evaluation_pipeline.collate_preds as cp

    monkeypatch.setattr(cp, "FAST_SIZES", {"blimp": 4, "blimp_supplement": 2, "ewok": 2, "wug_adj": 8, "wug_past": 6,
                                           "entity_tracking": {"regular_0_ops": 3, "regular_1_ops": 2}, "reading": 50})
    args = argparse.Namespace(results_dir=sub, model_path_or_name=Path("tinylm"), backend="causal",
                              fast_eval_dir=root / "fast_eval")
    assert cp._check_validity_of_dir(args, "main", fast=True)
    metrics = cp.get_revision_fast_eval_metrics(args, "main")
    for uid, acc in metrics["blimp"].items():
        assert acc == pytest.approx(ours["blimp_fast"]["by_uid"][uid]["acc_official"])
    assert metrics["wug_adj"]["wug_adj"] == pytest.approx(ours["wug_adj_nominalization"]["score"], abs=1e-12)
    assert 100 * metrics["reading"]["rt"] == pytest.approx(ours["reading"]["eye_tracking"], abs=1e-9)
    assert 100 * metrics["reading"]["spr"] == pytest.approx(ours["reading"]["self_paced_reading"], abs=1e-9)


def test_cli_needs_data_or_a_suite(tiny_model_dir, tmp_path):
    run = lambda *a: subprocess.run([sys.executable, "-m", "nestling", "eval", str(tiny_model_dir), *a],  # noqa: E731
                                    capture_output=True, text=True, timeout=300, cwd=REPO_ROOT)
    result = run()
    assert result.returncode == 2 and "nothing to evaluate" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    result = run("--suite", "strict-fast", "--eval-root", str(tmp_path / "missing"))
    assert result.returncode == 2 and "evaluation root not found" in result.stderr
