"""What "the tokenizer matches the model" means (nestling.evaluation.tokenizer_match), rule by rule."""

import pytest

from nestling.errors import UserError
from nestling.evaluation.tokenizer_match import PAD_ROWS, check_tokenizer, mismatches


class FakeTokenizer:
    def __init__(self, n_ids: int, bos=1, eos=2, pad=0):
        self.n_ids, self.bos_token_id, self.eos_token_id, self.pad_token_id = n_ids, bos, eos, pad

    def __len__(self):
        return self.n_ids


CONFIG = {"vocab_size": 300, "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0}


def test_a_tokenizer_of_the_model_matches():
    assert mismatches(CONFIG, FakeTokenizer(300)) == []


def test_more_ids_than_rows_is_refused_even_when_allowed():
    with pytest.raises(UserError, match=r"m: the tokenizer has 301 tokens but the model only 300"):
        check_tokenizer("m", CONFIG, FakeTokenizer(301), allow_mismatch=True)


def test_padding_rows_are_allowed_a_foreign_vocabulary_is_not():
    assert mismatches({**CONFIG, "vocab_size": 300 + PAD_ROWS}, FakeTokenizer(300)) == []
    assert mismatches({"vocab_size": 50_304}, FakeTokenizer(50_277)) == []  # Pythia's padded embedding
    assert mismatches({**CONFIG, "vocab_size": 16_384}, FakeTokenizer(8_000)) == [
        "the tokenizer has 8,000 ids, the model 16,384 rows"]


def test_special_ids_must_agree_where_both_name_them():
    assert mismatches(CONFIG, FakeTokenizer(300, eos=5)) == ["eos id 5 in the tokenizer, 2 in config.json"]
    assert mismatches({**CONFIG, "eos_token_id": [2, 7]}, FakeTokenizer(300, eos=7)) == []  # a list of EOS ids
    assert mismatches({**CONFIG, "pad_token_id": None}, FakeTokenizer(300, pad=9)) == []  # config names none


def test_refused_in_one_line_unless_allowed():
    with pytest.raises(UserError, match=r"^m: the tokenizer does not match the model \(.*--allow-tokenizer-mismatch"):
        check_tokenizer("m", CONFIG, FakeTokenizer(300, bos=3))
    check_tokenizer("m", CONFIG, FakeTokenizer(300, bos=3), allow_mismatch=True)
    check_tokenizer("m", {"text_config": {}}, FakeTokenizer(10))  # no vocab_size: nothing to compare
