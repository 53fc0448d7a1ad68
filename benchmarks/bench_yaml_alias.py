"""Peak memory of a YAML alias bomb under eval.data: what `nestling train RECIPE` does with a recipe before
any data work (load it, write it back as recipe.yaml, record it as JSON).

    PYTHONPATH=$PWD python benchmarks/bench_yaml_alias.py --levels 8

The model-config import is warmed on a plain recipe first, so tracemalloc's peak is the recipe's own cost;
ru_maxrss is the whole process's peak. Levels L: 9^L strings from about 60 x L bytes of YAML.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import tracemalloc
from pathlib import Path

from nestling.errors import UserError
from nestling.recipe import dump_recipe, load_recipe


def bomb(levels: int) -> str:
    lines = ['&l0 [' + ", ".join(['"lol"'] * 9) + ']']
    lines += [f"&l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return "eval:\n  data:\n" + "".join(f"    - {line}\n" for line in lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--levels", type=int, default=8)
    levels = parser.parse_args().levels
    path = Path(tempfile.mkdtemp()) / "bomb.yaml"
    path.write_text(bomb(levels))
    load_recipe({"eval": {"data": ["builtin"]}})
    warm = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    try:
        recipe = load_recipe(path)
        outcome = f"accepted ({len(dump_recipe(recipe)) + len(json.dumps(recipe.to_dict())):,} bytes written back)"
    except UserError as err:
        outcome = f"refused: {err}"
    peak = tracemalloc.get_traced_memory()[1]
    print(f"{path.stat().st_size} bytes, {levels} levels: {outcome} | tracemalloc peak {peak / 2**20:.1f} MiB | "
          f"ru_maxrss {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB (warm {warm / 1024:.0f} MiB)")


if __name__ == "__main__":
    main()
