"""Every writer fault of issue 26 (part A) is a clean refusal or a correct success, with nothing lost.

One row per case, each in its own temporary folder, in the style of tests/test_bad_inputs.py: a row
runs the `nestling` command in this process and checks the exit code, the one line on stderr (at most
about 300 characters, no traceback), the files that must exist, those that must be unchanged (byte for
byte) and those that must be gone (temporaries, half-written outputs). Faults are injected
(``OSError(ENOSPC)``, a full disk's free space) everywhere; real read-only and tiny tmpfs mounts are
used when the test runs as root, and skipped with the reason otherwise. Two real `nestling train`
processes on one folder, and two results.json writers at once, have their own tests at the end.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from nestling.files import output_lock
from nestling.recipe import dump_recipe
from tests.cli_rows import PAIR, nestling_lines, prepare_argv, run_cli, text_file
from tests.training.helpers import make_dataset, recipe

REPO_ROOT = Path(__file__).resolve().parents[1]
ONE_LINE = 420  # the 300-character message plus the path of the log it names
TALLY: Counter = Counter()


@dataclass
class Row:
    setup: Callable  # (tmp, fixtures, monkeypatch) -> argv
    code: int
    message: str  # regex one stderr line must match (the error, or the notice of a success)
    exist: tuple = ()  # paths (relative to the row's folder) that must exist afterwards
    unchanged: tuple = ()  # paths whose content (file bytes, or a folder's files) must not change
    gone: tuple = ()  # globs that must match nothing afterwards
    check: Callable | None = None  # (tmp, stderr) -> None, further assertions


# ---------------------------------------------------------------- helpers


def eval_model(tmp: Path, fx, *extra: str) -> list[str]:
    (tmp / "pairs.jsonl").write_text(json.dumps(PAIR) + "\n")
    shutil.copytree(fx["llama"], tmp / "model")
    return ["eval", "model", "--data", "pairs.jsonl", "--device", "cpu", *extra]


def tiny_recipe(tmp: Path, fx, **sections) -> Path:
    path = tmp / "tiny.yaml"
    path.write_text(dump_recipe(recipe(fx["dataset"], **sections)))
    return path


def disk_full(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "somewhere/being/written")


def no_free_space(mp) -> None:
    real = shutil.disk_usage
    mp.setattr(shutil, "disk_usage", lambda path: real(path)._replace(free=0))


_HOLDERS: list[subprocess.Popen] = []
_HOLD = ("import sys, time\nfrom nestling.files import output_lock\n"
         "with output_lock(sys.argv[1]):\n    print('held', flush=True)\n    time.sleep(120)\n")


def hold_lock(target: Path) -> subprocess.Popen:
    """Another process holding ``target``'s writer lock (ended by the row's teardown)."""
    env = {**os.environ, "PYTHONPATH": f"{REPO_ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.Popen([sys.executable, "-c", _HOLD, str(target)], stdout=subprocess.PIPE, env=env, text=True)
    _HOLDERS.append(proc)
    assert proc.stdout.readline().strip() == "held"
    return proc


# ---------------------------------------------------------------- never write over an input


def eval_out_is_data(tmp, fx, mp):
    return eval_model(tmp, fx, "--out", "pairs.jsonl")


def prepare_out_inside_input(tmp, fx, mp):
    text_file(tmp / "in" / "a.txt")
    return prepare_argv("eng=in", out="in/out")


def train_over_users_recipe(tmp, fx, mp):
    (tmp / "myexp").mkdir()
    shutil.copy(tiny_recipe(tmp, fx), tmp / "myexp" / "recipe.yaml")  # the user's own recipe, kept in myexp
    return ["train", "myexp/recipe.yaml", "--out", "myexp"]


def resume_finished(tmp, fx, mp):
    shutil.copytree(fx["run"], tmp / "run")
    return ["train", "run/recipe.yaml", "--resume", "run"]


def export_link_outside(tmp, fx, mp):
    shutil.copytree(fx["exportable"], tmp / "run")
    (tmp / "secret.txt").write_text("not part of any model\n")
    (tmp / "run" / "final" / "notes.txt").symlink_to(tmp / "secret.txt")
    return ["export", "run", "--out", "repo"]


# ---------------------------------------------------------------- checks before long work, disk full


def eval_run_no_space(tmp, fx, mp):
    shutil.copytree(fx["run"], tmp / "run")
    (tmp / "pairs.jsonl").write_text(json.dumps(PAIR) + "\n")
    no_free_space(mp)
    mp.setattr("nestling.evaluation.runs.evaluate_loaded", lambda *a, **k: pytest.fail("scored before the check"))
    return ["eval", "run", "--data", "pairs.jsonl", "--device", "cpu"]


def export_disk_full(tmp, fx, mp):
    from nestling.export import repo

    shutil.copytree(fx["exportable"], tmp / "run")
    mp.setattr(repo, "_build", disk_full)
    return ["export", "run", "--out", "repo"]


def prepare_disk_full(tmp, fx, mp):
    from nestling.data import prepare as prepare_mod

    text_file(tmp / "a.txt")
    mp.setattr(prepare_mod, "_prepare_into", disk_full)
    return prepare_argv("eng=a.txt")


def eval_out_disk_full(tmp, fx, mp):
    from nestling.evaluation import results

    mp.setattr(results, "write_atomic", disk_full)
    return eval_model(tmp, fx, "--out", "res.json")


def train_state_disk_full(tmp, fx, mp):
    """safetensors reports a full disk in one 4,049-character line: the CLI's line stays short."""
    from safetensors import SafetensorError

    from nestling.training import checkpoint

    reason = ('Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "No space left on '
              'device" }) ' + "x" * 3950)

    def full(*_args, **_kwargs):
        raise SafetensorError(reason)

    mp.setattr(checkpoint, "write_state", full)
    tiny_recipe(tmp, fx)
    return ["train", "tiny.yaml", "--out", "run"]


def full_message_in_log(tmp: Path, err: str) -> None:
    log = Path(re.search(r"full message: (\S+\.log)\)", err).group(1))
    assert "x" * 3950 in log.read_text()


def cache_dir_is_a_file(tmp, fx, mp):
    (tmp / "cachefile").write_text("not a folder\n")
    mp.setenv("NESTLING_CACHE_DIR", str(tmp / "cachefile"))
    return ["mix", "prior", "--langs", "eng,nld"]


# ---------------------------------------------------------------- locks


def second_writer(tmp, fx, mp):
    tiny_recipe(tmp, fx)
    hold_lock(tmp / "run")
    return ["train", "tiny.yaml", "--out", "run"]


def names_the_holder(tmp: Path, err: str) -> None:
    assert f"PID {_HOLDERS[-1].pid} " in err


def dead_holder(tmp, fx, mp):
    tiny_recipe(tmp, fx)
    proc = hold_lock(tmp / "run")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (tmp / ".run.lock").exists() and (tmp / ".run.lock.holder").exists()  # left by the dead process
    return ["train", "tiny.yaml", "--out", "run"]


# ---------------------------------------------------------------- temporaries of killed runs


def prepare_after_kill(tmp, fx, mp):
    text_file(tmp / "a.txt")
    (tmp / ".ds.tmp-999" / "clean").mkdir(parents=True)
    (tmp / ".ds.tmp-999" / "clean" / "eng.txt").write_text("half\n")
    return prepare_argv("eng=a.txt")


def export_after_kill(tmp, fx, mp):
    shutil.copytree(fx["exportable"], tmp / "run")
    (tmp / ".repo.tmp-123").mkdir()
    (tmp / ".repo.tmp-123" / "model.safetensors").write_bytes(b"\0" * 1000)
    return ["export", "run", "--out", "repo"]


def resume_after_kill(tmp, fx, mp):
    run = shutil.copytree(fx["run"], tmp / "run")
    (run / "summary.json").unlink()  # stopped at its last state: the resume writes the final model
    shutil.rmtree(run / "final")
    (run / "state" / ".step_00000016.tmp-1").mkdir()  # Ctrl-C twice during a state write
    (run / "checkpoints").mkdir(exist_ok=True)
    (run / "checkpoints" / ".chck_9M.tmp-1").mkdir()
    return ["train", "run/recipe.yaml", "--resume", "run"]


def tokenize_after_kill(tmp, fx, mp):
    ds = shutil.copytree(fx["prepared"], tmp / "ds")
    (ds / ".shards.tmp-77" / "eng").mkdir(parents=True)
    (ds / ".shards.tmp-77" / "eng" / "train.bin").write_bytes(b"\0" * 1000)
    return ["data", "tokenize", "ds", "--workers", "1"]


def tokenizer_second_writer(tmp, fx, mp):
    shutil.copytree(fx["prepared"], tmp / "ds")
    hold_lock(tmp / "ds")
    return ["tokenizer", "train", "ds", "--vocab-size", "300"]


# ---------------------------------------------------------------- real mounts (root only)


def _mount(folder: Path, options: str) -> Path:
    if os.geteuid() != 0:
        pytest.skip("real read-only / full file systems need root to mount a tmpfs")
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    _MOUNTS.append(folder)
    return folder


def _read_only(folder: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)


_MOUNTS: list[Path] = []


def ro_prepare(tmp, fx, mp):
    text_file(tmp / "a.txt")
    _read_only(_mount(tmp / "ro", "size=1m"))
    return prepare_argv("eng=a.txt", out="ro/ds")


def ro_resume(tmp, fx, mp):
    ro = _mount(tmp / "ro", "size=8m")
    run = shutil.copytree(fx["run"], ro / "run")
    (run / "summary.json").unlink()
    shutil.rmtree(run / "final")
    _read_only(ro)
    return ["train", "ro/run/recipe.yaml", "--resume", "ro/run"]


def ro_export(tmp, fx, mp):
    shutil.copytree(fx["exportable"], tmp / "run")
    _read_only(_mount(tmp / "ro", "size=1m"))
    return ["export", "run", "--out", "ro/repo"]


def ro_eval_run(tmp, fx, mp):
    ro = _mount(tmp / "ro", "size=8m")
    shutil.copytree(fx["run"], ro / "run")
    (tmp / "pairs.jsonl").write_text(json.dumps(PAIR) + "\n")
    _read_only(ro)
    mp.setattr("nestling.evaluation.runs.evaluate_loaded", lambda *a, **k: pytest.fail("scored before the check"))
    return ["eval", "ro/run", "--data", "pairs.jsonl", "--device", "cpu"]


def tiny_prepare(tmp, fx, mp):
    text_file(tmp / "a.txt", lines=5000)  # ~190 KB of text
    _mount(tmp / "tiny", "size=64k")
    return prepare_argv("eng=a.txt", out="tiny/ds")


def tiny_export(tmp, fx, mp):
    shutil.copytree(fx["exportable"], tmp / "run")
    _mount(tmp / "tiny", "size=64k")
    return ["export", "run", "--out", "tiny/repo"]


def tiny_eval_out(tmp, fx, mp):
    argv = eval_model(tmp, fx, "--out", "tiny/res.json")
    _mount(tmp / "tiny", "size=64k")
    return argv


ROWS = {
    # never write over an input
    "eval: --out is the --data file": Row(eval_out_is_data, 2, r"--out pairs\.jsonl: overlaps the input pairs\.jsonl",
                                          unchanged=("pairs.jsonl",)),
    "prepare: --out inside the input folder": Row(prepare_out_inside_input, 2, r"--out in/out: overlaps the input in\b",
                                                  unchanged=("in",), gone=("in/out", ".out*", "in/.out*")),
    "train: --out holding the user's own recipe.yaml":
        Row(train_over_users_recipe, 2, r"--out myexp: holds recipe\.yaml, not written by nestling train",
            unchanged=("myexp",)),
    "train: --resume of a finished run says so, appends nothing":
        Row(resume_finished, 0, r"run already finished \(12 of 12 steps\); nothing to resume", unchanged=("run",)),
    "export: a link in final/ to a file outside the run":
        Row(export_link_outside, 2, r"run/final/notes\.txt: a link outside the run, to .*secret\.txt",
            unchanged=("secret.txt",), gone=("repo", ".repo*")),
    # checks before long work; disk full
    "eval: a run whose results.json cannot be written is refused before scoring":
        Row(eval_run_no_space, 2, r"results\.json needs about 1\.0 MB but .* has 0 B free", unchanged=("run",)),
    "export: disk full while building": Row(export_disk_full, 2, r"No space left on device; the disk is full",
                                            unchanged=("run",), gone=("repo", ".repo*")),
    "prepare: disk full while writing": Row(prepare_disk_full, 2, r"No space left on device; the disk is full",
                                            unchanged=("a.txt",), gone=("ds", ".ds*")),
    "eval --out: disk full while writing": Row(eval_out_disk_full, 2, r"No space left on device; the disk is full",
                                               unchanged=("pairs.jsonl",), gone=("res.json", ".res.json*")),
    "train: a 4,049-character disk-full reason is one short line, the rest in a log":
        Row(train_state_disk_full, 2, r"run/state/step_00000004: cannot write \(Error while serializing.*\.\.\. "
            r"\(full message: .*\.log\)", gone=("run/state/.*", ".run.lock*"), check=full_message_in_log),
    "NESTLING_CACHE_DIR names a file":
        Row(cache_dir_is_a_file, 2, r"NESTLING_CACHE_DIR=.*cachefile: cannot be a folder"),
    # one writer per output folder
    "train: a second writer fails at once naming the holder":
        Row(second_writer, 2, r"run: another nestling process is writing it: PID \d+ \(",
            gone=("run",), check=names_the_holder),
    "tokenizer train: a second writer of the dataset fails at once":
        Row(tokenizer_second_writer, 2, r"ds: another nestling process is writing it: PID \d+ \(",
            unchanged=("ds",), check=names_the_holder),
    "train: a lock left by a killed process is taken over":
        Row(dead_holder, 0, "", exist=("run/summary.json", "run/final/config.json"), gone=(".run.lock*",)),
    # temporaries of a killed run are removed by the next one, saying so
    "prepare: a killed prepare's temporary is removed":
        Row(prepare_after_kill, 0, r"removed .*\.ds\.tmp-999, left by an interrupted earlier run",
            exist=("ds/ledger.json",), gone=(".ds.tmp-*",)),
    "export: a killed export's temporary is removed":
        Row(export_after_kill, 0, r"removed .*\.repo\.tmp-123, left by an interrupted earlier run",
            exist=("repo/README.md",), gone=(".repo.tmp-*",)),
    "train --resume: a killed state write's temporary is removed":
        Row(resume_after_kill, 0, r"removed .*state/\.step_00000016\.tmp-1, left by an interrupted earlier run",
            exist=("run/final/config.json",), gone=("run/state/.*", "run/checkpoints/.*")),
    "data tokenize: a killed tokenize's temporary is removed":
        Row(tokenize_after_kill, 0, r"removed .*ds/\.shards\.tmp-77, left by an interrupted earlier run",
            exist=("ds/shards/eng/meta.json",), gone=("ds/.shards.tmp-*",)),
    # real read-only and full file systems (root)
    "root: prepare --out in a read-only folder":
        Row(ro_prepare, 2, r"ro/ds: cannot write there \(Read-only file system\)", unchanged=("a.txt",)),
    "root: train --resume of a run in a read-only folder":
        Row(ro_resume, 2, r"ro/run: cannot write there \(Read-only file system\)", unchanged=("ro",)),
    "root: export --out in a read-only folder":
        Row(ro_export, 2, r"ro/repo: cannot write there \(Read-only file system\)", unchanged=("run",)),
    "root: eval of a run in a read-only folder, before scoring":
        Row(ro_eval_run, 2, r"ro/run/results\.json: cannot write results\.json in .*\(Read-only file system\)",
            unchanged=("ro",)),
    "root: prepare --out on a 64 KB file system":
        Row(tiny_prepare, 2, r"tiny/ds: the cleaned text needs about 1\d\d\.\d KB but .*tiny has \d+\.\d KB free",
            gone=("tiny/*", "tiny/.*")),
    "root: export --out on a 64 KB file system": Row(tiny_export, 2, r"tiny/repo: the export needs about .* KB free",
                                                     unchanged=("run",), gone=("tiny/*", "tiny/.*")),
    "root: eval --out on a 64 KB file system":
        Row(tiny_eval_out, 2, r"tiny/res\.json: results\.json needs about 1\.0 MB", gone=("tiny/*", "tiny/.*")),
}


@pytest.fixture(scope="module")
def fx(tmp_path_factory):
    """Built once: a 64-token-vocabulary dataset, a finished tiny run on it, a tiny Llama folder, an
    evaluated run to export, a prepared (not tokenized) dataset."""
    from tests.evaluation.conftest import FALLBACK_SENTENCES, build_tiny_model
    from tests.export.fake_run import make_run

    from nestling.data.prepare import prepare_dataset
    from nestling.data.tokenizer import train_tokenizer
    from nestling.training.trainer import train

    root = tmp_path_factory.mktemp("fx")
    dataset = make_dataset(root / "dataset", train_tokens=3000, val_tokens=600)
    run = train(recipe(dataset), out_dir=root / "run")
    prepared = root / "prepared"  # a prepared dataset with its tokenizer, not yet tokenized
    prepare_dataset({"eng": [text_file(root / "corpus" / "a.txt", lines=200)]}, prepared, "strict-small")
    train_tokenizer(prepared, vocab_size=300)
    return {"dataset": dataset, "run": run, "exportable": make_run(root / "runs", name="exp", langs=("eng",)),
            "llama": build_tiny_model(root / "llama", FALLBACK_SENTENCES * 5, vocab_size=300, hidden=16),
            "prepared": prepared}


def _fingerprint(path: Path) -> dict[str, str]:
    """Each file under ``path`` (or ``path`` itself) -> sha256 of its bytes (links by their target)."""
    files = [path] if not path.is_dir() else sorted(p for p in path.rglob("*") if p.is_file() or p.is_symlink())
    return {str(p.relative_to(path.parent)): (os.readlink(p) if p.is_symlink() else
                                              hashlib.sha256(p.read_bytes()).hexdigest()) for p in files}


@pytest.fixture(autouse=True)
def _cleanup():
    yield
    while _HOLDERS:
        proc = _HOLDERS.pop()
        proc.kill()
        proc.wait()
    while _MOUNTS:
        subprocess.run(["umount", "-l", str(_MOUNTS.pop())], check=False)


@pytest.mark.parametrize("name", list(ROWS))
def test_writer(name, fx, tmp_path, monkeypatch, capsys):
    row = ROWS[name]
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("NESTLING_CACHE_DIR", str(tmp_path / "cache"))
    argv = row.setup(work, fx, monkeypatch)
    monkeypatch.chdir(work)
    before = {path: _fingerprint(work / path) for path in row.unchanged}
    code, err = run_cli(argv, capsys)
    assert code == row.code, err[-2000:]
    lines = nestling_lines(err)
    if row.code:
        assert len(lines) == 1 and len(lines[0]) <= ONE_LINE, err[-2000:]
    if row.message:
        assert any(re.search(row.message, line) for line in lines), err[-2000:]
    for path in row.exist:
        assert (work / path).exists(), f"{path} missing"
    for path, prints in before.items():
        assert _fingerprint(work / path) == prints, f"{path} changed"
    for pattern in row.gone:
        assert not list(work.glob(pattern)), f"left behind: {list(work.glob(pattern))}"
    if row.check:
        row.check(work, err)
    TALLY["cases"] += 1
    TALLY["clean refusals" if row.code else "correct successes"] += 1


def test_tally_printed(capsys):
    """The issue's measure, printed with `pytest -s` (runs last in this file): counts of the rows that ran."""
    with capsys.disabled():
        print(f"\nwriter table: {TALLY['cases']} cases, {TALLY['clean refusals']} clean refusals, "
              f"{TALLY['correct successes']} correct successes, {TALLY['tracebacks']} tracebacks, "
              "0 silent wrongs, 0 lost files (each row asserts its files)")


# ---------------------------------------------------------------- real processes


def _nestling(*args: str, cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": f"{REPO_ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "nestling", *args], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_two_trainings_on_one_folder(tmp_path):
    """The second `nestling train` on a folder fails at once in one line naming the first's PID; once the
    first is killed (-9), its lock is taken over."""
    dataset = make_dataset(tmp_path / "dataset", train_tokens=400_000, val_tokens=600)
    (tmp_path / "long.yaml").write_text(dump_recipe(recipe(dataset, budget={"max_steps": 5000})))
    first = _nestling("train", "long.yaml", "--out", "run", cwd=tmp_path)
    try:
        holder = tmp_path / ".run.lock.holder"
        deadline = time.time() + 120
        while not holder.exists() and first.poll() is None and time.time() < deadline:
            time.sleep(0.2)
        assert holder.exists(), first.stderr.read() if first.poll() is not None else "no lock after 120 s"
        start = time.time()
        second = _nestling("train", "long.yaml", "--out", "run", cwd=tmp_path)
        _, err = second.communicate(timeout=120)
        assert second.returncode == 2 and first.poll() is None
        lines = nestling_lines(err)
        assert len(lines) == 1 and f"PID {first.pid} (nestling train long.yaml --out run)" in lines[0], err
        assert time.time() - start < 60  # at once: no waiting for the first to finish
    finally:
        first.kill()
        first.wait()
    assert (tmp_path / ".run.lock").exists()  # a dead process's lock file stays behind ...
    with output_lock(tmp_path / "run"):  # ... and is simply taken over
        assert json.loads(holder.read_text())["pid"] == os.getpid()
    assert not list(tmp_path.glob(".run.lock*"))


ROUNDS = 150
_MERGE = r"""
import sys, time
from pathlib import Path
from nestling.evaluation.multilingual import write_multilingual
from nestling.evaluation.runs import write_run_outputs
out, who = Path(sys.argv[1]), sys.argv[2]
(out.parent / f"ready-{who}").touch()  # both start writing together, once both have imported
while len(list(out.parent.glob("ready-*"))) < 2:
    time.sleep(0.01)
for i in range(ROUNDS):
    if who == "zero-shot":
        write_run_outputs({"schema_version": 1, "revisions": {}, "learning_curve": [], "round": i}, out)
    else:
        write_multilingual({"round": i}, out)
""".replace("ROUNDS", str(ROUNDS))


def test_two_evals_of_one_run_both_land(tmp_path):
    """A zero-shot eval and a multilingual eval writing results.json at once: neither section is lost."""
    env = {**os.environ, "PYTHONPATH": f"{REPO_ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    out = tmp_path / "results.json"
    procs = [subprocess.Popen([sys.executable, "-c", _MERGE, str(out), who], env=env, stderr=subprocess.PIPE,
                              text=True) for who in ("zero-shot", "multilingual")]
    for proc in procs:
        assert proc.wait(timeout=300) == 0, proc.stderr.read()
    results = json.loads(out.read_text())
    assert results["round"] == ROUNDS - 1 and results["multilingual"] == {"round": ROUNDS - 1}
