"""The classifier: official head shape, pooling that the padding side never changes, both architectures."""

from __future__ import annotations

import torch

from nestling.evaluation.finetune.model import SequenceClassifier, load_backbone, pool, resolve_pooling


def test_pool_reads_the_same_token_whatever_the_padding_side():
    hidden = torch.arange(2 * 4 * 1, dtype=torch.float).view(2, 4, 1)
    right = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])
    left = torch.tensor([[0, 1, 1, 1], [1, 1, 1, 1]])
    assert pool(hidden, right, "last").flatten().tolist() == [2.0, 7.0]
    assert pool(hidden, left, "last").flatten().tolist() == [3.0, 7.0]
    assert pool(hidden, left, "first").flatten().tolist() == [1.0, 4.0]


def test_auto_pooling_is_last_for_causal_lms_first_for_encoders():
    from types import SimpleNamespace as NS

    assert resolve_pooling("auto", NS(architectures=["LlamaForCausalLM"])) == "last"
    assert resolve_pooling("auto", NS(architectures=["BertForMaskedLM"])) == "first"
    assert resolve_pooling("first", NS(architectures=["LlamaForCausalLM"])) == "first"


def _logits(model, tokenizer, texts, side):
    tokenizer.padding_side = side
    batch = tokenizer([t[0] for t in texts], [t[1] for t in texts], padding=True, return_tensors="pt")
    with torch.no_grad():
        return model(batch["input_ids"], batch["attention_mask"])


def test_padding_side_never_changes_a_prediction(tiny_llama_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_llama_dir)
    torch.manual_seed(0)
    model = SequenceClassifier(load_backbone(tiny_llama_dir), 3).eval()
    assert model.pooling == "last"
    texts = [("the cat is here", "a dog"), ("the bird is in the tree by the house", "a bird"), ("sun", "moon")]
    right, left = _logits(model, tokenizer, texts, "right"), _logits(model, tokenizer, texts, "left")
    alone = torch.cat([_logits(model, tokenizer, [t], "right") for t in texts])
    torch.testing.assert_close(right, left, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(right, alone, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(right[0], right[1])


def test_stream_mixer_folder_gives_a_backbone(tmp_path):
    """A folder saved from StreamMixerForCausalLM: the backbone is its base model, with last_hidden_state."""
    from tests.export.fake_run import build_tokenizer, tiny_stream_mixer

    tokenizer = build_tokenizer()
    tiny_stream_mixer(tokenizer, seed=0).save_pretrained(tmp_path)
    backbone = load_backbone(tmp_path)
    out = backbone(input_ids=torch.tensor([[1, 5, 6, 7]]), attention_mask=torch.ones(1, 4, dtype=torch.long))
    assert out.last_hidden_state.shape == (1, 4, backbone.config.hidden_size)
    model = SequenceClassifier(backbone, 2).eval()
    ids = torch.tensor([[1, 5, 6, 7], [1, 5, 6, 0]])
    right = model(ids, torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]]))
    left = model(torch.tensor([[1, 5, 6, 7], [0, 1, 5, 6]]), torch.tensor([[1, 1, 1, 1], [0, 1, 1, 1]]))
    torch.testing.assert_close(right, left, atol=1e-5, rtol=1e-5)
