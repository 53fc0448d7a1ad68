"""`nestling tokenizer train`: a byte-level BPE tokenizer for a prepared dataset.

Trained with `tokenizers` on ``DIR/clean/*.txt`` (all languages together; ``balance_languages``
caps every language at the smallest one's bytes), saved to ``DIR/tokenizer/`` as a transformers
``tokenizer.json`` + ``tokenizer_config.json`` so ``AutoTokenizer.from_pretrained(DIR/"tokenizer")``
works unchanged. Like Llama tokenizers it adds BOS in front of every text by default, so a
pipeline that scores a sentence with the tokenizer's defaults scores its first word too.
Byte-level: every UTF-8 string round-trips (no unknown token, no normalizer).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Iterator

from nestling.data import counting
from nestling.data.prepare import format_table, load_ledger
from nestling.errors import UserError
from nestling.files import output_lock, publish_folder, remove_stale_temporaries, temporary_sibling, write_atomic

PAD, BOS, EOS = "<pad>", "<s>", "</s>"
SPECIAL_TOKENS = [PAD, BOS, EOS]
# What a causal LM's forward takes, saved in tokenizer_config.json. Without it transformers 4.x falls back
# to its base default, which includes token_type_ids, and `model.generate(**tokenizer(text, return_tensors="pt"))`
# raises "model_kwargs are not used by the model: ['token_type_ids']" (4.51.3, the strict pipeline's pin).
MODEL_INPUT_NAMES = ["input_ids", "attention_mask"]
# Fertility is measured on a sample of about this many bytes per language: all of a smaller text, else
# SAMPLE_BLOCKS runs of whole lines evenly spaced through it, so every file of the corpus is seen.
FERTILITY_SAMPLE_BYTES = 1 << 20
SAMPLE_BLOCKS = 1024
# Lines longer than this are cut for training only: BPE statistics need no more, and long
# pre-tokens (a Mandarin paragraph has no spaces) make training quadratic.
TRAIN_LINE_CHARS = 2000


def clean_files(dataset_dir: Path) -> dict[str, Path]:
    """``lang -> DIR/clean/<lang>.txt`` in the ledger's order; UserError if a file is missing."""
    ledger = load_ledger(dataset_dir)
    paths = {lang: Path(dataset_dir) / "clean" / f"{lang}.txt" for lang in ledger["languages"]}
    for lang, path in paths.items():
        if not path.is_file():
            raise UserError(f"{path}: missing; the dataset folder is incomplete, prepare it again")
    return paths


def _lines(path: Path, max_bytes: int | None) -> Iterator[str]:
    seen = 0
    with open(path, encoding="utf-8", newline="\n") as f:
        for line in f:
            seen += len(line)
            if max_bytes is not None and seen > max_bytes:
                return
            yield line[:TRAIN_LINE_CHARS].rstrip("\n")


def training_lines(paths: dict[str, Path], balance_languages: bool,
                   max_bytes_per_language: int | None) -> Iterator[str]:
    """All languages' lines, or (balanced) each language capped at the smallest one's bytes."""
    cap = max_bytes_per_language
    if balance_languages:
        smallest = min(p.stat().st_size for p in paths.values())
        cap = smallest if cap is None else min(cap, smallest)
    for path in paths.values():
        yield from _lines(path, cap)


def build_tokenizer(lines: Iterator[str], vocab_size: int):
    """Train a byte-level BPE ``tokenizers.Tokenizer`` with pad/BOS/EOS and a BOS-adding post-processor."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    if vocab_size < 256 + len(SPECIAL_TOKENS):
        smallest = 256 + len(SPECIAL_TOKENS)
        raise UserError(f"--vocab-size {vocab_size} is too small: byte-level BPE needs at least {smallest}")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(lines, trainer)
    bos = tok.token_to_id(BOS)
    tok.post_processor = processors.TemplateProcessing(single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B",
                                                       special_tokens=[(BOS, bos)])
    return tok


def save_tokenizer(tok, out_dir: Path) -> None:
    """Save as a transformers tokenizer folder (no clean-up of spaces: decode is exact).

    The config names the class ``PreTrainedTokenizerFast``, which transformers 4 and 5 both load
    (evaluation pipelines often pin transformers 4); BOS comes from tokenizer.json's post-processor.
    """
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=PAD,
                                   clean_up_tokenization_spaces=False, model_input_names=MODEL_INPUT_NAMES)
    fast.save_pretrained(str(out_dir))
    config_path = Path(out_dir) / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    config["model_input_names"] = MODEL_INPUT_NAMES
    config_path.write_text(json.dumps(config, indent=2) + "\n")


def sample_lines(path: Path, max_bytes: int, blocks: int = SAMPLE_BLOCKS) -> Iterator[str]:
    """Whole lines of ``path``: all of them when it is at most ``max_bytes``, else the lines that start
    inside ``blocks`` byte windows of ``max_bytes / blocks`` evenly spaced through it (a line is taken
    by where it starts, so long and short lines are sampled alike)."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        if size <= max_bytes:
            yield from (raw.decode("utf-8").rstrip("\n") for raw in f)
            return
        for i in range(blocks):
            offset = i * size // blocks
            if offset > f.tell():
                f.seek(offset - 1)
                f.readline()  # on to the start of the next whole line
            while f.tell() < offset + max_bytes // blocks and (raw := f.readline()):
                yield raw.decode("utf-8").rstrip("\n")


def fertility(tok, paths: dict[str, Path], track: str) -> dict[str, dict]:
    """Tokens per word per language on a sample spread through the whole text (``sample_lines``):
    tokens as the shards hold them (document markers included), words counted with the ledger's rule
    (``counting.tokens_per_word``)."""
    report = {}
    for lang, path in paths.items():
        lines = list(sample_lines(path, FERTILITY_SAMPLE_BYTES)) or [""]
        encodings = tok.encode_batch(lines, add_special_tokens=False)
        n_tokens = sum(len(e.ids) + counting.DOCUMENT_MARKERS for e in encodings)
        n_bytes = sum(len(line.encode("utf-8")) + 1 for line in lines)
        ws = sum(len(line.split()) for line in lines)
        words = counting.budget_words(ws, n_bytes, lang, track)
        report[lang] = {"tokens": n_tokens, "words": words, "word_unit": counting.word_unit(lang, track),
                        "fertility": counting.tokens_per_word(n_tokens, words),
                        "bytes_per_token": n_bytes / n_tokens if n_tokens else float("nan"),
                        "sample_lines": len(lines), "sample_bytes": n_bytes, "bytes": path.stat().st_size}
    return report


def corpus_fertility(report: dict[str, dict], ledger: dict) -> float:
    """Tokens per word of the whole corpus: each language's sampled fertility weighted by its words
    in the ledger (the same words the budget counts)."""
    words = {lang: ledger["languages"][lang]["words"] for lang in report}
    total = sum(words.values())
    return sum(report[lang]["fertility"] * words[lang] for lang in report) / total if total else float("nan")


def train_tokenizer(dataset_dir: Path, vocab_size: int, balance_languages: bool = False, *,
                    max_bytes_per_language: int | None = None) -> dict:
    """Train ``dataset_dir/tokenizer/`` on the cleaned text; return fertility per language.

    balance_languages: cap every language at the smallest one's bytes, so a big English corpus
        does not take the whole vocabulary. max_bytes_per_language: train on at most this many
        bytes of each language (None: all of it).
    The result (also in ``dataset_dir/tokenizer_report.json``) is ``{lang: {"fertility" (tokens per
    word), "tokens", "words", "word_unit", "bytes_per_token", "sample_lines", "sample_bytes", "bytes"}}``;
    the file adds ``corpus_tokens_per_word`` (all languages, weighted by the ledger's words).
    """
    dataset_dir = Path(dataset_dir)
    ledger = load_ledger(dataset_dir)
    paths = clean_files(dataset_dir)
    out = dataset_dir / "tokenizer"
    with output_lock(dataset_dir):
        remove_stale_temporaries(dataset_dir, out.name)
        tok = build_tokenizer(training_lines(paths, balance_languages, max_bytes_per_language), vocab_size)
        tmp = temporary_sibling(out)
        try:
            save_tokenizer(tok, tmp)
            publish_folder(tmp, out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        report = fertility(tok, paths, ledger["track"])
        meta = {"vocab_size": tok.get_vocab_size(), "requested_vocab_size": vocab_size,
                "balance_languages": balance_languages, "fertility": report,
                "corpus_tokens_per_word": corpus_fertility(report, ledger)}
        write_atomic(dataset_dir / "tokenizer_report.json", json.dumps(meta, indent=2) + "\n")
    return report


def fertility_table(report: dict) -> str:
    """Per-language fertility table for the CLI."""
    rows = [("lang", "tokens/word", "word unit", "bytes/token", "sample lines")]
    for lang, r in report.items():
        unit = "EWE" if r["word_unit"] == "english_word_equivalent" else "ws"
        rows.append((lang, f"{r['fertility']:.3f}", unit, f"{r['bytes_per_token']:.2f}", f"{r['sample_lines']:,}"))
    return format_table(rows)
