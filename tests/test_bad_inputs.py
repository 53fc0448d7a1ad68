"""Every bad input of issue 17 is a clean refusal: one row per case, each in its own temporary folder.

A row runs the `nestling` command in this process and checks the exit code, the one-line message on
stderr (file:line where a file is at fault), that no traceback escaped, and, for a refusal, that
nothing was left behind in the folder. Rows whose answer is an honest record rather than a refusal
(symbolic links, Ctrl-C) check that record instead. Heavy work is avoided: recipes are refused before
any data is prepared, training rows use a 64-token synthetic dataset and a two-layer model.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from nestling import cli
from nestling.data import counting
from nestling.recipe import dump_recipe, load_recipe
from nestling.training import trainer
from tests.training.helpers import make_dataset, recipe

PAIR = {"sentence_good": "the cat sat on the mat", "sentence_bad": "the cat sat mat on the", "UID": "u"}


@dataclass
class Row:
    setup: Callable  # (tmp, fixtures, monkeypatch) -> argv
    code: int
    message: str  # regex the one error line must match
    check: Callable | None = None  # (tmp) -> None, extra assertions (records, markers)
    leaves_nothing: bool = True


class _Planted:
    """Unpickling this writes a marker file: proof that a pickle's code ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _no_marker(tmp: Path) -> None:
    assert not (tmp / "marker").exists(), "the planted code ran"


def _text(path: Path, lines: int = 20) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"the child saw {i} small birds today\n" for i in range(lines)))
    return path


def prepare(*langs: str, out: str = "ds") -> list[str]:
    argv = ["data", "prepare", "--track", "strict-small", "--out", out]
    for lang in langs:
        argv += ["--lang", lang]
    return argv


def same_file_twice(tmp, fx, mp):
    _text(tmp / "a.txt")
    return prepare("eng=a.txt", "eng=a.txt")


def file_and_its_folder(tmp, fx, mp):
    _text(tmp / "corpus" / "a.txt")
    return prepare("eng=corpus/a.txt", "en=corpus")


def empty_path(tmp, fx, mp):
    _text(tmp / "a.txt")
    return prepare("eng=")


def out_is_a_file(tmp, fx, mp):
    _text(tmp / "a.txt")
    (tmp / "out.txt").write_text("keep me\n")
    return prepare("eng=a.txt", out="out.txt")


def self_symlink(tmp, fx, mp):
    _text(tmp / "corpus" / "a.txt")
    (tmp / "corpus" / "loop.txt").symlink_to("loop.txt")
    return prepare("eng=corpus")


def self_symlink_listed(tmp):
    ledger = json.loads((tmp / "ds" / "ledger.json").read_text())
    assert [Path(p).name for p in ledger["skipped_files"]] == ["loop.txt"]
    assert [Path(f["path"]).name for f in ledger["files"]] == ["a.txt"]


def linked_folders(tmp, fx, mp):
    _text(tmp / "Brown" / "Adam" / "adam.txt")
    _text(tmp / "Brown" / "Sarah" / "sarah.txt")
    _text(tmp / "corpus" / "plain.txt")
    (tmp / "corpus" / "Adam").symlink_to(tmp / "Brown" / "Adam")
    (tmp / "corpus" / "Sarah").symlink_to(tmp / "Brown" / "Sarah")
    (tmp / "corpus" / "Sarah" / "again").symlink_to(tmp / "corpus")  # a loop: walked once
    return prepare("eng=corpus")


def linked_folders_read(tmp):
    ledger = json.loads((tmp / "ds" / "ledger.json").read_text())
    assert sorted(Path(f["path"]).name for f in ledger["files"]) == ["adam.txt", "plain.txt", "sarah.txt"]
    assert ledger["languages"]["eng"]["lines_kept"] == 60


def over_budget(tmp, fx, mp):
    mp.setitem(counting.TRACKS, "strict-small", counting.Track("strict-small", 50, "total"))
    _text(tmp / "a.txt")
    return prepare("eng=a.txt")


def train_debug(*sets: str):
    def setup(tmp, fx, mp):
        argv = ["train", "debug", "--out", "run"]
        for s in sets:
            argv += ["--set", s]
        return argv
    return setup


def tiny_recipe(tmp: Path, fx, **sections) -> Path:
    """A recipe file for the 64-token synthetic dataset (copied into tmp/ds)."""
    ds = tmp / "ds"
    if not ds.exists():
        shutil.copytree(fx["dataset"], ds)
    path = tmp / "tiny.yaml"
    path.write_text(dump_recipe(recipe(ds, **sections)))
    return path


def fake_run(tmp: Path, fx, state_files: dict[str, bytes]) -> Path:
    """A run folder as the trainer leaves it after a stop: recipe.yaml and one state folder."""
    loaded = load_recipe(tiny_recipe(tmp, fx))
    run = tmp / "run"
    (run / "state" / "step_00000004").mkdir(parents=True)
    (run / "recipe.yaml").write_text(dump_recipe(loaded))
    for name, data in {**state_files, "meta.json": b'{"step": 4}'}.items():
        (run / "state" / "step_00000004" / name).write_bytes(data)
    return run


def resume_with_override(tmp, fx, mp):
    fake_run(tmp, fx, {"state.json": b"{}"})
    return ["train", "tiny.yaml", "--resume", "run", "--set", "optimizer.muon_lr=0.5"]


def planted_state(tmp, fx, mp):
    fake_run(tmp, fx, {"state.pt": pickle.dumps({"model": _Planted(tmp / "marker")})})
    return ["train", "tiny.yaml", "--resume", "run"]


def damaged_states(tmp, fx, mp):
    fake_run(tmp, fx, {"state.json": b'{"format": "nestling-st', "tensors.safetensors": b"\x00" * 10})
    return ["train", "tiny.yaml", "--resume", "run"]


def retrained_tokenizer(tmp, fx, mp):
    tiny_recipe(tmp, fx)
    meta_path = tmp / "ds" / "shards" / "eng" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["tokenizer_sha256"] = "0" * 64  # the shards were made with some other tokenizer
    meta_path.write_text(json.dumps(meta))
    return ["train", "tiny.yaml", "--out", "run"]


def ctrl_c(tmp, fx, mp):
    tiny_recipe(tmp, fx, run={"tensorboard": False, "progress": False})
    real_step = trainer.run_step

    def step_then_ctrl_c(s, window):
        out = real_step(s, window)
        if s.loop.step == 2:
            os.kill(os.getpid(), signal.SIGINT)
        return out

    mp.setattr(trainer, "run_step", step_then_ctrl_c)
    return ["train", "tiny.yaml", "--out", "run"]


def ctrl_c_saved(tmp):
    assert (tmp / "run" / "state" / "step_00000002").is_dir() and not (tmp / "run" / "final").exists()
    assert json.loads((tmp / "run" / "summary.json").read_text())["finished"] is False
    # The advised command (the run's own recipe.yaml, --resume) finishes the run.
    cli.main(["train", "run/recipe.yaml", "--resume", "run"])
    assert json.loads((tmp / "run" / "summary.json").read_text())["finished"] is True


def pairs_file(tmp: Path, lines: list[bytes]) -> Path:
    path = tmp / "pairs.jsonl"
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


def eval_argv(model: str, *extra: str) -> list[str]:
    return ["eval", model, "--data", "pairs.jsonl", "--device", "cpu", *extra]


def eval_batch_zero(tmp, fx, mp):
    pairs_file(tmp, [json.dumps(PAIR).encode()])
    shutil.copytree(fx["llama"], tmp / "model")
    return eval_argv("model", "--batch-size", "0")


def eval_multilingual_limit_zero(tmp, fx, mp):
    shutil.copytree(fx["llama"], tmp / "model")
    return ["eval", "model", "--suite", "multilingual", "--limit", "0", "--offline", "--device", "cpu"]


def eval_out_folder(tmp, fx, mp):
    pairs_file(tmp, [json.dumps(PAIR).encode()])
    shutil.copytree(fx["llama"], tmp / "model")
    (tmp / "results").mkdir()
    return eval_argv("model", "--out", "results")


def eval_bad_utf8(tmp, fx, mp):
    pairs_file(tmp, [json.dumps(PAIR).encode(), b'{"sentence_good": "caf\xe9", "sentence_bad": "x", "UID": "u"}'])
    shutil.copytree(fx["llama"], tmp / "model")
    return eval_argv("model")


def eval_null_sentence(tmp, fx, mp):
    pairs_file(tmp, [json.dumps({**PAIR, "sentence_good": None}).encode()])
    shutil.copytree(fx["llama"], tmp / "model")
    return eval_argv("model")


def _model_with(tmp: Path, fx, edit: Callable[[Path], None]) -> list[str]:
    pairs_file(tmp, [json.dumps(PAIR).encode()])
    shutil.copytree(fx["llama"], tmp / "model")
    edit(tmp / "model")
    return eval_argv("model")


def _config_big(folder: Path) -> None:
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "hidden_size": "big"}))


def _truncate_weights(folder: Path) -> None:
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])


def _pickled_weights(folder: Path) -> None:
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps({"w": _Planted(folder.parent / "marker")}))


def eval_planted_code(tmp, fx, mp):
    pairs_file(tmp, [json.dumps(PAIR).encode()])
    folder = shutil.copytree(fx["stream_mixer"], tmp / "model")
    modeling = next(folder.glob("modeling_*.py"))
    modeling.write_text(modeling.read_text() + f"\nopen({str(tmp / 'marker')!r}, 'w').write('ran')\n")
    return eval_argv("model")


ROWS = {
    # security
    "resume: a planted pickle state.pt is refused, never run":
        Row(planted_state, 2, r"state\.pt: a pickled training state", _no_marker),
    "eval: a planted modeling_*.py does not run without --trust-remote-code":
        Row(eval_planted_code, 2, r"not the code nestling ships.*--trust-remote-code", _no_marker),
    "eval: a pickled pytorch_model.bin is one line":
        Row(lambda t, f, m: _model_with(t, f, _pickled_weights), 2, r"pickled weights file", _no_marker),
    # silent wrong behaviour
    "prepare: the same file twice": Row(same_file_twice, 2, r"a\.txt: given twice"),
    "prepare: a file and its folder (eng + en alias)": Row(file_and_its_folder, 2, r"a\.txt: given twice"),
    "prepare: --lang eng= (empty path)": Row(empty_path, 2, r"empty path"),
    "prepare: a file linked to itself is listed as skipped": Row(self_symlink, 0, "", self_symlink_listed, False),
    "prepare: linked sub-folders are read (loops once)": Row(linked_folders, 0, "", linked_folders_read, False),
    "prepare: over budget names every language": Row(over_budget, 2, r"over budget: .*per language: eng 140\)"),
    "train: shards made with another tokenizer":
        Row(retrained_tokenizer, 2, r"shards/eng/meta\.json: the shards were made with another tokenizer"),
    "train: model.hiden_size typo":
        Row(train_debug("model.hiden_size=99"), 2, r"'model\.hiden_size'.*did you mean model\.hidden_size"),
    "train: max_epochs=20 without the allow flag":
        Row(train_debug("budget.max_epochs=20", "budget.epochs=20"), 2, r"10-epoch limit.*allow_over_epochs=true"),
    "train: budget.max_steps=0":
        Row(train_debug("budget.max_steps=0"), 2, r"'budget\.max_steps' must be a positive integer"),
    "train: --resume with --set is refused":
        Row(resume_with_override, 2, r"optimizer\.muon_lr=0\.5 \(run: 0\.02\) differ from the run's recipe\.yaml"),
    "train: Ctrl-C exits 130 and says how to resume":
        Row(ctrl_c, 130, r"stopped at step 2 of 12.*--resume run", ctrl_c_saved, False),
    "resume: every state damaged": Row(damaged_states, 2, r"no readable training state"),
    "eval: --batch-size 0": Row(eval_batch_zero, 2, r"batch size must be a positive integer"),
    "eval: multilingual --limit 0": Row(eval_multilingual_limit_zero, 2, r"--limit must be a positive number"),
    # tracebacks
    "prepare: --out is an existing file": Row(out_is_a_file, 2, r"out\.txt: exists and is not a folder"),
    "train: model.attention_layers=[20]":
        Row(train_debug("model.attention_layers=[20]"), 2, r"attention_layers \[20\] out of range"),
    "train: batch.micro_batch=0":
        Row(train_debug("batch.micro_batch=0"), 2, r"'batch\.micro_batch' must be auto or a positive integer"),
    "train: budget.max_epochs=inf":
        Row(train_debug("budget.max_epochs=inf"), 2, r"'budget\.max_epochs' must be a finite number"),
    "train: run.log_every=0": Row(train_debug("run.log_every=0"), 2, r"'run\.log_every' must be a positive integer"),
    "eval: invalid UTF-8 in a jsonl": Row(eval_bad_utf8, 2, r"pairs\.jsonl:2: not valid UTF-8"),
    "eval: sentence_good null":
        Row(eval_null_sentence, 2, r"pairs\.jsonl:1: 'sentence_good' must be a string, got null"),
    "eval: config.json hidden_size 'big'":
        Row(lambda t, f, m: _model_with(t, f, _config_big), 2, r"model: cannot load model/tokenizer"),
    "eval: truncated model.safetensors":
        Row(lambda t, f, m: _model_with(t, f, _truncate_weights), 2, r"model: cannot load model/tokenizer"),
    "eval: --out names a folder (before scoring)": Row(eval_out_folder, 2, r"--out results: is a folder"),
}


@pytest.fixture(scope="module")
def fx(tmp_path_factory):
    """Small inputs built once: a synthetic dataset, a tiny Llama folder, a nestling stream mixer folder."""
    from tests.evaluation.conftest import FALLBACK_SENTENCES, build_tiny_model
    from tests.export.fake_run import build_tokenizer, tiny_stream_mixer

    root = tmp_path_factory.mktemp("fx")
    tok = build_tokenizer()
    sm = root / "stream_mixer"
    tiny_stream_mixer(tok, seed=0).save_pretrained(sm)
    tok.save_pretrained(sm)
    return {"dataset": make_dataset(root / "dataset", train_tokens=3000, val_tokens=600),
            "llama": build_tiny_model(root / "llama", FALLBACK_SENTENCES * 5, vocab_size=300, hidden=16),
            "stream_mixer": sm}


def _tree(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.mark.parametrize("name", list(ROWS))
def test_bad_input(name, fx, tmp_path, monkeypatch, capsys):
    row = ROWS[name]
    work = tmp_path / "work"
    work.mkdir()
    argv = row.setup(work, fx, monkeypatch)
    monkeypatch.chdir(work)
    before = _tree(work)
    capsys.readouterr()
    try:
        cli.main(argv)
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert code == row.code, err[-2000:]
    if row.code:
        lines = [line for line in err.splitlines() if line.startswith("nestling")]
        assert len(lines) == 1, err[-2000:]
        assert re.search(row.message, lines[0]), lines[0]
    if row.check:
        row.check(work)
    if row.leaves_nothing:
        assert _tree(work) == before, f"left behind: {sorted(_tree(work) - before)}"
