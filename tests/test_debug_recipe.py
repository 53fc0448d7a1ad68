"""The CPU debug recipe trains end to end inside CI; its final validation loss must land in a recorded
range, so a change that breaks learning (model, optimizer, schedule, data, mixing) fails a test."""

import json

import pytest

from nestling.data.dataset import builtin_pairs
from nestling.evaluation.results import language_table
from nestling.jobs import train_recipe
from nestling.recipe import load_recipe

# Recorded from `pytest tests/test_debug_recipe.py` on 2 CPU cores (see BENCHMARKS.md, "debug recipe").
# The untrained model starts at about ln(1024) = 6.9 nats.
GOLDEN_VAL_LOSS = (LOW, HIGH) = (2.1, 2.7)  # recorded 2.3996
CHANCE_MARGIN = 0.55  # mean macro accuracy over the three languages' built-in pairs must beat this


@pytest.fixture(scope="module")
def debug_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("debug")
    recipe = load_recipe("debug", [f"data.builtin_root={root / 'data'}", f"run.out_root={root / 'runs'}"])
    return recipe, train_recipe(recipe)


def test_debug_recipe_final_validation_loss_is_in_the_golden_range(debug_run):
    _, run_dir = debug_run
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["finished"] is True
    assert LOW <= summary["final_val_loss"] <= HIGH, summary["final_val_loss"]


def test_debug_run_has_the_run_folder_contract(debug_run):
    _, run_dir = debug_run
    for name in ("recipe.yaml", "ledger.json", "metrics.jsonl", "summary.json", "final/config.json"):
        assert (run_dir / name).exists(), name
    kinds = {json.loads(line)["kind"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()}
    assert {"train", "val", "mix", "checkpoint"} <= kinds
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir())[:1], "BabyLM checkpoints were written"


def test_debug_model_is_evaluated_per_language(debug_run):
    from nestling.evaluation import evaluate_run

    recipe, run_dir = debug_run
    results = evaluate_run(run_dir, builtin_pairs(recipe), revisions="final", batch_size=64)
    table = language_table(results)
    for lang in ("eng", "nld", "zho"):
        assert f"| {lang} |" in table
    # Learning shows on the grammar too: the trained model beats chance (0.5) on the built-in pairs.
    accuracy = {task: res["macro_acc"] for task, res in results["revisions"]["final"]["tasks"].items()}
    assert sum(accuracy.values()) / len(accuracy) > CHANCE_MARGIN, accuracy


def test_cli_evaluates_the_remote_code_model_without_prompting(debug_run):
    """`nestling eval` on a trust_remote_code folder must not stop at transformers' "run custom code?" prompt."""
    import subprocess
    import sys

    recipe, run_dir = debug_run
    result = subprocess.run(
        [sys.executable, "-m", "nestling", "eval", str(run_dir / "final"), "--data", str(builtin_pairs(recipe)[0])],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "Do you wish to run the custom code" not in result.stdout + result.stderr
    assert "| eng_pairs |" in result.stdout
