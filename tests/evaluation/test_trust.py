"""Remote code runs only when asked, or when it is nestling's own shipped code (sha256-identical)."""

from __future__ import annotations

import json
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nestling.errors import UserError
from nestling.evaluation.evaluate import evaluate_model, load_model
from nestling.evaluation.trust import allow_remote_code, is_nestling_code

PAIRS = [{"sentence_good": "the cat sat on the mat", "sentence_bad": "the cat sat mat on the", "UID": "u"}]


@pytest.fixture(scope="module")
def nestling_folder(tmp_path_factory) -> Path:
    """A stream mixer saved by nestling: its modeling code is copied from nestling/models/stream_mixer/."""
    from tests.export.fake_run import build_tokenizer, tiny_stream_mixer

    folder = tmp_path_factory.mktemp("sm") / "model"
    tok = build_tokenizer()
    tiny_stream_mixer(tok, seed=0).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def _planted(src: Path, dest: Path, marker: Path) -> Path:
    """``src`` with one line added to its modeling file that writes ``marker`` on import."""
    shutil.copytree(src, dest)
    modeling = next(dest.glob("modeling_*.py"))
    modeling.write_text(modeling.read_text() + f"\nopen({str(marker)!r}, 'w').write('ran')\n")
    return dest


@pytest.fixture
def pairs(tmp_path) -> Path:
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(p) + "\n" for p in PAIRS))
    return path


def test_nestling_code_is_recognised_by_hash(nestling_folder, tmp_path):
    assert is_nestling_code(nestling_folder) and allow_remote_code(nestling_folder)
    changed = _planted(nestling_folder, tmp_path / "m", tmp_path / "marker")
    assert not is_nestling_code(changed)
    extra = shutil.copytree(nestling_folder, tmp_path / "extra")
    (extra / "helper.py").write_text("x = 1\n")
    assert not is_nestling_code(extra)
    assert allow_remote_code("someone/model") is False and allow_remote_code("someone/model", True) is True


def test_auto_map_pointing_elsewhere_is_not_nestling_code(nestling_folder, tmp_path):
    folder = shutil.copytree(nestling_folder, tmp_path / "m")
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {k: f"evil/repo--{v}" for k, v in config["auto_map"].items()}
    (folder / "config.json").write_text(json.dumps(config))
    assert not is_nestling_code(folder)
    with pytest.raises(UserError, match="--trust-remote-code"):
        allow_remote_code(folder)


def test_planted_modeling_code_never_runs_without_the_flag(nestling_folder, tmp_path, pairs):
    marker = tmp_path / "marker"
    folder = _planted(nestling_folder, tmp_path / "m", marker)
    with pytest.raises(UserError, match="not the code nestling ships.*--trust-remote-code"):
        evaluate_model(folder, [pairs], device="cpu", progress=False)
    assert not marker.exists()
    # (the CLI refusal, exit 2 with one line, is a row of tests/test_bad_inputs.py)
    # With the user's word the code runs (a fresh process: this one has nestling's class registered).
    cli = _eval_cli(folder, pairs, "--trust-remote-code")
    assert cli.returncode == 0, cli.stderr
    assert marker.exists() and "| pairs |" in cli.stdout


def _eval_cli(folder: Path, pairs: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nestling", "eval", str(folder), "--data", str(pairs),
                           "--device", "cpu", *extra],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300)


def test_nestling_code_evaluates_without_the_flag(nestling_folder, pairs):
    result = evaluate_model(nestling_folder, [pairs], device="cpu", progress=False)
    assert result["tasks"]["pairs"]["n_items"] == 1


class _Planted:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_pickled_weights_are_refused_in_one_line(tiny_model_dir, tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (tiny_model_dir / name).is_file():
            shutil.copy2(tiny_model_dir / name, folder / name)
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps({"w": _Planted(tmp_path / "marker")}))
    with pytest.raises(UserError, match="pickled weights file"):
        load_model(folder, device="cpu")
    assert not (tmp_path / "marker").exists()
