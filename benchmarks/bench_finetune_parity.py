"""Benchmark: `nestling finetune` against the official strict-track fine-tuning code, same model and data.

    .venv/bin/python benchmarks/bench_finetune_parity.py --official-python .venv-official/bin/python

The official code is run unchanged from ../shared/reference/babylm-eval/strict (``python -m
evaluation_pipeline.finetune.run``, one process per task and seed, as scripts/eval_finetuning.sh runs it)
in its own virtual environment (transformers 4.51.3, its pin; scikit-learn; torch 2.13 CPU), with an
empty stand-in for ``wandb`` on its path (it imports wandb at the top and uses it only with --wandb).
Make that environment with:

    python3 -m venv .venv-official && .venv-official/bin/pip install torch==2.13.0 \\
        && .venv-official/bin/pip install transformers==4.51.3 scikit-learn tqdm

Identical settings on both sides (CPU-sized): RTE, WSC and MNLI (first --mnli-train training examples;
full validation splits) from ../shared/data/eval/babylm_2025/glue_filtered, sequence length 128, 3 epochs
(WSC too), batch size 32, learning rate 3e-5, seeds 42, 43, 44, best validation epoch. The official head
reads the last token with ``--take_final`` and left padding, which is the last real token: the pooling
nestling uses (with right padding). Each task alternates: the official seeds, then nestling's command for
that task's seeds, so load drift on a shared machine hits both alike. Wall-clock is whole processes
(imports included) on both sides; every process gets --threads torch threads.

The model: ``--model DIR``, an exported nestling model folder (``nestling export RUN``; the exported
stream mixer registers AutoModel in its remote code, which the official classifier loads with
trust_remote_code), or by default a tiny random Llama (hidden --hidden, 2 layers, a byte-level BPE trained
on the task texts). Agreement is judged per seed and on the mean.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import mean

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchmarks.official_runs import bench_env  # noqa: E402

SHARED = REPO.parent / "shared"
GLUE = SHARED / "data" / "eval" / "babylm_2025" / "glue_filtered"
STRICT = SHARED / "reference" / "babylm-eval" / "strict"
TASKS = {"rte": (2, ["accuracy", "f1", "mcc"]), "wsc": (2, ["accuracy", "f1", "mcc"]), "mnli": (3, ["accuracy"])}


def make_data(out: Path, limits: dict[tuple[str, str], int | None]) -> Path:
    """The tasks' files, each cut to its first N lines where ``limits[(task, split)]`` says so."""
    out.mkdir(parents=True, exist_ok=True)
    for task in TASKS:
        for split in ("train", "valid"):
            lines = (GLUE / f"{task}.{split}.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
            lines = lines[:limits.get((task, split))]
            (out / f"{task}.{split}.jsonl").write_text("".join(lines), encoding="utf-8")
    return out


def make_model(out: Path, data: Path, hidden: int) -> Path:
    from tests.evaluation.conftest import build_tiny_model

    texts = []
    for f in sorted(data.glob("*.train.jsonl")):
        for line in f.read_text(encoding="utf-8").splitlines()[:1000]:
            texts += [v for v in json.loads(line).values() if isinstance(v, str)]
    build_tiny_model(out, texts, vocab_size=2048, hidden=hidden, layers=2)
    # transformers 5 names its tokenizer class TokenizersBackend; 4.51.3 (the official pin) reads the fast class.
    config = out / "tokenizer_config.json"
    config.write_text(config.read_text().replace('"TokenizersBackend"', '"PreTrainedTokenizerFast"'))
    return out


def run_official(python: str, model: Path, data: Path, task: str, seed: int, out: Path, env: dict) -> dict:
    labels, metrics = TASKS[task]
    cmd = [python, "-m", "evaluation_pipeline.finetune.run", "--model_name_or_path", str(model),
           "--train_data", str(data / f"{task}.train.jsonl"), "--valid_data", str(data / f"{task}.valid.jsonl"),
           "--task", task, "--num_labels", str(labels), "--batch_size", "32", "--learning_rate", "3e-5",
           "--num_epochs", "3", "--sequence_length", "128", "--results_dir", str(out), "--metrics", *metrics,
           "--metric_for_valid", "accuracy", "--seed", str(seed), "--take_final", "--padding_side", "left"]
    subprocess.run(cmd, cwd=STRICT, env=env, check=True, capture_output=True, text=True)
    text = (out / model.stem / "main" / "finetune" / task / "results.txt").read_text()
    return {k: float(v) for k, v in (line.split(": ") for line in text.splitlines())}


def run_nestling(model: Path, data: Path, task: str, seeds: list[int], out: Path, env: dict) -> dict:
    cmd = [sys.executable, "-m", "nestling", "finetune", str(model), "--task", task, "--data", str(data),
           "--seeds", ",".join(map(str, seeds)), "--out", str(out), "--set", "finetune.epochs=3",
           "--set", "finetune.wsc_epochs=3", "--set", "finetune.sequence_length=128"]
    subprocess.run(cmd, env={**env, "PYTHONPATH": str(REPO)}, check=True, capture_output=True, text=True)
    result = json.loads(out.read_text())["finetune"]["revisions"]["main"]["tasks"][task]
    return {int(s): r for s, r in result["seeds"].items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official-python", required=True, help="python of the official code's environment")
    parser.add_argument("--seeds", default="42,43,44")
    parser.add_argument("--mnli-train", type=int, default=2000)
    parser.add_argument("--mnli-valid", type=int, help="first N MNLI validation examples (default all 4,908)")
    parser.add_argument("--rte-train", type=int, help="first N RTE training examples (default all 2,490)")
    parser.add_argument("--model", type=Path, help="an exported model folder (default: a tiny random Llama)")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    # absolute (not resolved: a venv's python is a symlink to the base interpreter): the official code runs
    # from its own folder
    args.official_python = str(Path(args.official_python).absolute())
    env = bench_env(args.threads, TRANSFORMERS_VERBOSITY="error")
    with tempfile.TemporaryDirectory(prefix="bench-finetune-") as tmp:
        tmp = Path(tmp)
        data = make_data(tmp / "data", {("mnli", "train"): args.mnli_train, ("mnli", "valid"): args.mnli_valid,
                                        ("rte", "train"): args.rte_train})
        model = args.model.absolute() if args.model else make_model(tmp / "tiny-llama", data, args.hidden)
        stub = tmp / "stub"
        stub.mkdir()
        (stub / "wandb.py").write_text('"""Stand-in: the official trainer imports wandb; --wandb is off."""\n')
        official_env = {**env, "PYTHONPATH": f"{STRICT}{os.pathsep}{stub}"}
        rows, times = [], {"official": 0.0, "nestling": 0.0}
        for task in TASKS:
            start = time.perf_counter()
            official = {s: run_official(args.official_python, model, data, task, s, tmp / "official", official_env)
                        for s in seeds}
            times["official"] += time.perf_counter() - start
            start = time.perf_counter()
            ours = run_nestling(model, data, task, seeds, tmp / f"nestling-{task}.json", env)
            times["nestling"] += time.perf_counter() - start
            for s in seeds:
                rows.append((task, s, 100 * official[s]["accuracy"], 100 * ours[s]["accuracy"]))
            print(f"{task}: official {[round(100 * official[s]['accuracy'], 2) for s in seeds]} "
                  f"nestling {[round(100 * ours[s]['accuracy'], 2) for s in seeds]}", flush=True)
    print("\n| task | seed | official acc (%) | nestling acc (%) | diff (pp) |\n|---|---:|---:|---:|---:|")
    for task, s, o, n in rows:
        print(f"| {task} | {s} | {o:.2f} | {n:.2f} | {n - o:+.2f} |")
    print("\n| task | official mean (%) | nestling mean (%) | diff (pp) | within 1.5 |\n|---|---:|---:|---:|---|")
    for task in TASKS:
        o = mean(r[2] for r in rows if r[0] == task)
        n = mean(r[3] for r in rows if r[0] == task)
        print(f"| {task} | {o:.2f} | {n:.2f} | {n - o:+.2f} | {'yes' if abs(n - o) <= 1.5 else 'NO'} |")
    print(f"\nwall-clock: official {times['official']:.1f} s, nestling {times['nestling']:.1f} s, "
          f"official / nestling = {times['official'] / times['nestling']:.2f}x")


if __name__ == "__main__":
    main()
