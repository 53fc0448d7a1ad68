"""render_model_card: every number in the card parses back to the number in the run's files."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import yaml

from nestling.errors import UserError
from nestling.export import render_model_card
from nestling.export.card import usage_code


def parse_tables(card: str) -> dict[str, list[list[str]]]:
    """{heading: rows of every table under it}; the header row is kept, the ---|--- row dropped."""
    tables: dict[str, list[list[str]]] = {}
    heading = ""
    for line in card.splitlines():
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        elif line.startswith("|") and not set(line) <= set("|-: "):
            tables.setdefault(heading, []).append([c.strip() for c in line.strip("|").split(" | ")])
    return tables


def kv(rows: list[list[str]]) -> dict[str, str]:
    return {r[0]: r[1] for r in rows}


def num(cell: str) -> float:
    return float(cell.replace(",", "").replace("%", "").strip("`"))


def front_matter(card: str) -> dict:
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n")[1])


@pytest.fixture(scope="module")
def files(demo_run, other_run):
    read = lambda run, name: json.loads((run / name).read_text())  # noqa: E731
    metrics = [json.loads(x) for x in (demo_run / "metrics.jsonl").read_text().splitlines()]
    return {"summary": read(demo_run, "summary.json"), "ledger": read(demo_run, "ledger.json"),
            "results": read(demo_run, "results.json"), "other": read(other_run, "results.json"), "metrics": metrics}


@pytest.fixture(scope="module")
def card(demo_run, other_run):
    return render_model_card(demo_run, compare=other_run)


def test_front_matter_is_hub_metadata(card):
    meta = front_matter(card)
    assert meta["license"] == "apache-2.0" and meta["language"] == ["en", "nl", "zh"]
    assert meta["library_name"] == "transformers" and "babylm" in meta["tags"] and "babylm-multilingual" in meta["tags"]
    assert "datasets" not in meta  # never guessed


def test_overview_and_training_numbers_equal_summary(card, files):
    s, t = files["summary"], parse_tables(card)
    overview = kv(t["demo"])
    assert overview["Track"] == files["ledger"]["track"] and overview["Method"] == s["method"]
    assert int(overview["Seed"]) == s["seed"] and num(overview["Parameters"]) == s["params"]
    train = kv(t["Training details"])
    assert num(train["Steps"]) == s["steps"] and num(train["Tokens seen"]) == s["tokens_seen"]
    assert num(train["Words seen"]) == s["words_seen"] and num(train["Skipped steps"]) == s["skipped_steps"]
    assert num(train["Final validation loss"]) == pytest.approx(s["final_val_loss"], abs=5e-5)
    assert num(train["Final validation perplexity"]) == pytest.approx(s["final_val_ppl"], abs=5e-3)
    assert train["Hardware"] == s["hardware"] and train["Optimizer"] == s["optimizer"]["name"]
    assert num(train["Weight decay"]) == s["optimizer"]["weight_decay"]
    assert train["Schedule"] == s["schedule"]["name"]
    assert num(train["`batch.tokens_per_step`"]) == s["batch"]["tokens_per_step"]
    assert f"({s['wall_clock_s']:,.1f} s)" in train["Training wall-clock"]
    last_epochs = [r["epochs"] for r in files["metrics"] if r["kind"] == "train"][-1]
    assert train["Epochs"] == ", ".join(f"{k} {v:.2f}" for k, v in last_epochs.items())
    lrs = [r["lr"] for r in files["metrics"] if r["kind"] == "train"]
    assert num(train["Peak LR (muon)"]) == max(x["muon"] for x in lrs)
    assert num(train["Peak LR (adamw)"]) == max(x["adamw"] for x in lrs)


def test_data_and_mixing_numbers_equal_ledger_and_summary(card, files):
    t, ledger, mixing = parse_tables(card), files["ledger"], files["summary"]["mixing"]
    data = kv(t["Data and budget"][:6])
    assert num(data["Word limit"]) == ledger["limit_words"]
    assert num(data["Words in the training data"]) == ledger["total_words"]
    per_lang = {r[0]: r for r in t["Data and budget"][7:]}
    for lang, v in ledger["languages"].items():
        assert num(per_lang[lang][4]) == v["words"] and num(per_lang[lang][5]) == v["english_word_equivalents"]
    mix = {r[0]: r for r in t["Language mixing"][1:]}
    for lang in ledger["languages"]:
        assert num(mix[lang][2]) == pytest.approx(mixing["final_pi"][lang], abs=5e-5)
        assert num(mix[lang][3]) == mixing["exposures"][lang]
    assert f"Total token exposures: **{mixing['total_exposure']:,}**" in card


def test_results_and_delta_equal_results_json(card, files):
    t = parse_tables(card)
    final, ref = files["results"]["revisions"]["final"]["tasks"], files["other"]["revisions"]["final"]["tasks"]
    header, *rows = t["Zero-shot evaluation"]
    assert header[-1] == "Delta (pp)"
    for row in rows:
        task = final[row[0]]
        assert num(row[2]) == task["n_items"] and num(row[3]) == task["n_uids"]
        assert num(row[4]) == pytest.approx(100 * task["macro_acc"], abs=5e-3)
        assert num(row[5]) == pytest.approx(100 * task["weighted_acc"], abs=5e-3)
        assert num(row[6]) == pytest.approx(100 * (task["macro_acc"] - ref[row[0]]["macro_acc"]), abs=5e-3)
    assert {r[0] for r in rows} == set(final)
    fields = {r[0]: r for r in t["blimp: by field"][1:]}
    for name, f in final["blimp"]["by_field"].items():
        assert num(fields[name][2]) == pytest.approx(100 * f["acc"], abs=5e-3)
        assert num(fields[name][3]) == pytest.approx(100 * (f["acc"] - ref["blimp"]["by_field"][name]["acc"]), abs=5e-3)
    curve = {r[0]: r for r in t["Learning curve"][1:]}
    for point in files["results"]["learning_curve"]:
        assert num(curve[point["revision"]][1]) == point["words_seen"]
        assert num(curve[point["revision"]][2]) == pytest.approx(100 * point["blimp"], abs=5e-3)


def test_revisions_equal_checkpoint_json(card, demo_run):
    rows = {r[0].strip("`"): r for r in parse_tables(card)["Revisions"][1:]}
    assert list(rows) == ["chck_1M", "chck_2M", "main"]
    for rev, folder in [("chck_1M", "checkpoints/chck_1M"), ("chck_2M", "checkpoints/chck_2M"), ("main", "final")]:
        meta = json.loads((demo_run / folder / "checkpoint.json").read_text())
        assert [num(c) for c in rows[rev][1:4]] == [meta["words_seen"], meta["tokens_seen"], meta["step"]]
        assert rows[rev][4] == "yes"
    assert 'revision="chck_1M")' in card and "trust_remote_code=True)" not in card  # Llama: no remote code
    assert "## Citation" not in card  # the run names no citation: none is made up


def _copy(run: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(run, tmp_path / "run"))


def test_missing_files_say_not_evaluated_or_not_recorded(demo_run, tmp_path):
    run = _copy(demo_run, tmp_path)
    (run / "results.json").unlink()
    (run / "ledger.json").unlink()
    summary = json.loads((run / "summary.json").read_text())
    for key in ("wall_clock_s", "hardware", "final_val_ppl"):
        del summary[key]
    (run / "summary.json").write_text(json.dumps(summary))
    card = render_model_card(run)
    t = parse_tables(card)
    train = kv(t["Training details"])
    assert train["Training wall-clock"] == train["Hardware"] == train["Final validation perplexity"] == "not recorded"
    assert "Not evaluated: the run has no `results.json`" in card
    assert {r[4] for r in t["Revisions"][1:]} == {"not evaluated"}
    assert "data and budget not recorded" in card
    assert not any("Macro acc" in " ".join(r) for rows in t.values() for r in rows)


def test_compare_run_missing_a_task_gives_na(demo_run, tmp_path):
    other = _copy(demo_run, tmp_path)
    results = json.loads((other / "results.json").read_text())
    del results["revisions"]["final"]["tasks"]["blimp_nl"]
    (other / "results.json").write_text(json.dumps(results))
    rows = {r[0]: r for r in parse_tables(render_model_card(demo_run, compare=other))["Zero-shot evaluation"][1:]}
    assert rows["blimp_nl"][-1] == "n/a" and num(rows["blimp"][-1]) == 0.0


def test_revision_card_and_unknown_revision(demo_run):
    card = render_model_card(demo_run, revision="chck_2M", repo_id="me/demo")
    assert "This is revision **chck_2M** (200 words seen)" in card and 'repo = "me/demo"' in card
    with pytest.raises(UserError, match="chck_9M"):
        render_model_card(demo_run, revision="chck_9M")


def test_nan_loss_is_not_recorded(demo_run, tmp_path):
    run = _copy(demo_run, tmp_path)
    summary = json.loads((run / "summary.json").read_text())
    summary["final_val_loss"] = math.nan
    (run / "summary.json").write_text(json.dumps(summary))
    assert kv(parse_tables(render_model_card(run))["Training details"])["Final validation loss"] == "not recorded"


def test_recipe_block_equals_recipe_yaml(card, demo_run):
    block = card.split("```yaml\n", 1)[1].split("\n```", 1)[0]
    recipe = yaml.safe_load((demo_run / "recipe.yaml").read_text())
    assert yaml.safe_load(block) == {k: v for k, v in recipe.items() if k != "_source"}
    assert "`checkpoints.milestone_scale` to 0.0001" in card


def test_a_run_past_ten_epochs_says_so():
    from nestling.export.card import _over_epochs

    assert _over_epochs({"epochs": {"eng": 10.0, "nld": 3.2}}) == "no"
    assert _over_epochs({"epochs": {"eng": 15.0, "nld": 3.2}}) == "yes, allowed by `budget.allow_over_epochs`: eng 15.00"
    assert _over_epochs({}) == "not recorded"


def _suite_results(run: Path) -> dict:
    """The run's results.json turned into a strict-suite result (a WUG and a reading task added)."""
    results = json.loads((run / "results.json").read_text())
    results.update(suite="strict-fast", missing=[{"task": "wug_past_tense", "group": "fast", "path": "x",
                                                 "reason": "not found"}])
    final = results["revisions"]["final"]["tasks"]
    for t in final.values():
        t.update(metric="accuracy", score=t["macro_acc"])
    final["wug_adj_nominalization"] = {"format": "wug", "metric": "spearman", "n_items": 200, "score": 0.4321}
    final["reading"] = {"format": "reading", "metric": "delta_r2_pct", "n_items": 1726, "eye_tracking": 1.8765,
                        "self_paced_reading": 0.0612}
    return results


def test_suite_scores_shown_as_the_official_metrics(demo_run, tmp_path):
    run = _copy(demo_run, tmp_path)
    results = _suite_results(run)
    (run / "results.json").write_text(json.dumps(results))
    t = parse_tables(render_model_card(run))
    rows = {r[0]: r for r in t["BabyLM strict-track suite"][1:]}
    assert rows["reading"][3] == "eye tracking 1.88, self-paced 0.06"
    assert rows["wug_adj_nominalization"][3] == "0.432"
    blimp = results["revisions"]["final"]["tasks"]["blimp"]["score"]
    assert num(rows["blimp"][3]) == pytest.approx(100 * blimp, abs=0.05)
    # WUG and reading are not accuracies: the accuracy table leaves them out.
    assert not {"reading", "wug_adj_nominalization"} & {r[0] for r in t["Zero-shot evaluation"][1:]}


def test_reading_and_aoa_rows_say_not_run_until_results_hold_them(demo_run, tmp_path):
    run = _copy(demo_run, tmp_path)
    results = _suite_results(run)
    del results["revisions"]["final"]["tasks"]["reading"]
    (run / "results.json").write_text(json.dumps(results))
    rows = {r[0]: r for r in parse_tables(render_model_card(run))["BabyLM strict-track suite"][1:]}
    assert rows["reading"][2:] == ["not run", "not run"] and rows["aoa"][2:] == ["not run", "not run"]
    # The shape strict-full writes (nestling.evaluation.suites): one Pearson r over every revision.
    results["aoa"] = {"schema_version": 1, "metric": "pearson_r", "score": 0.61234, "n_words": 3,
                      "revisions": ["chck_1M", "chck_2M", "chck_3M"], "rows_per_revision": 8005}
    (run / "results.json").write_text(json.dumps(results))
    rows = {r[0]: r for r in parse_tables(render_model_card(run))["BabyLM strict-track suite"][1:]}
    assert rows["aoa"][2:] == ["3 words x 3 revisions", "0.612"]


def test_validation_loss_and_perplexity_against_the_baseline(card, demo_run, other_run, files):
    rows = {r[0]: r for r in parse_tables(card)["Validation loss"]}
    assert rows[""][1:] == ["Val loss", "Val perplexity", "Baseline loss", "Baseline perplexity", "Δ loss",
                            "Δ perplexity"]
    assert "Baseline: **ablation** (`ablation`)" in card
    ours, theirs = files["summary"], json.loads((other_run / "summary.json").read_text())
    loss, base = ours["final_val_loss"], theirs["final_val_loss"]
    assert [num(c) for c in rows["all languages"][1:5]] == pytest.approx(
        [loss, math.exp(loss), base, math.exp(base)], abs=1e-2)
    assert num(rows["all languages"][5]) == pytest.approx(loss - base, abs=1e-4)
    assert num(rows["all languages"][6]) == pytest.approx(math.exp(loss) - math.exp(base), abs=1e-2)
    last_val = [r for r in files["metrics"] if r["kind"] == "val"][-1]["val_lang_loss"]
    assert num(rows["zho"][1]) == pytest.approx(last_val["zho"], abs=1e-4)
    # Without a baseline: only this run's columns.
    alone = parse_tables(render_model_card(demo_run))["Validation loss"]
    assert alone[0][1:] == ["Val loss", "Val perplexity"]


def test_cli_names_the_baseline_run(demo_run, other_run, tmp_path):
    from nestling.cli import main

    main(["export", str(demo_run), "--out", str(tmp_path / "repo"), "--baseline", str(other_run)])
    assert "Baseline: **ablation**" in (tmp_path / "repo" / "README.md").read_text()


BIBTEX = "@article{someone2025,\n  title = {A Real Paper},\n  year = {2025}\n}"


@pytest.mark.parametrize("source", ["recipe", "citation.bib", "CITATION.cff"])
def test_citation_comes_verbatim_from_the_recipe_or_a_file(demo_run, tmp_path, source):
    run = _copy(demo_run, tmp_path)
    text = "cff-version: 1.2.0\ntitle: A Real Paper\n" if source == "CITATION.cff" else BIBTEX
    if source == "recipe":
        recipe = yaml.safe_load((run / "recipe.yaml").read_text())
        (run / "recipe.yaml").write_text(yaml.safe_dump({**recipe, "citation": BIBTEX}))
    else:
        (run / source).write_text(text)
    lang = "yaml" if source == "CITATION.cff" else "bibtex"
    assert render_model_card(run).endswith(f"## Citation\n\n```{lang}\n{text.strip()}\n```\n")


def _with_recipe(run: Path, **sections) -> None:
    recipe = yaml.safe_load((run / "recipe.yaml").read_text())
    (run / "recipe.yaml").write_text(yaml.safe_dump({**recipe, **sections}))


def _method(card: str) -> str:
    return card.split("## Method\n", 1)[1].split("\n## ", 1)[0]


def test_method_section_marks_nestlings_reconstructions(demo_run, tmp_path):
    run = _copy(demo_run, tmp_path)
    _with_recipe(run, model={"arch": "stream_mixer", "num_hidden_layers": 4, "hidden_size": 128,
                             "attention_layers": [2], "n_streams": 8, "stream_dim": 32, "n_read_heads": 4,
                             "chunk_size": 32},
                 mixing={"method": "taam", "reward": "cross_lingual_deficit", "prior_temperature": 0.5,
                         "prior_features": ["syntax_knn"], "mix_interval": 25, "update": "full_information",
                         "gamma": 0.1, "eta": 0.1, "floor": 0.1},
                 data={"track": "multilingual"}, optimizer={"name": "muon_adamw", "muon_lr": 0.02, "adamw_lr": 0.003,
                                                            "weight_decay": 0.1})
    method = _method(render_model_card(run))
    paragraphs = {p.split("**")[1]: p for p in method.split("\n\n") if p.startswith("**")}
    for part in ("Model.", "Language mixing (TAAM).", "Budget."):
        assert "nestling's reconstruction, not the paper's formula" in paragraphs[part], part
    assert paragraphs["Language mixing (TAAM)."].count("reconstruction") == 2  # the prior and the rewards
    assert "v2, cross-lingual deficit" in method and "8 content-routed memory streams of 32" in method
    assert "Muon (peak LR 0.02)" in method
    # A native Llama with static mixing on one track: nothing reconstructed, nothing said to be.
    _with_recipe(run, model={"arch": "llama", "num_hidden_layers": 4, "hidden_size": 128},
                 mixing={"method": "uniform"}, data={"track": "strict-small"})
    method = _method(render_model_card(run))
    assert "reconstruction" not in method and "`LlamaForCausalLM`: no remote code), 4 layers of width 128" in method


@pytest.mark.parametrize("which", ["exported", "mixer_export"])
def test_the_cards_usage_code_runs_verbatim(which, request, capsys):
    """The Usage block, taken out of the exported README.md as `make compat` takes it, runs as written
    (local folder for the Hub id) in the locked transformers: native Llama and remote-code Stream Mixer."""
    repo = request.getfixturevalue(which)
    code = usage_code((repo / "README.md").read_text(encoding="utf-8"), repo=str(repo))
    assert f"repo = {json.dumps(str(repo))}\n" in code and "model.generate(**inputs" in code
    exec(compile(code, f"{repo}/README.md (Usage)", "exec"), {})
    assert capsys.readouterr().out.startswith("The cat sat on the")


def test_usage_code_needs_a_usage_block():
    with pytest.raises(UserError, match="no ```python block under ## Usage"):
        usage_code("# a card\n\n## Usage\n\nnone here\n")
