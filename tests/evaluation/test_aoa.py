"""AoA: surprisals and score against the official AoA_word code and utils.AoAEvaluator."""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pytest

from nestling.errors import UserError
from nestling.evaluation.aoa import (OFFICIAL_ROWS, RANDOM_CHANCE_SURPRISAL, aoa_score, encode_rows,
                                     exact_word_surprisals, exact_words, load_contexts, read_human, step_words,
                                     surprisal_file, surprisal_rows, word_surprisals)
from nestling.evaluation.suites import run_suite
from nestling.evaluation.submission import aoa_path, expected_revisions, submission_gaps
from tests.conftest import REPO_ROOT
from tests.evaluation.aoa_fixtures import build_aoa_root, build_learning_run, write_cdi_childes, write_cdi_human
from tests.evaluation.strict_fixtures import build_eval_root

OFFICIAL = REPO_ROOT.parent / "shared" / "reference" / "babylm-eval" / "strict"


def _official(monkeypatch):
    if not (OFFICIAL / "evaluation_pipeline" / "AoA_word" / "evaluation_functions.py").is_file():
        pytest.skip(f"official strict pipeline not found at {OFFICIAL}")
    monkeypatch.syspath_prepend(str(OFFICIAL))
    monkeypatch.syspath_prepend(str(OFFICIAL / "evaluation_pipeline"))


def test_fixture_has_the_official_row_count_and_drops_one_letter_words(tmp_path):
    words = load_contexts(write_cdi_childes(tmp_path / "cdi_childes.json"))
    assert sum(len(c) for _, c in words) == OFFICIAL_ROWS
    assert "a" not in dict(words)
    (tmp_path / "bad.json").write_text(json.dumps({"dog": ["no dict"]}))
    with pytest.raises(UserError, match="expected a list"):
        load_contexts(tmp_path / "bad.json")


def test_word_tokens_follow_the_stripped_context(tiny_model):
    _, tokenizer = tiny_model
    (ids, mask), = encode_rows(tokenizer, [("  look at the  ", "dog")])
    text = tokenizer.decode([i for i, m in zip(ids, mask) if m])
    assert text.strip() == "dog" and not mask[0]


def test_surprisals_equal_the_official_code_row_by_row(tiny_model, tmp_path, monkeypatch):
    _official(monkeypatch)
    from evaluation_pipeline.AoA_word.eval_util import load_eval
    from evaluation_pipeline.AoA_word.evaluation_functions import StepSurprisalExtractor

    model, tokenizer = tiny_model
    path = write_cdi_childes(tmp_path / "cdi_childes.json", n_words=30, contexts_per_word=8)
    words = load_contexts(path)
    official_words, official_contexts = load_eval(path, 0)
    assert [w for w, _ in words] == official_words and [c for _, c in words] == official_contexts
    extractor = StepSurprisalExtractor(config=None, model_name="tiny", backend="causal", device="cpu")
    expected = [extractor.compute_surprisal(model, tokenizer, tokenizer, c, w, use_bos_only=False)
                for w, contexts in words for c in contexts]
    ours = word_surprisals(model, tokenizer, words, batch_size=16, progress=False)
    np.testing.assert_allclose(ours, expected, atol=1e-4, rtol=0)
    assert np.all(ours > 0)


def test_exact_surprisals_are_the_official_bits(tiny_model, tmp_path, monkeypatch):
    _official(monkeypatch)
    from evaluation_pipeline.AoA_word.evaluation_functions import StepSurprisalExtractor

    model, tokenizer = tiny_model
    words = load_contexts(write_cdi_childes(tmp_path / "cdi_childes.json", n_words=12, contexts_per_word=4))
    extractor = StepSurprisalExtractor(config=None, model_name="tiny", backend="causal", device="cpu")
    expected = [extractor.compute_surprisal(model, tokenizer, tokenizer, c, w, use_bos_only=False)
                for w, contexts in words for c in contexts]
    assert exact_word_surprisals(model, tokenizer, words).tolist() == expected  # bit for bit, not close


def _sigmoid_rows(word: str, midpoint: float) -> list[dict]:
    """Noiseless rows of a word whose surprisal falls from 16 to 6 nats around log10(words) = ``midpoint``."""
    rows = []
    for millions in (1, 2, 3, 5, 10, 20, 30, 50, 100):
        x = math.log10(millions * 1e6 + 1)
        rows += [{"step": f"chck_{millions}M", "target_word": word, "context_id": c,
                  "surprisal": 6 + 10 / (1 + math.exp(3 * (x - midpoint)))} for c in range(3)]
    return rows


def _edge_midpoint() -> float:
    """The midpoint whose AoA lies 1e-7 before the first revision: dropped, but kept after a 1e-4 nudge."""
    from scipy.optimize import brentq

    first = math.log10(1e6 + 1)
    min_surprisal = lambda m: 6 + 10 / (1 + math.exp(3 * (math.log10(1e8 + 1) - m)))  # noqa: E731
    threshold = lambda m: RANDOM_CHANCE_SURPRISAL - 0.5 * (RANDOM_CHANCE_SURPRISAL - min_surprisal(m))  # noqa: E731
    crossing = lambda m: m + math.log(10 / (threshold(m) - 6) - 1) / 3  # noqa: E731
    return brentq(lambda m: crossing(m) - first + 1e-7, 5, 7.5, xtol=1e-14)


def test_exact_words_are_the_scored_and_the_ill_conditioned_ones():
    import pandas as pd

    words = {"edge": _edge_midpoint(), "clear": 7.21, "early": 5.5}
    human = pd.DataFrame({"word": list(words), **{str(a): [1 / (1 + math.exp(22 - a))] * 3 for a in range(16, 31)}})
    rows = [r for word, mid in words.items() for r in _sigmoid_rows(word, mid)]
    assert aoa_score(rows, human)["words"] == ["clear"]
    # "edge" is dropped on these rows but a 1e-4 nudge keeps it; "early" stays dropped however nudged.
    assert exact_words(rows, human) == {"kept": ["clear"], "sensitive": ["edge"]}


def _curves(words: list[str], seed: int = 0) -> list[dict]:
    """surprisal.json rows whose surprisal falls along a sigmoid in log10(words seen), per word."""
    rng = np.random.default_rng(seed)
    rows = []
    mids = {w: rng.uniform(6.3, 8.7) for w in words}
    for rev in expected_revisions("strict"):
        x = math.log10(step_words(rev) + 1)
        for word in words:
            for context_id in range(3):
                s = 6 + 10 / (1 + math.exp(3 * (x - mids[word]))) + rng.normal(0, 0.3)
                rows.append({"step": rev, "word_count": int(step_words(rev)), "target_word": word,
                             "context_id": context_id, "context": "c", "surprisal": s})
    return rows


def test_score_equals_the_official_evaluator(tmp_path, monkeypatch):
    _official(monkeypatch)
    from utils import AoAEvaluator

    words = [f"w{n:02d}" for n in range(40)]
    human = write_cdi_human(tmp_path / "cdi_human.csv", words)
    rows = _curves(words)
    rows[5]["surprisal"] = float("nan")  # a failed row (the official code writes NaN) is left out of the fit
    ours = aoa_score(rows, read_human(human))
    official = AoAEvaluator(human).compute_curve_fitness({"results": rows})
    assert ours["n_words"] == official["n_words"] > 3
    assert ours["score"] == official["curve_fitness"]
    assert ours["words"] == official["valid_words"]
    assert aoa_score(rows[:5], read_human(human))["score"] == 0.0  # < 3 words: 0, as there


def test_strict_full_scores_aoa_on_each_revisions_own_weights(tiny_model_dir, tmp_path):
    pytest.importorskip("statsmodels")
    root = build_aoa_root(build_eval_root(tmp_path / "evaluation_data"), n_words=12, contexts_per_word=4,
                          last_word_contexts=2)
    run = build_learning_run(tmp_path / "run", tiny_model_dir, ["chck_1M", "chck_2M", "chck_3M"])
    sub = tmp_path / "sub"
    result = run_suite(run, "strict-full", root, device="cpu", progress=False, log=lambda _: None,
                       submission_dir=sub)
    aoa = result["aoa"]
    assert aoa["revisions"] == ["chck_1M", "chck_2M", "chck_3M"] and aoa["rows_per_revision"] == 46
    # Different weights per revision: different surprisals (not one folder loaded three times).
    assert len(set(aoa["mean_surprisal"].values())) == 3
    assert aoa["score"] is not None and aoa["n_nan"] == 0
    assert aoa["exact"]["mode"] == "rescue" and aoa["exact"]["rows"] <= 3 * 46
    written = json.loads(aoa_path(sub, "run").read_text())
    assert written["metadata"]["completed_steps"] == 3 and len(written["results"]) == 3 * 46
    assert written["results"][0].keys() == {"step", "word_count", "target_word", "context_id", "context", "surprisal"}
    collated = json.loads((sub / "run" / "main" / "all_full_preds_causal.json").read_text())
    assert collated["aoa"] == written
    gaps = submission_gaps(sub, "run")
    assert "AoA × chck_1M: 46 rows, the official collation expects 8005 (the real cdi_childes.json)" in gaps
    assert "AoA × chck_4M: no surprisals" in gaps and any(g.startswith("boolq (fine-tuning)") for g in gaps)


def test_aoa_exact_scores_every_row_with_the_official_arithmetic(tiny_model_dir, tmp_path):
    from nestling.evaluation.evaluate import load_model

    root = build_aoa_root(tmp_path / "evaluation_data", n_words=6, contexts_per_word=3, last_word_contexts=2)
    run = build_learning_run(tmp_path / "run", tiny_model_dir, ["chck_1M"])
    result = run_suite(run, "strict-full", root, device="cpu", progress=False, log=lambda _: None,
                       submission_dir=tmp_path / "sub", aoa_exact="all")
    rows = json.loads(aoa_path(tmp_path / "sub", "run").read_text())["results"]
    assert result["aoa"]["exact"] == {"mode": "all", "words": 6, "rows": len(rows)}
    model, tokenizer = load_model(run / "checkpoints" / "chck_1M", device="cpu")
    words = load_contexts(root / "full_eval" / "aoa" / "cdi_childes.json")
    assert [r["surprisal"] for r in rows] == exact_word_surprisals(model, tokenizer, words).tolist()


def test_missing_aoa_data_is_reported_not_fatal(tiny_model_dir, tmp_path):
    pytest.importorskip("statsmodels")
    root = build_eval_root(tmp_path / "evaluation_data")
    run = build_learning_run(tmp_path / "run", tiny_model_dir, ["chck_1M"])
    logged = []
    result = run_suite(run, "strict-full", root, device="cpu", progress=False, log=logged.append)
    assert "aoa" not in result and {"aoa", "aoa_score"} <= {m["task"] for m in result["missing"]}
    assert any("AoA_word README" in line for line in logged)


def test_surprisal_file_schema():
    rows = surprisal_rows("chck_1M", 1_000_000, [("dog", ["look at the", "a"])], np.array([1.5, 2.5]))
    content = surprisal_file("m", rows)
    assert content["metadata"] == {"model_name": "m", "use_bos_only": False, "total_steps": 1, "completed_steps": 1}
    assert [r["context_id"] for r in content["results"]] == [0, 1]
    assert step_words("chck_10M") == 1e7 and step_words("chck_1.5B") == 1.5e9
    assert sys.modules["nestling.evaluation.aoa"].RANDOM_CHANCE_SURPRISAL == math.log2(300_000)
