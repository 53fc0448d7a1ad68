"""The stream write and the gated read fused in one Triton kernel: the states never leave the chip.

``write_read_chunked`` (ops_stream_mixer.py) materialises every state S_t (B, T, M, Dv) in fp32 and reads
it twice; at 128 x 1,024 tokens that is about 1 GB per layer. Here one program per (batch row, read head)
walks the sequence with its (M, Dv) state in registers, applies S_t = lambda S_{t-1} + u_t v_t, reads it
(key RMS, sigmoid gates, gated sum) and writes only o_t (H * Dv numbers per token) and the last state.
Every head's program repeats the (cheap) write, so the heads run in parallel without sharing memory.

Backward recomputes: the autograd Function saves only its inputs, and its backward runs the PyTorch
chunked form (``write_read_chunked``) on them under autograd, one layer at a time. The gradient is therefore
exactly the chunked op's (held equal to ``streams_reference`` by the tests); a fused backward kernel is
future work.

Optional: without Triton (CPU wheels of torch ship none) nothing here is used and the model runs the chunked
form. ``TRITON_INTERPRET=1`` runs the kernel on CPU tensors in Triton's interpreter (the tests do).

Shapes: B batch, T time, M streams, Dv stream dimension, H read heads.
"""

from __future__ import annotations

import os

import torch

from .ops_stream_mixer import write_read_chunked

try:  # optional: the checkpoint loads and runs without it
    import triton
    import triton.language as tl
except ImportError:
    triton = None


def fused_available(device: torch.device) -> bool:
    """Triton present and able to run here: a CUDA device, or any device under TRITON_INTERPRET=1."""
    if triton is None:
        return False
    return device.type == "cuda" or os.environ.get("TRITON_INTERPRET") == "1"


def use_fused(impl: str, v: torch.Tensor) -> bool:
    """Whether a mixer with ``mixer_impl`` impl takes the fused kernel for inputs like v.

    "auto" takes it on CUDA when Triton is present; "fused" insists (a clear error where it cannot run).
    Under torch.compile the chunked form is taken: dynamo cannot trace the backward's recomputation (an
    autograd call inside a backward), and inductor fuses the chunked form's elementwise work itself.
    """
    if torch.compiler.is_compiling():
        return False
    if impl == "fused":
        if not fused_available(v.device):
            raise ValueError("mixer_impl='fused' needs Triton and a CUDA device (or TRITON_INTERPRET=1)")
        return True
    return impl == "auto" and v.is_cuda and fused_available(v.device)


if triton is not None:

    @triton.jit
    def _write_read_kernel(v_ptr, u_ptr, lam_ptr, qk_ptr, scale_ptr, bias_ptr, s0_ptr, o_ptr, last_ptr,
                           T, M, Dv, H, eps, HAS_STATE: tl.constexpr, BM: tl.constexpr, BD: tl.constexpr):
        b = tl.program_id(0)
        h = tl.program_id(1)
        m = tl.arange(0, BM)
        d = tl.arange(0, BD)
        m_ok, d_ok = m < M, d < Dv
        md_ok = m_ok[:, None] & d_ok[None, :]
        md_off = m[:, None] * Dv + d[None, :]
        lam = tl.load(lam_ptr + m, mask=m_ok, other=0.0)
        scale = tl.load(scale_ptr + h)
        bias = tl.load(bias_ptr + h * M + m, mask=m_ok, other=0.0)
        S = tl.zeros((BM, BD), dtype=tl.float32)
        if HAS_STATE:
            S = tl.load(s0_ptr + b * M * Dv + md_off, mask=md_ok, other=0.0)
        for t in range(T):
            row = b * T + t
            v_t = tl.load(v_ptr + row * Dv + d, mask=d_ok, other=0.0)
            u_t = tl.load(u_ptr + row * M + m, mask=m_ok, other=0.0)
            q_t = tl.load(qk_ptr + (row * H + h) * Dv + d, mask=d_ok, other=0.0)
            S = lam[:, None] * S + u_t[:, None] * v_t[None, :]
            inv_rms = 1.0 / tl.sqrt(tl.sum(S * S, axis=1) / Dv + eps)  # (BM,)
            dots = tl.sum(q_t[None, :] * S, axis=1) * inv_rms
            # Padded streams (m >= M) hold zero states; their gates are zeroed too, for clarity.
            gates = tl.where(m_ok, tl.sigmoid(dots * scale + bias), 0.0)
            o_t = tl.sum(gates[:, None] * S, axis=0)  # (BD,)
            tl.store(o_ptr + (row * H + h) * Dv + d, o_t, mask=d_ok)
        if h == 0:
            tl.store(last_ptr + b * M * Dv + md_off, S, mask=md_ok)


def _launch(v, u, log_lam, qk, scale, bias, eps: float, state):
    """Run the kernel: o (B, T, H, Dv) and the last state (B, M, Dv), fp32."""
    B, T, Dv = v.shape
    M, H = u.shape[-1], qk.shape[2]
    o = v.new_empty(B, T, H, Dv, dtype=torch.float32)
    last = v.new_empty(B, M, Dv, dtype=torch.float32)
    s0 = last if state is None else state.float().contiguous()
    _write_read_kernel[(B, H)](
        v.float().contiguous(), u.float().contiguous(), log_lam.float().exp().contiguous(), qk.float().contiguous(),
        scale.float().contiguous(), bias.float().contiguous(), s0, o, last, T, M, Dv, H, float(eps),
        HAS_STATE=state is not None, BM=triton.next_power_of_2(M), BD=triton.next_power_of_2(Dv),
    )
    return o, last


class _FusedWriteRead(torch.autograd.Function):
    """Forward: the kernel (states on chip). Backward: the chunked PyTorch form recomputed from the inputs."""

    @staticmethod
    def forward(ctx, v, u, log_lam, qk, scale, bias, state, eps, chunk_size):
        ctx.eps, ctx.chunk_size = eps, chunk_size
        ctx.save_for_backward(v, u, log_lam, qk, scale, bias, state)
        return _launch(v, u, log_lam, qk, scale, bias, eps, state)

    @staticmethod
    def backward(ctx, grad_o, grad_last):
        saved = ctx.saved_tensors
        wants = ctx.needs_input_grad[:7]
        inputs = [None if t is None else t.detach().requires_grad_(w) for t, w in zip(saved, wants)]
        with torch.enable_grad():
            v, u, log_lam, qk, scale, bias, state = inputs
            o, last = write_read_chunked(v, u, log_lam, qk, scale, bias, ctx.eps, state, ctx.chunk_size)
        targets = [t for t, w in zip(inputs, wants) if w]
        grads = iter(torch.autograd.grad((o, last), targets, (grad_o, grad_last), allow_unused=True))
        return (*(next(grads) if w else None for w in wants), None, None)


def fused_write_read(v, u, log_lam, qk, gate_scale, gate_bias, eps: float, state=None, chunk_size: int = 64):
    """Same arguments and returns as ``write_read_chunked``, computed by the fused kernel."""
    return _FusedWriteRead.apply(v, u, log_lam, qk, gate_scale, gate_bias, state, eps, chunk_size)
