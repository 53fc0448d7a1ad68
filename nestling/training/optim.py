"""MuonAdamW: torch.optim.Muon for the hidden weight matrices, torch.optim.AdamW for everything else.

Muon orthogonalises the update of a 2-D matrix, which only makes sense for matrices that map one hidden
space to another. Embeddings (a lookup table, one row per token), the output head (tied to the
embeddings or not), norms and biases go to AdamW.

``adjust_lr_fn`` (the recipe's ``optimizer.adjust_lr_fn``) is Muon's learning-rate convention, an explicit
recipe choice because it changes what a peak LR means. ``"match_rms_adamw"`` (Moonshot, "Muon is Scalable
for LLM Training"; nestling's default, the demo is tuned for it) scales each matrix's orthogonalised
update to an RMS of 0.2 x lr, the RMS of an AdamW update, so Muon can share AdamW's learning rate and
weight decay and its update size does not depend on the matrix's shape. ``"original"`` (Keller Jordan's
sqrt(max(1, A/B)); torch.optim.Muon's own default) gives a 512 x 512 matrix an update of RMS
lr / sqrt(512): the same lr is a 4.5x (square) to 7.5x (512 x 1408) smaller step. The card recipes use
``"original"``; ``nestling/recipes/stream-mixer-48m.yaml`` says why.

``muon_ns_dtype`` is the precision of Muon's Newton-Schulz iteration. torch.optim.Muon always runs it in
bfloat16, which is fast on GPUs but emulated on CPUs without native bfloat16 matrix products (AVX2 only):
there, a demo-size step spent about 40% of its time in it (``benchmarks/bench_muon_cpu.py``). ``float32``
runs the same iteration through ``newton_schulz`` below, swapped in for torch's during ``step`` so that
everything else (momentum, learning-rate convention, weight decay, state) stays torch's own.
"""

from __future__ import annotations

from unittest import mock

import torch
from torch import nn
from torch.optim import _muon

from nestling.errors import UserError

# Keys of ``MuonAdamW.optimizers``; also the keys of the "lr" field in metrics.jsonl.
MUON, ADAMW = "muon", "adamw"


def split_params(model: nn.Module) -> dict[str, list[tuple[str, nn.Parameter]]]:
    """Named trainable parameters by destination: ``muon`` (hidden matrices: 2-D ``*weight`` of linear
    maps), ``decay`` (embeddings, output head) and ``no_decay`` (norms, biases, other vectors and
    tensors). Tied parameters appear once."""
    table_ids = {id(m.weight) for m in model.modules() if isinstance(m, nn.Embedding)}
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if head is not None:
        table_ids.add(id(head.weight))
    groups: dict[str, list] = {"muon": [], "decay": [], "no_decay": []}
    # named_parameters() removes duplicates, so a tied head is listed once, under the embedding's name.
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if id(p) in table_ids:
            groups["decay"].append((name, p))
        # A matrix named "weight" is a linear map; other 2-D tensors (a stream mixer's gate_bias) are not.
        elif p.ndim == 2 and min(p.shape) > 1 and name.endswith("weight"):
            groups["muon"].append((name, p))
        else:
            groups["no_decay"].append((name, p))
    return groups


def newton_schulz_dtype(setting: str, device: torch.device) -> torch.dtype:
    """The recipe's ``optimizer.muon_ns_dtype`` on ``device``: ``auto`` is bfloat16 on CUDA, float32 elsewhere."""
    if setting == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return getattr(torch, setting)


def newton_schulz(grad: torch.Tensor, ns_coefficients: tuple[float, float, float], ns_steps: int, eps: float,
                  dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Muon's quintic Newton-Schulz orthogonalisation of a 2-D ``grad``, computed in ``dtype``.

    The same iteration as torch.optim.Muon's ``_zeropower_via_newtonschulz`` (which fixes bfloat16; with
    ``dtype=torch.bfloat16`` the two agree bit for bit, a test holds them so): scale to spectral norm <= 1,
    then ``X <- a X + (b A + c A^2) X`` with ``A = X X^T`` on the wide orientation.
    """
    a, b, c = ns_coefficients
    x = grad.to(dtype)
    tall = grad.size(0) > grad.size(1)
    if tall:  # iterate on the wide side: the Gram matrix is the smaller one
        x = x.T
    x = x.div(x.norm().clamp(min=eps))
    for _ in range(ns_steps):
        gram = x @ x.T
        x = torch.addmm(x, torch.addmm(gram, gram, gram, beta=b, alpha=c), x, beta=a)
    return x.T if tall else x


class _Muon(torch.optim.Muon):
    """torch.optim.Muon whose Newton-Schulz iteration runs in ``ns_dtype`` (torch's own: bfloat16)."""

    def __init__(self, params, ns_dtype: torch.dtype, **kwargs):
        super().__init__(params, **kwargs)
        self.ns_dtype = ns_dtype

    def _orthogonalise(self, grad, ns_coefficients, ns_steps, eps):
        return newton_schulz(grad, ns_coefficients, ns_steps, eps, self.ns_dtype)

    def step(self, closure=None):
        if self.ns_dtype == torch.bfloat16:
            return super().step(closure)
        # torch's single-tensor Muon looks the function up in its module at each call; the swap lasts this step.
        with mock.patch.object(_muon, "_zeropower_via_newtonschulz", self._orthogonalise):
            return super().step(closure)


class MuonAdamW:
    """Two torch optimizers stepped together; ``optimizers`` maps "muon"/"adamw" to each.

    With ``name="adamw"`` every parameter goes to AdamW (hidden matrices with weight decay) and
    ``optimizers`` holds only "adamw".
    """

    def __init__(self, model: nn.Module, cfg):
        """``cfg``: the recipe's typed ``optimizer`` section (values checked by nestling.recipe)."""
        groups = split_params(model)
        wd = float(cfg.weight_decay)
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        decayed = [p for _, p in groups["decay"]]
        if cfg.name == "muon_adamw" and groups["muon"]:
            matrices = [p for _, p in groups["muon"]]
            self.optimizers[MUON] = _Muon(
                matrices,
                ns_dtype=newton_schulz_dtype(cfg.muon_ns_dtype, matrices[0].device),
                lr=float(cfg.muon_lr),
                weight_decay=wd,
                momentum=float(cfg.muon_momentum),
                adjust_lr_fn=cfg.adjust_lr_fn,
            )
        else:
            decayed += [p for _, p in groups["muon"]]
        adamw_groups = [
            {"params": decayed, "weight_decay": wd},
            {"params": [p for _, p in groups["no_decay"]], "weight_decay": 0.0},
        ]
        self.optimizers[ADAMW] = torch.optim.AdamW(
            [g for g in adamw_groups if g["params"]],
            lr=float(cfg.adamw_lr),
            betas=tuple(cfg.betas),
            eps=float(cfg.eps),
        )

    def step(self) -> None:
        for opt in self.optimizers.values():
            opt.step()

    def zero_grad(self) -> None:
        for opt in self.optimizers.values():
            opt.zero_grad(set_to_none=True)

    def lrs(self) -> dict[str, float]:
        """Current learning rate of each optimizer (its first group's), for metrics."""
        return {k: float(opt.param_groups[0]["lr"]) for k, opt in self.optimizers.items()}

    def state_dict(self) -> dict:
        return {k: opt.state_dict() for k, opt in self.optimizers.items()}

    def load_state_dict(self, state: dict) -> None:
        if set(state) != set(self.optimizers):
            raise UserError(f"--resume: the saved optimizer state holds {sorted(state)}, "
                            f"this recipe's optimizer has {sorted(self.optimizers)}")
        for k, opt in self.optimizers.items():
            opt.load_state_dict(state[k])

    def describe(self) -> dict:
        """What goes where, for summary.json: parameter counts per optimizer."""
        return {k: sum(p.numel() for g in opt.param_groups for p in g["params"]) for k, opt in self.optimizers.items()}

    def newton_schulz_dtype(self) -> str | None:
        """The precision Muon's Newton-Schulz iteration runs in ("float32", "bfloat16"); None without Muon."""
        muon = self.optimizers.get(MUON)
        return str(muon.ns_dtype).removeprefix("torch.") if muon is not None else None


def build_optimizer(model: nn.Module, cfg) -> MuonAdamW:
    """The recipe's ``optimizer`` section -> a MuonAdamW (or plain AdamW when ``name="adamw"``)."""
    return MuonAdamW(model, cfg)
