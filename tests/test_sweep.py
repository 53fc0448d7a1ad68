"""`nestling sweep`: the grid x seeds, one run folder each, a manifest, and a killed sweep that resumes.

Runs are the trainer tests' tiny Llama on a synthetic 6,000-token dataset (tests/training/helpers.py),
12 steps each, so a whole sweep takes seconds.
"""

from __future__ import annotations

import os
import signal

import pytest

from nestling import cli, jobs
from nestling.errors import RunStopped, UserError
from nestling.recipe import dump_recipe
from nestling.run_folder import read_manifest, read_summary
from nestling.sweep import FAILED, FINISHED, STOPPED, parse_grid, run_sweep
from tests.training.helpers import make_dataset, recipe


@pytest.fixture(scope="module")
def recipe_file(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    data = make_dataset(root / "data")
    path = root / "tiny.yaml"
    path.write_text(dump_recipe(recipe(data, run={"eval_every": 6})))
    return path


def _manifest_runs(out):
    return {r["name"]: r for r in read_manifest(out)["runs"]}


def test_grid_times_seeds_one_folder_each_with_a_manifest(recipe_file, tmp_path):
    out = tmp_path / "sw"
    sweep = run_sweep(recipe_file, ["budget.max_steps=6"], grid=["optimizer.muon_lr=0.01,0.02"], seeds=2, out=out)
    names = ["muon_lr-0.01_seed0", "muon_lr-0.01_seed1", "muon_lr-0.02_seed0", "muon_lr-0.02_seed1"]
    assert [r.name for r in sweep.runs] == names
    manifest = read_manifest(out)
    assert manifest["grid"] == {"optimizer.muon_lr": [0.01, 0.02]} and manifest["seeds"] == [0, 1]
    assert manifest["overrides"] == ["budget.max_steps=6"]
    for run in manifest["runs"]:
        assert run["status"] == FINISHED and run["folder"] == run["name"]
        summary = read_summary(out / run["folder"])
        assert summary["finished"] and summary["seed"] == run["seed"] and summary["steps"] == 6
        assert summary["optimizer"]["muon_lr"] == run["config"]["optimizer.muon_lr"]
        assert run["overrides"] == [f"optimizer.muon_lr={run['config']['optimizer.muon_lr']}", f"seed={run['seed']}"]
    assert (out / "recipe.yaml").is_file(), "the sweep's recipe (with --set) is frozen in the folder"
    # Again: every run is finished, nothing trains.
    again = run_sweep(recipe_file, ["budget.max_steps=6"], grid=["optimizer.muon_lr=0.01,0.02"], seeds=2, out=out)
    assert all(r.status == FINISHED for r in again.runs)


def test_a_killed_sweep_resumes_where_it_stopped(recipe_file, tmp_path, monkeypatch):
    """SIGTERM during the second run: it saves its state and the sweep stops; the same call again skips the
    finished run, continues the stopped one from its state, starts a half-started one afresh, runs the rest."""
    from nestling.training import trainer

    out = tmp_path / "sw"
    args = dict(grid=["model.num_hidden_layers=1,2"], seeds=1, out=out)
    real_step, steps = trainer.run_step, {"n": 0}

    def step_then_signal(s, window):
        steps["n"] += 1
        if steps["n"] == 12 + 5:  # the second run's fifth step (12 steps per run)
            os.kill(os.getpid(), signal.SIGTERM)
        return real_step(s, window)

    monkeypatch.setattr(trainer, "run_step", step_then_signal)
    with pytest.raises(RunStopped):
        run_sweep(recipe_file, **args)
    runs = _manifest_runs(out)
    assert [r["status"] for r in runs.values()] == [FINISHED, STOPPED]
    stopped = out / "num_hidden_layers-2_seed0"
    assert read_summary(stopped)["finished"] is False and (stopped / "state").is_dir()

    monkeypatch.setattr(trainer, "run_step", real_step)
    calls = []
    real_train = jobs.train_recipe
    monkeypatch.setattr(jobs, "train_recipe", lambda *a, **k: calls.append(k) or real_train(*a, **k))
    sweep = run_sweep(recipe_file, **args)
    assert calls == [{"out_dir": stopped, "resume": stopped}], "finished run skipped, stopped run resumed"
    assert [r.status for r in sweep.runs] == [FINISHED, FINISHED]
    assert read_summary(stopped)["steps"] == 12


def test_a_run_started_without_state_starts_afresh_and_failures_are_recorded(recipe_file, tmp_path):
    import shutil

    out = tmp_path / "sw"
    args = dict(grid=["optimizer.muon_lr=0.02"], seeds=1, out=out)
    run_sweep(recipe_file, ["budget.max_steps=2"], **args)
    folder = out / "muon_lr-0.02_seed0"
    for f in ("summary.json", "final/config.json"):
        (folder / f).unlink()
    shutil.rmtree(folder / "state")  # killed before its first state: nothing to resume from
    assert run_sweep(recipe_file, ["budget.max_steps=2"], **args).runs[0].status == FINISHED
    # A run whose training fails (here: 30 steps of 256 tokens pass 1 epoch of 6,000) is recorded; the others go on.
    bad = run_sweep(recipe_file, ["budget.max_epochs=1"], grid=["budget.max_steps=30,2"], out=tmp_path / "bad")
    assert [r.status for r in bad.runs] == [FAILED, FINISHED] and "pass 1 epochs" in bad.runs[0].error
    assert run_sweep(recipe_file, ["budget.max_epochs=1"], grid=["budget.max_steps=30,2"],
                     out=tmp_path / "bad").runs[0].status == FAILED, "a failed run is kept until its folder goes"


def test_several_runs_at_once_in_their_own_processes(recipe_file, tmp_path):
    out = tmp_path / "sw"
    sweep = run_sweep(recipe_file, ["budget.max_steps=4"], grid=["optimizer.adamw_lr=0.01,0.02"], seeds=1,
                      parallel=2, out=out)
    assert [r.status for r in sweep.runs] == [FINISHED, FINISHED]
    assert all((out / "logs" / f"{r.name}.log").is_file() for r in sweep.runs)
    assert {read_summary(out / r.folder)["optimizer"]["adamw_lr"] for r in sweep.runs} == {0.01, 0.02}


def test_grid_values_are_yaml():
    assert parse_grid("model.attention_layers=[],[2],[1, 3]") == ("model.attention_layers", [[], [2], [1, 3]])
    assert parse_grid("mixing={method: taam, reward: v1},{method: uniform}")[1][1] == {"method": "uniform"}


@pytest.mark.parametrize("argv, message", [
    (["--grid", "optimizer.mun_lr=1,2"], "--grid: unknown recipe key 'optimizer.mun_lr'; did you mean optimizer.muon_lr"),
    (["--grid", "optimizer.muon_lr=fast"], "sweep run optimizer.muon_lr=\"fast\": recipe key 'optimizer.muon_lr' expects"),
    (["--grid", "seed=1,2"], "seeds come from sweep.seeds"),
    (["--grid", "optimizer.muon_lr="], "give at least one value"),
    (["--seeds", "0"], "sweep.seeds' must be a positive integer"),
])
def test_bad_sweeps_are_one_line_exit_2_before_anything_runs(recipe_file, tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["sweep", str(recipe_file), "--out", str(tmp_path / "sw"), *argv])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "sw").exists()


def test_a_sweep_folder_is_resumed_only_by_its_own_sweep(recipe_file, tmp_path, capsys):
    out = tmp_path / "sw"
    run_sweep(recipe_file, ["budget.max_steps=2"], grid=["optimizer.muon_lr=0.02"], out=out)
    with pytest.raises(UserError, match="holds another sweep \\(grid"):
        run_sweep(recipe_file, ["budget.max_steps=2"], grid=["optimizer.muon_lr=0.03"], out=out)
    with pytest.raises(UserError, match="recipe budget differ"):
        run_sweep(recipe_file, ["budget.max_steps=3"], grid=["optimizer.muon_lr=0.02"], out=out)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="not empty and not a sweep folder"):
        run_sweep(recipe_file, grid=["optimizer.muon_lr=0.02"], out=tmp_path / "other")
    assert _manifest_runs(out)["muon_lr-0.02_seed0"]["status"] == FINISHED
