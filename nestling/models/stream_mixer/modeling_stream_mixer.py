"""Hybrid Stream Mixer: linear-time stream-mixer blocks with a few causal RoPE attention blocks.

Self-contained (only relative imports), so ``save_pretrained`` copies it beside the weights and
``AutoModelForCausalLM.from_pretrained(dir, trust_remote_code=True)`` works with nothing of nestling installed.

It leans only on the part of transformers that has held still from 4.51 (the strict BabyLM pipeline's
pin) to 5.x: ``PreTrainedModel``, ``GenerationMixin``, ``ModelOutput`` and the overridable generation
hooks. The cache is the model's own (``StreamMixerCache``), created in ``prepare_inputs_for_generation``
and carried by ``_update_model_kwargs_for_generation``, so transformers' cache classes, which change from
release to release, are never touched.

Shapes: B batch, T time (new tokens), K keys (past + new), D hidden, M streams, Dv stream dim, H read heads.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint
from transformers import GenerationMixin, PreTrainedModel
from transformers.utils import ModelOutput

from .configuration_stream_mixer import StreamMixerConfig
from .ops_stream_mixer import read_states, streams_reference, write_read_chunked
from .ops_triton_stream_mixer import fused_write_read, use_fused

try:  # transformers >= 5: these initialisers skip tensors already loaded from a checkpoint
    from transformers import initialization as _init
except ImportError:  # transformers 4.x initialises before loading, so plain torch initialisers are right
    _init = nn.init

# generate() hands the cache to prepare_inputs_for_generation under the name its own signature uses:
# "past_key_values" up to transformers 5.23, "cache" from 5.24. We read both and store it back under this.
_GENERATE_CACHE_KEY = (
    "cache" if "cache" in inspect.signature(GenerationMixin.prepare_inputs_for_generation).parameters
    else "past_key_values"
)


class StreamMixerCache:
    """Everything a forward carries to the next: a stream state (B, M, Dv) per mixer block, keys and
    values (B, heads, K, head_dim) per attention block, and how many positions (padding included) it holds.

    It implements what ``generate`` (greedy, sampling, beam search) and nestling's scorers call:
    ``get_seq_length``, ``reorder_cache``, ``batch_select_indices``, ``batch_repeat_interleave``, ``reset``.
    """

    is_compileable = False

    def __init__(self, config: StreamMixerConfig):
        n = config.num_hidden_layers
        self.attention_layers = frozenset(config.attention_layers)
        self.states: list[torch.Tensor | None] = [None] * n
        self.keys: list[torch.Tensor | None] = [None] * n
        self.values: list[torch.Tensor | None] = [None] * n
        self.tokens_seen = 0

    def __len__(self) -> int:
        return len(self.states)

    def get_seq_length(self, layer_idx: int = 0) -> int:
        """Positions already in the cache."""
        return self.tokens_seen

    def update(self, key: torch.Tensor, value: torch.Tensor, layer_idx: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Append the new keys and values (B, heads, T, hd) of an attention block; return all of them."""
        if self.keys[layer_idx] is not None:
            key = torch.cat([self.keys[layer_idx], key], dim=-2)
            value = torch.cat([self.values[layer_idx], value], dim=-2)
        self.keys[layer_idx], self.values[layer_idx] = key, value
        return key, value

    def _map(self, fn) -> None:
        for store in (self.states, self.keys, self.values):
            for i, t in enumerate(store):
                if t is not None:
                    store[i] = fn(t)

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        """Keep batch rows ``indices`` (repeats allowed): scorers fan one shared prefix out to its continuations."""
        self._map(lambda t: t.index_select(0, indices.to(t.device)))

    def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
        """Beam search: row i of the next step continues beam ``beam_idx[i]``."""
        self.batch_select_indices(beam_idx)

    def batch_repeat_interleave(self, repeats: int) -> None:
        self._map(lambda t: t.repeat_interleave(repeats, dim=0))

    def reset(self) -> None:
        self._map(lambda t: None)
        self.tokens_seen = 0


class _CacheOutput:
    """The cache field is named ``cache``, as transformers >= 5.24 names it (its ModelOutput renames a field
    called ``past_key_values``); ``past_key_values`` reads it too, as code written for 4.x and 5.x < 5.24 does."""

    @property
    def past_key_values(self) -> StreamMixerCache | None:
        return self.cache


@dataclass
class StreamMixerModelOutput(_CacheOutput, ModelOutput):
    """``last_hidden_state`` (B, T, D) after the final norm; ``hidden_states`` as transformers defines them."""

    last_hidden_state: torch.FloatTensor | None = None
    cache: StreamMixerCache | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None


@dataclass
class StreamMixerCausalLMOutput(_CacheOutput, ModelOutput):
    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    cache: StreamMixerCache | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None


@dataclass
class StreamMixerSequenceClassifierOutput(ModelOutput):
    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None


class StreamMixerRMSNorm(nn.Module):
    """RMSNorm over the last dimension, computed in fp32."""

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return (xf * self.weight.float()).to(x.dtype)


def initial_decay_logits(n_streams: int, max_timescale: int) -> torch.Tensor:
    """theta_m with timescales 1/(1 - sigmoid(theta_m)) spread log-uniformly from ~1 token to the context.

    1 / (1 - lambda) = tau  <=>  lambda / (1 - lambda) = tau - 1  <=>  theta = log(tau - 1); tau starts at 1.1
    because tau = 1 (no memory) would need theta = -inf.
    """
    tau = torch.logspace(math.log10(1.1), math.log10(max(float(max_timescale), 2.0)), n_streams)
    return torch.log(tau - 1.0)


class StreamMixer(nn.Module):
    """Content-routed memory streams with learned decays, read by sigmoid-gated heads with QK-norm.

    Write: v_t = W_v x_t; r_t = softmax(W_r x_t) over streams; S_t[m] = lambda_m S_{t-1}[m] + (1-lambda_m) r_t[m] v_t.
    Read: per head h, q = RMSNorm(W_q^h x_t); k_m = RMSNorm(S_t[m]); g_m = sigmoid(a_h <q, k_m> / sqrt(Dv) + b_hm),
    one independent sigmoid per stream; o^h = RMSNorm(sum_m g_m S_t[m]); output W_o [o^1 .. o^H].

    A reconstruction: the card gives the sizes (32 streams of 64, 4 sigmoid-gated read heads, QK-norm) and
    no formula; these equations are nestling's reading of them (docs/reconstructions.md gives each reason).
    """

    def __init__(self, config: StreamMixerConfig, layer_idx: int):
        super().__init__()
        self.layer_idx = layer_idx
        self.M, self.Dv, self.H = config.n_streams, config.stream_dim, config.n_read_heads
        self.chunk_size, self.impl, self.eps = config.chunk_size, config.mixer_impl, config.rms_norm_eps
        D = config.hidden_size
        self.v_proj = nn.Linear(D, self.Dv, bias=False)
        self.r_proj = nn.Linear(D, self.M, bias=False)
        self.theta = nn.Parameter(initial_decay_logits(self.M, config.max_position_embeddings))
        self.q_proj = nn.Linear(D, self.H * self.Dv, bias=False)
        self.q_norm = StreamMixerRMSNorm(self.Dv, config.rms_norm_eps)
        self.k_norm = StreamMixerRMSNorm(self.Dv, config.rms_norm_eps)
        self.gate_scale = nn.Parameter(torch.ones(self.H))
        self.gate_bias = nn.Parameter(torch.zeros(self.H, self.M))
        self.o_norm = StreamMixerRMSNorm(self.H * self.Dv, config.rms_norm_eps)
        self.o_proj = nn.Linear(self.H * self.Dv, D, bias=False)

    def write(self, v: torch.Tensor, r_logits: torch.Tensor, mask: torch.Tensor | None):
        """Write strengths u (B, T, M) and log decays (M,), fp32, from routing logits (B, T, M).

        Padding (mask 0) writes nothing, so a left-padded row reaches its first token with a zero state.
        """
        theta = self.theta.float()
        # (1 - sigmoid(theta)) = sigmoid(-theta), exact even where lambda is close to 1.
        u = torch.softmax(r_logits.float(), dim=-1) * torch.sigmoid(-theta)
        if mask is not None:
            u = u * mask[..., None].to(u.dtype)
        return u, F.logsigmoid(theta)

    def write_and_read(self, v, u, log_lam, q, state):
        """The read before its output norm, o (B, T, H, Dv), and the last state (B, M, Dv), all fp32.

        q (B, T, H, Dv) are the raw queries. The fused Triton kernel (CUDA, Triton present, ``mixer_impl``
        auto or fused) keeps the states on chip; the other forms materialise every state (B, T, M, Dv).
        """
        # <q, RMSNorm(S)> = <q * w_k, S> / rms(S): the key-norm weight moves onto the query.
        qk = self.q_norm(q.float()).float() * self.k_norm.weight.float()
        scale = self.gate_scale.float() / math.sqrt(self.Dv)
        bias = self.gate_bias.float()
        if self.impl == "reference" or v.shape[1] == 1:
            states, last = streams_reference(v.float(), u, log_lam, state)
            return read_states(qk, states, scale, bias, self.eps), last
        if use_fused(self.impl, v):
            return fused_write_read(v.float(), u, log_lam, qk, scale, bias, self.eps, state, self.chunk_size)
        return write_read_chunked(v.float(), u, log_lam, qk, scale, bias, self.eps, state, self.chunk_size)

    def forward(self, x, mask=None, cache: StreamMixerCache | None = None, **_) -> torch.Tensor:
        B, T, _ = x.shape
        # Projections run under the caller's autocast (bf16 on GPUs); the recurrence, the carried state, the
        # gated read and its norms run in fp32 (decays near 1 need it).
        v, r_logits = self.v_proj(x), self.r_proj(x)
        q = self.q_proj(x).view(B, T, self.H, self.Dv)
        state = None if cache is None else cache.states[self.layer_idx]
        with torch.autocast(device_type=x.device.type, enabled=False):
            u, log_lam = self.write(v, r_logits, mask)
            o, last = self.write_and_read(v, u, log_lam, q, state)
            if cache is not None:
                cache.states[self.layer_idx] = last
            o = self.o_norm(o.reshape(B, T, self.H * self.Dv))
        return self.o_proj(o.to(x.dtype))


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def rope_cos_sin(position_ids: torch.Tensor, head_dim: int, theta: float, dtype: torch.dtype):
    """cos, sin of shape (B, T, head_dim) for integer positions (B, T), as in Llama's default RoPE."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, device=position_ids.device, dtype=torch.float) / head_dim))
    freqs = position_ids[..., None].float() * inv_freq
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos().to(dtype), emb.sin().to(dtype)


class StreamMixerAttention(nn.Module):
    """Causal multi-head self-attention with RoPE (Llama's, without GQA), KV-cached during generation."""

    def __init__(self, config: StreamMixerConfig, layer_idx: int):
        super().__init__()
        self.layer_idx = layer_idx
        self.nh, self.hd = config.num_attention_heads, config.head_dim
        D = config.hidden_size
        self.q_proj = nn.Linear(D, self.nh * self.hd, bias=False)
        self.k_proj = nn.Linear(D, self.nh * self.hd, bias=False)
        self.v_proj = nn.Linear(D, self.nh * self.hd, bias=False)
        self.o_proj = nn.Linear(self.nh * self.hd, D, bias=False)

    def forward(self, x, mask=None, cache: StreamMixerCache | None = None, rope=None, attn_mask=None, **_):
        B, T, _ = x.shape
        q, k, v = (p(x).view(B, T, self.nh, self.hd).transpose(1, 2) for p in (self.q_proj, self.k_proj, self.v_proj))
        cos, sin = (t[:, None] for t in rope)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        if cache is not None:
            k, v = cache.update(k, v, self.layer_idx)
        # attn_mask None means plain causal attention over a prompt with no past (the training path).
        causal = attn_mask is None and T > 1
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=causal)
        return self.o_proj(out.transpose(1, 2).reshape(B, T, self.nh * self.hd))


class StreamMixerMLP(nn.Module):
    """SwiGLU MLP."""

    def __init__(self, config: StreamMixerConfig):
        super().__init__()
        self.gate_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.up_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.down_proj = nn.Linear(config.intermediate_size, config.hidden_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class StreamMixerBlock(nn.Module):
    """Pre-norm residual block: mixer or attention, then the MLP."""

    def __init__(self, config: StreamMixerConfig, layer_idx: int):
        super().__init__()
        self.is_attention = layer_idx in config.attention_layers
        self.input_norm = StreamMixerRMSNorm(config.hidden_size, config.rms_norm_eps)
        mixer_cls = StreamMixerAttention if self.is_attention else StreamMixer
        self.mixer = mixer_cls(config, layer_idx)
        self.post_norm = StreamMixerRMSNorm(config.hidden_size, config.rms_norm_eps)
        self.mlp = StreamMixerMLP(config)

    def forward(self, x, mask=None, cache=None, rope=None, attn_mask=None) -> torch.Tensor:
        x = x + self.mixer(self.input_norm(x), mask=mask, cache=cache, rope=rope, attn_mask=attn_mask)
        return x + self.mlp(self.post_norm(x))


class StreamMixerPreTrainedModel(PreTrainedModel):
    config_class = StreamMixerConfig
    base_model_prefix = "model"
    supports_gradient_checkpointing = True
    _no_split_modules = ["StreamMixerBlock"]
    _skip_keys_device_placement = ["past_key_values"]
    _supports_sdpa = True

    def _init_weights(self, module):
        std = self.config.initializer_range
        if isinstance(module, (nn.Linear, nn.Embedding)):
            _init.normal_(module.weight, mean=0.0, std=std)
            if getattr(module, "bias", None) is not None:
                _init.zeros_(module.bias)
        elif isinstance(module, StreamMixerRMSNorm):
            _init.ones_(module.weight)
        elif isinstance(module, StreamMixer):
            with torch.no_grad():
                theta = initial_decay_logits(module.M, self.config.max_position_embeddings)
                module.theta.copy_(theta.to(module.theta.device, module.theta.dtype))
            _init.ones_(module.gate_scale)
            _init.zeros_(module.gate_bias)


class StreamMixerModel(StreamMixerPreTrainedModel):
    """The decoder stack without the output head (what ``AutoModel`` loads: final hidden states)."""

    def __init__(self, config: StreamMixerConfig):
        super().__init__(config)
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(StreamMixerBlock(config, i) for i in range(config.num_hidden_layers))
        self.norm = StreamMixerRMSNorm(config.hidden_size, config.rms_norm_eps)
        self.gradient_checkpointing = False
        self.post_init()

    def get_input_embeddings(self):
        return self.embed_tokens

    def set_input_embeddings(self, value):
        self.embed_tokens = value

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        past_key_values: StreamMixerCache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        cache: StreamMixerCache | None = None,
        **kwargs,
    ) -> StreamMixerModelOutput | tuple:
        """input_ids (B, T) or inputs_embeds (B, T, D); attention_mask (B, K) or (B, T) with 0 at padding.

        The cache may come as ``past_key_values`` or ``cache`` (transformers >= 5.24 spells it so).
        With autograd off and T > ``config.prefill_segment`` (> 0), the T tokens run as consecutive segments
        through a cache (``_forward_segments``): same outputs and cache as one pass, to float rounding.
        """
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids and inputs_embeds")
        x = self.embed_tokens(input_ids) if inputs_embeds is None else inputs_embeds
        T = x.shape[1]
        use_cache = self.config.use_cache if use_cache is None else use_cache
        output_hidden_states = bool(self.config.output_hidden_states if output_hidden_states is None
                                    else output_hidden_states)
        return_dict = self.config.return_dict if return_dict is None else return_dict
        given = past_key_values if past_key_values is not None else cache
        if given is not None and not isinstance(given, StreamMixerCache):
            raise TypeError(f"the stream mixer needs its own cache: StreamMixerCache(model.config), got {type(given).__name__}")
        cache = given if use_cache else None
        if use_cache and cache is None:
            cache = StreamMixerCache(self.config)
        if cache is not None and len(cache) != self.config.num_hidden_layers:
            raise ValueError("the cache must be built with the model's config: StreamMixerCache(model.config)")
        past = 0 if cache is None else cache.get_seq_length()
        if attention_mask is not None and attention_mask.dim() != 2:
            raise ValueError(f"attention_mask must be 2-D (batch, keys), 0 at padding; got {attention_mask.dim()}-D")
        # An all-ones mask means no padding: drop it and take the fast causal path.
        if attention_mask is not None and bool(attention_mask.all()):
            attention_mask = None
        segment = self.config.prefill_segment
        if (
            segment and T > segment and not torch.is_grad_enabled()
            and (attention_mask is None or attention_mask.shape[-1] in (T, past + T))
        ):
            hidden, all_hidden = self._forward_segments(
                x, attention_mask, position_ids, cache, past, segment, output_hidden_states)
        else:
            hidden, all_hidden = self._forward_once(x, attention_mask, position_ids, cache, past, output_hidden_states)
        out = StreamMixerModelOutput(last_hidden_state=hidden, cache=cache, hidden_states=all_hidden)
        return out if return_dict else out.to_tuple()

    def _forward_once(self, x, attention_mask, position_ids, cache, past: int, output_hidden_states: bool = False):
        """Normalised last hidden states (B, T, D) of one pass over x (B, T, D), and the per-block inputs plus
        the final states when ``output_hidden_states``; advances cache if given."""
        B, T, _ = x.shape
        mask = None if attention_mask is None else attention_mask[:, -T:]
        rope = attn_mask = None
        if self.config.attention_layers:
            if position_ids is None:
                position_ids = self._positions(attention_mask, B, T, past, x.device)
            rope = rope_cos_sin(position_ids, self.config.head_dim, self.config.rope_theta, x.dtype)
            attn_mask = self._attention_mask(attention_mask, B, T, past, x.device)

        all_hidden = []
        for block in self.layers:
            if output_hidden_states:
                all_hidden.append(x)
            if self.gradient_checkpointing and self.training and torch.is_grad_enabled():
                x = checkpoint(block, x, mask, cache, rope, attn_mask, use_reentrant=False)
            else:
                x = block(x, mask=mask, cache=cache, rope=rope, attn_mask=attn_mask)
        if cache is not None:
            cache.tokens_seen += T
        x = self.norm(x)
        return x, (tuple(all_hidden) + (x,) if output_hidden_states else None)

    def _forward_segments(self, x, attention_mask, position_ids, cache, past: int, segment: int,
                          output_hidden_states: bool = False):
        """Chunked prefill: ``_forward_once`` over x[:, s:s+segment] in turn, the stream states and KV carried.

        Inference only (no autograd): the mixers' per-token state tensors (B, T, M, Dv) are then built one
        segment at a time and stay cache-sized. Positions are fixed once for the whole input, as one pass
        would fix them, and the key mask is made (B, past + T) so each segment sees (B, its past + its length).
        Without a cache (use_cache=False) a temporary one carries the state and is dropped.
        """
        B, T, _ = x.shape
        if cache is None:
            cache = StreamMixerCache(self.config)
        if self.config.attention_layers and position_ids is None:
            position_ids = self._positions(attention_mask, B, T, past, x.device)
        if attention_mask is not None and attention_mask.shape[-1] != past + T:  # (B, T) after a past: past unpadded
            attention_mask = torch.cat([attention_mask.new_ones(B, past), attention_mask], dim=-1)
        pieces = []
        for s in range(0, T, segment):
            e = min(s + segment, T)
            keys = None if attention_mask is None else attention_mask[:, : past + e]
            if keys is not None and bool(keys.all()):
                keys = None
            pos = None if position_ids is None else position_ids[:, s:e]
            pieces.append(self._forward_once(x[:, s:e], keys, pos, cache, past + s, output_hidden_states))
        hidden = torch.cat([h for h, _ in pieces], dim=1)
        if not output_hidden_states:
            return hidden, None
        return hidden, tuple(torch.cat(level, dim=1) for level in zip(*(a for _, a in pieces)))

    @staticmethod
    def _positions(attention_mask, B: int, T: int, past: int, device) -> torch.Tensor:
        """RoPE positions (B, T) that skip left padding, so a padded row matches the row alone."""
        if attention_mask is not None and attention_mask.shape[-1] == past + T:
            pos = attention_mask.long().cumsum(-1) - 1
            return pos.clamp(min=0)[:, -T:]
        return torch.arange(past, past + T, device=device)[None].expand(B, T)

    @staticmethod
    def _attention_mask(attention_mask, B: int, T: int, past: int, device) -> torch.Tensor | None:
        """Boolean (B, 1, T, K) mask, or None where plain causal (no past, no padding) or no mask is needed."""
        if attention_mask is None and (past == 0 or T == 1):
            return None
        K = past + T
        q_abs = torch.arange(past, K, device=device)
        allowed = torch.arange(K, device=device)[None, :] <= q_abs[:, None]  # (T, K)
        allowed = allowed[None].expand(B, T, K)
        if attention_mask is not None:
            keys = attention_mask.bool()
            if keys.shape[-1] == T and past:
                keys = torch.cat([keys.new_ones(B, past), keys], dim=-1)
            allowed = allowed & keys[:, None, :]
            # A padding query would see no key at all (NaN softmax): let it see itself; its output is unused.
            allowed = allowed | (torch.arange(K, device=device)[None, :] == q_abs[:, None])[None]
        return allowed[:, None]


def _shifted_cross_entropy(logits, labels, vocab_size: int, num_items_in_batch=None) -> torch.Tensor:
    """Next-token cross-entropy: position t predicts labels[t + 1]; -100 is ignored. With
    ``num_items_in_batch`` (transformers' Trainer under gradient accumulation) the sum is divided by it."""
    shift_logits = logits[:, :-1].reshape(-1, vocab_size).float()
    shift_labels = labels[:, 1:].reshape(-1).to(shift_logits.device)
    if num_items_in_batch is None:
        return F.cross_entropy(shift_logits, shift_labels, ignore_index=-100)
    loss = F.cross_entropy(shift_logits, shift_labels, ignore_index=-100, reduction="sum")
    return loss / torch.as_tensor(num_items_in_batch, device=loss.device)


class StreamMixerForCausalLM(StreamMixerPreTrainedModel, GenerationMixin):
    """The Hybrid Stream Mixer language model (output head tied to the embedding by default)."""

    # A dict is what transformers 5 reads; 4.x iterates it and gets the key, as from its list form.
    _tied_weights_keys = {"lm_head.weight": "model.embed_tokens.weight"}

    def __init__(self, config: StreamMixerConfig):
        super().__init__(config)
        self.model = StreamMixerModel(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    def get_input_embeddings(self):
        return self.model.embed_tokens

    def set_input_embeddings(self, value):
        self.model.embed_tokens = value

    def get_output_embeddings(self):
        return self.lm_head

    def set_output_embeddings(self, value):
        self.lm_head = value

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        past_key_values: StreamMixerCache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        cache: StreamMixerCache | None = None,
        **kwargs,
    ) -> StreamMixerCausalLMOutput | tuple:
        """Logits (B, T, V); with labels (B, T) also the next-token cross-entropy (shifted inside, -100 ignored).

        ``logits_to_keep``: an int n keeps the last n positions (0 = all), a tensor keeps those indices.
        Under ``torch.no_grad``/``inference_mode`` a long input runs segment-wise (``config.prefill_segment``);
        logits, loss and the returned cache are those of one pass, to float rounding.
        """
        return_dict = self.config.return_dict if return_dict is None else return_dict
        out = self.model(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
            past_key_values=past_key_values if past_key_values is not None else cache,
            inputs_embeds=inputs_embeds, use_cache=use_cache, output_hidden_states=output_hidden_states,
            return_dict=True,
        )
        hidden = out.last_hidden_state
        keep = slice(-logits_to_keep, None) if isinstance(logits_to_keep, int) else logits_to_keep
        logits = self.lm_head(hidden[:, keep, :])
        loss = None
        if labels is not None:
            loss = _shifted_cross_entropy(logits, labels, self.config.vocab_size, kwargs.get("num_items_in_batch"))
        result = StreamMixerCausalLMOutput(loss=loss, logits=logits, cache=out.cache, hidden_states=out.hidden_states)
        return result if return_dict else result.to_tuple()

    @classmethod
    def _supports_default_dynamic_cache(cls) -> bool:
        # generate() must not build a transformers cache for us: prepare_inputs_for_generation makes ours.
        return False

    def prepare_inputs_for_generation(self, input_ids, attention_mask=None, inputs_embeds=None, use_cache=None,
                                      **kwargs) -> dict:
        """The next forward's inputs: only the tokens the cache has not seen, and the cache (ours, new on the
        first step when caching is on)."""
        cache = kwargs.get("past_key_values")
        cache = kwargs.get("cache") if cache is None else cache
        use_cache = self.config.use_cache if use_cache is None else use_cache
        if use_cache and cache is None:
            cache = StreamMixerCache(self.config)
        inputs = {"attention_mask": attention_mask, "use_cache": use_cache}
        past = cache.get_seq_length() if use_cache else 0
        if inputs_embeds is not None and past == 0:
            inputs["inputs_embeds"] = inputs_embeds
        else:
            inputs["input_ids"] = input_ids[:, past:]
        if use_cache:
            inputs["past_key_values"] = cache
        for key in ("logits_to_keep", "output_hidden_states", "position_ids"):
            if kwargs.get(key) is not None:
                inputs[key] = kwargs[key]
        if "position_ids" in inputs:
            inputs["position_ids"] = inputs["position_ids"][:, -inputs.get("input_ids", inputs_embeds).shape[1]:]
        return inputs

    def _update_model_kwargs_for_generation(self, outputs, model_kwargs, *args, **kwargs):
        model_kwargs = super()._update_model_kwargs_for_generation(outputs, model_kwargs, *args, **kwargs)
        if getattr(outputs, "cache", None) is not None:
            model_kwargs[_GENERATE_CACHE_KEY] = outputs.cache
        return model_kwargs

    def _reorder_cache(self, cache: StreamMixerCache, beam_idx: torch.LongTensor) -> StreamMixerCache:
        cache.reorder_cache(beam_idx)
        return cache


class StreamMixerForSequenceClassification(StreamMixerPreTrainedModel):
    """A classification head on the final hidden state of each row's last non-padding token (as GPT-2 and
    Llama do for decoders): what the multilingual fine-tuning script loads through
    ``AutoModelForSequenceClassification``. Padding may be on either side: the last real token is found
    from ``attention_mask`` (or, without one, from ``pad_token_id``)."""

    def __init__(self, config: StreamMixerConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.model = StreamMixerModel(config)
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.score = nn.Linear(config.hidden_size, config.num_labels, bias=False)
        self.post_init()

    def get_input_embeddings(self):
        return self.model.embed_tokens

    def set_input_embeddings(self, value):
        self.model.embed_tokens = value

    def _last_token(self, input_ids, attention_mask, B: int, T: int, device) -> torch.Tensor:
        """Index (B,) of each row's last real token."""
        if attention_mask is not None:
            real = attention_mask.bool()
        elif input_ids is not None and self.config.pad_token_id is not None:
            real = input_ids != self.config.pad_token_id
        else:
            return torch.full((B,), T - 1, device=device)
        positions = torch.arange(real.shape[-1], device=device)[None].expand_as(real)
        return torch.where(real, positions, -1).amax(-1).clamp(min=0)

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> StreamMixerSequenceClassifierOutput | tuple:
        return_dict = self.config.return_dict if return_dict is None else return_dict
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                         inputs_embeds=inputs_embeds, use_cache=False, output_hidden_states=output_hidden_states,
                         return_dict=True)
        hidden = out.last_hidden_state
        B, T = hidden.shape[:2]
        last = self._last_token(input_ids, attention_mask, B, T, hidden.device)
        pooled = hidden[torch.arange(B, device=hidden.device), last]
        logits = self.score(self.dropout(pooled))
        loss = None if labels is None else self._loss(logits, labels)
        result = StreamMixerSequenceClassifierOutput(loss=loss, logits=logits, hidden_states=out.hidden_states)
        return result if return_dict else result.to_tuple()

    def _loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The loss transformers' sequence classifiers use for ``config.problem_type`` (inferred if unset)."""
        problem = self.config.problem_type
        if problem is None:
            integer = labels.dtype in (torch.long, torch.int)
            problem = "regression" if self.num_labels == 1 else (
                "single_label_classification" if integer else "multi_label_classification")
        if problem == "regression":
            return F.mse_loss(logits.squeeze(-1).float(), labels.float().view(-1))
        if problem == "single_label_classification":
            return F.cross_entropy(logits.float().view(-1, self.num_labels), labels.view(-1))
        return F.binary_cross_entropy_with_logits(logits.float(), labels.float())


StreamMixerModel.register_for_auto_class("AutoModel")
StreamMixerForCausalLM.register_for_auto_class("AutoModelForCausalLM")
StreamMixerForSequenceClassification.register_for_auto_class("AutoModelForSequenceClassification")

__all__ = [
    "StreamMixerCache",
    "StreamMixerForCausalLM",
    "StreamMixerForSequenceClassification",
    "StreamMixerModel",
    "StreamMixerPreTrainedModel",
]
