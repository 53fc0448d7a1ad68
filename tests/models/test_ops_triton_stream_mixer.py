"""The fused Triton write+read kernel equals streams_reference plus the read, in value and gradient.

Run in Triton's interpreter on CPU (TRITON_INTERPRET=1, set here before the kernel is defined), on tiny
shapes; skipped with the reason when Triton is not installed (torch's CPU wheels ship none: install
``triton`` beside torch, e.g. ``pip install --target .compat/triton triton==3.9.0`` and put it on PYTHONPATH).
"""

import os

os.environ.setdefault("TRITON_INTERPRET", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

pytest.importorskip("triton", reason="triton is not installed (CPU torch wheels ship none): fused kernel untested")

from nestling.models.stream_mixer.ops_stream_mixer import read_states, streams_reference  # noqa: E402
from nestling.models.stream_mixer.ops_triton_stream_mixer import fused_write_read  # noqa: E402

from .test_modeling_stream_mixer import ids, tiny_model  # noqa: E402

# fp32 kernel vs fp64 reference over <= 40 steps: rounding stays near 1e-6; 1e-5 leaves room and still
# catches any wrong term (those are O(1e-2) here).
ATOL, RTOL = 1e-5, 1e-4


def _inputs(B, T, M, Dv, H, with_state, seed=0):
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(B, T, Dv, generator=g)
    u = torch.softmax(torch.randn(B, T, M, generator=g), -1) * torch.rand(M, generator=g)
    log_lam = torch.log(torch.rand(M, generator=g) * 0.9 + 0.05)
    qk = torch.randn(B, T, H, Dv, generator=g)
    scale, bias = torch.rand(H, generator=g) + 0.5, torch.randn(H, M, generator=g) * 0.1
    state = torch.randn(B, M, Dv, generator=g) if with_state else None
    return [v, u, log_lam, qk, scale, bias, state]


def _reference(v, u, log_lam, qk, scale, bias, state, eps=1e-6):
    args = [None if t is None else t.double() for t in (v, u, log_lam, qk, scale, bias, state)]
    states, last = streams_reference(*args[:3], args[6])
    return read_states(args[3], states, args[4], args[5], eps), last


# Non-power-of-two M and Dv exercise the kernel's masked padding; T not a multiple of the chunk its backward.
@pytest.mark.parametrize("shape", [(2, 13, 4, 8, 2), (1, 37, 5, 6, 3)])
@pytest.mark.parametrize("with_state", [False, True])
def test_fused_equals_reference_in_value_and_gradient(shape, with_state):
    inputs = _inputs(*shape, with_state)
    leaves = [None if t is None else t.clone().requires_grad_() for t in inputs]
    ref_leaves = [None if t is None else t.clone().requires_grad_() for t in inputs]
    o, last = fused_write_read(*leaves[:6], 1e-6, leaves[6], 8)
    ref_o, ref_last = _reference(*ref_leaves)
    torch.testing.assert_close(o, ref_o.float(), atol=ATOL, rtol=RTOL)
    torch.testing.assert_close(last, ref_last.float(), atol=ATOL, rtol=RTOL)
    w_o, w_last = torch.randn_like(o), torch.randn_like(last)
    ((o * w_o).sum() + (last * w_last).sum()).backward()
    ((ref_o * w_o.double()).sum() + (ref_last * w_last.double()).sum()).backward()
    for i, (a, b) in enumerate(zip(leaves, ref_leaves)):
        if a is not None:
            torch.testing.assert_close(a.grad, b.grad.float(), atol=ATOL, rtol=RTOL, msg=f"input {i}")


def test_fused_model_equals_chunked_model():
    x = ids(T=19)
    results = []
    for impl in ("chunked", "fused"):
        model = tiny_model(attention_layers=[1], mixer_impl=impl).train()
        loss = model(x, labels=x, use_cache=False).loss
        loss.backward()
        results.append((loss.detach(), {n: p.grad for n, p in model.named_parameters()}))
    (loss_c, grads_c), (loss_f, grads_f) = results
    torch.testing.assert_close(loss_f, loss_c, atol=ATOL, rtol=RTOL)
    for name, g in grads_f.items():
        torch.testing.assert_close(g, grads_c[name], atol=ATOL, rtol=RTOL, msg=name)
