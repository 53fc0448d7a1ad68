"""The strict track's classifier: a pretrained backbone plus the official classification head.

As the official ``evaluation_pipeline/finetune/classifier_model.py``: the backbone is loaded with
``AutoModel``; one hidden state per sequence goes through LayerNorm -> Linear -> GELU -> LayerNorm ->
Dropout -> Linear. The pooled state is the last real (non-pad) token for a causal LM, found from the
attention mask so that the padding side never changes a prediction, and the first token for an encoder.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from nestling.errors import UserError


class ClassifierHead(nn.Sequential):
    """The official head (hidden -> hidden -> labels), with its dropout and non-affine LayerNorms."""

    def __init__(self, hidden_size: int, num_labels: int, dropout: float = 0.1, layer_norm_eps: float = 1e-5):
        super().__init__(
            nn.LayerNorm(hidden_size, layer_norm_eps, elementwise_affine=False),
            nn.Linear(hidden_size, hidden_size),
            nn.GELU(),
            nn.LayerNorm(hidden_size, layer_norm_eps, elementwise_affine=False),
            nn.Dropout(dropout),
            nn.Linear(hidden_size, num_labels),
        )


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """(B, T, D) hidden states -> (B, D): the last real token ("last") or the first real token ("first")."""
    positions = torch.arange(hidden.size(1), device=hidden.device).expand_as(attention_mask)
    real = attention_mask.bool()
    if pooling == "last":
        index = torch.where(real, positions, -1).amax(dim=1)
    elif pooling == "first":
        index = torch.where(real, positions, hidden.size(1)).amin(dim=1)
    else:
        raise UserError(f"finetune.pooling must be last, first or auto, not {pooling!r}")
    return hidden[torch.arange(hidden.size(0), device=hidden.device), index]


def resolve_pooling(pooling: str, config) -> str:
    """auto: the first token for encoders (their CLS/BOS summary), else the last real token: in a causal LM
    it is the only one that has seen the whole input."""
    if pooling != "auto":
        return pooling
    archs = getattr(config, "architectures", None) or []
    encoder = getattr(config, "is_encoder_decoder", False) or any(
        a.endswith(("ForMaskedLM", "ForPreTraining")) for a in archs)
    causal = getattr(config, "is_decoder", False) or any(a.endswith("ForCausalLM") for a in archs)
    return "first" if encoder and not causal else "last"


def load_backbone(location: str | Path, revision: str | None = None) -> nn.Module:
    """``AutoModel.from_pretrained``; a folder whose remote code registers only a causal LM class falls back
    to that model's base model (the same weights without the LM head)."""
    from transformers import AutoModel, AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hub = {"revision": revision} if revision else {}
    verbosity = hf_logging.get_verbosity()
    # A causal LM's checkpoint holds an LM head the backbone has no use for: not worth a warning.
    hf_logging.set_verbosity_error()
    try:
        try:
            return AutoModel.from_pretrained(location, trust_remote_code=True, **hub)
        except ValueError:
            pass
        return AutoModelForCausalLM.from_pretrained(location, trust_remote_code=True, **hub).base_model
    except (OSError, ValueError) as err:
        raise UserError(f"{location}: cannot load the model ({str(err).splitlines()[0]})") from None
    finally:
        hf_logging.set_verbosity(verbosity)


class SequenceClassifier(nn.Module):
    """Backbone + head; forward(input_ids, attention_mask) -> (B, num_labels) logits."""

    def __init__(self, backbone: nn.Module, num_labels: int, *, pooling: str = "auto", dropout: float = 0.1,
                 layer_norm_eps: float = 1e-5):
        super().__init__()
        self.backbone = backbone
        self.pooling = resolve_pooling(pooling, backbone.config)
        self.head = ClassifierHead(backbone.config.hidden_size, num_labels, dropout, layer_norm_eps)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        out = self.backbone(input_ids=input_ids, attention_mask=attention_mask)
        hidden = out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]
        return self.head(pool(hidden, attention_mask, self.pooling))
