"""write_report: every plot is present as a valid PNG and the HTML is well-formed."""

from __future__ import annotations

import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from nestling.errors import UserError
from nestling.export import write_report
from nestling.export.report import _run_names, _smooth
from nestling.export.run import load_run

_VOID = {"meta", "img", "br", "hr", "link", "input", "col", "area", "base", "source", "wbr"}
_ALL_PLOTS = {"loss.png", "lang_loss.png", "pi.png", "rewards.png", "lr.png", "eval.png"}


class StrictParser(HTMLParser):
    """Collects <img> sources and fails on any unbalanced or mis-nested tag."""

    def __init__(self):
        super().__init__()
        self.stack, self.images, self.errors, self.text = [], [], [], []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs))
        elif tag not in _VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(f"unexpected </{tag}>")

    def handle_data(self, data):
        self.text.append(data)


def parse(html_path: Path) -> StrictParser:
    parser = StrictParser()
    parser.feed(html_path.read_text(encoding="utf-8"))
    parser.close()
    assert parser.errors == [] and parser.stack == [], (parser.errors, parser.stack)
    return parser


def assert_png(path: Path) -> None:
    from matplotlib.image import imread

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = imread(path)  # decodes the whole file: a truncated PNG fails here
    assert image.shape[0] > 100 and image.shape[1] > 100


def test_two_runs_side_by_side(demo_run, other_run, tmp_path):
    page = write_report([demo_run, other_run], tmp_path / "report")
    assert page == tmp_path / "report" / "report.html"
    parser = parse(page)
    sources = {img["src"] for img in parser.images}
    assert sources == _ALL_PLOTS
    for src in sources:
        assert_png(page.parent / src)
    assert all(img.get("alt") for img in parser.images)
    text = "".join(parser.text)
    assert "demo" in text and "ablation" in text and "Not recorded" not in text
    summary = json.loads((demo_run / "summary.json").read_text())
    assert f"{summary['final_val_loss']:.4f}" in text
    assert sorted(p.name for p in page.parent.iterdir()) == sorted(_ALL_PLOTS | {"report.html"})


def test_single_language_unevaluated_run_lists_missing_plots(demo_run, tmp_path):
    from .fake_run import make_run

    out = tmp_path / "report"
    write_report([demo_run], out)  # an earlier report whose pi/eval plots must not linger
    run = make_run(tmp_path / "runs", name="mono", langs=("eng",), evaluated=False)
    parser = parse(write_report([run], out))
    sources = {img["src"] for img in parser.images}
    assert sources == {"loss.png", "lang_loss.png", "lr.png"}
    text = "".join(parser.text)
    assert "Mixing weights pi per language over training" in text.split("Not recorded")[1]
    assert "not evaluated" in text
    assert not (out / "pi.png").exists() and not (out / "eval.png").exists()


def test_same_name_runs_get_distinct_legend_names(demo_run, tmp_path):
    twin = Path(shutil.copytree(demo_run, tmp_path / "demo_rerun"))
    assert _run_names([load_run(demo_run), load_run(twin)]) == ["demo (demo)", "demo (demo_rerun)"]


def test_bad_input(tmp_path):
    with pytest.raises(UserError, match="at least one run"):
        write_report([], tmp_path / "r")
    with pytest.raises(UserError, match="not a run folder"):
        write_report([tmp_path / "missing"], tmp_path / "r")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="nothing to report"):
        write_report([tmp_path / "empty"], tmp_path / "r")
    assert not (tmp_path / "r").exists()


def test_smoothing_leaves_short_series_and_follows_long_ones():
    assert _smooth([3.0, 1.0, 2.0]) == [3.0, 1.0, 2.0]
    ys = [5.0] * 100 + [1.0] * 400
    smooth = _smooth(ys)
    assert smooth[0] == pytest.approx(5.0) and smooth[99] == pytest.approx(5.0)  # bias-corrected: no dip at the start
    assert smooth[-1] == pytest.approx(1.0, abs=1e-2)


def test_report_shows_suite_scores(demo_run, tmp_path):
    from tests.export.test_card import _copy, _suite_results

    run = _copy(demo_run, tmp_path)
    (run / "results.json").write_text(json.dumps(_suite_results(run)))
    html_text = (write_report([run], tmp_path / "report")).read_text()
    assert "eye tracking 1.88, self-paced 0.06" in html_text and "0.432" in html_text
