"""The fine-tuning table of the card (with Delta under --compare) and of the report, from results.json."""

from __future__ import annotations

import json
import shutil

import pytest

from nestling.export import render_model_card, write_report
from nestling.evaluation.finetune.run import merge_into

from .test_card import num, parse_tables


def _task(score: float, seeds=("42",)) -> dict:
    return {"method": "strict", "metric": "accuracy", "score": score, "score_std": 0.0,
            "metrics": {"accuracy": score, "f1": score - 0.1, "mcc": 0.2}, "seeds": {s: {} for s in seeds},
            "n_train": 100, "n_valid": 20, "settings": {"epochs": 10, "learning_rate": 3e-5, "batch_size": 32,
                                                         "sequence_length": 512}}


def _with_finetune(run, dest, scores: dict, skipped=None):
    shutil.copytree(run, dest)
    results = json.loads((dest / "results.json").read_text())
    section = {"revisions": {"final": {"words_seen": 5, "tasks": {t: _task(s) for t, s in scores.items()}}},
               "skipped": skipped or {}}
    (dest / "results.json").write_text(json.dumps(merge_into(results, section)))
    return dest


@pytest.fixture(scope="module")
def tuned(demo_run, other_run, tmp_path_factory):
    root = tmp_path_factory.mktemp("tuned")
    a = _with_finetune(demo_run, root / "a", {"rte": 0.597, "wsc": 0.673}, {"boolq": "no train split"})
    b = _with_finetune(other_run, root / "b", {"rte": 0.55})
    return a, b


def test_card_table_equals_results_json_with_delta(tuned):
    a, b = tuned
    tables = parse_tables(render_model_card(a, compare=b))
    rows = {r[0]: r for r in tables["Fine-tuning evaluation"][1:]}
    assert num(rows["rte"][2]) == pytest.approx(59.7) and num(rows["wsc"][2]) == pytest.approx(67.3)
    assert rows["rte"][-1] == "+4.70" and rows["wsc"][-1] == "n/a"
    card = render_model_card(a)
    assert "boolq (no train split)" in card and "Delta" not in card.split("## Fine-tuning evaluation")[1][:400]


def test_card_without_finetune_has_no_section(demo_run):
    assert "## Fine-tuning evaluation" not in render_model_card(demo_run)


def test_report_has_a_finetune_table(tuned, tmp_path):
    page = write_report(list(tuned), tmp_path / "report").read_text()
    assert "<h2>Fine-tuning</h2>" in page and "<td>59.70</td>" in page and "<td>55.00</td>" in page
