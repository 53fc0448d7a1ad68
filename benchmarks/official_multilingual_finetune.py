"""The multilingual track's official fine-tuning script on an exported nestling model, beside `nestling finetune`.

    .venv/bin/python benchmarks/official_multilingual_finetune.py MODEL_DIR --official-python PY \
        [--task sib200 --lang en --epochs 2]

Runs ``../shared/reference/babylm-eval/multilingual/finetune/finetune_classification.py`` unchanged, with
the arguments of ``multilingual/scripts/finetune_model.sh`` (max_seq_length 128, batch 64, lr 5e-5,
patience 3, seed 12, evaluation and saving every epoch; ``--epochs`` instead of its 10 so it fits a CPU),
on an exported model folder: it loads the model with ``AutoModelForSequenceClassification`` and
``trust_remote_code=True``, which is what ``StreamMixerForSequenceClassification`` and the ``auto_map``
entry are for. Then ``nestling finetune MODEL --task <task>_<lang>`` with the same settings. Prints both
validation accuracies and wall-clocks.

``PY`` is an interpreter whose environment has the script's imports (transformers, datasets, evaluate,
scikit-learn; e.g. a venv with transformers 4.51.3, the strict pin, since the script's
``send_example_telemetry`` import is gone from transformers 5.24). The script calls
``evaluate.load("accuracy")``, which downloads the metric's code from the Hugging Face Hub; this machine
cannot reach the Hub, so a stand-in ``evaluate`` module computing the same accuracy with scikit-learn is
put first on the script's path. Nothing else is changed.
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

REPO = Path(__file__).resolve().parents[1]
MULTILINGUAL = REPO.parent / "shared" / "reference" / "babylm-eval" / "multilingual"
DATA = MULTILINGUAL / "finetune" / "data" / "multilingual"

EVALUATE_STAND_IN = '''"""Stand-in for `evaluate` offline: load("accuracy") computes accuracy with scikit-learn."""
from sklearn.metrics import accuracy_score


class _Accuracy:
    def compute(self, predictions, references):
        return {"accuracy": float(accuracy_score(references, predictions))}


def load(name, *args, **kwargs):
    if name != "accuracy":
        raise ValueError(f"offline stand-in knows only 'accuracy', not {name!r}")
    return _Accuracy()
'''


def run_official(python: str, model: Path, task: str, lang: str, epochs: int, out: Path, env: dict) -> dict:
    files = DATA / lang / task
    cmd = [python, str(MULTILINGUAL / "finetune" / "finetune_classification.py"),
           "--model_name_or_path", str(model), "--language", lang, "--output_dir", str(out),
           "--train_file", str(files / f"{task}_{lang}.train.jsonl"),
           "--validation_file", str(files / f"{task}_{lang}.valid.jsonl"),
           "--do_train", "True", "--do_eval", "--max_seq_length", "128", "--per_device_train_batch_size", "64",
           "--learning_rate", "5e-5", "--num_train_epochs", str(epochs), "--patience", "3",
           "--eval_strategy", "epoch", "--save_strategy", "epoch", "--overwrite_output_dir", "--seed", "12",
           "--report_to", "none", "--use_cpu", "True"]
    done = subprocess.run(cmd, cwd=MULTILINGUAL, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"official script failed:\n{done.stderr[-3000:]}")
    return json.loads((out / "eval_results.json").read_text())


def run_nestling(model: Path, task: str, lang: str, epochs: int, out: Path, env: dict) -> dict:
    cmd = [sys.executable, "-m", "nestling", "finetune", str(model), "--task", f"{task}_{lang}", "--data", str(DATA),
           "--seeds", "12", "--out", str(out), "--set", f"finetune.multilingual.epochs={epochs}"]
    done = subprocess.run(cmd, env={**env, "PYTHONPATH": str(REPO)}, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"nestling finetune failed:\n{done.stderr[-3000:]}")
    tasks = json.loads(out.read_text())["finetune"]["revisions"]["main"]["tasks"]
    return tasks[f"{task}_{lang}"]["seeds"]["12"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="an exported model folder (nestling export RUN --out DIR)")
    parser.add_argument("--official-python", required=True)
    parser.add_argument("--task", default="sib200")
    parser.add_argument("--lang", default="en")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"{DATA}: the official multilingual fine-tuning data is missing (../shared/reference)")
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "TOKENIZERS_PARALLELISM": "false",
           "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error"}
    model = args.model.absolute()
    with tempfile.TemporaryDirectory(prefix="official-ml-finetune-") as tmp:
        tmp = Path(tmp)
        (tmp / "stand_in").mkdir()
        (tmp / "stand_in" / "evaluate.py").write_text(EVALUATE_STAND_IN)
        official_env = {**env, "PYTHONPATH": str(tmp / "stand_in"), "HF_HOME": str(tmp / "hf")}
        start = time.perf_counter()
        official = run_official(str(Path(args.official_python).absolute()), model, args.task, args.lang,
                                args.epochs, tmp / "official", official_env)
        t_official = time.perf_counter() - start
        start = time.perf_counter()
        ours = run_nestling(model, args.task, args.lang, args.epochs, tmp / "nestling.json", env)
        t_nestling = time.perf_counter() - start
    print(f"| side | {args.task}_{args.lang} validation accuracy (%) | wall-clock (s) |\n|---|---:|---:|")
    print(f"| official finetune_classification.py | {100 * official['eval_accuracy']:.2f} | {t_official:.1f} |")
    print(f"| nestling finetune | {100 * ours['accuracy']:.2f} | {t_nestling:.1f} |")


if __name__ == "__main__":
    main()
