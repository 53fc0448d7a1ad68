"""The stream write S_t[m] = lambda_m S_{t-1}[m] + u_t[m] v_t in two forms held equal by the tests.

``u_t[m] = (1 - lambda_m) r_t[m] mask_t`` is the write strength: routing weight times one minus the decay,
zero at padding. Both forms return every state (the reads need S_t at every t) and the last one.
The write rule is a reconstruction (the card names decaying memory streams, not their equations; see
docs/reconstructions.md).

Shapes: B batch, T time, M streams, Dv stream dimension, C chunk, N chunks.
"""

from __future__ import annotations

import torch


def streams_reference(
    v: torch.Tensor, u: torch.Tensor, log_lam: torch.Tensor, state: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Step-by-step recurrence: slow and obvious, the definition the chunked form must match.

    v: (B, T, Dv), u: (B, T, M), log_lam: (M,) log decays, state: (B, M, Dv) or None (zeros).
    Returns states (B, T, M, Dv) and the last state (B, M, Dv), in fp32 (fp64 if given fp64: the tests'
    exact yardstick, since a sequential fp32 sum over thousands of steps drifts more than the chunked form).
    """
    B, T, Dv = v.shape
    M = u.shape[-1]
    dtype = torch.promote_types(v.dtype, torch.float32)
    v, u = v.to(dtype), u.to(dtype)
    lam = log_lam.to(dtype).exp()[:, None]
    S = v.new_zeros(B, M, Dv) if state is None else state.to(dtype)
    states = []
    for t in range(T):
        S = lam * S + u[:, t, :, None] * v[:, t, None, :]
        states.append(S)
    return torch.stack(states, dim=1), S


def _decay_matrix(log_lam: torch.Tensor, n: int, step: int) -> torch.Tensor:
    """(M, n, n) with entry [m, i, j] = lambda_m ** ((i - j) * step) for j <= i, else 0.

    The exponent is formed pairwise and masked to -inf before exp, so nothing ever exceeds 1: factoring
    lambda^-t across a chunk would overflow fp32 for fast-decaying streams.
    """
    idx = torch.arange(n, device=log_lam.device)
    diff = (idx[:, None] - idx[None, :]).to(log_lam.dtype)
    expo = diff[None] * (log_lam[:, None, None] * step)
    return expo.masked_fill(diff[None] < 0, float("-inf")).exp()


def _scan(end: torch.Tensor, log_lam: torch.Tensor, step: int, group: int = 32) -> torch.Tensor:
    """Inclusive scan E_n = lambda^step E_{n-1} + end_n along dim 2 of end (B, M, N, Dv), from E_{-1} = 0.

    Up to ``group`` items: one masked pairwise-decay matmul. Beyond: the same within groups, then the scan of
    the group ends (recursively, with step * group) decayed into each group, so the cost stays linear in N
    where a single (N x N) matmul would grow quadratically with the sequence.
    """
    B, M, N, Dv = end.shape
    if N <= group:
        return torch.matmul(_decay_matrix(log_lam, N, step)[None], end)
    G, NG = group, -(-N // group)
    x = torch.nn.functional.pad(end, (0, 0, 0, NG * G - N)).view(B, M, NG, G, Dv)
    local = torch.matmul(_decay_matrix(log_lam, G, step)[None, :, None], x)  # (B, M, NG, G, Dv)
    group_ends = _scan(local[:, :, :, -1], log_lam, step * G, group)  # true E at the end of each group
    entering = torch.cat([torch.zeros_like(group_ends[:, :, :1]), group_ends[:, :, :-1]], dim=2)
    pow_i = (log_lam[:, None] * (step * torch.arange(1, G + 1, device=end.device, dtype=torch.float32))).exp()
    out = torch.addcmul(local, pow_i[None, :, None, :, None], entering[:, :, :, None])
    return out.reshape(B, M, NG * G, Dv)[:, :, :N]


def streams_chunked(
    v: torch.Tensor,
    u: torch.Tensor,
    log_lam: torch.Tensor,
    state: torch.Tensor | None = None,
    chunk_size: int = 64,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Parallel form: one batched matmul for every chunk at once, then the chunk states carried in fp32.

    Same arguments and returns as ``streams_reference``. Within a chunk, S_i = sum_{j<=i} lambda^(i-j) u_j v_j
    is a (C x C) lower-triangular decay matrix times the writes; it depends only on the stream, so all chunks
    and batch rows share it. Between chunks the carried state follows the same recurrence with step C; it is
    evaluated by ``_scan`` (masked pairwise-decay matmuls over groups of chunks), which keeps the whole op
    linear in T and free of Python loops over time.
    """
    B, T, Dv = v.shape
    M = u.shape[-1]
    C = max(1, min(chunk_size, T))
    N = -(-T // C)
    log_lam = log_lam.float()
    # Zero writes past the end change no state before T; the tail is dropped below.
    pad = N * C - T
    v = torch.nn.functional.pad(v.float(), (0, 0, 0, pad)).view(B, N, C, Dv)
    u = torch.nn.functional.pad(u.float(), (0, 0, 0, pad)).view(B, N, C, M)

    # Intra-chunk: W[b, n, i, m, j] = lambda_m^(i-j) u[b, n, j, m]; local = W @ v, one bmm of (C*M x C) @ (C x Dv)
    # per chunk whose rows come out time-major, (B, N, C, M, Dv), as the reads want them (no transpose copy).
    decay = _decay_matrix(log_lam, C, 1).transpose(0, 1)  # (C, M, C): [i, m, j]
    W = decay[None, None] * u.transpose(2, 3)[:, :, None, :, :]  # (B, N, C, M, C)
    local = torch.matmul(W.reshape(B, N, C * M, C), v).view(B, N, C, M, Dv)

    # Inter-chunk: the state entering chunk n is sum_{k<n} lambda^(C(n-1-k)) end_k + lambda^(Cn) state.
    end = local[:, :, -1].transpose(1, 2)  # (B, M, N, Dv)
    ends = _scan(end, log_lam, C)  # true state at the END of chunk n
    starts = torch.cat([torch.zeros_like(ends[:, :, :1]), ends[:, :, :-1]], dim=2)  # entering chunk n
    if state is not None:
        lam_cn = (log_lam[:, None] * (C * torch.arange(N, device=v.device, dtype=torch.float32))).exp()  # (M, N)
        starts = starts + lam_cn[None, :, :, None] * state.float()[:, :, None, :]
    # Position i of a chunk sees the entering state decayed i + 1 times; addcmul adds it in one pass.
    pow_i = (log_lam[None, :] * torch.arange(1, C + 1, device=v.device, dtype=torch.float32)[:, None]).exp()  # (C, M)
    S = torch.addcmul(local, pow_i[None, None, :, :, None], starts.transpose(1, 2)[:, :, None])
    states = S.view(B, N * C, M, Dv)[:, :T]
    return states, states[:, -1]


def read_states(qk: torch.Tensor, states: torch.Tensor, gate_scale: torch.Tensor, gate_bias: torch.Tensor,
                eps: float) -> torch.Tensor:
    """The gated read before its output norm: o (B, T, H, Dv) in fp32.

    qk: (B, T, H, Dv) normalised queries already times the key-norm weight, states (B, T, M, Dv),
    gate_scale (H,) (already divided by sqrt(Dv)), gate_bias (H, M). ``<q, RMSNorm(S)> = <q * w_k, S> / rms(S)``,
    so the normalised keys are never materialised.
    """
    Dv = states.shape[-1]
    inv_rms = torch.rsqrt(states.square().sum(-1) / Dv + eps)  # (B, T, M)
    dots = torch.einsum("bthd,btmd->bthm", qk, states) * inv_rms[:, :, None, :]
    gates = torch.sigmoid(dots * gate_scale[:, None] + gate_bias)  # (B, T, H, M)
    return torch.einsum("bthm,btmd->bthd", gates, states)


def write_read_chunked(v, u, log_lam, qk, gate_scale, gate_bias, eps: float, state=None, chunk_size: int = 64):
    """``streams_chunked`` then ``read_states``: the PyTorch form of what the fused Triton kernel computes.

    Returns o (B, T, H, Dv) and the last state (B, M, Dv), fp32.
    """
    states, last = streams_chunked(v, u, log_lam, state, chunk_size)
    return read_states(qk, states, gate_scale, gate_bias, eps), last
