"""`nestling sweep`: a recipe's grid of variants x seeds, each run in its own folder, with a manifest; a
killed sweep resumes where it stopped.

The grid is the recipe's ``sweep.grid`` ({dotted key: [values]}; a section name takes mappings merged into
that section) with the command line's ``--grid KEY=V1,V2`` merged over it, key by key; the seeds are the
recipe's seed, seed + 1, ... (``sweep.seeds``). A run is the sweep's recipe (the recipe with its
``--set`` overrides, resolved and frozen in ``<sweep>/recipe.yaml``) plus its grid values and its seed
as ``--set`` overrides, so ``nestling train <sweep>/recipe.yaml --set ...`` (the manifest lists them)
trains any one run alone.

The sweep folder (``--out``; default ``<run.out_root>/sweep-<name>``)::

    recipe.yaml      the sweep's recipe
    manifest.json    {"recipe", "overrides", "grid", "seeds", "runs": [{"name", "folder", "config", "seed",
                      "overrides", "status", "error"}]}; status: pending, running, finished, stopped, failed
    <run name>/      one run folder per configuration and seed (e.g. attention_layers-1+3_seed2)
    logs/<run>.log   the output of runs trained in their own process (sweep.parallel > 1)

Resuming is the same command again. What happens to a run is read from its folder: one whose summary.json
says finished is skipped; one with a training state continues exactly from it (the trainer's --resume);
one without (killed before its first state) starts afresh; a failed run is kept as it is until its
folder is removed. A sweep folder holding another sweep (other recipe values, grid or seeds) is refused.

Several at once (``sweep.parallel`` / ``--parallel N``): each run is a ``nestling train`` process of its
own, N at a time, with cores / N torch threads each (``OMP_NUM_THREADS`` when set wins) and, when the
machine has at least N GPUs, one GPU each; their output goes to ``logs/``. On GPUs a sweep can instead run
under ``torchrun --nproc_per_node=G -m nestling sweep ...``: runs go one after another, each trained by
all G processes together (DistributedDataParallel); rank 0 alone writes the sweep folder.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path


from nestling import launch
from nestling.errors import RunStopped, UserError
from nestling.files import output_lock, write_atomic
from nestling.recipe import check_grid, dump_recipe, load_recipe
from nestling.run_folder import RECIPE, is_sweep_dir, read_manifest, read_recipe, read_summary, write_manifest
from nestling.safe_yaml import load_yaml

PENDING, RUNNING, FINISHED, STOPPED, FAILED = "pending", "running", "finished", "stopped", "failed"
LOGS = "logs"


@dataclass
class RunSpec:
    """One run of a sweep: its folder name, grid values, seed and the overrides that make its recipe."""

    name: str
    config: dict
    seed: int
    overrides: list[str]
    folder: str = ""
    status: str = PENDING
    error: str | None = None

    def __post_init__(self):
        self.folder = self.folder or self.name


@dataclass
class Sweep:
    """A planned sweep: the folder, the resolved recipe runs start from, the grid, the seeds and the runs."""

    out: Path
    recipe: object  # nestling.recipe.Recipe
    recipe_ref: str
    overrides: list[str]
    grid: dict
    seeds: list[int]
    parallel: int
    runs: list[RunSpec] = field(default_factory=list)

    @property
    def recipe_file(self) -> Path:
        return self.out / RECIPE

    def manifest(self) -> dict:
        return {"recipe": self.recipe_ref, "overrides": self.overrides, "grid": self.grid, "seeds": self.seeds,
                "runs": [asdict(r) for r in self.runs]}


# ---------------------------------------------------------------- planning


def parse_grid(text: str) -> tuple[str, list]:
    """``KEY=V1,V2,...`` -> (KEY, [V1, V2, ...]); values are YAML, so ``[1, 3]`` and ``{method: uniform}`` work."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise UserError(f"--grid expects KEY=V1,V2,..., got {text!r}")
    values = load_yaml(f"[{raw}]", f"--grid {key}: values")
    if not values:
        raise UserError(f"--grid {key}: give at least one value, e.g. --grid {key}=A,B")
    return key, values


def _override(key: str, value) -> str:
    """A --set override; JSON is valid YAML, so every value (lists, mappings, strings) reads back as itself."""
    return f"{key}={json.dumps(value)}"


def _slug(value) -> str:
    if isinstance(value, dict):
        return "-".join(f"{k}-{_slug(v)}" for k, v in value.items()) or "none"
    if isinstance(value, list):
        return "+".join(_slug(v) for v in value) or "none"
    return str(value)


def run_name(config: dict, seed: int) -> str:
    """``attention_layers-1+3_seed2``: the grid values (last part of each key) and the seed, file-name safe."""
    parts = [f"{key.split('.')[-1]}-{_slug(value)}" for key, value in config.items()] + [f"seed{seed}"]
    return re.sub(r"[^A-Za-z0-9.+_=-]", "", "_".join(parts))


def plan_sweep(recipe_ref, overrides: list[str] = (), grid: list[str] = (), seeds: int | None = None,
               parallel: int | None = None, out: Path | None = None) -> Sweep:
    """The runs of a sweep, every one's recipe loaded and checked before anything is trained or written."""
    overrides = list(overrides)
    cli_grid = dict(parse_grid(g) for g in grid)
    check_grid(cli_grid, where="--grid")
    settings = [f"sweep.seeds={seeds}"] * (seeds is not None) + [f"sweep.parallel={parallel}"] * (parallel is not None)
    recipe = load_recipe(recipe_ref, overrides + settings)
    merged = {**recipe.sweep.grid, **cli_grid}
    recipe = load_recipe(recipe, [_override("sweep.grid", merged)])
    seed_list = [recipe.seed + i for i in range(recipe.sweep.seeds)]
    out = Path(out) if out is not None else Path(recipe.run.out_root) / f"sweep-{recipe.name}"
    sweep = Sweep(out=out, recipe=recipe, recipe_ref=str(recipe_ref), overrides=overrides, grid=merged,
                  seeds=seed_list, parallel=recipe.sweep.parallel)
    keys = list(merged)
    for values in itertools.product(*(merged[k] for k in keys)):
        config = dict(zip(keys, values))
        for seed in seed_list:
            run_overrides = [_override(k, v) for k, v in config.items()] + [f"seed={seed}"]
            try:
                load_recipe(recipe, run_overrides)
            except UserError as err:
                shown = ", ".join(f"{k}={json.dumps(v)}" for k, v in config.items())
                raise UserError(f"sweep run {shown}: {err}") from None
            sweep.runs.append(RunSpec(run_name(config, seed), config, seed, run_overrides))
    names = [r.name for r in sweep.runs]
    if len(set(names)) < len(names):  # two values with one spelling (1e-3 and 0.001): number the folders
        for i, r in enumerate(sweep.runs):
            r.name = r.folder = f"{i:03d}_{r.name}"
    return sweep


# ---------------------------------------------------------------- the sweep folder


def _check_same_sweep(sweep: Sweep, manifest: dict) -> None:
    """A sweep folder is resumed only by the sweep that made it (``sweep.parallel`` may change)."""
    stored = read_recipe(sweep.out) or {}
    now = sweep.recipe.to_dict()
    for tree in (stored, now):
        tree.get("sweep", {}).pop("parallel", None)
    differ = [k for k in ("grid", "seeds") if manifest.get(k) != json.loads(json.dumps(getattr(sweep, k)))]
    differ += [f"recipe {k}" for k in sorted(set(stored) | set(now)) if stored.get(k) != now.get(k)]
    if differ:
        raise UserError(f"{sweep.out} holds another sweep ({', '.join(differ)} differ); resume it with the same "
                        "recipe, --set, --grid and --seeds, or choose another --out")


def _open_folder(sweep: Sweep) -> None:
    """Create the sweep folder, or check it holds this sweep and take over its runs' recorded statuses."""
    manifest = read_manifest(sweep.out) if is_sweep_dir(sweep.out) else None
    if manifest is None:
        write_atomic(sweep.recipe_file, dump_recipe(sweep.recipe))
    else:
        _check_same_sweep(sweep, manifest)
        recorded = {r.get("name"): r for r in manifest.get("runs", [])}
        for run in sweep.runs:
            old = recorded.get(run.name) or {}
            run.status, run.error = old.get("status", PENDING), old.get("error")
    write_manifest(sweep.out, sweep.manifest())


def _folder_state(folder: Path) -> str:
    """finished, resumable (a training state to continue from), partial (started, no state) or absent."""
    from nestling.training.checkpoint import list_states

    summary = read_summary(folder) if (folder / "summary.json").is_file() else None
    if summary and summary.get("finished"):
        return "finished"
    if list_states(folder):
        return "resumable"
    return "partial" if folder.exists() else "absent"


def _next_action(sweep: Sweep, run: RunSpec) -> str | None:
    """skip, resume or start (a started run without state is cleared first), from the run's folder."""
    folder = sweep.out / run.folder
    state = _folder_state(folder)
    if state == "finished":
        run.status = FINISHED
        return None
    if run.status == FAILED and state != "absent":
        return None
    if state == "partial":
        shutil.rmtree(folder)
    return "resume" if state == "resumable" else "start"


def _final_status(folder: Path) -> str:
    summary = read_summary(folder) if (folder / "summary.json").is_file() else None
    if summary is None:
        return FAILED
    return FINISHED if summary.get("finished") else STOPPED


# ---------------------------------------------------------------- running


def run_sweep(recipe_ref, overrides: list[str] = (), grid: list[str] = (), seeds: int | None = None,
              parallel: int | None = None, out: Path | None = None) -> Sweep:
    """Plan the sweep, then train its runs (skipping finished ones, resuming interrupted ones); return it.

    A run that fails (a UserError: divergence, bad data) is recorded as failed and the others go on; a
    signal stops the sweep (RunStopped) with the interrupted run's state saved for the next call.
    """
    from nestling.training import distributed

    sweep = plan_sweep(recipe_ref, overrides, grid, seeds, parallel, out)
    dist = distributed.init(sweep.recipe.run.device) if launch.ranks().world_size > 1 else None
    if dist is not None and sweep.parallel > 1:
        distributed.shutdown(dist)
        raise UserError("sweep.parallel > 1 starts its own processes; under torchrun run the sweep with --parallel 1")
    try:
        if dist is None or dist.is_main:
            # One sweep process per folder (each run folder has its own lock too, taken by its training).
            with output_lock(sweep.out):
                if sweep.out.exists() and not is_sweep_dir(sweep.out) and any(sweep.out.iterdir()):
                    raise UserError(f"--out {sweep.out}: not empty and not a sweep folder; choose another --out")
                sweep.out.mkdir(parents=True, exist_ok=True)
                _open_folder(sweep)
                if sweep.parallel > 1:
                    _run_in_processes(sweep)
                else:
                    _run_here(sweep, dist)
        else:
            _run_here(sweep, dist)
    finally:
        if dist is not None:
            distributed.shutdown(dist)
    return sweep


def _mark(sweep: Sweep, run: RunSpec, status: str, error: str | None = None, dist=None) -> None:
    run.status, run.error = status, error
    if dist is None or dist.is_main:
        write_manifest(sweep.out, sweep.manifest())


def _run_here(sweep: Sweep, dist) -> None:
    """One run after another in this process (every rank of a torchrun sweep takes part in each)."""
    from nestling.jobs import train_recipe
    from nestling.training.distributed import broadcast_object

    for run in sweep.runs:
        is_main = dist is None or dist.is_main
        action = _next_action(sweep, run) if is_main else None
        if dist is not None:
            action = broadcast_object(action, dist)
        if action is None:
            continue
        folder = sweep.out / run.folder
        _mark(sweep, run, RUNNING, dist=dist)
        try:
            train_recipe(sweep.recipe_file, run.overrides, out_dir=folder,
                         resume=folder if action == "resume" else None)
        except UserError as err:
            _mark(sweep, run, FAILED, str(err), dist)
            continue
        except BaseException as err:  # Ctrl-C twice, or a bug: the run can be resumed or retried later
            _mark(sweep, run, STOPPED if isinstance(err, KeyboardInterrupt) else FAILED, repr(err), dist)
            raise
        status = _final_status(folder) if is_main else None
        if dist is not None:
            status = broadcast_object(status, dist)
        _mark(sweep, run, status, dist=dist)
        if status == STOPPED:
            raise RunStopped(f"stopped during {run.name}; run the same command again to resume the sweep")


def _stop_with_parent() -> None:
    """In a child: take SIGTERM when the sweep process dies (even by SIGKILL), so it saves its state (Linux)."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _child_env(slot: int, parallel: int) -> dict:
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // parallel)))
    with contextlib.suppress(Exception):
        import torch

        if torch.cuda.device_count() >= parallel:
            env["CUDA_VISIBLE_DEVICES"] = str(slot)
    return env


def _start(sweep: Sweep, run: RunSpec, action: str, slot: int) -> subprocess.Popen:
    folder = sweep.out / run.folder
    command = [sys.executable, "-m", "nestling", "train", str(sweep.recipe_file), "--out", str(folder)]
    command += [arg for o in run.overrides for arg in ("--set", o)]
    command += ["--resume", str(folder)] if action == "resume" else []
    (sweep.out / LOGS).mkdir(exist_ok=True)
    log = open(sweep.out / LOGS / f"{run.name}.log", "a")
    # Its own session: a Ctrl-C at the terminal reaches the sweep alone, which passes one SIGTERM on.
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=_child_env(slot, sweep.parallel),
                               start_new_session=True, preexec_fn=_stop_with_parent)
    log.close()
    return process


def _run_in_processes(sweep: Sweep) -> None:
    """``sweep.parallel`` runs at a time, each a ``nestling train`` process; data is prepared here first."""
    from nestling.data.dataset import ensure_dataset

    todo = [(run, action) for run in sweep.runs if (action := _next_action(sweep, run)) is not None]
    prepared = set()
    for run, _ in todo:  # once each, before any child starts: children never prepare the same folder at once
        recipe = load_recipe(sweep.recipe_file, run.overrides)
        key = json.dumps([recipe.data.to_dict(), recipe.tokenizer.to_dict(), recipe.seed])
        if key not in prepared:
            ensure_dataset(recipe)
            prepared.add(key)
    running: dict[int, tuple[RunSpec, subprocess.Popen]] = {}
    stop = {"requested": False, "passed_on": False}
    previous = {sig: signal.signal(sig, lambda *_: stop.update(requested=True)) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while (todo and not stop["requested"]) or running:
            while todo and not stop["requested"] and len(running) < sweep.parallel:
                slot = min(set(range(sweep.parallel)) - set(running))
                run, action = todo.pop(0)
                running[slot] = (run, _start(sweep, run, action, slot))
                _mark(sweep, run, RUNNING)
            if stop["requested"] and not stop["passed_on"]:
                # Once: a second signal makes the trainer stop at once, without writing its state.
                for _, process in running.values():
                    with contextlib.suppress(ProcessLookupError):
                        process.send_signal(signal.SIGTERM)
                stop["passed_on"] = True
            for slot, (run, process) in list(running.items()):
                code = process.poll()
                if code is None:
                    continue
                del running[slot]
                status = _final_status(sweep.out / run.folder)
                error = None if status != FAILED else f"exit code {code}; see {sweep.out / LOGS / (run.name + '.log')}"
                _mark(sweep, run, status, error)
            time.sleep(0.5 if running else 0)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if stop["requested"]:
        raise RunStopped("stopped; the interrupted runs saved their state: run the same command again to resume")


def sweep_table(sweep: Sweep) -> str:
    """Run, status and final validation loss, one row per run (a plain-text table for the terminal)."""
    rows = [("run", "status", "final val loss")]
    for run in sweep.runs:
        summary = read_summary(sweep.out / run.folder) if (sweep.out / run.folder / "summary.json").is_file() else {}
        loss = (summary or {}).get("final_val_loss")
        rows.append((run.name, run.status + (f" ({run.error})" if run.error else ""),
                     f"{loss:.4f}" if isinstance(loss, (int, float)) else "-"))
    width = [max(len(r[i]) for r in rows) for i in range(2)]
    return "\n".join(f"{a:<{width[0]}}  {b:<{width[1]}}  {c}" for a, b, c in rows)
