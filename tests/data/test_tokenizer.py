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
