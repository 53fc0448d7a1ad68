"""A strict-full submission as the official full collation reads it, and the list of what one lacks.

The official collate_preds.py checks every task's size against the real data's (its FAST_SIZES /
FULL_SIZES tables). The fixtures here are small, so the runner below sets those two tables to the
fixture's sizes before calling the unchanged ``collate_preds.main()``; nothing else is touched. The
AoA size check (AOA_SIZE = 8,005 rows per revision) is NOT adjusted: the AoA fixture has exactly
8,005 (word, context) rows, so the official check runs as it does on a real submission.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from nestling.evaluation.submission import (expected_revisions, submission_gaps, write_finetune_predictions)
from nestling.evaluation.suites import check_submission, evaluate_suite_path
from tests.conftest import REPO_ROOT
from tests.evaluation.aoa_fixtures import build_aoa_root, build_learning_run
from tests.evaluation.strict_fixtures import GLUE_LABELS, build_eval_root, build_full_eval, fixture_sizes

OFFICIAL = REPO_ROOT.parent / "shared" / "reference" / "babylm-eval" / "strict"
# Runs the official collation unchanged, with its size tables set to the fixture's (argv[1]: a JSON file).
COLLATE = """
import json, sys
import evaluation_pipeline.collate_preds as cp
sizes = json.load(open(sys.argv[1]))
cp.FAST_SIZES.update(sizes["fast"])
cp.FULL_SIZES.update(sizes["full"])
sys.argv = ["collate_preds.py", *sys.argv[2:]]
cp.main()
"""


def test_gaps_list_every_task_and_revision(tmp_path):
    sub = tmp_path / "sub"
    gaps = submission_gaps(sub, "run")
    assert len(expected_revisions("strict")) == 28 and len(expected_revisions("strict-small")) == 19
    assert sum(g.startswith("fast tasks ×") for g in gaps) == 28
    assert "AoA × every revision: AoA_word/surprisal.json missing" in gaps
    assert sum("(fine-tuning)" in g for g in gaps) == 7 and sum("(full)" in g for g in gaps) == 8
    write_finetune_predictions(sub, "run", "final", "rte", [0, 1])
    assert not any(g.startswith("rte") for g in submission_gaps(sub, "run"))
    assert json.loads((sub / "run" / "main" / "finetune" / "rte" / "predictions.json").read_text()) == {
        "rte": {"predictions": [{"id": "rte_0", "pred": 0}, {"id": "rte_1", "pred": 1}]}}


@pytest.mark.slow
def test_official_full_collation_and_results_accept_the_submission(tiny_model_dir, tmp_path):
    if not (OFFICIAL / "evaluation_pipeline" / "collate_preds.py").is_file():
        pytest.skip(f"official strict pipeline not found at {OFFICIAL}")
    pytest.importorskip("statsmodels")
    root = build_aoa_root(build_full_eval(build_eval_root(tmp_path / "evaluation_data", link_reading=False)))
    run = build_learning_run(tmp_path / "run", tiny_model_dir, expected_revisions("strict"))
    sub = run / "submission"
    for task in GLUE_LABELS:  # what `nestling finetune RUN --suite glue` writes (tested in finetune/test_run.py)
        labels = [json.loads(line)["label"] for line in
                  (root / "full_eval" / "glue_filtered" / f"{task}.valid.jsonl").read_text().splitlines()]
        write_finetune_predictions(sub, "run", "final", task, [(y + i % 2) % 2 for i, y in enumerate(labels)])
    # The fast AoA rows (no rescue): this test is about the files and the collation, not the exact path.
    report = evaluate_suite_path(run, "strict-full", root, device="cpu", progress=False, aoa_exact="off")
    assert "AoA × chck_1M" not in report and "boolq" not in report.split("submission files:")[1]
    text, complete = check_submission(run)
    assert complete, text
    ours = json.loads((run / "results.json").read_text())

    sizes = tmp_path / "sizes.json"
    sizes.write_text(json.dumps(fixture_sizes(root)))
    proc = subprocess.run([sys.executable, "-c", COLLATE, str(sizes), "--model_path_or_name", "run", "--backend",
                           "causal", "--results_dir", str(sub), "--fast", "--fast_eval_dir", str(root / "fast_eval")],
                          cwd=OFFICIAL, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    official = json.loads((sub / "run" / "all_full_preds_and_fast_scores_causal.json").read_text())
    collated = json.loads((sub / "run" / "main" / "all_full_preds_causal.json").read_text())
    assert {k: official[k] for k in collated} == collated
    assert len(official["fast_eval_results"]["blimp"]) == 28

    proc = subprocess.run([sys.executable, "calculate_results_from_pred.py", "--model_path_or_name", "run",
                           "--backend", "causal", "--results_dir", str(sub), "--evaluation_data_dir", str(root)],
                          cwd=OFFICIAL / "evaluation_pipeline", capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    printed = dict(re.findall(r"^([A-Z][A-Z ()]+?)\s+(-?[\d.]+|nan)$", proc.stdout, flags=re.M))
    aoa = re.search(r"^AoA\s+(-?[\d.]+|nan)$", proc.stdout, flags=re.M)
    assert aoa and float(aoa.group(1)) == pytest.approx(ours["aoa"]["score"], abs=0.006)
    assert float(printed["WUG PAST"]) == pytest.approx(100 * ours["revisions"]["final"]["tasks"]["wug_past_tense"]["score"],
                                                       abs=0.006)
    assert ours["aoa"]["rows_per_revision"] == 8005 and len(ours["aoa"]["revisions"]) == 28


def test_cli_check_prints_one_list(tmp_path, capsys):
    from nestling import cli

    run = tmp_path / "run"
    (run / "final").mkdir(parents=True)

    def check(*extra):
        try:
            cli.main(["eval", str(run), "--check", *extra])
            code = 0
        except SystemExit as exit_:
            code = exit_.code
        return code, *capsys.readouterr()

    code, _, err = check("--suite", "strict-full")
    assert code == 2 and "no submission folder" in err and len(err.strip().splitlines()) == 1
    write_finetune_predictions(run / "submission", "run", "final", "rte", [1])
    code, out, _ = check("--suite", "strict-full")
    assert code == 1 and out.startswith("missing for a complete submission (")
    assert "- fast tasks × chck_1000M:" in out and "rte" not in out
    code, _, err = check("--suite", "strict-fast")
    assert code == 2 and "--suite strict-full" in err


def test_wug_past_tense_scored_by_the_official_rule(tiny_model_dir, tmp_path, monkeypatch):
    """full_eval/wug_past_tense: nestling's rho equals what the official results script computes from its file."""
    if not (OFFICIAL / "evaluation_pipeline" / "calculate_results_from_pred.py").is_file():
        pytest.skip(f"official strict pipeline not found at {OFFICIAL}")
    pytest.importorskip("statsmodels")
    root = build_full_eval(build_eval_root(tmp_path / "evaluation_data", link_reading=False))
    from nestling.evaluation.suites import run_suite

    result = run_suite(tiny_model_dir, "strict-full", root, device="cpu", progress=False, log=lambda _: None,
                       submission_dir=tmp_path / "sub")
    ours = result["revisions"]["main"]["tasks"]["wug_past_tense"]
    assert ours["n_items"] == 7 and ours["metric"] == "spearman"
    preds = json.loads((tmp_path / "sub" / tiny_model_dir.name / "main" / "zero_shot" / "causal" / "wug_past"
                        / "wug_past_tense" / "predictions.json").read_text())
    assert list(preds) == ["wug_past"] and preds["wug_past"]["predictions"][6]["id"] == "wug_past_6"
    monkeypatch.syspath_prepend(str(OFFICIAL / "evaluation_pipeline"))
    import calculate_results_from_pred as official

    rho = official._calculate_wug_results(preds, root / "full_eval" / "wug_past_tense")
    assert rho == pytest.approx(100 * ours["score"], abs=1e-12)
