"""Reading: one-pass surprisals equal the official per-token loop; regressions as the official code."""

from __future__ import annotations

import numpy as np
import pytest

from nestling.evaluation.reading import (_hosts, add_predictions, load_reading, official_steps, reading_scores,
                                         reference_surprisal, word_surprisals)
from tests.evaluation.strict_fixtures import write_reading_csv

# A core dependency since issue 13; an environment installed before it lacks it.
pytest.importorskip("statsmodels", reason="statsmodels not installed (pip install -e . adds it)")

PAIRS = [("The cat sat on the", "mat"), ("The cat sat on", "the"), ("The cat", "sat"),
         ("Many children like to read", "books."), ("None", "xylophonically"), ("The cat sat on the", "mat")]


def test_hosts_serve_prefixes_from_the_longest_sequence():
    host = _hosts([(1, 2), (1, 2, 3), (1, 2, 3, 4), (1, 5), (2,)])
    assert host[(1, 2)] == (1, 2, 3, 4) and host[(1, 2, 3)] == (1, 2, 3, 4)
    assert host[(1, 5)] == (1, 5) and host[(2,)] == (2,)


def test_steps_follow_get_p2(tiny_model):
    _, tok = tiny_model
    (steps,) = official_steps(tok, [("The cat", "xylophonically")])
    target = tok("xylophonically", add_special_tokens=False)["input_ids"]
    assert len(target) > 1 and len(steps) == len(target)
    assert steps[0] == (tuple(tok("The cat")["input_ids"]), target[0])
    text = "The cat" + tok.decode(target[0])
    assert steps[1][0] == tuple(tok(text)["input_ids"])


def test_one_pass_equals_the_official_loop(tiny_model):
    model, tok = tiny_model
    fast = word_surprisals(model, tok, PAIRS, progress=False, batch_size=3)
    slow = [reference_surprisal(model, tok, c, w) for c, w in PAIRS]
    assert fast == pytest.approx(slow, rel=1e-5, abs=1e-4)
    assert fast[0] == fast[-1]


def test_regressions_match_statsmodels_by_hand(tmp_path):
    import statsmodels.formula.api as smf

    df = load_reading(write_reading_csv(tmp_path / "reading_data.csv"))
    rng = np.random.default_rng(1)
    df["pred"] = rng.normal(5, 2, len(df)) + 0.05 * df["RTfirstfix"]
    df["prev_pred"] = np.where(df["prev_item"].isna(), np.nan, rng.normal(5, 2, len(df)))
    scores = reading_scores(df)
    cols = ["Subtlex_log10", "length", "context_length"]
    base_f = "RTgopast ~ Subtlex_log10 * length + Subtlex_log10 * context_length + length * context_length"
    r2b = smf.ols(base_f, data=df[["RTgopast", *cols]].dropna()).fit().rsquared
    r2m = smf.ols(base_f + " + pred", data=df[["RTgopast", *cols, "pred"]].dropna()).fit().rsquared
    assert scores["by_measure"]["RTgopast"]["delta_r2_pct"] == pytest.approx((r2m - r2b) / (1 - r2b) * 100, rel=1e-9)
    assert scores["eye_tracking"] == pytest.approx(
        np.mean([scores["by_measure"][m]["delta_r2_pct"] for m in ("RTfirstfix", "RTfirstpass", "RTgopast",
                                                                     "RTrightbound")]))
    assert scores["eye_tracking"] > 0


def test_missing_item_reads_as_the_string_none(tmp_path, tiny_model):
    path = write_reading_csv(tmp_path / "reading_data.csv")
    text = path.read_text().splitlines()
    first = text[1].split(",")
    first[1] = ""  # item
    path.write_text("\n".join([text[0], ",".join(first), *text[2:]]) + "\n")
    df = load_reading(path)
    assert df["item"].iloc[0] == "None"
    model, tok = tiny_model
    scored = add_predictions(df.head(3), model, tok, progress=False)
    assert scored["pred"].iloc[0] == pytest.approx(reference_surprisal(model, tok, "None", str(df["word"].iloc[0])),
                                                   rel=1e-5)
