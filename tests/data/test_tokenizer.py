"""The byte-level BPE tokenizer: round trips, BOS by default, AutoTokenizer, fertility."""

import json

import pytest
from transformers import AutoTokenizer

from nestling.data.tokenizer import fertility_table, train_tokenizer
from nestling.errors import UserError

TEXTS = {
    "eng": "Where's the ball? It rolled under   the sofa… \"Look!\"",
    "nld": "Officiële site: de geit zegt, \"Mèèè\" — ‘t is café-tijd.",
    "zho": "他没有工作吗？我们现在没有钱。这个人太高了！",
}


@pytest.fixture(scope="module")
def tok(tiny_dataset):
    return AutoTokenizer.from_pretrained(tiny_dataset[0] / "tokenizer")


@pytest.mark.parametrize("lang", sorted(TEXTS))
def test_round_trip(tok, lang):
    text = TEXTS[lang]
    ids = tok(text)["input_ids"]
    assert tok.decode(ids, skip_special_tokens=True) == text
    assert tok.decode(tok(text, add_special_tokens=False)["input_ids"]) == text


def test_round_trip_real_lines(tok, tiny_dataset):
    for lang in TEXTS:
        lines = (tiny_dataset[0] / "clean" / f"{lang}.txt").read_text(encoding="utf-8").splitlines()[:50]
        encoded = tok(lines, add_special_tokens=False)["input_ids"]
        assert tok.batch_decode(encoded) == lines


def test_bos_added_by_default_and_special_tokens(tok):
    ids = tok("the dog barks")["input_ids"]
    assert ids[0] == tok.bos_token_id and ids[-1] != tok.eos_token_id
    assert (tok.pad_token, tok.bos_token, tok.eos_token) == ("<pad>", "<s>", "</s>")
    assert len({tok.pad_token_id, tok.bos_token_id, tok.eos_token_id}) == 3
    assert len(tok) == 1000
    batch = tok(["a", "a longer sentence"], padding=True)
    assert batch["input_ids"][0][-1] == tok.pad_token_id


def test_config_loads_in_transformers_4_and_5(tiny_dataset):
    config = json.loads((tiny_dataset[0] / "tokenizer" / "tokenizer_config.json").read_text())
    assert config["tokenizer_class"] == "PreTrainedTokenizerFast"
    assert config["clean_up_tokenization_spaces"] is False
    # Named, so transformers 4.x returns no token_type_ids for generate() to reject.
    assert config["model_input_names"] == ["input_ids", "attention_mask"]


def test_fertility_report(tiny_dataset):
    dataset, fertility = tiny_dataset
    assert set(fertility) == {"eng", "nld", "zho"}
    assert fertility["zho"]["word_unit"] == "english_word_equivalent"
    for report in fertility.values():
        assert report["fertility"] == pytest.approx(report["tokens"] / report["words"])
        assert 0.5 < report["fertility"] < 10
    assert json.loads((dataset / "tokenizer_report.json").read_text())["fertility"] == fertility
    assert "tokens/word" in fertility_table(fertility)


def test_balanced_training_and_errors(tiny_dataset, tmp_path):
    dataset = tiny_dataset[0]
    copy = tmp_path / "ds"
    (copy / "clean").mkdir(parents=True)
    for name in ("ledger.json", "clean/eng.txt", "clean/nld.txt", "clean/zho.txt"):
        (copy / name).write_bytes((dataset / name).read_bytes())
    report = train_tokenizer(copy, vocab_size=600, balance_languages=True)
    assert set(report) == {"eng", "nld", "zho"} and (copy / "tokenizer" / "tokenizer.json").is_file()
    with pytest.raises(UserError, match="too small"):
        train_tokenizer(copy, vocab_size=100)
    with pytest.raises(UserError, match="no ledger.json"):
        train_tokenizer(tmp_path / "nothing", vocab_size=1000)


def _true_tokens_per_word(tok, text_path, lang: str) -> float:
    """Every line of the language's clean text encoded, as the shards hold it (the figure sampled)."""
    from nestling.data import counting

    lines = text_path.read_text(encoding="utf-8").splitlines()
    tokens = sum(len(e.ids) + counting.DOCUMENT_MARKERS for e in tok.encode_batch(lines, add_special_tokens=False))
    n_bytes = sum(len(line.encode("utf-8")) + 1 for line in lines)
    words = counting.budget_words(sum(len(line.split()) for line in lines), n_bytes, lang, "strict")
    return counting.tokens_per_word(tokens, words)


def test_fertility_samples_every_file_not_the_first(tmp_path, monkeypatch):
    """Six files, the first unlike the rest: the report's figure is the whole corpus's, within 2%."""
    import random

    from tokenizers import Tokenizer

    from nestling.data import tokenizer as tokenizer_module
    from nestling.data.prepare import prepare_dataset

    rng = random.Random(0)
    raw = tmp_path / "raw"
    raw.mkdir()
    # File 1: made-up long words (many tokens each); files 2-6: a few short words again and again.
    (raw / "a1.txt").write_text("".join(" ".join("".join(rng.choices("bcdfgklmnprstvz", k=9)) for _ in range(8))
                                        + "\n" for _ in range(400)))
    for i in range(2, 7):
        (raw / f"a{i}.txt").write_text("".join(" ".join(rng.choices(["the", "cat", "sat", "on", "a", "mat"], k=8))
                                               + "\n" for _ in range(1500)))
    prepare_dataset({"eng": [raw]}, tmp_path / "ds", "strict")
    monkeypatch.setattr(tokenizer_module, "FERTILITY_SAMPLE_BYTES", 16 << 10)  # of a ~170 KiB corpus
    report = train_tokenizer(tmp_path / "ds", vocab_size=300)["eng"]
    tok = Tokenizer.from_file(str(tmp_path / "ds" / "tokenizer" / "tokenizer.json"))
    clean = tmp_path / "ds" / "clean" / "eng.txt"
    true = _true_tokens_per_word(tok, clean, "eng")
    first_bytes_only = tokenizer_module.fertility(tok, {"eng": raw / "a1.txt"}, "strict")["eng"]["fertility"]
    assert abs(first_bytes_only - true) / true > 0.5  # what the first file alone would have claimed
    assert report["fertility"] == pytest.approx(true, rel=0.02)
    assert report["sample_bytes"] < report["bytes"] == clean.stat().st_size
    saved = json.loads((tmp_path / "ds" / "tokenizer_report.json").read_text())
    assert saved["corpus_tokens_per_word"] == pytest.approx(report["fertility"])


def test_sample_lines_are_whole_and_spread(tmp_path):
    from nestling.data.tokenizer import sample_lines

    path = tmp_path / "t.txt"
    path.write_text("".join(f"line {i:05d} of the text\n" for i in range(10_000)))
    lines = list(sample_lines(path, max_bytes=4096, blocks=8))
    numbers = [int(line.split()[1]) for line in lines]
    assert all(line.endswith("of the text") for line in lines) and len(set(numbers)) == len(numbers)
    assert numbers[0] == 0 and numbers[-1] > 8_500  # from the start to the end of the file
    assert len(list(sample_lines(path, max_bytes=1 << 30))) == 10_000  # small enough: all of it
