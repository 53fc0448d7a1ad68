"""The card's multilingual table and the report's multilingual plot read results.json's section."""

from __future__ import annotations

import json
import shutil

from nestling.export import render_model_card, write_report


def _with_multilingual(demo_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(demo_run, run)
    results = json.loads((run / "results.json").read_text())
    results["multilingual"] = {
        "harness": "lm-eval 0.4.13", "requested": ["zeroshot_zho", "zhoblimp_BA_deletion"],
        "skipped": {"xcomps_zh": "data not mapped"},
        "revisions": {"chck_1M": {"words_seen": 1_000_000, "scores": {"zeroshot_zho": {"acc": 0.5, "n": 300},
                                                                      "zhoblimp_BA_deletion": {"acc": 0.25}}},
                      "final": {"words_seen": 2_000_000, "scores": {"zeroshot_zho": {"acc": 0.6125, "n": 300},
                                                                    "zhoblimp_BA_deletion": {"acc": 0.5}}}},
        "learning_curve": [{"revision": "chck_1M", "words_seen": 1_000_000, "zeroshot_zho": 0.5},
                           {"revision": "final", "words_seen": 2_000_000, "zeroshot_zho": 0.6125}]}
    (run / "results.json").write_text(json.dumps(results))
    return run


def test_card_has_multilingual_table(demo_run, tmp_path):
    card = render_model_card(_with_multilingual(demo_run, tmp_path))
    section = card.split("## Multilingual track")[1].split("\n## ")[0]
    assert "| Revision | Words seen | zeroshot_zho | zhoblimp_BA_deletion |" in section
    assert "| `final` | 2,000,000 | 61.25 | 50.00 |" in section
    assert "xcomps_zh" in section and "lm-eval 0.4.13" in section
    assert "## Multilingual track" not in render_model_card(demo_run)
    assert "Limited run" not in section


def test_card_says_when_a_limit_was_used(demo_run, tmp_path):
    run = _with_multilingual(demo_run, tmp_path)
    results = json.loads((run / "results.json").read_text())
    results["multilingual"]["limit"] = 50
    (run / "results.json").write_text(json.dumps(results))
    section = render_model_card(run).split("## Multilingual track")[1].split("\n## ")[0]
    assert "only the first 50 items of each task" in section


def test_report_plots_multilingual_curve(demo_run, tmp_path):
    html = write_report([_with_multilingual(demo_run, tmp_path)], tmp_path / "report").read_text()
    assert (tmp_path / "report" / "multilingual.png").is_file() and "multilingual.png" in html
