"""evaluate_run: every revision in words-seen order, learning curve, plot, missing revisions."""

from __future__ import annotations

import json
import shutil

import pytest

from nestling.errors import UserError
from nestling.evaluation import evaluate_run, is_run_dir, list_revisions, write_results, write_run_outputs


@pytest.fixture
def run_dir(tiny_model_dir, tmp_path):
    run = tmp_path / "run"
    for name, words in [("chck_10M", 10_000_000), ("chck_1M", 1_000_000), ("chck_2M", 2_000_000)]:
        shutil.copytree(tiny_model_dir, run / "checkpoints" / name)
        (run / "checkpoints" / name / "checkpoint.json").write_text(json.dumps({"name": name, "words_seen": words}))
    shutil.copytree(tiny_model_dir, run / "final")
    (run / "final" / "checkpoint.json").write_text(json.dumps({"name": "final", "words_seen": 12_000_000}))
    return run


@pytest.fixture
def pairs(tmp_path):
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps({"sentence_good": f"The dog runs {i}.", "sentence_bad": f"The dog run {i}.",
                                        "UID": f"u{i % 3}", "field": "syntax", "linguistics_term": "agr"}) + "\n"
                            for i in range(12)))
    return path


def test_all_revisions_learning_curve_and_plot(run_dir, pairs, tmp_path):
    assert list(list_revisions(run_dir)) == ["chck_1M", "chck_2M", "chck_10M", "final"]
    png = tmp_path / "curve.png"
    result = evaluate_run(run_dir, [pairs], device="cpu", plot_path=png, progress=False)
    curve = result["learning_curve"]
    assert [p["revision"] for p in curve] == ["chck_1M", "chck_2M", "chck_10M", "final"]
    assert [p["words_seen"] for p in curve] == [1_000_000, 2_000_000, 10_000_000, 12_000_000]
    # Same weights everywhere: same accuracy at every revision.
    assert len({p["pairs"] for p in curve}) == 1
    assert result["revisions"]["chck_2M"]["revision"] == "chck_2M"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    write_results(result, tmp_path / "results.json")
    paths = write_run_outputs(result, run_dir / "results.json")
    assert paths["table"].read_text().startswith("| revision | words seen | pairs |")
    assert paths["plot"].name == "learning_curve.png" and json.loads(paths["results"].read_text())["run"]
    assert is_run_dir(run_dir) and not is_run_dir(run_dir / "final") and not is_run_dir(tmp_path / "nope")


def test_selected_and_missing_revisions(run_dir, pairs):
    result = evaluate_run(run_dir, [pairs], revisions="chck_2M,final", device="cpu", progress=False)
    assert list(result["revisions"]) == ["chck_2M", "final"]
    with pytest.raises(UserError, match="revision chck_5M not found; available: chck_1M, chck_2M"):
        evaluate_run(run_dir, [pairs], revisions=["chck_5M"], device="cpu")


def test_not_a_run(tmp_path, pairs):
    with pytest.raises(UserError, match="no checkpoints/chck_"):
        evaluate_run(tmp_path, [pairs], device="cpu")
