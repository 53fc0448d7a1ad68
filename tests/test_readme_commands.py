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
