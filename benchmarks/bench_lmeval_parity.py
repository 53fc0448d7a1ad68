"""lm-eval's hf model vs nestling's native engine on the official multilingual task YAMLs, every revision.

    python benchmarks/bench_lmeval_parity.py RUN_DIR [--limit N] [--revisions all] [--sides lm-eval,native]
        [--one-by-one]

Tasks: 10 zhoblimp paradigms, 5 BLiMP-NL phenomena and 5 BLiMP paradigms, each mapped to
../shared/data/eval (the YAMLs come from ../shared/reference/babylm-eval/multilingual/tasks,
BLiMP's from lm-eval itself). Every side runs through ``evaluate_multilingual`` (zero-shot, CPU,
batch size 64): ``lm-eval`` is the official command's model (``lm_eval --model hf``) in lm-eval's
simple_evaluate, ``native`` is nestling's engine over the same YAMLs (rendered and tokenized once for
all revisions), ``nestling`` is lm-eval with nestling's scorer. Prints the per-task accuracies of the
last revision, how many (revision, task) accuracies equal the first side's, and the wall-clock ratios
(whole evaluation calls: data reading, request building, model loading and scoring; lm-eval's task
index is built once in a warm-up call and shared). ``--one-by-one`` also times the native engine
called once per revision, each call preparing its data again (29 x one revision).
Requires ``pip install 'nestling[lmeval]'``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared"
TASKS_DIR = SHARED / "reference" / "babylm-eval" / "multilingual" / "tasks"
EVAL = SHARED / "data" / "eval"

ZHO = ["BA_BEI_subj_drop", "BA_deletion", "BA_duplicate_argument", "BA_inversion", "BA_meiba", "BA_negation",
       "BA_no_progressive", "BA_no_stative_verb", "BA_suo_adverbial_a", "BA_suo_adverbial_b"]
NLD = ["anaphor_agreement", "binding_principle_a", "passive", "r_words", "quantifiers"]
ENG = ["adjunct_island", "anaphor_gender_agreement", "animate_subject_passive", "causative", "drop_argument"]
TASKS = [f"zhoblimp_{t}" for t in ZHO] + [f"blimp_nl_{t}" for t in NLD] + [f"blimp_{t}" for t in ENG]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run", type=Path)
    parser.add_argument("--revisions", default="all")
    parser.add_argument("--limit", type=int, help="first N items per task (lm-eval's --limit)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sides", default="lm-eval,native",
                        help="backends to time, the first is the reference (lm-eval, native, nestling)")
    parser.add_argument("--one-by-one", action="store_true",
                        help="also time the native engine called once per revision (its data side each time)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from nestling.evaluation import multilingual as ml

    data_map = Path(tempfile.mkdtemp()) / "map.yaml"
    data_map.write_text(f"zhoblimp_*: {EVAL}/zhoblimp/data\n"
                        f"blimp_nl_*: {{data_files: {EVAL}/blimp_nl/blimp-nl.jsonl, "
                        f"where: {{category: '{{dataset_name}}'}}}}\n"
                        f"blimp_*: {EVAL}/blimp/data\n")
    common = dict(tasks=TASKS, tasks_dir=TASKS_DIR, data_map=data_map, revisions=args.revisions, offline=True,
                  device="cpu", batch_size=64, trust_remote_code=True, limit=args.limit, log=None)
    revisions = list(ml._selected_revisions(args.run, args.revisions))
    sides = args.sides.split(",")
    for backend in sides:  # task index, imports, the datasets cache: warm for every side
        ml.evaluate_multilingual(args.run, backend=backend, **{**common, "revisions": revisions[-1], "limit": 1})
    sections, walls = {}, {}
    for backend in sides:
        start = time.perf_counter()
        sections[backend] = ml.evaluate_multilingual(args.run, backend=backend, **common)
        walls[backend] = time.perf_counter() - start
        print(f"{backend}: {walls[backend]:.1f} s", flush=True)
    if args.one_by_one:
        start = time.perf_counter()
        for rev in revisions:
            ml.evaluate_multilingual(args.run, backend="native", **{**common, "revisions": rev})
        walls["native one by one"] = time.perf_counter() - start
        print(f"native, one call per revision: {walls['native one by one']:.1f} s", flush=True)
    report(sections, walls, sides, args.limit)


def report(sections: dict, walls: dict, sides: list[str], limit) -> None:
    ref = sides[0]
    theirs = sections[ref]["revisions"]
    final = list(theirs)[-1]
    print(f"\n{len(theirs)} revisions x {len(TASKS)} tasks, limit {limit}; per-task accuracy at {final}:\n")
    print(f"| task | items | {' | '.join(sides)} |\n|---|---:|" + "---:|" * len(sides))
    for t in TASKS:
        cells = " | ".join(f"{sections[s]['revisions'][final]['scores'][t]['acc']:.4f}" for s in sides)
        print(f"| {t} | {theirs[final]['scores'][t]['n']} | {cells} |")
    for side in sides[1:]:
        ours = sections[side]["revisions"]
        mismatches = [(rev, t) for rev in theirs for t in TASKS
                      if theirs[rev]["scores"][t]["acc"] != ours[rev]["scores"][t]["acc"]]
        total = len(theirs) * len(TASKS)
        print(f"\n{side}: identical accuracies to {ref}: {total - len(mismatches)}/{total} (revision, task)"
              f"{'' if not mismatches else ' MISMATCH ' + str(mismatches[:5])}")
        print(f"wall-clock over all revisions: {ref} {walls[ref]:.1f} s, {side} {walls[side]:.1f} s, "
              f"ratio {walls[ref] / walls[side]:.2f}x")
    if "native one by one" in walls and "native" in walls:
        print(f"native: all revisions in one call {walls['native']:.1f} s vs one call per revision "
              f"{walls['native one by one']:.1f} s ({walls['native one by one'] / walls['native']:.2f}x)")


if __name__ == "__main__":
    main()
