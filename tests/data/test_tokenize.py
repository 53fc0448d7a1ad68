"""Shards: EOS-separated documents, dtype, validation slice and meta numbers."""

import json

import numpy as np
import pytest

from nestling.data import counting, tokenize
from nestling.data.shards import load_shards, tokenizer_sha256
from nestling.data.tokenize import is_validation, tokenize_dataset, tokenize_table
from nestling.errors import UserError


@pytest.fixture(scope="module")
def shards(tiny_dataset):
    dataset = tiny_dataset[0]
    metas = tokenize_dataset(dataset, val_fraction=0.1, min_val_tokens=0)
    return dataset, metas


def test_meta_follows_the_contract(shards):
    dataset, metas = shards
    loaded = load_shards(dataset)
    assert set(loaded) == {"eng", "nld", "zho"}
    for lang, meta in metas.items():
        assert json.loads((dataset / "shards" / lang / "meta.json").read_text()) == meta == loaded[lang].meta
        assert {"lang", "dtype", "vocab_size", "eos_token_id", "bos_token_id", "train_tokens", "val_tokens",
                "train_words", "val_words", "words_per_token", "word_unit"} <= set(meta)
        assert meta["dtype"] == "uint16" and loaded[lang].train.dtype == np.uint16
        assert len(loaded[lang].train) == meta["train_tokens"] and len(loaded[lang].val) == meta["val_tokens"]
        assert meta["words_per_token"] == pytest.approx(meta["train_words"] / meta["train_tokens"])
        assert meta["word_unit"] == counting.word_unit(lang, "strict-small")
        assert meta["tokenizer_sha256"] == tokenizer_sha256(dataset)  # a retrained tokenizer is refused
    assert "tokens/word" in tokenize_table(metas)


def test_tokenizer_and_shards_report_one_fertility(shards, tiny_dataset):
    """`tokenizer train` (on its sample, here the whole text) and `data tokenize` report the same quantity."""
    _, metas = shards
    _, fertility = tiny_dataset
    for lang, meta in metas.items():
        on_shards = counting.tokens_per_word(meta["train_tokens"], meta["train_words"])
        assert fertility[lang]["fertility"] == pytest.approx(on_shards, rel=0.05), lang
        assert on_shards == pytest.approx(1 / meta["words_per_token"])


def test_documents_are_bos_ids_eos_and_decode_to_the_clean_lines(shards, tiny_dataset):
    from tokenizers import Tokenizer

    dataset, metas = shards
    tok = Tokenizer.from_file(str(dataset / "tokenizer" / "tokenizer.json"))
    for lang in ("eng", "zho"):
        meta, arr = metas[lang], load_shards(dataset, [lang])[lang]
        lines = (dataset / "clean" / f"{lang}.txt").read_text(encoding="utf-8").splitlines()
        every = meta["val_every"]
        val_lines = [line for i, line in enumerate(lines) if is_validation(i, every)]
        train_lines = [line for i, line in enumerate(lines) if not is_validation(i, every)]
        assert len(val_lines) >= tokenize.VAL_BLOCK_LINES
        for ids, expected in ((arr.train, train_lines), (arr.val, val_lines)):
            ids = np.asarray(ids)
            eos = np.flatnonzero(ids == meta["eos_token_id"])
            assert len(eos) == len(expected) and eos[-1] == len(ids) - 1
            docs = np.split(ids, eos[:-1] + 1)
            assert all(d[0] == meta["bos_token_id"] for d in docs)
            assert [tok.decode(d[1:-1].tolist()) for d in docs[:20]] == expected[:20]
        words = sum(len(line.split()) for line in train_lines)
        n_bytes = sum(len(line.encode()) + 1 for line in train_lines)
        assert meta["train_words"] == pytest.approx(counting.budget_words(words, n_bytes, lang, "strict-small"))


def test_parallel_encoding_matches_serial(shards, tmp_path, monkeypatch):
    dataset, metas = shards
    serial = {lang: (dataset / "shards" / lang / "train.bin").read_bytes() for lang in metas}
    monkeypatch.setattr(tokenize, "PARALLEL_MIN_BYTES", 0)
    parallel = tokenize_dataset(dataset, val_fraction=0.1, min_val_tokens=0, workers=2, chunk_bytes=4096)
    assert parallel == metas
    assert {lang: (dataset / "shards" / lang / "train.bin").read_bytes() for lang in metas} == serial


def test_validation_slice_grows_to_the_minimum(shards):
    dataset, _ = shards
    metas = tokenize_dataset(dataset, val_fraction=0.001, min_val_tokens=2000)
    for meta in metas.values():
        assert meta["val_tokens"] >= 1000 and meta["val_every"] >= 5


def test_needs_a_tokenizer(tmp_path):
    (tmp_path / "clean").mkdir()
    (tmp_path / "clean" / "eng.txt").write_text("hi\n")
    (tmp_path / "ledger.json").write_text(json.dumps({"track": "strict", "languages": {"eng": {}}}))
    with pytest.raises(UserError, match="nestling tokenizer train"):
        tokenize_dataset(tmp_path)
    assert not (tmp_path / "shards").exists()


def test_uint32_when_the_vocabulary_needs_it():
    from nestling.data.shards import token_dtype

    assert token_dtype(16384) == np.uint16 and token_dtype(70000) == np.uint32


def test_empty_validation_slice_loads(tmp_path):
    from nestling.data.shards import load_shards, write_meta, write_tokens

    write_tokens(tmp_path / "shards" / "eng" / "train.bin", np.array([1, 5, 2]), np.dtype(np.uint16))
    write_tokens(tmp_path / "shards" / "eng" / "val.bin", np.array([]), np.dtype(np.uint16))
    write_meta(tmp_path, "eng", {"dtype": "uint16", "words_per_token": 0.5})
    shards = load_shards(tmp_path)["eng"]
    assert shards.train.tolist() == [1, 5, 2] and len(shards.val) == 0 and shards.words_per_token == 0.5
