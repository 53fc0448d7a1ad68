"""Parity and speed: the official strict zero-shot + reading code against `nestling eval --suite strict-fast`.

    .venv/bin/python benchmarks/bench_strict_parity.py [--model DIR] [--max-items 40] [--threads 2]

Both run as their command lines, on the same model folder and the same copy of the fast tasks
(BLiMP fast, supplement fast, EWoK fast, entity tracking fast, WUG adjective nominalization, reading):

- official: ``python -m evaluation_pipeline.sentence_zero_shot.run --backend causal --task T
  --data_path D --save_predictions`` once per task (as ``strict/scripts/eval_zero_shot_fast.sh``),
  then ``python -m evaluation_pipeline.reading.run --backend causal``; run from
  ``../shared/reference/babylm-eval/strict`` with this interpreter (it needs ``datasets``,
  ``aiohttp``, ``statsmodels``: ``--official-python`` names a venv with those and its transformers
  4.51.3 pin; by default this interpreter);
- nestling: ``nestling eval MODEL --suite strict-fast --eval-root ROOT --submission S``.

Scores are computed from each side's predictions.json with the official collation functions
(``collate_preds._calculate_*``, full precision), item predictions are compared one by one, and
nestling's own results.json is checked against them: accuracies and WUG rho must be identical,
reading dR2 equal to 1e-6. Wall-clock is each side's whole command (process start, model load,
scoring); the speed-up is official / nestling.

``--max-items N`` keeps an evenly spaced N lines of every jsonl file (0 = all; the reading file
is always whole). Without ``--model``, the demo-llama-shaped model of bench_eval.py is trained for
``--train-steps`` steps on UD English.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.official_runs import bench_env, timed_run  # noqa: E402
from nestling.evaluation.suites import FAST_TASKS, resolve_task_path  # noqa: E402

SHARED = REPO.parent / "shared"
OFFICIAL = SHARED / "reference" / "babylm-eval" / "strict"
# (suite task name, official --task)
TASKS = [("blimp_fast", "blimp"), ("supplement_fast", "blimp"), ("ewok_fast", "ewok"),
         ("entity_tracking_fast", "entity_tracking"), ("wug_adj_nominalization", "wug_adj")]


def materialise(src_root: Path, dest: Path, max_items: int) -> Path:
    """A plain-folder copy of the fast tasks (link files resolved), every jsonl thinned to max_items lines."""
    for task in FAST_TASKS:
        src = resolve_task_path(src_root, task.path)
        if src is None:
            print(f"missing: {task.name}")
            continue
        target = dest / task.path
        target.parent.mkdir(parents=True, exist_ok=True)
        if task.kind == "reading":
            shutil.copy(src, target)
            continue
        target.mkdir(parents=True, exist_ok=True)
        for file in sorted(src.glob("*.jsonl")):
            lines = file.read_text(encoding="utf-8").splitlines()
            if max_items and len(lines) > max_items:
                step = len(lines) / max_items
                lines = [lines[math.floor(i * step)] for i in range(max_items)]
            (target / file.name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return dest


def official_scores(cp, base: Path, data: Path) -> tuple[dict, dict]:
    """Per-task official scores (fractions; reading in %) and raw predictions from predictions.json files."""
    scores, preds = {}, {}
    for name, task in TASKS:
        file = base / task / name / "predictions.json"
        if not file.is_file():
            continue
        res = json.loads(file.read_text())
        preds[name] = res
        if task == "wug_adj":
            scores[name] = cp._calculate_wugs_results(res, "wug_adj_nominalization", data / name)["wug_adj"]
        elif task == "entity_tracking":
            per_uid = cp._calculate_target_et_results(res, data / name)
            scores[name] = sum(per_uid.values()) / len(per_uid)  # one split (regular) in the fast data
        else:
            per_uid = cp._calculate_target_results(res, task if task == "ewok" else "blimp", data / name)
            scores[name] = sum(per_uid.values()) / len(per_uid)
    reading = base / "reading" / "predictions.json"
    if reading.is_file():
        res = json.loads(reading.read_text())
        preds["reading"] = res
        r = cp._calculate_reading_results(res, data / "reading" / "reading_data.csv")
        scores["reading_et"], scores["reading_spr"] = 100 * r["rt"], 100 * r["spr"]
    return scores, preds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path)
    parser.add_argument("--eval-root", type=Path, default=SHARED / "data" / "eval" / "babylm_2025" / "evaluation_data")
    parser.add_argument("--official", type=Path, default=OFFICIAL)
    parser.add_argument("--official-python", default=sys.executable,
                        help="interpreter for the official code, e.g. a venv with its transformers 4.51.3 pin "
                             "(default: this one)")
    parser.add_argument("--max-items", type=int, default=0, help="lines kept per jsonl file (0 = all)")
    parser.add_argument("--train-steps", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work", type=Path, help="working folder (default: a temp folder)")
    args = parser.parse_args()

    work = args.work or Path(tempfile.mkdtemp(prefix="strict_parity_"))
    work.mkdir(parents=True, exist_ok=True)
    model = args.model
    if model is None and (work / "benchlm" / "config.json").is_file():
        model = work / "benchlm"  # built by an earlier run with this --work
    if model is None:
        from benchmarks.bench_eval import build_bench_model

        model = build_bench_model(work / "benchlm", SHARED / "data" / "corpora" / "ud_text" / "en_ewt_all.txt",
                                  args.train_steps)
    model = model.resolve()
    root = materialise(args.eval_root, work / "evaluation_data", args.max_items)
    data = root / "fast_eval"
    env = bench_env(args.threads, PYTHONPATH=str(REPO))

    # nestling first, then the official commands (same machine state for both as far as we can).
    nest_sub = work / "nestling_submission"
    t_nest = timed_run([sys.executable, "-m", "nestling", "eval", str(model), "--suite", "strict-fast",
                        "--eval-root", str(root), "--out", str(work / "nestling_results.json"),
                        "--submission", str(nest_sub), "--device", "cpu"], REPO, env)
    official_out = work / "official_results"
    t_off = {}
    for name, task in TASKS:
        if (data / name).is_dir():
            t_off[name] = timed_run([args.official_python, "-m", "evaluation_pipeline.sentence_zero_shot.run",
                                     "--model_path_or_name", str(model), "--backend", "causal", "--task", task,
                                     "--data_path", str(data / name), "--save_predictions",
                                     "--output_dir", str(official_out)], args.official, env)
    if (data / "reading" / "reading_data.csv").is_file():
        t_off["reading"] = timed_run([args.official_python, "-m", "evaluation_pipeline.reading.run",
                                      "--model_path_or_name", str(model), "--backend", "causal",
                                      "--data_path", str(data / "reading" / "reading_data.csv"),
                                      "--output_dir", str(official_out)], args.official, env)

    sys.path.insert(0, str(args.official))
    import evaluation_pipeline.collate_preds as cp

    name = model.name
    off_scores, off_preds = official_scores(cp, official_out / Path(str(model)).stem / "main" / "zero_shot" / "causal",
                                            data)
    nest_scores, nest_preds = official_scores(cp, nest_sub / name / "main" / "zero_shot" / "causal", data)
    ours = json.loads((work / "nestling_results.json").read_text())["revisions"]["main"]["tasks"]
    own = {n: ours[n]["score"] for n, _ in TASKS if n in ours}
    if "reading" in ours:
        own["reading_et"], own["reading_spr"] = ours["reading"]["eye_tracking"], ours["reading"]["self_paced_reading"]

    rows = ["| task | items | official | nestling (its predictions) | nestling results.json | differing predictions |",
            "|---|---:|---:|---:|---:|---:|"]
    worst = 0.0
    for key in off_scores:
        task = "reading" if key.startswith("reading") else key
        off_list = [p for uid in off_preds[task].values() for p in uid["predictions"]]
        nest_list = [p for uid in nest_preds[task].values() for p in uid["predictions"]]
        if task == "reading":
            diff = max(abs(a["pred"] - b["pred"]) for a, b in zip(off_list, nest_list))
            differing = f"max abs surprisal diff {diff:.2e}"
        else:
            off_by_id = {p["id"]: p["pred"] for p in off_list}
            differing = str(sum(off_by_id.get(p["id"]) != p["pred"] for p in nest_list))
        gap = abs(off_scores[key] - own[key])
        worst = max(worst, gap) if key.startswith("reading") else worst
        fmt = (lambda x: f"{x:.6f}") if key.startswith("reading") or key.startswith("wug") else (lambda x: f"{100 * x:.2f}")
        rows.append(f"| {key} | {len(off_list)} | {fmt(off_scores[key])} | {fmt(nest_scores[key])} | {fmt(own[key])} "
                    f"| {differing} |")
    total_off = sum(t_off.values())
    print("\n".join(rows))
    print(f"\nreading dR2 max |official - nestling| = {worst:.2e} (percentage points)")
    print("\n| side | wall-clock (s) |\n|---|---:|")
    for k, v in t_off.items():
        print(f"| official {k} | {v:.1f} |")
    print(f"| **official total** | **{total_off:.1f}** |\n| **nestling strict-fast (one command)** | **{t_nest:.1f}** |")
    print(f"\nspeed-up official / nestling: {total_off / t_nest:.2f}x  (threads {args.threads}, max-items "
          f"{args.max_items or 'all'}, model {model})")


if __name__ == "__main__":
    main()
