"""`nestling compare`: runs and sweeps grouped by configuration, mean +/- 95% t-interval over seeds, Delta
against a baseline at equal tokens and at equal wall-clock, plots, Markdown and HTML; and the card's Delta
column is the same code (``score_deltas``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from nestling import cli
from nestling.errors import UserError
from nestling.export import render_model_card, write_comparison
from nestling.export.compare import compare_runs, diff_ci, eval_scores, mean_ci, score_deltas
from nestling.run_folder import write_manifest

from .test_card import parse_tables


def fake_run(folder: Path, *, name: str, seed: int, tokens: list[int], seconds: list[float], losses: list[float],
             lr: float = 0.02, scores: dict | None = None, finished: bool = True, params: int = 1000) -> Path:
    """A run folder with just what compare reads: recipe.yaml, summary.json, metrics.jsonl (+ results.json)."""
    folder.mkdir(parents=True)
    recipe = {"name": name, "method": name, "seed": seed, "optimizer": {"muon_lr": lr}, "run": {"log_every": seed},
              "data": {"dir": f"data/s{seed}"}}
    (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    records = []
    for step, (t, s, loss) in enumerate(zip(tokens, seconds, losses), 1):
        records.append({"kind": "train", "step": step, "loss": loss + 0.1, "tokens": t, "wall_s": s})
        records.append({"kind": "val", "step": step, "tokens": t, "words": t, "val_loss": loss,
                        "val_lang_loss": {"eng": loss - 0.1, "nld": loss + 0.1}})
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    summary = {"name": name, "seed": seed, "params": params, "tokens_seen": tokens[-1], "wall_clock_s": seconds[-1],
               "final_val_loss": losses[-1], "finished": finished,
               "mixing": {"final_pi": {"eng": 0.4 + 0.01 * seed, "nld": 0.6 - 0.01 * seed}}}
    (folder / "summary.json").write_text(json.dumps(summary))
    if scores is not None:
        tasks = {t: {"format": "blimp", "macro_acc": acc} for t, acc in scores.items()}
        (folder / "results.json").write_text(json.dumps({"revisions": {"final": {"words_seen": 1, "tasks": tasks}}}))
    return folder


TOKENS = [100, 200, 300, 400]


@pytest.fixture
def runs(tmp_path):
    """Baseline: loss 4,3,2,1 at 1 s per 100 tokens (3 seeds, offsets 0, +0.1, -0.1); the other: 0.5 lower at
    every token count, twice as slow (2 seeds)."""
    base = [fake_run(tmp_path / f"base{s}", name="base", seed=s, tokens=TOKENS, seconds=[1, 2, 3, 4],
                     losses=[x + off for x in (4, 3, 2, 1)], scores={"blimp": 0.6 + off})
            for s, off in enumerate((0, 0.1, -0.1))]
    slow = [fake_run(tmp_path / f"slow{s}", name="slow", seed=s, tokens=TOKENS, seconds=[2, 4, 6, 8],
                     losses=[3.5, 2.5, 1.5, 0.5], scores={"blimp": 0.7})
            for s in range(2)]
    return base, slow


def test_groups_by_configuration_with_t_intervals(runs):
    from statsmodels.stats.weightstats import DescrStatsW

    base, slow = runs
    groups, unfinished = compare_runs(base + slow)
    assert [g.label for g in groups] == ["base", "slow"] and not unfinished
    assert [len(g.runs) for g in groups] == [3, 2], "seeds, data folders and logging do not split a configuration"
    mean, half, n = groups[0].stats["Val loss"]
    low, high = DescrStatsW([1.0, 1.1, 0.9]).tconfint_mean(alpha=0.05)
    assert (mean, n) == (pytest.approx(1.0), 3) and half == pytest.approx((high - low) / 2)
    assert groups[1].stats["Val loss"] == (pytest.approx(0.5), 0.0, 2), "two equal seeds: a zero-width interval"
    assert groups[0].stats["Tokens/s"][0] == pytest.approx(100) and groups[1].stats["Tokens/s"][0] == pytest.approx(50)
    assert groups[0].stats["Val loss nld"][0] == pytest.approx(1.1) and "pi eng" in groups[0].stats
    assert groups[1].stats["blimp (%)"][0] == pytest.approx(70)


def test_delta_against_the_baseline_at_equal_tokens_and_equal_wall_clock(runs):
    base, slow = runs
    groups, _ = compare_runs(base + slow, baseline=base[1])
    b, s = groups
    assert b.is_baseline and not s.is_baseline
    # Equal tokens (400): 0.5 - mean(1, 1.1, 0.9). Equal wall-clock: the baseline stops at 4 s, where the slow
    # run had seen 200 tokens (loss 2.5) and the baseline 400 (mean loss 1.0).
    assert s.stats["Delta loss, equal tokens"][0] == pytest.approx(-0.5)
    assert s.stats["Delta loss, equal wall-clock"][0] == pytest.approx(1.5)
    assert s.stats["Delta blimp (pp)"][0] == pytest.approx(10)
    # The interval counts the baseline's seeds too: the slow runs agree, the baseline's spread remains.
    assert s.stats["Delta loss, equal tokens"][1:] == (pytest.approx(diff_ci([0.5, 0.5], [1.0, 1.1, 0.9])[1]), 2)
    assert s.stats["Delta loss, equal tokens"][1] > 0.2


def test_a_run_with_more_tokens_is_compared_at_the_shorter_horizon(tmp_path):
    base = fake_run(tmp_path / "b", name="b", seed=0, tokens=TOKENS, seconds=[1, 2, 3, 4], losses=[4, 3, 2, 1])
    long = fake_run(tmp_path / "l", name="l", seed=0, tokens=[200, 400, 600, 800], seconds=[1, 2, 3, 4],
                    losses=[3.6, 2.6, 1.6, 0.6])
    groups, _ = compare_runs([base, long], baseline=base)
    # At 400 tokens (the baseline's end): 2.6 - 1; at 4 s (both end): 0.6 - 1.
    assert groups[1].stats["Delta loss, equal tokens"][0] == pytest.approx(1.6)
    assert groups[1].stats["Delta loss, equal wall-clock"][0] == pytest.approx(-0.4)
    # Between two records: linear interpolation (300 tokens: half-way from 3.6 to 2.6); outside them: none.
    assert groups[1].runs[0].curve.at("tokens", 300) == pytest.approx(3.1)
    assert groups[1].runs[0].curve.at("tokens", 100) is None and groups[1].runs[0].curve.at("tokens", 900) is None


def test_sweep_folders_are_read_through_their_manifest_and_labelled_by_their_grid(tmp_path):
    sweep = tmp_path / "sweep"
    runs = []
    for lr in (0.01, 0.02):
        for seed in (0, 1):
            name = f"muon_lr-{lr}_seed{seed}"
            fake_run(sweep / name, name="tiny", seed=seed, lr=lr, tokens=TOKENS, seconds=[1, 2, 3, 4],
                     losses=[4, 3, 2, 1 + lr + seed / 100])
            runs.append({"name": name, "folder": name, "config": {"optimizer.muon_lr": lr}, "seed": seed})
    write_manifest(sweep, {"grid": {"optimizer.muon_lr": [0.01, 0.02]}, "seeds": [0, 1], "runs": runs})
    other = fake_run(tmp_path / "other", name="other", seed=0, tokens=TOKENS, seconds=[1, 2, 3, 4], losses=[4, 3, 2, 1])
    groups, _ = compare_runs([sweep, other], baseline=sweep / "muon_lr-0.01_seed0")
    assert [g.label for g in groups] == ["tiny: optimizer.muon_lr=0.01", "tiny: optimizer.muon_lr=0.02", "other"]
    assert groups[0].is_baseline and [len(g.runs) for g in groups] == [2, 2, 1]
    assert groups[1].stats["Delta loss, equal tokens"][0] == pytest.approx(0.01)


def test_writes_markdown_html_json_and_both_plots(runs, tmp_path):
    base, slow = runs
    unfinished = fake_run(tmp_path / "stopped", name="slow", seed=9, tokens=TOKENS[:2], seconds=[1, 2],
                          losses=[4, 3], finished=False)
    md = write_comparison(base + slow + [unfinished], tmp_path / "cmp", baseline=base[0])
    out = md.parent
    assert {p.name for p in out.iterdir()} == {"compare.md", "compare.html", "compare.json", "loss_vs_tokens.png",
                                               "loss_vs_time.png"}
    table = parse_tables(md.read_text())["Comparison"]
    header, rows = table[0], {r[0]: dict(zip(table[0], r)) for r in table[1:]}
    assert header[:7] == ["Configuration", "Runs", "Params", "Tokens", "Wall-clock (s)", "Tokens/s", "Val loss"]
    assert rows["base (baseline)"]["Delta loss, equal tokens"] == "baseline"
    assert rows["slow"]["Delta loss, equal tokens"] == "-0.5000 ± 0.2484" and rows["slow"]["Runs"] == "2"
    assert rows["base (baseline)"]["Val loss"].startswith("1.0000 ± ")
    assert "Not included (not finished)" in md.read_text() and str(unfinished) in md.read_text()
    data = json.loads((out / "compare.json").read_text())
    assert data["groups"][1]["columns"]["Delta loss, equal wall-clock"]["mean"] == pytest.approx(1.5)
    assert "<table>" in (out / "compare.html").read_text()


def test_the_card_delta_column_is_compares_score_deltas(demo_run, other_run):
    from nestling.export.run import load_run

    deltas = score_deltas(eval_scores(load_run(demo_run).results), eval_scores(load_run(other_run).results))
    rows = {r[0]: r for r in parse_tables(render_model_card(demo_run, compare=other_run))["Zero-shot evaluation"][1:]}
    assert rows["blimp"][-1] == f"{100 * deltas['blimp']:+.2f}"


def test_mean_ci_is_the_t_interval():
    mean, half, n = mean_ci([1.0, 2.0, 3.0, None, float("nan")])
    assert (mean, n) == (2.0, 3) and half == pytest.approx(4.302652729911275 * 1.0 / np.sqrt(3))
    assert mean_ci([5.0]) == (5.0, None, 1) and mean_ci([]) == (None, None, 0)


def test_diff_ci_is_welchs_interval_and_one_sample_against_a_single_baseline():
    from scipy.stats import ttest_ind

    a, b = [2.75, 2.74, 2.77], [2.61, 2.60, 2.64, 2.62]
    diff, half, n = diff_ci(a, b)
    low, high = ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert (diff, n) == (pytest.approx(np.mean(a) - np.mean(b)), 3) and half == pytest.approx((high - low) / 2)
    assert diff_ci(a, [2.6]) == (pytest.approx(np.mean(a) - 2.6), pytest.approx(mean_ci(a)[1]), 3)
    assert diff_ci([2.7], b)[1:] == (None, 1) and diff_ci([1.0, 1.0], [2.0, 2.0]) == (-1.0, 0.0, 2)
    assert diff_ci([], b) == (None, None, 0)


@pytest.mark.parametrize("argv, message", [
    (["compare", "{tmp}/missing", "--out", "{tmp}/o"], "not a run folder (no summary.json or metrics.jsonl) nor a sweep"),
    (["compare", "{run}", "--baseline", "{tmp}", "--out", "{tmp}/o"], "--baseline"),
    (["compare", "{run}"], "required: --out"),
])
def test_bad_comparisons_are_one_line_exit_2(tmp_path, capsys, argv, message):
    run = fake_run(tmp_path / "r", name="r", seed=0, tokens=TOKENS, seconds=[1, 2, 3, 4], losses=[4, 3, 2, 1])
    with pytest.raises(SystemExit) as exit_:
        cli.main([a.format(tmp=tmp_path, run=run) for a in argv])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "o").exists()


def test_nothing_finished_is_refused(tmp_path):
    run = fake_run(tmp_path / "r", name="r", seed=0, tokens=TOKENS, seconds=[1, 2, 3, 4], losses=[4, 3, 2, 1],
                   finished=False)
    with pytest.raises(UserError, match="no finished run"):
        compare_runs([run])
