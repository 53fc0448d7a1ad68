"""Tiny prepared datasets and recipes for the trainer tests (no shared data needed).

The synthetic language is learnable: documents are arithmetic progressions mod 50 over ids 3..52
(step 1, 2, 3 or 5), separated by EOS. After two tokens of a document the next one is determined, so
a tiny model's loss falls far below log(vocab).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np

from nestling.data.shards import token_dtype, write_meta, write_tokens

VOCAB = 64
BOS, EOS, PAD = 0, 1, 2


def synthetic_tokens(n: int, seed: int) -> np.ndarray:
    """``n`` token ids: EOS-separated arithmetic progressions mod 50 (ids 3..52)."""
    rng = np.random.default_rng(seed)
    out: list[int] = []
    while len(out) < n:
        start, step, length = rng.integers(50), rng.choice([1, 2, 3, 5]), rng.integers(6, 30)
        out.extend(3 + (start + step * np.arange(length)) % 50)
        out.append(EOS)
    return np.asarray(out[:n])


def write_tokenizer(folder: Path) -> None:
    """A WordLevel tokenizer over "<s> </s> <pad> t3..t63", saved as a transformers tokenizer folder."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<s>": BOS, "</s>": EOS, "<pad>": PAD, **{f"t{i}": i for i in range(3, VOCAB)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<pad>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    fast.save_pretrained(folder)


def make_dataset(root: Path, langs=("eng",), train_tokens=6000, val_tokens=1200, words_per_token=0.75) -> Path:
    """A prepared dataset folder: shards/<lang>/{train,val}.bin + meta.json, tokenizer/, ledger.json."""
    dtype = token_dtype(VOCAB)
    for i, lang in enumerate(langs):
        folder = root / "shards" / lang
        write_tokens(folder / "train.bin", synthetic_tokens(train_tokens, seed=10 + i), dtype)
        write_tokens(folder / "val.bin", synthetic_tokens(val_tokens, seed=100 + i), dtype)
        write_meta(root, lang, {
            "lang": lang, "dtype": dtype.name, "vocab_size": VOCAB, "eos_token_id": EOS, "bos_token_id": BOS,
            "train_tokens": train_tokens, "val_tokens": val_tokens,
            "train_words": int(train_tokens * words_per_token), "val_words": int(val_tokens * words_per_token),
            "words_per_token": words_per_token, "word_unit": "whitespace",
        })
    write_tokenizer(root / "tokenizer")
    (root / "ledger.json").write_text(json.dumps({"track": "strict-small", "languages": {}}) + "\n")
    return root


TINY_LLAMA = {"arch": "llama", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
              "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 64}

STREAM_MIXER = {"arch": "stream_mixer", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                "attention_layers": [1], "n_streams": 4, "stream_dim": 8, "n_read_heads": 2, "num_attention_heads": 2,
                "head_dim": 16, "chunk_size": 8, "max_position_embeddings": 64}

BASE_RECIPE = {
    "name": "tiny", "method": "test", "seed": 0,
    "run": {"out_root": "runs", "device": "cpu", "precision": "auto", "compile": False, "log_every": 1,
            "eval_every": 10, "val_tokens": 512, "tensorboard": False, "progress": False, "max_bad_steps": 3},
    "data": {"dir": None},
    "model": TINY_LLAMA,
    "mixing": {"method": "uniform", "mix_interval": 5, "probe_tokens": 256},
    "optimizer": {"name": "muon_adamw", "muon_lr": 2e-2, "adamw_lr": 1e-2, "weight_decay": 0.1, "betas": [0.9, 0.95],
                  "eps": 1e-8, "muon_momentum": 0.95, "adjust_lr_fn": "match_rms_adamw", "grad_clip": 1.0},
    "schedule": {"name": "wsd", "warmup_fraction": 0.1, "decay_fraction": 0.2, "decay_type": "linear", "min_lr_ratio": 0.0},
    "budget": {"epochs": 10, "max_steps": 12, "max_tokens": None, "max_epochs": 10, "allow_over_epochs": False},
    "batch": {"global_batch": 8, "seq_len": 32, "micro_batch": 4},
    "checkpoints": {"milestone_scale": 1e-5, "keep_last": 2, "state_every": 4},
}


def recipe(data_dir: Path, **sections):
    """BASE_RECIPE on ``data_dir`` with sections updated, loaded: recipe(d, run={"log_every": 2})."""
    from nestling.recipe import load_recipe

    r = copy.deepcopy(BASE_RECIPE)
    r["data"]["dir"] = str(data_dir)
    for key, value in sections.items():
        if isinstance(value, dict) and key != "model":  # a model section replaces the whole section
            r[key].update(value)
        else:
            r[key] = value
    return load_recipe(r)
