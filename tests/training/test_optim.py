import pytest
import torch
from torch.optim import _muon

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


# ---------------------------------------------------------------- Muon's Newton-Schulz precision

# torch's own defaults, so the test follows torch if they ever change.
NS = dict(ns_coefficients=(_muon.DEFAULT_A, _muon.DEFAULT_B, _muon.DEFAULT_C), ns_steps=_muon.DEFAULT_NS_STEPS, eps=_muon.EPS)


@pytest.mark.parametrize("shape", [(16, 16), (24, 8), (8, 24)])
def test_newton_schulz_in_bfloat16_is_torchs_own_bit_for_bit(shape):
    from nestling.training.optim import newton_schulz

    grad = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    reference = _muon._zeropower_via_newtonschulz(grad, NS["ns_coefficients"], NS["ns_steps"], NS["eps"])
    assert torch.equal(newton_schulz(grad, **NS, dtype=torch.bfloat16), reference)
    # float32: the same orthogonalisation without bfloat16's rounding (singular values pushed into ~[0.7, 1.2])
    exact = newton_schulz(grad, **NS, dtype=torch.float32)
    assert exact.dtype == torch.float32
    assert torch.allclose(exact, reference.float(), atol=0.05)
    singular = torch.linalg.svdvals(exact)
    assert singular.min() > 0.5 and singular.max() < 1.3


def test_muon_ns_dtype_auto_is_bfloat16_on_cuda_float32_elsewhere():
    from nestling.training.optim import newton_schulz_dtype

    assert newton_schulz_dtype("auto", torch.device("cpu")) == torch.float32
    assert newton_schulz_dtype("auto", torch.device("cuda")) == torch.bfloat16
    assert newton_schulz_dtype("bfloat16", torch.device("cpu")) == torch.bfloat16
    with pytest.raises(UserError, match="muon_ns_dtype"):
        section("optimizer", muon_ns_dtype="float16")


@pytest.mark.parametrize("setting", ["float32", "bfloat16"])
def test_muon_step_uses_the_recipes_newton_schulz_precision(setting):
    """One Muon step equals torch's update rule with the orthogonalisation in the chosen precision."""
    from nestling.training.optim import newton_schulz

    torch.manual_seed(0)
    model = tiny()
    opt = build_optimizer(model, section("optimizer", muon_ns_dtype=setting, weight_decay=0.0))
    assert opt.newton_schulz_dtype() == setting
    weight = model.model.layers[0].self_attn.q_proj.weight
    before = weight.detach().clone()
    model(input_ids=torch.randint(0, VOCAB, (2, 8))).logits.sum().backward()
    grad = weight.grad.clone()
    opt.step()
    # first step: momentum buffer = (1 - m) g; Nesterov update = lerp(g, buf, m)
    m = 0.95
    update = grad.lerp(grad * (1 - m), m)
    lr = 5e-3 * 0.2 * max(weight.shape) ** 0.5  # match_rms_adamw
    expected = before - lr * newton_schulz(update, **NS, dtype=getattr(torch, setting)).to(before.dtype)
    assert torch.allclose(weight, expected, atol=1e-6)
