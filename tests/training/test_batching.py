import contextlib

import numpy as np
import pytest
import torch

from nestling.errors import UserError
from nestling.models import build_model
from nestling.training.batching import (WindowSampler, draw_batch, enable_activation_checkpointing, eval_windows,
                                        held_out_split, plan_batch)
from nestling.training.distributed import Dist
from nestling.training.trainer import accumulate_gradients
from tests.training.helpers import TINY_LLAMA, VOCAB, synthetic_tokens

CPU = Dist(0, 1, 0, torch.device("cpu"))


def test_plan_batch_keeps_the_global_batch_exact():
    p = plan_batch(128, 1024, "auto", world_size=1)
    assert (p.per_rank, p.micro, p.accum, p.tokens_per_step) == (128, 8, 16, 128 * 1024)
    p = plan_batch(12, 16, "auto", world_size=2)
    assert (p.per_rank, p.micro, p.accum) == (6, 6, 1)
    p = plan_batch(128, 1024, "auto", world_size=1, fits=lambda m: m <= 20)
    assert (p.micro, p.accum) == (16, 8)
    assert plan_batch(8, 4, 2, world_size=2).accum == 2
    with pytest.raises(UserError, match="divisible"):
        plan_batch(9, 4, "auto", world_size=2)
    # A number is an upper bound: it adapts to the per-process batch (torchrun with a 1-process recipe).
    assert (plan_batch(8, 4, 3, world_size=1).micro, plan_batch(32, 4, 32, world_size=2).micro) == (2, 16)
    with pytest.raises(UserError, match="micro_batch"):
        plan_batch(8, 4, 0, world_size=1)


def test_gradient_accumulation_equals_the_full_batch():
    torch.manual_seed(0)
    model = build_model(TINY_LLAMA, VOCAB, 0, 1, 2)
    x = torch.from_numpy(synthetic_tokens(8 * 17, seed=3).reshape(8, 17).astype(np.int64))
    idx = torch.zeros(8, dtype=torch.long)
    grads, losses = [], []
    for micro in (8, 2, 1):
        model.zero_grad()
        plan = plan_batch(8, 16, micro, world_size=1)
        loss_sum, _ = accumulate_gradients(model, x, idx, plan, 1, CPU, contextlib.nullcontext)
        grads.append([p.grad.clone() for p in model.parameters()])
        losses.append(loss_sum.item())
    for other in grads[1:]:
        for a, b in zip(grads[0], other):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert losses[1] == pytest.approx(losses[0], rel=1e-5)


def test_sampler_visits_every_window_once_per_epoch_and_resumes():
    tokens = np.arange(4 * 10 + 1)
    s = WindowSampler({"eng": tokens}, seq_len=4, seed=1)
    starts = [s.next_start("eng") for _ in range(10)]
    assert sorted(starts) == list(range(0, 40, 4))
    assert s.position["eng"] == [1, 0]
    second = [s.next_start("eng") for _ in range(10)]
    assert sorted(second) == sorted(starts) and second != starts  # a new order each epoch
    s2 = WindowSampler({"eng": tokens}, seq_len=4, seed=1)
    s2.load_state_dict(s.state_dict())
    assert [s2.next_start("eng") for _ in range(5)] == [s.next_start("eng") for _ in range(5)]
    np.testing.assert_array_equal(s.read("eng", 8), np.arange(8, 13))
    with pytest.raises(UserError, match="shorter"):
        WindowSampler({"eng": np.arange(4)}, seq_len=4, seed=0)


def test_each_rank_reads_its_slice_of_the_same_global_batch():
    shards = {"eng": np.arange(1000), "nld": np.arange(1000) + 5000}
    langs = ["eng", "nld", "nld", "eng"]
    plan = plan_batch(4, 8, "auto", world_size=1)
    full, _ = draw_batch(WindowSampler(shards, 8, seed=0), langs, plan, rank=0)
    plan2 = plan_batch(4, 8, "auto", world_size=2)
    halves = [draw_batch(WindowSampler(shards, 8, seed=0), langs, plan2, rank=r) for r in (0, 1)]
    torch.testing.assert_close(torch.cat([h[0] for h in halves]), full)
    assert halves[1][1] == ["nld", "eng"]


def test_eval_windows_cover_the_slice():
    val = np.arange(100)
    w = eval_windows(val, seq_len=8, n_tokens=32)
    assert w.shape == (4, 9) and w[0, 0] == 0 and w[-1, -1] == 32
    assert eval_windows(val, 8, 32, from_end=True)[-1, -1] == 99
    assert eval_windows(np.arange(5), 8, 100).shape == (1, 5)


def test_probes_are_a_split_of_their_own():
    # Table (b)'s shape: a val shard of ~8,192 tokens, 16,384 validation tokens asked, 2,048 probe tokens.
    val = np.arange(8_192)
    val_part, probe_part = held_out_split(val, probe_tokens=2_048)
    assert len(probe_part) == 2_049 and len(val_part) + len(probe_part) == len(val)
    validation = eval_windows(val_part, seq_len=128, n_tokens=16_384)
    probes = eval_windows(probe_part, seq_len=128, n_tokens=2_048)
    assert set(validation.flatten().tolist()).isdisjoint(probes.flatten().tolist())
    assert probes.numel() > 0 and validation.numel() > 0


def test_a_short_val_shard_keeps_half_for_validation():
    val_part, probe_part = held_out_split(np.arange(100), probe_tokens=4_096)
    assert len(val_part) == 50 and len(probe_part) == 50


def test_auto_micro_batch_by_memory_takes_the_largest_that_fits_and_caches_the_probe(monkeypatch, tmp_path):
    from nestling.training import batching

    torch.manual_seed(0)
    model = build_model(TINY_LLAMA, VOCAB, 0, 1, 2)
    fixed, per_seq = batching.memory_per_sequence(model, 16, VOCAB, CPU.device, contextlib.nullcontext, "fp32")
    assert per_seq > 0 and fixed >= 0
    states = 16 * sum(p.numel() for p in model.parameters())
    # Free memory for exactly 5 sequences after the margin: auto takes 4 (the largest divisor of 8 that fits).
    free = (fixed + states + 5.5 * per_seq) / (1 - batching.MEMORY_MARGIN)
    monkeypatch.setattr(batching, "_free_bytes", lambda device: free)
    probes = []
    monkeypatch.setattr(batching, "step_bytes", lambda *a: probes.append(a) or 0)  # cached: never called
    fits = batching.memory_fits(model, 16, VOCAB, CPU.device, contextlib.nullcontext, "fp32")
    plan = plan_batch(8, 16, "auto", world_size=1, fits=fits)
    assert (plan.micro, plan.accum, probes) == (4, 2, [])
    assert len(list((tmp_path / "nestling-cache").glob("*.json"))) == 1


def test_auto_micro_batch_accumulates_to_the_fixed_setting():
    torch.manual_seed(0)
    model = build_model(TINY_LLAMA, VOCAB, 0, 1, 2)
    x = torch.from_numpy(synthetic_tokens(8 * 17, seed=3).reshape(8, 17).astype(np.int64))
    idx = torch.zeros(8, dtype=torch.long)
    results = []
    for plan in (plan_batch(8, 16, "auto", 1, fits=lambda m: m <= 2), plan_batch(8, 16, 8, 1)):
        model.zero_grad()
        loss_sum, _ = accumulate_gradients(model, x, idx, plan, 1, CPU, contextlib.nullcontext)
        results.append((loss_sum.item(), [p.grad.clone() for p in model.parameters()]))
    assert results[0][0] == pytest.approx(results[1][0], rel=1e-5)
    for a, b in zip(results[0][1], results[1][1]):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("arch", ["llama", "stream_mixer"])
def test_activation_checkpointing_gives_equal_loss_and_gradients(arch):
    from tests.training.helpers import STREAM_MIXER

    x = torch.from_numpy(synthetic_tokens(4 * 17, seed=5).reshape(4, 17).astype(np.int64))
    results, saved = [], []
    for checkpointing in (False, True):
        torch.manual_seed(0)
        model = build_model(TINY_LLAMA if arch == "llama" else STREAM_MIXER, VOCAB, 0, 1, 2).train()
        if checkpointing:
            enable_activation_checkpointing(model)
        saved.append(0)
        with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.__setitem__(-1, saved[-1] + t.numel()) or t,
                                                      lambda t: t):
            loss = model(input_ids=x, labels=x, use_cache=False).loss
        loss.backward()
        results.append((loss.detach(), [p.grad.clone() for p in model.parameters()]))
    assert saved[1] < saved[0] / 3  # the blocks' activations were not kept
    torch.testing.assert_close(results[1][0], results[0][0], rtol=0, atol=0)
    for a, b in zip(results[1][1], results[0][1]):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


def test_run_compile_auto_means_cuda_and_bad_values_are_refused(tmp_path):
    from nestling.recipe import load_recipe
    from nestling.training.batching import compile_enabled

    assert [compile_enabled("auto", torch.device(d)) for d in ("cpu", "cuda")] == [False, True]
    assert compile_enabled(True, torch.device("cpu")) and not compile_enabled(False, torch.device("cuda"))
    with pytest.raises(UserError, match="run.compile"):
        load_recipe("debug", ["run.compile=sometimes"])
