"""Hybrid Stream Mixer: linear-time stream-mixer blocks with a few causal RoPE attention blocks.

Self-contained (only relative imports), so ``save_pretrained`` copies it beside the weights and
``AutoModelForCausalLM.from_pretrained(dir, trust_remote_code=True)`` works with nothing of nestling installed.

Shapes: B batch, T time (new tokens), K keys (past + new), D hidden, M streams, Dv stream dim, H read heads.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from transformers import GenerationMixin, PreTrainedModel
from transformers import initialization as init
from transformers.cache_utils import Cache, CacheLayerMixin, DynamicCache, LinearAttentionLayer
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BaseModelOutputWithPast, CausalLMOutputWithPast
from transformers.modeling_utils import slice_logits_to_keep

from .configuration_stream_mixer import StreamMixerConfig
from .ops_stream_mixer import streams_chunked, streams_reference


class StreamMixerCache(DynamicCache):
    """``DynamicCache(config=...)`` (a stream state per mixer block, a KV cache per attention block) that also
    counts tokens, so a pure mixer (no KV to measure) can still answer ``get_seq_length`` for ``generate``.

    It never reports itself compileable: ``generate`` would then turn the 2-D padding mask into a 4-D one,
    and the mixers need the 2-D mask to keep padding out of their state.
    """

    def __init__(self, config: StreamMixerConfig, **kwargs):
        super().__init__(config=config, **kwargs)
        self.tokens_seen = 0

    def get_seq_length(self, layer_idx: int = 0) -> int:
        """Tokens already in the cache (KV length when there is an attention block, else the token count)."""
        if any(isinstance(layer, CacheLayerMixin) for layer in self.layers):
            return super().get_seq_length(layer_idx)
        return self.tokens_seen

    @property
    def is_compileable(self) -> bool:
        return False

    def reset(self) -> None:
        super().reset()
        self.tokens_seen = 0

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        """Keep batch rows ``indices`` (repeats allowed) of every block: KV caches and stream states alike.

        DynamicCache's own version asks each layer, and the stream-state layers have no such method; their
        beam-search ``reorder_cache`` does the same row selection. Scorers use this to run a shared prefix
        once and fan its cache out to every continuation.
        """
        for layer in self.layers:
            if isinstance(layer, LinearAttentionLayer):
                layer.reorder_cache(indices)
            else:
                layer.batch_select_indices(indices)


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

    def write(self, v: torch.Tensor, r_logits: torch.Tensor, mask: torch.Tensor | None, state: torch.Tensor | None):
        """States (B, T, M, Dv) and last state (B, M, Dv), fp32, from v (B, T, Dv) and routing logits (B, T, M).

        Padding (mask 0) writes nothing, so a left-padded row reaches its first token with a zero state.
        """
        theta = self.theta.float()
        # (1 - sigmoid(theta)) = sigmoid(-theta), exact even where lambda is close to 1.
        u = torch.softmax(r_logits.float(), dim=-1) * torch.sigmoid(-theta)
        if mask is not None:
            u = u * mask[..., None].to(u.dtype)
        log_lam = F.logsigmoid(theta)
        if self.impl == "reference" or v.shape[1] == 1:
            return streams_reference(v.float(), u, log_lam, state)
        return streams_chunked(v.float(), u, log_lam, state, self.chunk_size)

    def read(self, q: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
        """Normalised read (B, T, H*Dv) of the H gated heads, queries q (B, T, H, Dv), over states (B, T, M, Dv)."""
        B, T = q.shape[:2]
        q = self.q_norm(q.float()).float()
        # <q, RMSNorm(S)> = <q * w_k, S> / rms(S): the normalised keys are never materialised.
        q = q * self.k_norm.weight.float()
        inv_rms = torch.rsqrt(torch.linalg.vector_norm(states, dim=-1).square() / self.Dv + self.eps)  # (B, T, M)
        dots = torch.einsum("bthd,btmd->bthm", q, states) * inv_rms[:, :, None, :]
        scale = self.gate_scale.float()[:, None] / math.sqrt(self.Dv)
        gates = torch.sigmoid(dots * scale + self.gate_bias.float())  # (B, T, H, M)
        o = torch.einsum("bthm,btmd->bthd", gates, states).reshape(B, T, self.H * self.Dv)
        return self.o_norm(o)

    def forward(self, x, mask=None, cache: Cache | None = None, **_) -> torch.Tensor:
        B, T, _ = x.shape
        # Projections run under the caller's autocast; the recurrence and the gated read below run in fp32
        # (decays near 1 need it).
        v, r_logits = self.v_proj(x), self.r_proj(x)
        q = self.q_proj(x).view(B, T, self.H, self.Dv)
        state = None
        if cache is not None:
            layer = cache.layers[self.layer_idx]
            # update_recurrent_state never sets has_previous_state (transformers 5.23), so we set it below;
            # a fresh or reset layer therefore starts from zeros. Cloned: the cache buffer is overwritten in place.
            if layer.has_previous_state[0]:
                state = layer.recurrent_states[0].clone()
        with torch.autocast(device_type=x.device.type, enabled=False):
            states, last = self.write(v, r_logits, mask, state)
            if cache is not None:
                cache.update_recurrent_state(last, self.layer_idx)
                cache.layers[self.layer_idx].has_previous_state[0] = True
            o = self.read(q, states)
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

    def forward(self, x, mask=None, cache: Cache | None = None, rope=None, attn_mask=None, **_) -> torch.Tensor:
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


class StreamMixerBlock(GradientCheckpointingLayer):
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
    config: StreamMixerConfig
    base_model_prefix = "model"
    supports_gradient_checkpointing = True
    _no_split_modules = ["StreamMixerBlock"]
    _skip_keys_device_placement = ["past_key_values"]
    _supports_sdpa = True

    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, StreamMixer):
            init.copy_(module.theta, initial_decay_logits(module.M, self.config.max_position_embeddings))
            init.ones_(module.gate_scale)
            init.zeros_(module.gate_bias)


class StreamMixerModel(StreamMixerPreTrainedModel):
    """The decoder stack without the output head."""

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
        past_key_values: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        **kwargs,
    ) -> BaseModelOutputWithPast:
        """input_ids (B, T) or inputs_embeds (B, T, D); attention_mask (B, K) or (B, T) with 0 at padding.

        With autograd off and T > ``config.prefill_segment`` (> 0), the T tokens run as consecutive segments
        through a cache (``_forward_segments``): same outputs and cache as one pass, to float rounding.
        """
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids and inputs_embeds")
        x = self.embed_tokens(input_ids) if inputs_embeds is None else inputs_embeds
        B, T, _ = x.shape
        use_cache = self.config.use_cache if use_cache is None else use_cache
        cache = past_key_values if use_cache else None
        if use_cache and cache is None:
            cache = StreamMixerCache(self.config)
        if cache is not None and len(cache.layers) != self.config.num_hidden_layers:
            raise ValueError("past_key_values must be built with the model's config: StreamMixerCache(model.config)")
        past = self._past_length(cache)
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
            hidden = self._forward_segments(x, attention_mask, position_ids, cache, past, segment)
            return BaseModelOutputWithPast(last_hidden_state=hidden, past_key_values=cache)
        return BaseModelOutputWithPast(
            last_hidden_state=self._forward_once(x, attention_mask, position_ids, cache, past), past_key_values=cache
        )

    def _forward_once(self, x, attention_mask, position_ids, cache, past: int) -> torch.Tensor:
        """Normalised last hidden states (B, T, D) of one pass over x (B, T, D); advances cache if given."""
        B, T, _ = x.shape
        mask = None if attention_mask is None else attention_mask[:, -T:]
        rope = attn_mask = None
        if self.config.attention_layers:
            if position_ids is None:
                position_ids = self._positions(attention_mask, B, T, past, x.device)
            rope = rope_cos_sin(position_ids, self.config.head_dim, self.config.rope_theta, x.dtype)
            attn_mask = self._attention_mask(attention_mask, B, T, past, x.device)

        for block in self.layers:
            x = block(x, mask=mask, cache=cache, rope=rope, attn_mask=attn_mask)
        if isinstance(cache, StreamMixerCache):
            cache.tokens_seen += T
        return self.norm(x)

    def _forward_segments(self, x, attention_mask, position_ids, cache, past: int, segment: int) -> torch.Tensor:
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
        hidden = []
        for s in range(0, T, segment):
            e = min(s + segment, T)
            keys = None if attention_mask is None else attention_mask[:, : past + e]
            if keys is not None and bool(keys.all()):
                keys = None
            pos = None if position_ids is None else position_ids[:, s:e]
            hidden.append(self._forward_once(x[:, s:e], keys, pos, cache, past + s))
        return torch.cat(hidden, dim=1)

    def _past_length(self, cache: Cache | None) -> int:
        if cache is None:
            return 0
        if isinstance(cache, StreamMixerCache) or self.config.attention_layers:
            return cache.get_seq_length()
        return 0

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


class StreamMixerForCausalLM(StreamMixerPreTrainedModel, GenerationMixin):
    """The Hybrid Stream Mixer language model (output head tied to the embedding by default)."""

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

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        past_key_values: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        **kwargs,
    ) -> CausalLMOutputWithPast:
        """Logits (B, T, V); with labels (B, T) also the next-token cross-entropy (shifted inside, -100 ignored).

        Under ``torch.no_grad``/``inference_mode`` a long input runs segment-wise (``config.prefill_segment``);
        logits, loss and the returned cache are those of one pass, to float rounding.
        """
        out = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            past_key_values=past_key_values,
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
        )
        logits = self.lm_head(slice_logits_to_keep(out.last_hidden_state, logits_to_keep))
        loss = None
        if labels is not None:
            loss = self.loss_function(logits=logits, labels=labels, vocab_size=self.config.vocab_size, **kwargs)
        return CausalLMOutputWithPast(loss=loss, logits=logits, past_key_values=out.past_key_values)

    def _prepare_cache_for_generation(self, generation_config, model_kwargs, *args, **kwargs):
        # generate() builds a plain DynamicCache(config=...); ours adds the token count a pure mixer needs.
        super()._prepare_cache_for_generation(generation_config, model_kwargs, *args, **kwargs)
        cache = model_kwargs.get("past_key_values")
        if type(cache) is DynamicCache and not getattr(cache, "_is_user_defined", False):
            model_kwargs["past_key_values"] = StreamMixerCache(self.config)


StreamMixerForCausalLM.register_for_auto_class("AutoModelForCausalLM")

__all__ = ["StreamMixerCache", "StreamMixerForCausalLM", "StreamMixerModel", "StreamMixerPreTrainedModel"]
