"""A tiny causal LM built in the test: LlamaForCausalLM + byte-level BPE tokenizer adding BOS."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

FALLBACK_SENTENCES = [
    "The cat sat on the mat.", "A dog barked at the mailman.", "Many children like to read books.",
    "De kat zat op de mat.", "Het kind leest een boek.", "我们喜欢读书。", "她把杯子打碎了。",
    "Who cleaned?\nDavid cleaned.", "Box 1 contains the hat and the map.",
]


def training_sentences(shared: Path | None, n_per_file: int = 20) -> list[str]:
    """A few hundred sentences (English, Dutch, Mandarin) for the tokenizer; fallback when no data."""
    sentences = list(FALLBACK_SENTENCES)
    if shared is None:
        return sentences * 10
    files = sorted((shared / "eval" / "blimp" / "data").glob("*.jsonl"))[:12]
    files += [shared / "eval" / "blimp_nl" / "blimp-nl.jsonl"]
    files += sorted((shared / "eval" / "zhoblimp" / "data").glob("*.jsonl"))[:4]
    for file in files:
        with open(file, encoding="utf-8") as f:
            for _, line in zip(range(n_per_file), f):
                sentences.append(json.loads(line)["sentence_good"])
    return sentences


def build_tiny_model(out_dir: Path, sentences: list[str], *, vocab_size: int = 400, hidden: int = 32,
                     layers: int = 2, intermediate: int | None = None, tie: bool = False, seed: int = 0) -> Path:
    """Save a tiny random LlamaForCausalLM and its BPE tokenizer (BOS added by default) to out_dir."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<pad>", "<s>", "</s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(sentences, trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", tok.token_to_id("<s>"))])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=tok.get_vocab_size(), hidden_size=hidden,
                         intermediate_size=intermediate or 2 * hidden,
                         num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=4,
                         max_position_embeddings=1024, bos_token_id=1, eos_token_id=2, pad_token_id=0,
                         tie_word_embeddings=tie)
    model = LlamaForCausalLM(config)
    # Larger weights than the init default so scores differ clearly between sentences.
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 2:
                p.normal_(0, 0.3)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    fast.save_pretrained(out_dir)
    return out_dir


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    from tests.conftest import shared_data_dir

    shared = shared_data_dir()
    sentences = training_sentences(shared if shared.is_dir() else None)
    return build_tiny_model(tmp_path_factory.mktemp("tiny_lm"), sentences)


@pytest.fixture(scope="session")
def tiny_model(tiny_model_dir):
    from nestling.evaluation.evaluate import load_model

    return load_model(tiny_model_dir, device="cpu")
