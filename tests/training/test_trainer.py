"""End-to-end runs of the trainer in this process on a tiny Llama and a learnable synthetic language."""

import json
import math
import os
import signal
import stat

import pytest
import torch
from safetensors.torch import load_file

from nestling.errors import UserError
from nestling.files import umask_mode
from nestling.recipe import with_value
from nestling.training import trainer
from nestling.training.safe_state import read_state
from nestling.training.trainer import TrainingDiverged, train
from tests.training.helpers import STREAM_MIXER, make_dataset, recipe

# Final validation loss of the debug run below (60 steps, 15,360 tokens). Untrained: ln(64) = 4.16;
# the synthetic language's entropy floor is about 0.4. Recorded: 1.893 (CPU, torch 2.13, transformers 5.23).
GOLDEN_VAL_LOSS = (1.6, 2.2)

SUMMARY_KEYS = {"name", "method", "seed", "arch", "params", "steps", "tokens_seen", "words_seen", "wall_clock_s",
                "final_val_loss", "final_val_ppl", "device", "hardware", "optimizer", "schedule", "batch",
                "checkpoints", "skipped_steps", "finished", "mixing"}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("data"), langs=("eng", "nld"))


def records(run_dir, kind):
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == kind]


def final_weights(run_dir):
    return load_file(run_dir / "final" / "model.safetensors")


def assert_bit_identical(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_debug_recipe_learns_and_writes_the_run_folder(data, tmp_path, monkeypatch):
    from nestling.mixing.base import Mixer

    # The uniform mixer never probes; make it ask every 20 steps so the probe path runs too.
    monkeypatch.setattr(Mixer, "needs_probe", lambda self, step: step % 20 == 0)
    r = recipe(data, budget={"max_steps": 60}, run={"log_every": 5, "eval_every": 30, "tensorboard": True},
               checkpoints={"milestone_scale": 2e-3, "state_every": 30})
    run = train(r, out_dir=tmp_path / "run")
    summary = json.loads((run / "summary.json").read_text())
    assert SUMMARY_KEYS <= set(summary)
    assert summary["finished"] and summary["steps"] == 60 and summary["skipped_steps"] == 0
    assert GOLDEN_VAL_LOSS[0] <= summary["final_val_loss"] <= GOLDEN_VAL_LOSS[1], summary["final_val_loss"]
    assert summary["final_val_ppl"] == pytest.approx(math.exp(summary["final_val_loss"]))
    assert summary["tokens_seen"] == 60 * 8 * 32 and summary["words_seen"] == pytest.approx(0.75 * 60 * 8 * 32)
    # 11,520 words at scale 2e-3: chck_1M..chck_5M (2,000 .. 10,000 words).
    assert summary["checkpoints"] == [f"chck_{i}M" for i in range(1, 6)]
    for name in summary["checkpoints"] + ["final"]:
        folder = run / ("checkpoints/" + name if name != "final" else "final")
        info = json.loads((folder / "checkpoint.json").read_text())
        assert info["name"] == name and (folder / "model.safetensors").is_file() and (folder / "tokenizer.json").is_file()
    assert json.loads((run / "checkpoints/chck_2M/checkpoint.json").read_text())["words_seen"] >= 4000
    assert (run / "recipe.yaml").is_file() and (run / "ledger.json").is_file() and list((run / "tb").iterdir())
    train_recs = records(run, "train")
    assert [t["step"] for t in train_recs] == list(range(5, 61, 5))
    first = train_recs[0]
    assert {"step", "loss", "lang_loss", "lr", "grad_norm", "tokens", "words", "tokens_per_s", "epochs", "wall_s", "pi"} <= set(first)
    assert set(first["lang_loss"]) == {"eng", "nld"} and set(first["lr"]) == {"muon", "adamw"}
    assert train_recs[-1]["loss"] < first["loss"] - 1.0
    vals = records(run, "val")
    assert [v["step"] for v in vals] == [30, 60] and set(vals[0]["val_lang_loss"]) == {"eng", "nld"}
    assert [c["name"] for c in records(run, "checkpoint")] == summary["checkpoints"]
    assert [p.name for p in sorted((run / "state").iterdir())] == ["step_00000030", "step_00000060"]
    mix = records(run, "mix")
    assert [m["step"] for m in mix] == [20, 40, 60] and set(mix[0]["probe_loss"]) == {"eng", "nld"}
    assert mix[-1]["probe_loss"]["eng"] < mix[0]["probe_loss"]["eng"] and mix[0]["pi"] == {"eng": 0.5, "nld": 0.5}


def test_sigterm_writes_state_and_resume_is_bit_identical(data, tmp_path, monkeypatch):
    r = recipe(data, checkpoints={"milestone_scale": 1.0, "state_every": 100})
    reference = train(r, out_dir=tmp_path / "ref")

    real_step = trainer.run_step

    def step_then_sigterm(state, window):
        out = real_step(state, window)
        if state.loop.step == 5:
            os.kill(os.getpid(), signal.SIGTERM)
        return out

    monkeypatch.setattr(trainer, "run_step", step_then_sigterm)
    stopped = train(r, out_dir=tmp_path / "run")
    monkeypatch.setattr(trainer, "run_step", real_step)
    summary = json.loads((stopped / "summary.json").read_text())
    assert summary["finished"] is False and summary["steps"] == 5
    assert not (stopped / "final").exists() and (stopped / "state" / "step_00000005").is_dir()
    with pytest.raises(UserError, match="already holds a run"):
        train(r, out_dir=stopped)
    with pytest.raises(UserError, match="batch differ"):
        train(recipe(data, batch={"global_batch": 4}, checkpoints={"milestone_scale": 1.0}), resume=stopped)
    train(r, resume=stopped)
    assert json.loads((stopped / "summary.json").read_text())["finished"]
    assert_bit_identical(final_weights(reference), final_weights(stopped))
    assert [t["step"] for t in records(stopped, "train")] == list(range(1, 13))


def test_non_finite_steps_are_skipped_counted_and_stop_the_run(data, tmp_path, monkeypatch):
    real = trainer.token_losses
    calls = {"n": 0}
    poisoned = set()

    def maybe_nan(model, x):
        calls["n"] += 1
        out = real(model, x)
        return out * float("nan") if model.training and calls["n"] in poisoned else out

    monkeypatch.setattr(trainer, "token_losses", maybe_nan)
    poisoned.update({5, 8})  # micro-batches 5 and 8 (2 per step): steps 3 and 4
    run = train(recipe(data, checkpoints={"milestone_scale": 1e-3}), out_dir=tmp_path / "skip")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["finished"] and summary["skipped_steps"] == 2
    assert [s["step"] for s in records(run, "skip")] == [3, 4]
    # Strict JSON: a step with no finite loss logs null, never NaN.
    lines = (run / "metrics.jsonl").read_text().splitlines()
    strict = [json.loads(line, parse_constant=lambda c: pytest.fail(f"{c} in metrics.jsonl")) for line in lines]
    assert [r["loss"] for r in strict if r["kind"] == "train" and r["step"] in (3, 4)] == [None, None]
    assert all(torch.isfinite(t).all() for t in final_weights(run).values())

    calls["n"] = 0
    poisoned.update(range(7, 100))  # every step from step 4 on: 3 in a row stop the run
    with pytest.raises(TrainingDiverged, match="3 consecutive non-finite"):
        train(recipe(data, checkpoints={"milestone_scale": 1e-3}), out_dir=tmp_path / "diverged")
    states = sorted((tmp_path / "diverged" / "state").iterdir())
    assert states and all(torch.isfinite(v).all() for v in read_state(states[-1])["model"].values())
    assert not (tmp_path / "diverged" / "final").exists()


def test_ten_epoch_guard_stops_or_records(tmp_path):
    small = make_dataset(tmp_path / "small", train_tokens=400, val_tokens=200)
    r = recipe(small, budget={"max_steps": 4, "max_epochs": 2})  # 4 x 256 tokens = 2.56 epochs of 400
    with pytest.raises(UserError, match="pass 2 epochs.*allow_over_epochs"):
        train(r, out_dir=tmp_path / "stopped")
    assert not (tmp_path / "stopped").exists()  # a refused run leaves no empty folder
    r = with_value(r, "budget.allow_over_epochs", True)
    run = train(r, out_dir=tmp_path / "allowed")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["finished"] and summary["over_epochs"]["eng"] == pytest.approx(1024 / 400)
    assert records(run, "over_epochs")[0]["step"] == 4


def test_a_higher_max_epochs_needs_the_flag_and_is_recorded_against_babylms_ten(tmp_path):
    small = make_dataset(tmp_path / "small", train_tokens=400, val_tokens=200)
    budget = {"max_steps": 17, "max_epochs": 20}  # 17 x 256 tokens = 10.9 epochs of 400
    with pytest.raises(UserError, match="10-epoch limit"):  # refused as the recipe loads
        recipe(small, budget=budget)
    r = recipe(small, budget={**budget, "allow_over_epochs": True})
    summary = json.loads((train(r, out_dir=tmp_path / "run") / "summary.json").read_text())
    assert summary["over_epochs"]["eng"] == pytest.approx(17 * 256 / 400)


def test_stream_mixer_trains_and_its_checkpoints_carry_their_code(data, tmp_path):
    from transformers import AutoModelForCausalLM

    run = train(recipe(data, model=STREAM_MIXER, budget={"max_steps": 6}, checkpoints={"milestone_scale": 1e-3}),
                out_dir=tmp_path / "run")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["finished"] and summary["arch"] == "stream_mixer" and summary["final_val_loss"] < 4.0
    folder = run / "checkpoints" / summary["checkpoints"][0]
    assert {"modeling_stream_mixer.py", "configuration_stream_mixer.py", "tokenizer.json"} <= {p.name for p in folder.iterdir()}
    assert "auto_map" in json.loads((folder / "config.json").read_text())
    # save_pretrained writes through private temp files; published model folders follow the umask.
    assert {stat.S_IMODE(p.stat().st_mode) for p in (run / "final").iterdir()} == {umask_mode()}
    loaded = AutoModelForCausalLM.from_pretrained(run / "final", trust_remote_code=True).state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in final_weights(run).items())


def test_a_full_epoch_budget_reaches_its_last_milestone_and_records_what_was_seen(tmp_path):
    """Planned steps round down and the held-out slice is never read, so 10 epochs count 10 x 750 words minus
    a step; the budget (10 x the 900 words certified) is credited at the planned end: chck_1000M."""
    small = make_dataset(tmp_path / "small", train_tokens=1000, val_tokens=200)  # 750 + 150 words
    scale = 9000 / 1e9  # chck_1000M = 10 epochs x 900 words
    r = recipe(small, budget={"max_steps": None, "epochs": 10}, run={"val_tokens": 64, "eval_every": 100},
               checkpoints={"milestone_scale": scale, "state_every": 100})
    run = train(r, out_dir=tmp_path / "run")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == 39 and summary["words_seen"] == pytest.approx(39 * 256 * 0.75)  # 7,488 < 9,000
    assert summary["checkpoints"][-3:] == ["chck_800M", "chck_900M", "chck_1000M"]
    last = json.loads((run / "checkpoints/chck_1000M/checkpoint.json").read_text())
    assert last["words_seen"] == pytest.approx(7488) and last["step"] == 39


def test_milestones_count_tokens_when_the_recipe_says_so(data, tmp_path):
    r = recipe(data, budget={"max_steps": 6}, checkpoints={"unit": "tokens", "milestone_scale": 1e-3})
    summary = json.loads((train(r, out_dir=tmp_path / "run") / "summary.json").read_text())
    # 6 x 256 = 1,536 tokens at scale 1e-3: chck_1M (1,000 tokens) only; by words (1,152) it would be the same
    # name, so the checkpoint's own counts show the unit: it was written when 1,024 tokens had been seen.
    assert summary["checkpoints"] == ["chck_1M"]
    assert json.loads((tmp_path / "run/checkpoints/chck_1M/checkpoint.json").read_text())["tokens_seen"] == 1024
