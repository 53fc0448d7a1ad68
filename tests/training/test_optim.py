import pytest
import torch

from nestling.errors import UserError
from nestling.models import build_model
from nestling.recipe import section
from nestling.training.optim import build_optimizer, split_params
from tests.training.helpers import STREAM_MIXER, TINY_LLAMA, VOCAB


def tiny(tied=True):
    return build_model({**TINY_LLAMA, "tie_word_embeddings": tied}, VOCAB, 0, 1, 2)


def test_muon_gets_hidden_matrices_adamw_the_rest_and_tied_head_once():
    model = tiny(tied=True)
    groups = split_params(model)
    names = {k: [n for n, _ in v] for k, v in groups.items()}
    assert names["decay"] == ["model.embed_tokens.weight"]  # the tied head is the same tensor, listed once
    assert all(p.ndim == 2 for _, p in groups["muon"])
    assert {n.split(".")[-2] for n in names["muon"]} == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    assert all("norm" in n for n in names["no_decay"])
    opt = build_optimizer(model, section("optimizer", **{"name": "muon_adamw"}))
    counts = opt.describe()
    assert counts["muon"] + counts["adamw"] == sum(p.numel() for p in model.parameters())
    assert isinstance(opt.optimizers["muon"], torch.optim.Muon)
    assert opt.optimizers["muon"].param_groups[0]["adjust_lr_fn"] == "match_rms_adamw"
    assert opt.lrs() == {"muon": 5e-3, "adamw": 5e-4}


def test_untied_head_goes_to_adamw():
    names = [n for n, _ in split_params(tiny(tied=False))["decay"]]
    assert names == ["model.embed_tokens.weight", "lm_head.weight"]


def test_plain_adamw_takes_everything_and_steps():
    model = tiny()
    opt = build_optimizer(model, section("optimizer", **{"name": "adamw", "adamw_lr": 1e-3}))
    assert list(opt.optimizers) == ["adamw"]
    assert opt.describe()["adamw"] == sum(p.numel() for p in model.parameters())
    before = model.model.layers[0].self_attn.q_proj.weight.clone()
    model(input_ids=torch.randint(0, VOCAB, (2, 8))).logits.sum().backward()
    opt.step()
    assert not torch.equal(before, model.model.layers[0].self_attn.q_proj.weight)


def test_unknown_optimizer_name():
    with pytest.raises(UserError, match="optimizer.name"):  # refused when the recipe is read
        section("optimizer", name="sgd")


def test_stream_mixer_biases_and_vectors_go_to_adamw():
    model = build_model(STREAM_MIXER, VOCAB, 0, 1, 2)
    groups = {k: [n for n, _ in v] for k, v in split_params(model).items()}
    assert "model.layers.0.mixer.gate_bias" in groups["no_decay"]
    assert all(n.endswith("weight") for n in groups["muon"]) and groups["decay"] == ["model.embed_tokens.weight"]
    with pytest.raises(UserError, match="adjust_lr_fn"):
        section("optimizer", adjust_lr_fn="moonshot")
