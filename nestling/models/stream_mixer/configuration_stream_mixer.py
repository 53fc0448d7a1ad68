"""Configuration of the Hybrid Stream Mixer (self-contained: exported checkpoints carry this file).

Written against the part of transformers' config API that has not moved between 4.51 (the strict BabyLM
pipeline's pin) and 5.x: a ``PretrainedConfig`` subclass with an explicit ``__init__`` that sets its own
attributes and hands the common ones (``pad_token_id``, ``tie_word_embeddings``, ...) to the base class.
"""

from __future__ import annotations

from transformers import PretrainedConfig

MIXER_IMPLS = ("auto", "chunked", "fused", "reference")

# Every auto class an exported checkpoint answers to. The official strict pipeline loads submissions with
# AutoModelForCausalLM (zero-shot, reading) and AutoModel (fine-tuning); the multilingual fine-tuning
# script uses AutoModelForSequenceClassification. save_pretrained only records the class being saved, so
# the whole map is a config default.
AUTO_MAP = {
    "AutoConfig": "configuration_stream_mixer.StreamMixerConfig",
    "AutoModel": "modeling_stream_mixer.StreamMixerModel",
    "AutoModelForCausalLM": "modeling_stream_mixer.StreamMixerForCausalLM",
    "AutoModelForSequenceClassification": "modeling_stream_mixer.StreamMixerForSequenceClassification",
}


class StreamMixerConfig(PretrainedConfig):
    r"""Hybrid Stream Mixer: linear-time stream-mixer layers with a few causal RoPE attention layers.

    ``StreamMixerConfig()`` is the reference BabyLM configuration: 16 pre-norm layers of width 512, layer 8
    a causal self-attention layer (8 heads of 64, RoPE), the other 15 stream mixers (32 streams of dimension
    64, 4 sigmoid-gated read heads), SwiGLU MLPs of width 1385, a 16,384-token vocabulary, context 1,024 and
    an output head tied to the embedding: **48,169,500 parameters**, the published 48,169,440 to 60
    parameters (+0.0001%). The card states the count, not the MLP width: 1385 is a reconstruction, the
    width that reproduces the count given every other published dimension (1408 = 11 x 128 tiles better
    on matmul units but builds 48,734,748, +1.17%).

    Per mixer layer: W_v 512x64, W_r 512x32, 32 decay logits, W_q 512x256, W_o 256x512, QK-norm weights
    (2 x 64), gate scale (4) and bias (4 x 32), output norm (256) = 311,844 parameters.

    Args:
        vocab_size: tokens in the vocabulary.
        hidden_size: residual stream width D.
        intermediate_size: SwiGLU MLP width.
        num_hidden_layers: number of blocks.
        attention_layers: indices of the blocks that are causal self-attention (``[]`` = pure mixer).
        n_streams: memory streams M per mixer layer.
        stream_dim: dimension of each stream state (and of each read query).
        n_read_heads: sigmoid-gated read heads per mixer layer.
        num_attention_heads: heads of each attention layer.
        head_dim: dimension of each attention head (even, for RoPE).
        chunk_size: sequence chunk of the parallel (chunked) mixer form. 32: the intra-chunk work grows with the
            chunk; on CPU chunks of 8-32 lie within 30% of each other and 64 is 1.4x slower than 32 per mixer
            layer (``benchmarks/bench_stream_mixer.py chunk``), while a GPU wants chunks no smaller than its
            matmul tiles; 32 serves both.
        mixer_impl: ``"auto"`` (the fused Triton kernel on CUDA when Triton is installed, else the chunked form),
            ``"chunked"`` (the PyTorch chunked form everywhere), ``"fused"`` (the Triton kernel, an error where it
            cannot run) or ``"reference"`` (step-by-step recurrence, for tests). All compute the same function.
        prefill_segment: when autograd is off (``torch.no_grad`` / ``torch.inference_mode``) and a forward gets
            more than this many new tokens, the model runs over consecutive segments of this length, carrying
            the stream states and the attention KV cache between them (chunked prefill): the same result as
            one pass (to float rounding), but the mixers' (T, M, Dv) state tensors stay cache-sized, so long
            contexts cost close to linear time. ``0`` turns it off. It never applies when gradients are
            recorded (training). Default 1,024, the training context.
        rope_theta: RoPE base.
        max_position_embeddings: training context; the longest decay timescale is initialised to it.
        rms_norm_eps: epsilon of every RMSNorm.
        initializer_range: std of the normal init of linear and embedding weights.
        classifier_dropout: dropout before the head of ``StreamMixerForSequenceClassification``.
        use_cache: whether forward returns a cache (stream states + KV of attention layers) by default.
        tie_word_embeddings: tie the output head to the input embedding.
    """

    model_type = "stream_mixer"
    keys_to_ignore_at_inference = ["past_key_values"]

    def __init__(
        self,
        vocab_size: int = 16384,
        hidden_size: int = 512,
        intermediate_size: int = 1385,
        num_hidden_layers: int = 16,
        attention_layers: list[int] | tuple[int, ...] = (8,),
        n_streams: int = 32,
        stream_dim: int = 64,
        n_read_heads: int = 4,
        num_attention_heads: int = 8,
        head_dim: int = 64,
        chunk_size: int = 32,
        mixer_impl: str = "auto",
        prefill_segment: int = 1024,
        rope_theta: float = 10000.0,
        max_position_embeddings: int = 1024,
        rms_norm_eps: float = 1e-6,
        initializer_range: float = 0.02,
        classifier_dropout: float = 0.0,
        use_cache: bool = True,
        tie_word_embeddings: bool = True,
        pad_token_id: int | None = None,
        bos_token_id: int | None = None,
        eos_token_id: int | list[int] | None = None,
        **kwargs,
    ):
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.intermediate_size = intermediate_size
        self.num_hidden_layers = num_hidden_layers
        self.attention_layers = [int(i) for i in attention_layers]
        self.n_streams = n_streams
        self.stream_dim = stream_dim
        self.n_read_heads = n_read_heads
        self.num_attention_heads = num_attention_heads
        self.head_dim = head_dim
        self.chunk_size = chunk_size
        self.mixer_impl = mixer_impl
        self.prefill_segment = prefill_segment
        self.rope_theta = rope_theta
        self.max_position_embeddings = max_position_embeddings
        self.rms_norm_eps = rms_norm_eps
        self.initializer_range = initializer_range
        self.classifier_dropout = classifier_dropout
        self.use_cache = use_cache
        # Configs written by earlier nestling versions carry layer_types (for transformers' own cache) and
        # an auto_map without AutoModel: the first is unused now, the second is completed.
        kwargs.pop("layer_types", None)
        kwargs["auto_map"] = {**AUTO_MAP, **(kwargs.get("auto_map") or {})}
        super().__init__(
            pad_token_id=pad_token_id,
            bos_token_id=bos_token_id,
            eos_token_id=eos_token_id,
            tie_word_embeddings=tie_word_embeddings,
            **kwargs,
        )
        self.validate_architecture()

    def validate_architecture(self):
        """Raise a clear ValueError for impossible combinations."""
        positive = ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "n_streams", "stream_dim",
                    "n_read_heads", "num_attention_heads", "head_dim", "chunk_size", "max_position_embeddings")
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if not isinstance(self.prefill_segment, int) or self.prefill_segment < 0:
            raise ValueError(f"prefill_segment must be an integer >= 0 (0 = off), got {self.prefill_segment!r}")
        bad = [i for i in self.attention_layers if not 0 <= i < self.num_hidden_layers]
        if bad:
            raise ValueError(
                f"attention_layers {bad} out of range: indices must lie in [0, {self.num_hidden_layers - 1}] "
                f"for num_hidden_layers={self.num_hidden_layers}"
            )
        if len(set(self.attention_layers)) != len(self.attention_layers):
            raise ValueError(f"attention_layers has duplicates: {self.attention_layers}")
        if self.attention_layers and self.head_dim % 2:
            raise ValueError(f"head_dim must be even for RoPE, got {self.head_dim}")
        if self.mixer_impl not in MIXER_IMPLS:
            raise ValueError(f"mixer_impl must be one of {MIXER_IMPLS}, got {self.mixer_impl!r}")
        if not isinstance(self.rope_theta, (int, float)) or self.rope_theta <= 0:
            raise ValueError(f"rope_theta must be > 0, got {self.rope_theta!r}")
        if not 0.0 <= self.classifier_dropout < 1.0:
            raise ValueError(f"classifier_dropout must lie in [0, 1), got {self.classifier_dropout!r}")


__all__ = ["AUTO_MAP", "StreamMixerConfig"]
