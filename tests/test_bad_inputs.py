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
from tests.cli_rows import PAIR, nestling_lines, prepare_argv, run_cli, text_file
from tests.training.helpers import make_dataset, recipe



@dataclass
class Row:
    setup: Callable  # (tmp, fixtures, monkeypatch) -> argv
    code: int
    message: str  # regex the one error line must match
    check: Callable | None = None  # (tmp) -> None, extra assertions (records, markers)
    leaves_nothing: bool = True
    unchanged: tuple[str, ...] = ()  # files (relative to tmp) whose bytes must be the same afterwards


class _Planted:
    """Unpickling this writes a marker file: proof that a pickle's code ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _no_marker(tmp: Path) -> None:
    assert not (tmp / "marker").exists(), "the planted code ran"


def same_file_twice(tmp, fx, mp):
    text_file(tmp / "a.txt")
    return prepare_argv("eng=a.txt", "eng=a.txt")


def file_and_its_folder(tmp, fx, mp):
    text_file(tmp / "corpus" / "a.txt")
    return prepare_argv("eng=corpus/a.txt", "en=corpus")


def empty_path(tmp, fx, mp):
    text_file(tmp / "a.txt")
    return prepare_argv("eng=")


def out_is_a_file(tmp, fx, mp):
    text_file(tmp / "a.txt")
    (tmp / "out.txt").write_text("keep me\n")
    return prepare_argv("eng=a.txt", out="out.txt")


def self_symlink(tmp, fx, mp):
    text_file(tmp / "corpus" / "a.txt")
    (tmp / "corpus" / "loop.txt").symlink_to("loop.txt")
    return prepare_argv("eng=corpus")


def self_symlink_listed(tmp):
    ledger = json.loads((tmp / "ds" / "ledger.json").read_text())
    assert [Path(p).name for p in ledger["skipped_files"]] == ["loop.txt"]
    assert [Path(f["path"]).name for f in ledger["files"]] == ["a.txt"]


def linked_folders(tmp, fx, mp):
    text_file(tmp / "Brown" / "Adam" / "adam.txt")
    text_file(tmp / "Brown" / "Sarah" / "sarah.txt")
    text_file(tmp / "corpus" / "plain.txt")
    (tmp / "corpus" / "Adam").symlink_to(tmp / "Brown" / "Adam")
    (tmp / "corpus" / "Sarah").symlink_to(tmp / "Brown" / "Sarah")
    (tmp / "corpus" / "Sarah" / "again").symlink_to(tmp / "corpus")  # a loop: walked once
    return prepare_argv("eng=corpus")


def linked_folders_read(tmp):
    ledger = json.loads((tmp / "ds" / "ledger.json").read_text())
    assert sorted(Path(f["path"]).name for f in ledger["files"]) == ["adam.txt", "plain.txt", "sarah.txt"]
    assert ledger["languages"]["eng"]["lines_kept"] == 60


def over_budget(tmp, fx, mp):
    mp.setitem(counting.TRACKS, "strict-small", counting.Track("strict-small", 50, "total"))
    text_file(tmp / "a.txt")
    return prepare_argv("eng=a.txt")


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


# ---- issue 26, part B: bad inputs (no traceback, no silent wrong) ------------------------------------


def _mixed_chat(tmp: Path) -> Path:
    """childes.train: two CHAT tiers at its top (so it is detected as CHAT), then 2,000 plain lines."""
    lines = ["*CHI:\tmore juice .", "*MOT:\tyou want more juice ?"]
    lines += [f"the child saw {i} small birds today" for i in range(2000)]
    (tmp / "childes.train").write_text("\n".join(lines) + "\n")
    return tmp / "childes.train"


def mixed_chat(*extra: str, path: str = "childes.train"):
    def setup(tmp, fx, mp):
        _mixed_chat(tmp)
        return [*prepare_argv(f"eng={path}"), *extra]
    return setup


def _every_line_kept_as_text(tmp: Path) -> None:
    ledger = json.loads((tmp / "ds" / "ledger.json").read_text())
    entry = ledger["files"][0]
    assert (entry["format"], entry["format_from"], entry["lines_kept"], entry["lines_dropped"]) == \
        ("text", "given for this path", 2002, 0)


def _drops_allowed_and_recorded(tmp: Path) -> None:
    ledger = json.loads((tmp / "ds" / "ledger.json").read_text())
    assert ledger["options"]["allow_drops"] is True
    assert ledger["files"][0]["bad_lines"] == {"broken_chat_markup": 2000}


def recipe_sources_mixed_chat(tmp, fx, mp):
    _mixed_chat(tmp)
    return train_debug("data.sources={eng: [childes.train]}", "data.dir=ds", "data.on_bad_line=skip")(tmp, fx, mp)


def malformed_tokenizer_json(tmp, fx, mp):
    text_file(tmp / "a.txt", lines=50)
    mp.chdir(tmp)
    cli.main(prepare_argv("eng=a.txt"))
    cli.main(["tokenizer", "train", "ds", "--vocab-size", "300"])
    (tmp / "ds" / "tokenizer" / "tokenizer.json").write_text('{"model": ')
    return ["data", "tokenize", "ds", "--workers", "1"]


def with_env(setup, **env):
    def wrapped(tmp, fx, mp):
        for name, value in env.items():
            mp.setenv(name, value)
        return setup(tmp, fx, mp)
    return wrapped


def alias_bomb(tmp, fx, mp):
    """424 bytes that expand to 4.8 million strings (39 MB as YAML) under eval.data."""
    levels = ['&l0 [' + ", ".join(['"lol"'] * 9) + ']']
    levels += [f"&l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, 7)]
    (tmp / "bomb.yaml").write_text("eval:\n  data:\n" + "".join(f"    - {level}\n" for level in levels))
    return ["train", "bomb.yaml", "--out", "run"]


def stopped_run_with_bad_metrics(tmp, fx, mp):
    """A run stopped (Ctrl-C) at step 2, then a metrics.jsonl record whose step is a string."""
    tiny_recipe(tmp, fx, run={"tensorboard": False, "progress": False})
    real_step = trainer.run_step

    def step_then_ctrl_c(s, window):
        out = real_step(s, window)
        if s.loop.step == 2:
            os.kill(os.getpid(), signal.SIGINT)
        return out

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(trainer, "run_step", step_then_ctrl_c)
        with pytest.raises(SystemExit):
            cli.main(["train", str(tmp / "tiny.yaml"), "--out", str(tmp / "run")])
    with open(tmp / "run" / "metrics.jsonl", "a") as f:
        f.write(json.dumps({"kind": "train", "step": "three", "loss": 1.0}) + "\n")
    return ["train", "run/recipe.yaml", "--resume", "run"]


def _wide_model(tmp: Path, fx, vocab_size: int = 1024, **config_changes) -> None:
    """The tiny Llama's tokenizer (~300 ids) beside a model of ``vocab_size`` rows: another dataset's tokenizer."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig.from_pretrained(fx["llama"])
    config.vocab_size = vocab_size or config.vocab_size
    for name, value in config_changes.items():
        setattr(config, name, value)
    LlamaForCausalLM(config).save_pretrained(tmp / "model")
    for path in fx["llama"].glob("*token*"):
        shutil.copy(path, tmp / "model")


def eval_foreign_tokenizer(*extra: str, **config_changes):
    def setup(tmp, fx, mp):
        pairs_file(tmp, [json.dumps(PAIR).encode()])
        _wide_model(tmp, fx, **config_changes)
        return eval_argv("model", *extra)
    return setup


def finetune_foreign_tokenizer(tmp, fx, mp):
    from tests.evaluation.finetune.conftest import rte_records, write_jsonl

    write_jsonl(tmp / "glue" / "rte.train.jsonl", rte_records(8, seed=1))
    write_jsonl(tmp / "glue" / "rte.valid.jsonl", rte_records(4, seed=2))
    _wide_model(tmp, fx)
    return ["finetune", "model", "--task", "rte", "--data", "glue"]


def eval_device(device: str):
    def setup(tmp, fx, mp):
        pairs_file(tmp, [json.dumps(PAIR).encode()])
        shutil.copytree(fx["llama"], tmp / "model")
        return ["eval", "model", "--data", "pairs.jsonl", "--device", device]
    return setup


ROWS_26 = {
    "help: nestling --help": Row(lambda t, f, m: ["--help"], 0, ""),
    "help: nestling -h": Row(lambda t, f, m: ["-h"], 0, ""),
    "help: nestling compare --help (the 95% CI line)": Row(lambda t, f, m: ["compare", "--help"], 0, ""),
    "tokenize: a malformed tokenizer/tokenizer.json":
        Row(malformed_tokenizer_json, 2, r"ds/tokenizer/tokenizer\.json: not a readable tokenizer \(EOF.*retrain",
            unchanged=("ds/tokenizer/tokenizer.json", "ds/ledger.json")),
    "train: data.sources with numbers":
        Row(train_debug("data.sources={eng: [1, 2]}"), 2, r"data\.sources\.eng: expected a path or a list of paths"),
    "train: data.sources with a null entry":
        Row(train_debug("data.sources={eng: [a.txt, null]}"), 2, r"data\.sources\.eng: expected a path"),
    "train: data.sources keyed by a number":
        Row(train_debug("data.sources={1: a.txt}"), 2, r"data\.sources: 1 is not a language code"),
    "train: WORLD_SIZE=two": Row(with_env(train_debug(), WORLD_SIZE="two"), 2,
                                 r"WORLD_SIZE='two' is not a whole number"),
    "train: RANK=3 with WORLD_SIZE=2": Row(with_env(train_debug(), WORLD_SIZE="2", RANK="3"), 2,
                                          r"torchrun variables out of range: RANK=3, WORLD_SIZE=2"),
    "mix simulate --rounds 0": Row(lambda t, f, m: ["mix", "simulate", "--rounds", "0"], 2,
                                   r"--rounds must be a positive integer, got 0"),
    "mix simulate --rounds -3": Row(lambda t, f, m: ["mix", "simulate", "--rounds", "-3"], 2,
                                    r"--rounds must be a positive integer, got -3"),
    "eval --device tpu": Row(eval_device("tpu"), 2, r"--device tpu: not a device; use auto, cpu, cuda"),
    "eval --device cuda:x": Row(eval_device("cuda:x"), 2, r"--device cuda:x: not a device"),
    "resume: a metrics.jsonl step that is a string":
        Row(stopped_run_with_bad_metrics, 2, r"run/metrics\.jsonl:\d+: 'step' must be a number, got \"three\"",
            unchanged=("run/metrics.jsonl",)),
    "recipe: a YAML alias bomb under eval.data": Row(alias_bomb, 2, r"bomb\.yaml: YAML alias \*l0 at line 4"),
    "train: --set with a YAML alias":
        Row(train_debug("eval.data=[&a x, *a]"), 2, r"--set eval\.data=.*YAML alias \*a at line 1"),
    "prepare: CHAT-detected file with plain lines names the format":
        Row(mixed_chat(), 2, r"childes\.train:3: line is not a CHAT.*read as chat; set a file's format"),
    "prepare: ... with --on-bad-line skip stops on the 5% rule":
        Row(mixed_chat("--on-bad-line", "skip"), 2, r"childes\.train: 99\.9% of its lines \(2,000 of 2,002\) "
            r"dropped by rule broken_chat_markup \(read as chat, detected\).*--allow-drops"),
    "prepare: ... read as text per file (eng=PATH:text) keeps every line":
        Row(mixed_chat(path="childes.train:text"), 0, "", _every_line_kept_as_text, False),
    "prepare: ... --allow-drops is recorded in the ledger":
        Row(mixed_chat("--on-bad-line", "skip", "--allow-drops"), 0, "", _drops_allowed_and_recorded, False),
    "train: data.sources file over the 5% rule (data spec)":
        Row(recipe_sources_mixed_chat, 2, r"childes\.train: 99\.9% of its lines .* broken_chat_markup"),
    "eval: another dataset's smaller tokenizer":
        Row(eval_foreign_tokenizer(), 2, r"model: the tokenizer does not match the model \(the tokenizer has "
            r"\d+ ids, the model 1,024 rows\).*--allow-tokenizer-mismatch"),
    "eval: EOS id of the tokenizer differs from config.json":
        Row(eval_foreign_tokenizer(vocab_size=None, eos_token_id=7), 2, r"eos id 2 in the tokenizer, 7 in config"),
    "eval: --allow-tokenizer-mismatch scores anyway": Row(eval_foreign_tokenizer("--allow-tokenizer-mismatch"), 0, ""),
    "finetune: another dataset's smaller tokenizer (before training)":
        Row(finetune_foreign_tokenizer, 2, r"model: the tokenizer does not match the model"),
}
ROWS.update(ROWS_26)


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
    kept = {name: (work / name).read_bytes() for name in row.unchanged}
    code, err = run_cli(argv, capsys)
    assert code == row.code, err[-2000:]
    if row.code:
        lines = nestling_lines(err)
        assert len(lines) == 1, err[-2000:]
        assert re.search(row.message, lines[0]), lines[0]
    if row.check:
        row.check(work)
    if row.leaves_nothing:
        assert _tree(work) == before, f"left behind: {sorted(_tree(work) - before)}"
    for name, data in kept.items():
        assert (work / name).read_bytes() == data, f"{name} changed"
