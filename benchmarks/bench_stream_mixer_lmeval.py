"""lm-evaluation-harness loads and scores a saved Hybrid Stream Mixer folder (trust_remote_code).

    python benchmarks/bench_stream_mixer_lmeval.py [--pairs N] [--keep DIR]

Builds a tiny hybrid with its own byte-level BPE tokenizer, saves it, writes a local BLiMP-style
multiple-choice task (from ../shared/data/eval/blimp when present, else a handful of built-in pairs) and runs
``lm_eval --model hf --model_args pretrained=DIR,trust_remote_code=True`` on it, offline. It then checks that
lm-eval's accuracy equals the one computed directly from the model's sentence log-probabilities. Not a test:
lm-eval takes tens of seconds to import. Requires ``pip install lm-eval`` (not a nestling dependency).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from nestling.models.stream_mixer import StreamMixerConfig, StreamMixerForCausalLM

BLIMP = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "eval" / "blimp" / "data"
FALLBACK = [("the cat is sleeping", "the cat are sleeping"), ("a dog runs home", "a dog run home"),
            ("they were happy", "they was happy"), ("she has eaten", "she have eaten")]

TASK_YAML = """task: nestling_pairs_local
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: ""
doc_to_target: 0
doc_to_choice: "{{{{[sentence_good, sentence_bad]}}}}"
metric_list:
  - metric: acc
"""


def load_pairs(n: int) -> list[tuple[str, str]]:
    files = sorted(BLIMP.glob("*.jsonl")) if BLIMP.is_dir() else []
    if not files:
        print(f"(no BLiMP at {BLIMP}: using {len(FALLBACK)} built-in pairs)")
        return FALLBACK
    rows = [json.loads(line) for line in files[0].read_text().splitlines()[:n]]
    print(f"pairs: first {len(rows)} of {files[0].name}")
    return [(r["sentence_good"], r["sentence_bad"]) for r in rows]


def save_model(folder: Path, texts: list[str]) -> tuple[StreamMixerForCausalLM, object]:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=500, special_tokens=["<pad>", "<s>", "</s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", bos_token="<s>", eos_token="</s>")
    fast.save_pretrained(folder)
    torch.manual_seed(0)
    cfg = StreamMixerConfig(vocab_size=len(fast), hidden_size=64, intermediate_size=128, num_hidden_layers=4,
                            attention_layers=[2], n_streams=8, stream_dim=16, n_read_heads=2, num_attention_heads=2,
                            head_dim=32, bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id,
                            pad_token_id=fast.pad_token_id)
    model = StreamMixerForCausalLM(cfg).eval()
    model.save_pretrained(folder)
    return model, fast


@torch.no_grad()
def direct_accuracy(model, tok, pairs) -> float:
    """Fraction of pairs whose good sentence has the higher log-probability, each scored after the BOS token
    (lm-eval's hf model scores an empty-context continuation " sentence" after its prefix token, BOS here)."""
    def logp(sentence):
        x = torch.tensor([[tok.bos_token_id] + tok(" " + sentence)["input_ids"]])
        return model(x).logits.log_softmax(-1)[0, :-1].gather(-1, x[0, 1:, None]).sum().item()

    return sum(logp(g) > logp(b) for g, b in pairs) / len(pairs)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pairs", type=int, default=40)
    p.add_argument("--keep", type=Path, help="write the model and task here instead of a temporary folder")
    args = p.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="nestling_lmeval_"))
    root.mkdir(parents=True, exist_ok=True)
    pairs = load_pairs(args.pairs)
    model, tok = save_model(root / "model", [s for pair in pairs for s in pair] * 5)
    data = root / "pairs.jsonl"
    data.write_text("".join(json.dumps({"sentence_good": g, "sentence_bad": b}) + "\n" for g, b in pairs))
    (root / "tasks").mkdir(exist_ok=True)
    (root / "tasks" / "nestling_pairs_local.yaml").write_text(TASK_YAML.format(data=data))
    cmd = [sys.executable, "-m", "lm_eval", "--model", "hf",
           "--model_args", f"pretrained={root / 'model'},trust_remote_code=True",
           "--tasks", "nestling_pairs_local", "--include_path", str(root / "tasks"), "--device", "cpu",
           "--batch_size", "8", "--output_path", str(root / "out")]
    print("$", " ".join(cmd))
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=root)
    print(done.stdout[-1500:])
    if done.returncode:
        sys.exit(f"lm-eval failed:\n{done.stderr[-3000:]}")
    result = json.loads(next((root / "out").rglob("results*.json")).read_text())
    acc = result["results"]["nestling_pairs_local"]["acc,none"]
    direct = direct_accuracy(model, tok, pairs)
    print(f"lm-eval acc={acc:.4f} direct acc={direct:.4f} {'MATCH' if abs(acc - direct) < 1e-9 else 'DIFFER'}")


if __name__ == "__main__":
    main()
