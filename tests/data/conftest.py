"""A small prepared dataset (real sentences of ../shared) with a trained tokenizer, built once."""

import pytest

from nestling.data.prepare import prepare_dataset
from nestling.data.tokenizer import train_tokenizer

LINES = {"eng": "en_ewt_all.txt", "nld": "nl_alpino_devtest.txt", "zho": "zh_gsdsimp_devtest.txt"}


@pytest.fixture(scope="session")
def tiny_dataset(shared_data, tmp_path_factory):
    """``(dataset_dir, fertility)``: 400 UD sentences per language, tokenizer of 1,000 ids."""
    root = tmp_path_factory.mktemp("tiny")
    sources = {}
    for lang, name in LINES.items():
        lines = (shared_data / "corpora" / "ud_text" / name).read_text(encoding="utf-8").splitlines()[:400]
        path = root / "raw" / f"{lang}.txt"
        path.parent.mkdir(exist_ok=True)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        sources[lang] = [path]
    dataset = root / "ds"
    prepare_dataset(sources, dataset, "strict-small")
    fertility = train_tokenizer(dataset, vocab_size=1000)
    return dataset, fertility
