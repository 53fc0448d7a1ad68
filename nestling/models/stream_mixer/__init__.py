"""The Hybrid Stream Mixer: ``StreamMixerConfig``, its base model, causal LM and sequence classifier.

Importing this package registers them with the transformers auto classes, so inside nestling
``AutoModelForCausalLM.from_pretrained(dir)`` works without ``trust_remote_code``; exported folders carry
their own copy of the code (``auto_map`` in config.json) and load anywhere with ``trust_remote_code=True``.
"""

from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoModelForSequenceClassification

from .configuration_stream_mixer import StreamMixerConfig
from .modeling_stream_mixer import (
    StreamMixerCache,
    StreamMixerForCausalLM,
    StreamMixerForSequenceClassification,
    StreamMixerModel,
)
from .ops_stream_mixer import streams_chunked, streams_reference

AutoConfig.register("stream_mixer", StreamMixerConfig, exist_ok=True)
AutoModel.register(StreamMixerConfig, StreamMixerModel, exist_ok=True)
AutoModelForCausalLM.register(StreamMixerConfig, StreamMixerForCausalLM, exist_ok=True)
AutoModelForSequenceClassification.register(StreamMixerConfig, StreamMixerForSequenceClassification, exist_ok=True)

__all__ = [
    "StreamMixerCache",
    "StreamMixerConfig",
    "StreamMixerForCausalLM",
    "StreamMixerForSequenceClassification",
    "StreamMixerModel",
    "streams_chunked",
    "streams_reference",
]
