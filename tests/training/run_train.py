"""Train the tests' tiny recipe in a separate process (plain or under torchrun): the SIGKILL and DDP tests.

usage: run_train.py DATA_DIR OUT_DIR [--resume] [--set section.key=json ...]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from nestling.training.trainer import train  # noqa: E402
from nestling.recipe import load_recipe  # noqa: E402
from tests.training.helpers import recipe  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--set", action="append", default=[])
    args = parser.parse_args()
    torch.set_num_threads(1)
    r = load_recipe(recipe(args.data_dir), args.set)
    if args.resume:
        train(r, resume=args.out_dir)
    else:
        train(r, out_dir=args.out_dir)


if __name__ == "__main__":
    main()
