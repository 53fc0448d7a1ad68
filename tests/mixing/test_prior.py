import numpy as np
import pytest

from nestling.errors import UserError
from nestling.mixing import prior as prior_mod
from nestling.mixing.prior import compute_prior, format_prior_report, prior_from_vectors, uriel_code


def test_zho_is_most_isolated_and_gets_most(prior_record):
    pi_0 = prior_record["pi_0"]
    assert pi_0["zho"] > pi_0["eng"] and pi_0["zho"] > pi_0["nld"]
    assert sum(pi_0.values()) == pytest.approx(1.0)
    assert min(pi_0.values()) >= 0.10
    # The installed URIEL data give (syntax_knn + phonology_knn + inventory_knn, T = 0.5, floor 0.1):
    assert pi_0 == pytest.approx({"eng": 0.3213, "nld": 0.3227, "zho": 0.3560}, abs=1e-4)
    assert prior_record["isolation"]["zho"] > prior_record["isolation"]["nld"] > prior_record["isolation"]["eng"]


def test_record_says_what_was_used(prior_record):
    assert prior_record["uriel_codes"] == {"eng": "eng", "nld": "nld", "zho": "cmn"}
    assert prior_record["feature_sets"] == ["syntax_knn", "phonology_knn", "inventory_knn"]
    assert len(prior_record["features_used"]) + prior_record["n_features_dropped"] > 100
    D = prior_record["distances"]
    assert D["eng"]["eng"] == 0.0 and D["eng"]["zho"] == D["zho"]["eng"]
    assert D["eng"]["nld"] < D["eng"]["zho"]  # Dutch is closer to English than Mandarin is


def test_second_call_reads_the_cache_not_lang2vec(prior_record, monkeypatch):
    monkeypatch.setattr(prior_mod, "_MEMO", {})

    def no_lang2vec(*args, **kwargs):
        raise AssertionError("lang2vec queried although the cache holds the features")

    monkeypatch.setattr(prior_mod, "_query_lang2vec", no_lang2vec)
    assert compute_prior(["eng", "nld", "zho"]) == prior_record
    assert prior_mod.default_cache_path().is_file()
    # Other temperatures and subsets come from the same cached vectors.
    hot = compute_prior(["zho", "eng", "nld"], temperature=1.0)["pi_0"]
    assert hot["zho"] == max(hot.values()) and hot["zho"] < prior_record["pi_0"]["zho"]  # higher T: flatter
    # Two languages are equally isolated from each other.
    assert compute_prior(["zho", "eng"])["pi_0"] == pytest.approx({"zho": 0.5, "eng": 0.5})


def test_unknown_language_is_a_user_error(prior_record):
    with pytest.raises(UserError, match="qqq"):
        compute_prior(["eng", "qqq"])
    with pytest.raises(UserError):
        compute_prior(["eng", "eng"])


def test_report(prior_record):
    text = format_prior_report(["eng", "nld", "zho"])
    assert "zho->cmn" in text and f"{prior_record['pi_0']['zho']:.4f}" in text
    assert f"{prior_record['distances']['eng']['nld']:.4f}" in text


def test_prior_from_vectors_hand_computed():
    X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    rec = prior_from_vectors(["a", "b", "c"], X, temperature=0.5, floor=0.1)
    c = 1 - 1 / np.sqrt(2)  # distance from either axis to the diagonal
    assert rec["distances"]["a"]["b"] == pytest.approx(1.0)
    assert rec["distances"]["a"]["c"] == pytest.approx(c)
    s = np.array([(1 + c) / 2, (1 + c) / 2, c])
    assert list(rec["isolation"].values()) == pytest.approx(s)
    soft = np.exp(s / 0.5) / np.exp(s / 0.5).sum()
    assert list(rec["pi_0"].values()) == pytest.approx(0.1 + 0.7 * soft)
    assert uriel_code("zho") == "cmn" and uriel_code("nld") == "nld"


def test_installed_console_script_imports_lang2vec_with_an_empty_cache(tmp_path):
    """The fresh-machine failure: the `nestling` console script runs with the venv's bin/ first on sys.path,
    where lang2vec's own bin/lang2vec.py script shadowed the package. An empty HOME and cache force the import."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = Path(sys.executable).parent / "nestling"
    if not script.exists():
        pytest.skip(f"no installed console script at {script} (run through `make test`, which installs nestling)")
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("NESTLING_CACHE_DIR", "XDG_CACHE_HOME", "PYTHONPATH")}
    env["HOME"] = str(home)
    done = subprocess.run([str(script), "mix", "prior", "--langs", "eng,zho"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "pi_0" in done.stdout
    assert (home / ".cache" / "nestling" / "uriel_features.json").is_file()


def test_import_lang2vec_skips_a_shadowing_script(tmp_path, monkeypatch):
    import sys

    (tmp_path / "lang2vec.py").write_text("raise RuntimeError('the script, not the package')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "lang2vec", raising=False)
    monkeypatch.delitem(sys.modules, "lang2vec.lang2vec", raising=False)
    l2v = prior_mod.import_lang2vec()
    assert hasattr(l2v, "get_features") and str(tmp_path) in sys.path
