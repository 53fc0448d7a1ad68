"""Parity and speed: the official AoA_word code (causal backend) against nestling's strict-full AoA.

    .venv/bin/python benchmarks/bench_aoa_parity.py --official-python .venv-official/bin/python \\
        [--run RUN] [--revisions 6] [--words 100] [--threads 2] [--modes fast,exact] [--reuse-official]

``--modes``: nestling's default (fast path + the words whose fit counts rescored with the official
arithmetic) and/or ``exact`` (``--aoa-exact all``, every row). ``--reuse-official`` keeps a finished
``--work`` folder's official output and recorded time (the official side takes ~21 minutes).

Both sides score the same revisions of one run on the same cdi_childes.json / cdi_human.csv
fixture (tests/evaluation/aoa_fixtures.py, the official formats; ``--words 401`` gives the real
file's 8,005 rows):

- official: ``StepSurprisalExtractor.analyze_steps`` + ``run.save_results`` (AoA_word, run from
  ``../shared/reference/babylm-eval/strict`` under ``--official-python``, a venv with its
  transformers 4.51.3 pin), then ``utils.AoAEvaluator.compute_curve_fitness``. The official code
  loads each step with ``from_pretrained(model_name, revision=step)``, which only means something
  on the Hub: for a local folder transformers ignores ``revision``. The driver below therefore
  points ``model_name`` at ``RUN/checkpoints/<step>`` while the official loader runs (what the Hub
  branch would give), and keeps to the steps the run has (as ``--resume`` skips steps); nothing
  else of the official code is changed;
- nestling: ``nestling eval RUN --suite strict-full --eval-root ROOT`` (ROOT holds only
  full_eval/aoa, so AoA is all it scores).

Reported per mode: rows bit-identical and the largest per-row surprisal difference (rows matched by
step, word and context id; must be < 1e-4), the final scores, the official evaluator's score of
nestling's rows under ``--official-python`` (must equal the official score: the last ulp follows the
scipy/numpy versions), and each side's whole-command wall-clock (process start, model loads,
scoring, fitting) with the ratio official / nestling.

Without ``--run``, a demo-llama-shaped model (bench_eval.build_bench_model's shape) is trained on UD
English and saved every ``--steps-per-revision`` steps as chck_1M, chck_2M, ... so the
surprisals fall along a real learning curve.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.official_runs import bench_env, timed_run  # noqa: E402

SHARED = REPO.parent / "shared"
OFFICIAL = SHARED / "reference" / "babylm-eval" / "strict"

DRIVER = r'''
import json, pathlib, sys, time
sys.path.insert(0, str(pathlib.Path.cwd() / "evaluation_pipeline"))
from evaluation_pipeline.AoA_word import run as official_run
from evaluation_pipeline.AoA_word.eval_util import StepConfig, load_eval
from evaluation_pipeline.AoA_word.evaluation_functions import StepSurprisalExtractor
from utils import AoAEvaluator

run_dir, word_path, human, out = map(pathlib.Path, sys.argv[1:5])


class LocalRevisions(StepSurprisalExtractor):
    """revision=<step> as the Hub would serve it: the official loaders run on RUN/checkpoints/<step>."""

    def _at(self, step, load):
        name, self.model_name = self.model_name, str(run_dir / "checkpoints" / step)
        try:
            return load(step)
        finally:
            self.model_name = name

    def load_model_for_step(self, step):
        return self._at(step, super().load_model_for_step)

    def load_tokenizer_for_step(self, step):
        return self._at(step, super().load_tokenizer_for_step)


words, contexts = load_eval(word_path, 0, False)
config = StepConfig(track="strict")
kept = [(s, w) for s, w in zip(config.steps, config.word_counts) if (run_dir / "checkpoints" / s).is_dir()]
config.steps, config.word_counts = [s for s, _ in kept], [w for _, w in kept]
extractor = LocalRevisions(config=config, model_name=str(run_dir), backend="causal", device="cpu")
results = extractor.analyze_steps(contexts=contexts, target_words=words)
official_run.save_results(results, out / "surprisal.json")
fitness = AoAEvaluator(human).compute_curve_fitness(results)
(out / "score.json").write_text(json.dumps({"score": fitness["curve_fitness"], "n_words": fitness["n_words"]}))
'''

# The official evaluator on a surprisal.json, in the official venv (its scipy/numpy): the last ulp of
# the score depends on those versions, so "identical" is checked with the same ones.
SCORE_DRIVER = r'''
import json, pathlib, sys
sys.path.insert(0, str(pathlib.Path.cwd() / "evaluation_pipeline"))
from utils import AoAEvaluator
rows = json.loads(pathlib.Path(sys.argv[1]).read_text())
print(repr(AoAEvaluator(sys.argv[2]).compute_curve_fitness(rows)["curve_fitness"]))
'''


def build_learning_run(run: Path, text_file: Path, revisions: list[str], steps_per_revision: int) -> Path:
    """Train the bench model, saving it every ``steps_per_revision`` steps as the next revision."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from nestling.data.tokenizer import save_tokenizer
    from nestling.run_folder import revision_words
    from tests.evaluation.conftest import build_tiny_model

    base = run / "base"
    lines = [line.strip() for line in text_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    build_tiny_model(base, lines, vocab_size=4096, hidden=128, layers=4, intermediate=448, tie=True)
    model = AutoModelForCausalLM.from_pretrained(base)
    with torch.no_grad():
        model.apply(model._init_weights)
    tokenizer = AutoTokenizer.from_pretrained(base)
    data = torch.tensor([i for line in tokenizer(lines)["input_ids"] for i in line])
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    gen = torch.Generator().manual_seed(0)
    for rev in revisions:
        model.train()
        for _ in range(steps_per_revision):
            starts = torch.randint(0, len(data) - 65, (32,), generator=gen)
            batch = torch.stack([data[s: s + 64] for s in starts])
            model(input_ids=batch, labels=batch).loss.backward()
            opt.step()
            opt.zero_grad()
        dest = run / "checkpoints" / rev
        model.eval().save_pretrained(dest)
        save_tokenizer(tokenizer.backend_tokenizer, dest)  # as a nestling run saves it (loads in transformers 4 and 5)
        (dest / "checkpoint.json").write_text(json.dumps({"words_seen": int(revision_words(rev))}))
    shutil.copytree(dest, run / "final")
    shutil.rmtree(base)
    return run


def compare(official: dict, ours: dict) -> tuple[float, int, int]:
    """(max |surprisal difference|, rows matched, rows bit-identical); every row must have a partner."""
    key = lambda r: (r["step"], r["target_word"], r["context_id"])  # noqa: E731
    theirs = {key(r): r["surprisal"] for r in official["results"]}
    mine = {key(r): r["surprisal"] for r in ours["results"]}
    if theirs.keys() != mine.keys():
        sys.exit(f"row sets differ: {len(theirs)} official, {len(mine)} nestling")
    return (max(abs(theirs[k] - mine[k]) for k in theirs), len(theirs), sum(theirs[k] == mine[k] for k in theirs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official-python", default=sys.executable)
    parser.add_argument("--run", type=Path, help="a run folder with checkpoints/chck_* (default: train one)")
    parser.add_argument("--revisions", type=int, default=6, help="revisions of the trained run")
    parser.add_argument("--steps-per-revision", type=int, default=25)
    parser.add_argument("--words", type=int, default=100, help="fixture words x 20 contexts (401: 8,005 rows)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work", type=Path)
    parser.add_argument("--compare-only", action="store_true",
                        help="re-read a finished --work folder (its timings.json) instead of running both sides")
    parser.add_argument("--reuse-official", action="store_true",
                        help="keep --work's official/ output and its recorded official_s; run only nestling")
    parser.add_argument("--exact-revision", help="only check the official arithmetic on every row of this revision "
                        "against --work's official file (bit-identical rows, time), without a whole nestling run")
    parser.add_argument("--modes", default="fast", help="nestling runs, comma-separated: fast (the default "
                        "rescue: fast path + the words whose fit counts rescored exactly), exact (--aoa-exact)")
    args = parser.parse_args()
    if os.sep in args.official_python:  # the official side runs in the reference folder
        args.official_python = str(Path(args.official_python).absolute())

    from nestling.run_folder import milestone_names
    from tests.evaluation.aoa_fixtures import build_aoa_root

    work = args.work or Path(tempfile.mkdtemp(prefix="bench_aoa_"))
    root = build_aoa_root(work / "evaluation_data", n_words=args.words, last_word_contexts=5)
    aoa = root / "full_eval" / "aoa"
    run = args.run or build_learning_run(work / "benchrun", SHARED / "data" / "corpora" / "ud_text" / "en_ewt_all.txt",
                                         milestone_names()[: args.revisions], args.steps_per_revision)
    env = bench_env(args.threads)
    out_official, sub = work / "official", work / "nestling"
    timings = work / "timings.json"
    if args.exact_revision:
        return exact_revision(work, run, aoa / "cdi_childes.json", args.exact_revision)
    recorded = json.loads(timings.read_text()) if timings.is_file() else {}
    modes = args.modes.split(",")
    if not args.compare_only:
        if not args.reuse_official:
            out_official.mkdir(exist_ok=True)
            recorded["official_s"] = timed_run([args.official_python, "-c", DRIVER, str(run), str(aoa / "cdi_childes.json"),
                                            str(aoa / "cdi_human.csv"), str(out_official)], OFFICIAL, env)
        for mode in modes:
            flags = ["--aoa-exact", "all"] if mode == "exact" else []
            recorded[f"nestling_{mode}_s"] = timed_run(
                [sys.executable, "-m", "nestling", "eval", str(run), "--suite", "strict-full", "--eval-root", str(root),
                 "--submission", str(sub / mode), "--out", str(work / f"results-{mode}.json"), "--device", "cpu",
                 "--trust-remote-code", *flags], REPO, {**env, "PYTHONPATH": str(REPO)})
            timings.write_text(json.dumps(recorded))
    report(work, run, aoa / "cdi_human.csv", recorded, modes, args.official_python)


def exact_revision(work: Path, run: Path, contexts: Path, revision: str) -> None:
    """Every row of one revision with `official_surprisal`: rows bit-identical to the official file, time."""
    from nestling.evaluation.aoa import exact_word_surprisals, load_contexts
    from nestling.evaluation.evaluate import load_model

    official = json.loads((work / "official" / "surprisal.json").read_text())["results"]
    theirs = {(r["target_word"], r["context_id"]): r["surprisal"] for r in official if r["step"] == revision}
    words = load_contexts(contexts)
    start = time.perf_counter()
    model, tokenizer = load_model(run / "checkpoints" / revision, device="cpu", trust_remote_code=True)
    values = exact_word_surprisals(model, tokenizer, words)
    seconds = time.perf_counter() - start
    keys = [(word, n) for word, found in words for n in range(len(found))]
    same = sum(theirs[k] == v for k, v in zip(keys, values))
    diff = max(abs(theirs[k] - v) for k, v in zip(keys, values))
    print(f"{revision}: {same}/{len(keys)} rows bit-identical, max abs diff {diff:.3g} nats, "
          f"{seconds:.1f} s (load + rows)")


def official_score_of(official_python: str, surprisal: Path, human: Path) -> float:
    """The official evaluator's score of a surprisal.json, run under ``official_python``."""
    proc = subprocess.run([official_python, "-c", SCORE_DRIVER, str(surprisal.absolute()), str(human.absolute())],
                          cwd=OFFICIAL, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"official evaluator failed:\n{proc.stderr[-3000:]}")
    return float(proc.stdout.strip().splitlines()[-1])


def report(work: Path, run: Path, human: Path, timings: dict, modes: list[str], official_python: str) -> None:
    """Print the parity table, one line per nestling mode; exit non-zero when parity fails."""
    from nestling.evaluation.aoa import aoa_score, read_human

    official = json.loads((work / "official" / "surprisal.json").read_text())
    theirs = json.loads((work / "official" / "score.json").read_text())
    # The score function alone: nestling's fit on the official surprisals.
    cross = aoa_score(official["results"], read_human(human))["score"]
    t_official = timings["official_s"]
    print(f"official: score {theirs['score']!r} ({theirs['n_words']} words), {t_official:.1f} s; nestling's fit on "
          f"the official surprisals: {cross!r}")
    print("| nestling mode | rows | rows bit-identical | max abs Δ surprisal (nats) | rows rescored exactly (words) | "
          "nestling score (r, words) | official evaluator on nestling's rows (official venv) | identical to official | "
          "nestling s | official / nestling |")
    print("|---|---:|---:|---:|---:|---|---|---|---:|---:|")
    failed = abs(cross - theirs["score"]) > 1e-12
    for mode in modes:
        path = work / "nestling" / mode / run.name / "main" / "zero_shot" / "causal" / "AoA_word" / "surprisal.json"
        ours = json.loads(path.read_text())
        same_venv = official_score_of(official_python, path, human)
        diff, n_rows, same = compare(official, ours)
        mine = json.loads((work / f"results-{mode}.json").read_text())["aoa"]
        exact = mine.get("exact") or {}
        t_mode = timings[f"nestling_{mode}_s"]
        print(f"| {mode} | {n_rows} | {same} | {diff:.2e} | {exact.get('rows', 0)} ({exact.get('words', 0)}) | "
              f"{mine['score']!r} ({mine['n_words']}) | {same_venv!r} | {same_venv == theirs['score']} | "
              f"{t_mode:.1f} | "
              f"{t_official / t_mode:.1f}x |")
        failed |= diff >= 1e-4 or abs(mine["score"] - theirs["score"]) > 1e-12 or same_venv != theirs["score"]
    if failed:
        sys.exit("parity FAILED")


if __name__ == "__main__":
    main()
