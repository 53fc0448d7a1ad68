"""Tokenized shards: flat memmapped token ids per language, read by the trainer as slices.

Layout (see docs/architecture.md): ``DIR/shards/<lang>/{train,val}.bin`` plus ``meta.json``.
Documents are separated by the EOS id. This module holds the on-disk format only; encoding text
into shards lives in ``nestling.data.tokenize``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nestling.errors import UserError


def token_dtype(vocab_size: int) -> np.dtype:
    """uint16 holds ids below 65,536 (half the disk and page cache of uint32)."""
    return np.dtype(np.uint16) if vocab_size <= 65536 else np.dtype(np.uint32)


@dataclass
class LanguageShards:
    """One language's prepared tokens: read-only memmaps and their metadata."""

    lang: str
    train: np.ndarray
    val: np.ndarray
    meta: dict

    @property
    def words_per_token(self) -> float:
        return float(self.meta["words_per_token"])


def shard_dir(dataset_dir: Path, lang: str) -> Path:
    """``dataset_dir/shards/<lang>``."""
    return Path(dataset_dir) / "shards" / lang


def write_meta(dataset_dir: Path, lang: str, meta: dict) -> None:
    """Write ``shards/<lang>/meta.json`` (the schema in docs/architecture.md)."""
    path = shard_dir(dataset_dir, lang) / "meta.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")


def write_tokens(path: Path, ids: np.ndarray, dtype: np.dtype) -> None:
    """Write a whole id array (small data and tests); large data streams through nestling.data.tokenize."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.asarray(ids, dtype=dtype).tofile(path)


def _open(path: Path, dtype: np.dtype) -> np.ndarray:
    """Read-only memmap; an empty file (a language too small for a validation line) cannot be
    mapped, so it becomes an empty array."""
    if not path.is_file():
        raise UserError(f"{path}: missing; run `nestling data tokenize` again")
    if path.stat().st_size == 0:
        return np.zeros(0, dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="r")


def tokenizer_sha256(dataset_dir: Path) -> str | None:
    """sha256 of ``tokenizer/tokenizer.json``: shards record the tokenizer they were made with."""
    path = Path(dataset_dir) / "tokenizer" / "tokenizer.json"
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def _check_tokenizer(dataset_dir: Path, lang: str, meta: dict) -> None:
    made_with = meta.get("tokenizer_sha256")  # absent in shards written before it was recorded
    if made_with is not None and made_with != tokenizer_sha256(dataset_dir):
        raise UserError(f"{shard_dir(dataset_dir, lang) / 'meta.json'}: the shards were made with another tokenizer "
                        f"than {Path(dataset_dir) / 'tokenizer'} (retrained since?); run "
                        f"`nestling data tokenize {dataset_dir}` again")


def load_shards(dataset_dir: str | Path, langs: list[str] | None = None) -> dict[str, LanguageShards]:
    """Open every language's shards under ``dataset_dir/shards`` (or just ``langs``)."""
    root = Path(dataset_dir) / "shards"
    if not root.is_dir():
        raise UserError(f"{dataset_dir}: no shards/ folder; run `nestling data tokenize {dataset_dir}` first")
    available = sorted(p.name for p in root.iterdir() if (p / "meta.json").is_file())
    wanted = langs or available
    missing = [lang for lang in wanted if lang not in available]
    if missing:
        raise UserError(f"{dataset_dir}: no shards for {', '.join(missing)} (have: {', '.join(available) or 'none'})")
    shards = {}
    for lang in wanted:
        folder = root / lang
        meta = json.loads((folder / "meta.json").read_text())
        _check_tokenizer(dataset_dir, lang, meta)
        dtype = np.dtype(meta["dtype"])
        shards[lang] = LanguageShards(lang=lang, train=_open(folder / "train.bin", dtype),
                                      val=_open(folder / "val.bin", dtype), meta=meta)
    return shards
