"""`nestling data tokenize`: encode the cleaned text into memmapped shards, streaming.

Per language, ``DIR/clean/<lang>.txt`` is read in chunks of lines (never whole), chunks are
encoded in worker processes (one `tokenizers` thread each, so N workers use N cores), and the
main process appends their ids, in order, to ``shards/<lang>/{train,val}.bin``. Each line is one
document written as ``<s> ids </s>``: documents are separated by EOS and every document starts
with BOS, as the tokenizer's default encoding does at evaluation time. Every ``val_every``-th
block of ``VAL_BLOCK_LINES`` consecutive lines goes to the validation slice: spread through the
corpus, yet whole stretches of a conversation, so validation does not score the utterance
right after one it trained on. The whole ``shards/`` folder is built under a temporary name and
renamed at the end.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
from itertools import chain, islice
from pathlib import Path
from typing import Iterator

import numpy as np
from tqdm.auto import tqdm

from nestling.data import counting
from nestling.data.prepare import format_table, load_ledger
from nestling.data.shards import token_dtype, tokenizer_sha256
from nestling.data.tokenizer import BOS, EOS, PAD, clean_files
from nestling.errors import UserError
from nestling.files import check_output, output_lock, publish_folder, remove_stale_temporaries, temporary_sibling

CHUNK_BYTES = 1 << 20
# The smallest validation slice worth a loss probe, when the language has that much text.
MIN_VAL_TOKENS = 8192
MAX_VAL_FRACTION = 0.2
VAL_BLOCK_LINES = 16
# Below this many bytes per language, encode in-process (worker start-up would dominate).
PARALLEL_MIN_BYTES = 8 << 20

_worker_tok = None


def _load_tokenizer(dataset_dir: Path):
    from tokenizers import Tokenizer

    path = Path(dataset_dir) / "tokenizer" / "tokenizer.json"
    if not path.is_file():
        raise UserError(f"{dataset_dir}: no tokenizer/; run `nestling tokenizer train {dataset_dir}` first")
    try:
        tok = Tokenizer.from_file(str(path))
    except Exception as err:  # the tokenizers library raises a bare Exception for every parse error
        raise UserError(f"{path}: not a readable tokenizer ({str(err).splitlines()[0][:200]}); "
                        f"retrain it with `nestling tokenizer train {dataset_dir}`") from None
    missing = [t for t in (PAD, BOS, EOS) if tok.token_to_id(t) is None]
    if missing:
        raise UserError(f"{path}: the tokenizer lacks the special tokens {', '.join(missing)}; "
                        f"retrain it with `nestling tokenizer train {dataset_dir}`")
    return tok


def _init_worker(tokenizer_json: str) -> None:
    global _worker_tok
    from tokenizers import Tokenizer

    # One encoding thread per worker process: the processes are the parallelism.
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    _worker_tok = Tokenizer.from_file(tokenizer_json)


def encode_docs(tok, lines: list[str], bos: int, eos: int, dtype: np.dtype) -> tuple[np.ndarray, int, int]:
    """``(ids, whitespace words, bytes)`` of ``lines`` as documents ``<s> ids </s>``.

    Bytes are UTF-8 bytes with one newline per line, the counting rule's input.
    """
    if not lines:
        return np.zeros(0, dtype=dtype), 0, 0
    ids = [enc.ids for enc in tok.encode_batch(lines, add_special_tokens=False)]
    doc_len = np.fromiter(map(len, ids), np.int64, len(ids)) + counting.DOCUMENT_MARKERS
    ends = np.cumsum(doc_len)
    starts = ends - doc_len
    out = np.empty(int(ends[-1]), dtype=dtype)
    body = np.ones(len(out), dtype=bool)
    body[starts] = body[ends - 1] = False
    out[body] = np.fromiter(chain.from_iterable(ids), dtype=dtype, count=int(ends[-1]) - 2 * len(ids))
    out[starts], out[ends - 1] = bos, eos
    text = "\n".join(lines)
    return out, len(text.split()), len(text.encode("utf-8")) + 1


def encode_chunk(tok, start: int, lines: list[str], val_every: int, bos: int, eos: int, dtype: np.dtype) -> tuple:
    """Encode lines ``start..`` to ``(train_ids, val_ids, train_ws, val_ws, train_bytes, val_bytes)``.

    Line ``i`` (0-based, whole file) is validation when ``is_validation(i, val_every)``.
    ``*_ws`` are whitespace words, ``*_bytes`` UTF-8 bytes incl. the newline (the counting rule's inputs).
    """
    train, val = lines, []
    if val_every:
        held = is_validation(np.arange(start, start + len(lines)), val_every)
        val = [lines[i] for i in np.flatnonzero(held)]
        train = [lines[i] for i in np.flatnonzero(~held)] if val else lines
    train_ids, train_ws, train_bytes = encode_docs(tok, train, bos, eos, dtype)
    val_ids, val_ws, val_bytes = encode_docs(tok, val, bos, eos, dtype)
    return train_ids, val_ids, train_ws, val_ws, train_bytes, val_bytes


def is_validation(line_index, val_every: int):
    """Whether 0-based line ``line_index`` (int or array) of a language is held out for validation."""
    return (line_index // VAL_BLOCK_LINES) % val_every == val_every - 1


def _encode_job(job: tuple) -> tuple:
    start, data, *rest = job
    return encode_chunk(_worker_tok, start, data.decode("utf-8").split("\n"), *rest)


def _chunks(path: Path, chunk_bytes: int) -> Iterator[tuple[int, bytes]]:
    """``(index of first line, bytes of whole lines without the last newline)``, read lazily.

    Bytes, not strings, travel to the workers: one object pickles much faster than a list.
    """
    start, carry = 0, b""
    with open(path, "rb") as f:
        while block := f.read(chunk_bytes):
            data = carry + block
            cut = data.rfind(b"\n")
            if cut < 0:
                carry = data
                continue
            carry = data[cut + 1:]
            yield start, data[:cut]
            start += data.count(b"\n", 0, cut) + 1
    if carry:
        yield start, carry


def choose_val_every(tok, path: Path, val_fraction: float, min_val_tokens: int = MIN_VAL_TOKENS) -> int:
    """Every how many blocks of lines one goes to validation: ``1/val_fraction``, more often if that
    would give fewer than ``min_val_tokens`` (estimated from the first 2,000 lines), never above 20%.
    0 = no validation slice."""
    if val_fraction <= 0:
        return 0
    size = path.stat().st_size
    with open(path, encoding="utf-8", newline="\n") as f:
        sample = list(islice((line.rstrip("\n") for line in f), 2000))
    sample_bytes = sum(len(s.encode("utf-8")) + 1 for s in sample) or 1
    # Single-text encode keeps the parent's thread pool unused, so forked workers are safe.
    sample_tokens = sum(len(tok.encode(s, add_special_tokens=False).ids) + 2 for s in sample)
    est_tokens = size * sample_tokens / sample_bytes
    fraction = min(MAX_VAL_FRACTION, max(val_fraction, min_val_tokens / max(est_tokens, 1)))
    return max(2, round(1 / fraction))


def _encode_language(tok, tokenizer_json: Path, path: Path, out: Path, val_every: int, dtype: np.dtype,
                     workers: int, chunk_bytes: int) -> dict:
    bos, eos = tok.token_to_id(BOS), tok.token_to_id(EOS)
    jobs = ((start, data, val_every, bos, eos, dtype) for start, data in _chunks(path, chunk_bytes))
    totals = np.zeros(6, dtype=np.int64)
    bar = tqdm(total=path.stat().st_size, unit="B", unit_scale=True, desc=f"tokenize {path.stem}", disable=None)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "train.bin", "wb") as train_f, open(out / "val.bin", "wb") as val_f:
        for train, val, *counts in _map(jobs, tok, tokenizer_json, workers, path.stat().st_size):
            train.tofile(train_f)
            val.tofile(val_f)
            totals += [len(train), len(val), *counts]
            bar.update(counts[2] + counts[3])
    bar.close()
    return dict(zip(("train_tokens", "val_tokens", "train_ws", "val_ws", "train_bytes", "val_bytes"), map(int, totals)))


def _map(jobs, tok, tokenizer_json: Path, workers: int, size: int) -> Iterator[tuple]:
    if workers <= 1 or size < PARALLEL_MIN_BYTES:
        for start, data, *rest in jobs:
            yield encode_chunk(tok, start, data.decode("utf-8").split("\n"), *rest)
        return
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    # Workers are forked with TOKENIZERS_PARALLELISM set, so tokenizers neither warns nor
    # oversubscribes; the parent keeps its own setting.
    saved = os.environ.get("TOKENIZERS_PARALLELISM")
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    try:
        pool = multiprocessing.get_context(method).Pool(workers, _init_worker, (str(tokenizer_json),))
    finally:
        if saved is None:
            del os.environ["TOKENIZERS_PARALLELISM"]
        else:
            os.environ["TOKENIZERS_PARALLELISM"] = saved
    with pool:
        # imap keeps file order. Its feeder blocks on the full task pipe, so only a few chunks are
        # read ahead: the corpus is never in memory.
        yield from pool.imap(_encode_job, jobs, chunksize=1)


def tokenize_dataset(dataset_dir: Path, val_fraction: float = 0.01, workers: int | None = None, *,
                     min_val_tokens: int = MIN_VAL_TOKENS, chunk_bytes: int = CHUNK_BYTES) -> dict:
    """Write ``dataset_dir/shards/<lang>/{train,val}.bin`` and ``meta.json``; return ``{lang: meta}``.

    val_fraction: share of lines held out per language (raised so the slice holds about
        ``min_val_tokens`` tokens when the language has enough text, capped at 20%).
    workers: encoding processes (default: all cores; small languages are encoded in-process).
    meta is the schema of docs/architecture.md plus ``pad_token_id``, ``train_bytes``/``val_bytes``,
    ``val_every``, ``val_block_lines`` and ``document_format``; ``train_words``/``val_words``
    (and ``words_per_token`` = train_words / train_tokens, BOS and EOS included) follow the
    ledger's counting rule.
    """
    dataset_dir = Path(dataset_dir)
    ledger = load_ledger(dataset_dir)
    paths = clean_files(dataset_dir)
    tok = _load_tokenizer(dataset_dir)
    tokenizer_json = dataset_dir / "tokenizer" / "tokenizer.json"
    vocab_size = tok.get_vocab_size()
    dtype = token_dtype(vocab_size)
    workers = workers or os.cpu_count() or 1
    metas = {}
    with output_lock(dataset_dir):
        remove_stale_temporaries(dataset_dir, "shards")
        # Token ids take about as many bytes as the text (4 bytes a token in uint16 or 8 in uint32).
        check_output(dataset_dir / "shards", sum(p.stat().st_size for p in paths.values()) * dtype.itemsize // 2,
                     "the shards")
        tmp = temporary_sibling(dataset_dir / "shards")
        try:
            for lang, path in paths.items():
                val_every = choose_val_every(tok, path, val_fraction, min_val_tokens)
                counts = _encode_language(tok, tokenizer_json, path, tmp / lang, val_every, dtype, workers, chunk_bytes)
                metas[lang] = _meta(lang, counts, ledger["track"], tok, vocab_size, dtype, val_every)
                metas[lang]["tokenizer_sha256"] = tokenizer_sha256(dataset_dir)
                (tmp / lang / "meta.json").write_text(json.dumps(metas[lang], indent=2) + "\n")
            publish_folder(tmp, dataset_dir / "shards")
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return metas


def _meta(lang: str, counts: dict, track: str, tok, vocab_size: int, dtype: np.dtype, val_every: int) -> dict:
    train_words = counting.budget_words(counts["train_ws"], counts["train_bytes"], lang, track)
    val_words = counting.budget_words(counts["val_ws"], counts["val_bytes"], lang, track)
    return {
        "lang": lang, "dtype": dtype.name, "vocab_size": vocab_size,
        "eos_token_id": tok.token_to_id(EOS), "bos_token_id": tok.token_to_id(BOS),
        "pad_token_id": tok.token_to_id(PAD),
        "train_tokens": counts["train_tokens"], "val_tokens": counts["val_tokens"],
        "train_words": train_words, "val_words": val_words,
        "words_per_token": train_words / counts["train_tokens"] if counts["train_tokens"] else 0.0,
        "word_unit": counting.word_unit(lang, track),
        "train_bytes": counts["train_bytes"], "val_bytes": counts["val_bytes"], "val_every": val_every,
        "val_block_lines": VAL_BLOCK_LINES,
        "document_format": f"{BOS} ids {EOS}",
    }


def tokenize_table(metas: dict) -> str:
    """Per-language shard table for the CLI."""
    rows = [("lang", "train tokens", "val tokens", "train words", "unit", "tokens/word", "dtype")]
    for lang, m in metas.items():
        unit = "EWE" if m["word_unit"] == "english_word_equivalent" else "ws"
        rows.append((lang, f"{m['train_tokens']:,}", f"{m['val_tokens']:,}", f"{m['train_words']:,.0f}", unit,
                     f"{counting.tokens_per_word(m['train_tokens'], m['train_words']):.3f}", m["dtype"]))
    return format_table(rows)
