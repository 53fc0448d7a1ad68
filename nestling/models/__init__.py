"""Model architectures nestling trains: the Hybrid Stream Mixer and the Llama baseline.

This package imports nothing else of nestling, so an exported checkpoint carries only its own files.
"""

from __future__ import annotations

ARCHITECTURES = ("stream_mixer", "llama")


def build_model(model_cfg: dict, vocab_size: int, bos_token_id: int, eos_token_id: int, pad_token_id: int):
    """A freshly initialised causal LM from a recipe's ``model`` section.

    ``model_cfg["arch"]`` picks the architecture; every other key goes to its config class.
    """
    cfg = dict(model_cfg)
    arch = cfg.pop("arch", "stream_mixer")
    special = dict(vocab_size=vocab_size, bos_token_id=bos_token_id, eos_token_id=eos_token_id, pad_token_id=pad_token_id)
    if arch == "stream_mixer":
        from .stream_mixer import StreamMixerConfig, StreamMixerForCausalLM

        return StreamMixerForCausalLM(StreamMixerConfig(**cfg, **special))
    if arch == "llama":
        from transformers import LlamaConfig, LlamaForCausalLM

        cfg.setdefault("tie_word_embeddings", True)
        return LlamaForCausalLM(LlamaConfig(**cfg, **special))
    raise ValueError(f"unknown model.arch {arch!r}; expected one of {', '.join(ARCHITECTURES)}")
