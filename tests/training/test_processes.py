"""The trainer in separate processes: SIGKILL at a random step then --resume, and 2-process DDP (gloo)."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from nestling.training import train
from tests.training.helpers import make_dataset, recipe

SCRIPT = Path(__file__).with_name("run_train.py")
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
STEPS = 16

# DDP on 2 CPU processes vs 1 process with the same global batch: the batches are the same sequences
# (every rank draws the whole global batch, reads its half), so only the order of float additions in the
# gradient all-reduce differs. torch.optim.Muon orthogonalises in bf16, which turns those 1e-7 gradient
# differences into bf16 rounding flips: steps 1-2 are identical, later losses differ by at most 4.3e-5
# relative (observed, 16 steps, not growing). Tolerance: 2e-4 relative on every step's loss.
DDP_LOSS_RTOL = 2e-4


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("data"), langs=("eng", "nld"))


def run(data, out, *extra, check=True):
    cmd = [sys.executable, str(SCRIPT), str(data), str(out), "--set", f"budget.max_steps={STEPS}", *extra]
    return subprocess.run(cmd, env=ENV, check=check, capture_output=True, text=True, timeout=120)


def train_losses(run_dir):
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [(r["step"], r["loss"]) for r in map(json.loads, lines) if r["kind"] == "train"]


def test_sigkill_at_a_random_step_then_resume_is_bit_identical(data, tmp_path):
    state_every = ["--set", "checkpoints.state_every=3", "--set", "checkpoints.milestone_scale=0.001"]
    # The uninterrupted reference runs in this process (one torch thread, as in run_train.py).
    train(recipe(data, budget={"max_steps": STEPS}, checkpoints={"state_every": 3, "milestone_scale": 0.001}),
          out_dir=tmp_path / "ref")
    kill_after = random.Random().randint(4, STEPS - 3)
    proc = subprocess.Popen([sys.executable, str(SCRIPT), str(data), str(tmp_path / "run"),
                             "--set", f"budget.max_steps={STEPS}", *state_every],
                            env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    metrics = tmp_path / "run" / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if metrics.is_file() and len(train_losses(tmp_path / "run")) >= kill_after:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "run" / "final").exists(), "the run finished before it was killed"
    run(data, tmp_path / "run", "--resume", *state_every)
    ref, resumed = load_file(tmp_path / "ref/final/model.safetensors"), load_file(tmp_path / "run/final/model.safetensors")
    assert all(torch.equal(ref[k], resumed[k]) for k in ref), f"weights differ after a kill at step ~{kill_after}"
    assert train_losses(tmp_path / "run") == train_losses(tmp_path / "ref")
    summary = json.loads((tmp_path / "run/summary.json").read_text())
    assert summary["finished"] and summary["checkpoints"] == json.loads((tmp_path / "ref/summary.json").read_text())["checkpoints"]


def test_two_process_ddp_matches_one_process(data, tmp_path):
    common = ["--set", "batch.micro_batch=2"]
    train(recipe(data, budget={"max_steps": STEPS}, batch={"micro_batch": 2}), out_dir=tmp_path / "one")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(SCRIPT),
           str(data), str(tmp_path / "two"), "--set", f"budget.max_steps={STEPS}", *common]
    two = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=180)
    assert two.returncode == 0, two.stderr[-3000:]
    a, b = train_losses(tmp_path / "one"), train_losses(tmp_path / "two")
    assert [s for s, _ in a] == [s for s, _ in b] == list(range(1, STEPS + 1))
    for (step, la), (_, lb) in zip(a, b):
        assert lb == pytest.approx(la, rel=DDP_LOSS_RTOL), f"step {step}: 1 process {la}, 2 processes {lb}"
    s1, s2 = (json.loads((tmp_path / d / "summary.json").read_text()) for d in ("one", "two"))
    assert s2["world_size"] == 2 and s2["batch"]["per_rank"] == 4 and s2["tokens_seen"] == s1["tokens_seen"]
    assert s2["final_val_loss"] == pytest.approx(s1["final_val_loss"], rel=DDP_LOSS_RTOL)
