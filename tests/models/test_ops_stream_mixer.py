"""The chunked stream write equals the step-by-step reference: outputs, final state and every gradient."""

import pytest
import torch
import torch.nn.functional as F

from nestling.models.stream_mixer import streams_chunked, streams_reference


def _inputs(B, T, M, Dv, seed, with_state):
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(B, T, Dv, generator=g).requires_grad_()
    u = torch.rand(B, T, M, generator=g).requires_grad_()
    # Decays from ~0 (theta=-8) to ~1 (theta=+8): both extremes must stay finite in the chunked form.
    theta = torch.linspace(-8.0, 8.0, M).requires_grad_()
    state = torch.randn(B, M, Dv, generator=g).requires_grad_() if with_state else None
    return v, u, theta, state


def _run(fn, v, u, theta, state, exact=False, **kw):
    """States, last state and gradients; exact=True runs fn in fp64 (gradients still reach the fp32 leaves)."""
    cast = (lambda t: None if t is None else t.double()) if exact else (lambda t: t)
    states, last = fn(cast(v), cast(u), F.logsigmoid(cast(theta)), cast(state), **kw)
    g = torch.Generator().manual_seed(123)
    loss = (states * torch.randn(states.shape, generator=g)).sum() + (last * torch.randn(last.shape, generator=g)).sum()
    leaves = [t for t in (v, u, theta, state) if t is not None]
    return states, last, torch.autograd.grad(loss, leaves)


@pytest.mark.parametrize(
    "B, T, M, Dv, chunk, with_state",
    [
        (2, 37, 5, 6, 8, False),
        (1, 37, 5, 6, 8, True),
        (2, 50, 3, 4, 1, True),
        (3, 17, 4, 8, 16, False),
        (2, 100, 8, 4, 64, True),
        (1, 9, 2, 3, 64, False),  # shorter than one chunk
        (2, 64, 4, 4, 32, True),  # exact multiple
        (1, 301, 3, 4, 2, True),  # 151 chunks: the chunk carry scans groups of groups
        (1, 2100, 2, 2, 1, False),  # 2100 chunks of 1: three levels of groups
    ],
)
def test_chunked_equals_reference(B, T, M, Dv, chunk, with_state):
    v, u, theta, state = _inputs(B, T, M, Dv, seed=T * 7 + chunk, with_state=with_state)
    # fp32 chunked against the fp32 reference, and against the reference in fp64 (the exact answer).
    for exact in (False, True) if T <= 128 else (True,):
        ref_states, ref_last, ref_grads = _run(streams_reference, v, u, theta, state, exact=exact)
        states, last, grads = _run(streams_chunked, v, u, theta, state, chunk_size=chunk)
        torch.testing.assert_close(states, ref_states.float(), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(last, ref_last.float(), atol=1e-5, rtol=1e-5)
        for g, ref in zip(grads, ref_grads):
            torch.testing.assert_close(g, ref, atol=1e-5 * max(1.0, ref.abs().max().item()), rtol=1e-5)


def test_chunked_stays_finite_over_long_sequences():
    # 4096 steps of a fast decay: lambda^-t factored across a chunk would overflow fp32 here.
    v, u, theta, state = _inputs(1, 4096, 4, 4, seed=0, with_state=True)
    theta = torch.tensor([-20.0, -5.0, 5.0, 20.0], requires_grad=True)
    states, last, grads = _run(streams_chunked, v, u, theta, state, chunk_size=64)
    assert torch.isfinite(states).all() and all(torch.isfinite(g).all() for g in grads)
    ref_states, _, _ = _run(streams_reference, v[:, :512], u[:, :512], theta, state, exact=True)
    torch.testing.assert_close(states[:, :512], ref_states.float(), atol=1e-5, rtol=1e-5)


def test_zero_writes_leave_state_decaying():
    v, u, theta, state = _inputs(1, 10, 3, 2, seed=1, with_state=True)
    states, _ = streams_chunked(v, torch.zeros_like(u), F.logsigmoid(theta), state, chunk_size=4)
    lam = torch.sigmoid(theta)
    expected = state[:, None] * lam[None, None, :, None] ** torch.arange(1, 11)[None, :, None, None]
    torch.testing.assert_close(states, expected)


def test_fused_impl_says_why_it_cannot_run_where_triton_cannot(monkeypatch):
    from nestling.models.stream_mixer.ops_triton_stream_mixer import use_fused

    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    v = torch.zeros(1, 4, 2)
    assert not use_fused("auto", v) and not use_fused("chunked", v)
    with pytest.raises(ValueError, match="needs Triton and a CUDA device"):
        use_fused("fused", v)
