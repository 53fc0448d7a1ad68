"""lm-eval's hf model vs nestling's backend on the official multilingual task YAMLs, every revision of a run.

    python benchmarks/bench_lmeval_parity.py RUN_DIR [--limit N] [--revisions all]

Tasks: 10 zhoblimp paradigms, 5 BLiMP-NL phenomena and 5 BLiMP paradigms, each mapped to
../shared/data/eval (the YAMLs come from ../shared/reference/babylm-eval/multilingual/tasks,
BLiMP's from lm-eval itself). Both sides run through ``evaluate_multilingual`` (lm-eval's
simple_evaluate with the same task objects, zero-shot, CPU, batch size 64): ``--backend hf`` is the
official command's model (``lm_eval --model hf``), ``nestling`` is nestling's scorer. Prints the
per-task accuracies of every revision (they must be identical) and the wall-clock ratio hf / nestling
(model loading included, task indexing and data loading excluded: both share them).
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
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from nestling.evaluation import multilingual as ml

    data_map = Path(tempfile.mkdtemp()) / "map.yaml"
    data_map.write_text(f"zhoblimp_*: {EVAL}/zhoblimp/data\n"
                        f"blimp_nl_*: {{data_files: {EVAL}/blimp_nl/blimp-nl.jsonl, where: {{category: '{{dataset_name}}'}}}}\n"
                        f"blimp_*: {EVAL}/blimp/data\n")
    common = dict(tasks=TASKS, tasks_dir=TASKS_DIR, data_map=data_map, revisions=args.revisions, offline=True,
                  device="cpu", batch_size=64, trust_remote_code=True, limit=args.limit, log=None)
    ml.evaluate_multilingual(args.run, **{**common, "revisions": "final", "limit": 1})  # index, data, imports: warm
    sections, walls = {}, {}
    for backend in ("hf", "nestling"):
        start = time.perf_counter()
        sections[backend] = ml.evaluate_multilingual(args.run, backend=backend, **common)
        walls[backend] = time.perf_counter() - start
        print(f"{backend}: {walls[backend]:.1f} s", flush=True)
    hf, ours = sections["hf"]["revisions"], sections["nestling"]["revisions"]
    mismatches = [(rev, t) for rev in hf for t in TASKS if hf[rev]["scores"][t]["acc"] != ours[rev]["scores"][t]["acc"]]
    final = list(hf)[-1]
    print(f"\n{len(hf)} revisions x {len(TASKS)} tasks, limit {args.limit}; per-task accuracy at {final}:\n")
    print("| task | items | lm-eval hf acc | nestling acc |\n|---|---:|---:|---:|")
    for t in TASKS:
        print(f"| {t} | {hf[final]['scores'][t]['n']} | {hf[final]['scores'][t]['acc']:.4f} | "
              f"{ours[final]['scores'][t]['acc']:.4f} |")
    print(f"\nidentical accuracies: {len(hf) * len(TASKS) - len(mismatches)}/{len(hf) * len(TASKS)} (revision, task)"
          f"{'' if not mismatches else ' MISMATCH ' + str(mismatches[:5])}")
    print(f"wall-clock over all revisions: lm-eval hf {walls['hf']:.1f} s, nestling {walls['nestling']:.1f} s, "
          f"ratio {walls['hf'] / walls['nestling']:.2f}x")


if __name__ == "__main__":
    main()
