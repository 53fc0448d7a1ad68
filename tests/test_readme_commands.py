"""Every `nestling` command in the README parses, and every `train` in it loads (every recipe check) and
plans its batch for the number of processes it names (the torchrun example once failed on both ranks).

Running the commands for real takes hours (full-scale training); this holds the part that broke.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from nestling import cli
from nestling.recipe import load_recipe
from nestling.training.batching import plan_batch

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.S)
    # A command continued over lines (a trailing backslash) is one command.
    lines = [line.split("#")[0].strip() for block in blocks for line in block.replace("\\\n", " ").splitlines()]
    return [line for line in lines if re.search(r"(^|-m )nestling ", line)]


def test_the_readme_has_commands():
    assert any(c.startswith("torchrun") for c in readme_commands()) and len(readme_commands()) >= 8


@pytest.mark.parametrize("command", readme_commands())
def test_readme_command_parses_and_its_recipe_plans(command):
    words = shlex.split(command)
    processes = int(next((w.split("=")[1] for w in words if w.startswith("--nproc_per_node=")), 1))
    args = cli.build_parser().parse_args(words[words.index("nestling") + 1:])
    if args.command != "train":
        return
    recipe = load_recipe(args.recipe, args.set)  # every recipe check is made here
    b = recipe["batch"]
    plan = plan_batch(b["global_batch"], b["seq_len"], b["micro_batch"], world_size=processes)
    assert plan.per_rank * processes == b["global_batch"] and plan.per_rank % plan.micro == 0


RESULTS = README.parent / "RESULTS.md"


def results_commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", RESULTS.read_text(), flags=re.S)
    lines = [line.strip() for block in blocks for line in block.splitlines()]
    return [c.strip().removeprefix("OMP_NUM_THREADS=1 ") for line in lines if line.startswith(("nestling", "OMP"))
            and "$S" not in line for c in line.split("&&")]


@pytest.mark.parametrize("command", results_commands())
def test_results_commands_parse_and_every_sweep_run_loads(command):
    """RESULTS.md's full-scale sweeps: every run's recipe is planned and checked (nothing trains)."""
    from nestling.sweep import plan_sweep

    args = cli.build_parser().parse_args(shlex.split(command)[1:])
    if args.command == "sweep":
        sweep = plan_sweep(args.recipe, args.set, args.grid, args.seeds, args.parallel, args.out)
        assert sweep.runs and sweep.out.name.startswith(f"sweep-{args.recipe}")
    else:
        assert args.command == "compare" and args.baseline.parent in args.runs
