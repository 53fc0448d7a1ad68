"""StreamMixerConfig: the reference configuration, its parameter count, and one test per invalid combination."""

import pytest
import torch

from nestling.models.stream_mixer import StreamMixerConfig, StreamMixerForCausalLM
from nestling.models.stream_mixer.configuration_stream_mixer import AUTO_MAP

PUBLISHED_PARAMS = 48_169_440


def test_default_is_reference_configuration():
    cfg = StreamMixerConfig()
    assert cfg.model_type == "stream_mixer"
    assert (cfg.num_hidden_layers, cfg.hidden_size, cfg.n_streams, cfg.stream_dim) == (16, 512, 32, 64)
    assert (cfg.n_read_heads, cfg.num_attention_heads, cfg.head_dim) == (4, 8, 64)
    assert cfg.attention_layers == [8] and cfg.vocab_size == 16384 and cfg.max_position_embeddings == 1024
    assert cfg.tie_word_embeddings and cfg.use_cache is True


def test_reference_parameter_count_is_the_published_one():
    with torch.device("meta"):
        model = StreamMixerForCausalLM(StreamMixerConfig())
    n = sum(p.numel() for p in model.parameters())  # tied head counted once
    assert n == 48_169_500  # the count stated in the config docstring
    assert abs(n - PUBLISHED_PARAMS) / PUBLISHED_PARAMS < 1e-4


def test_auto_map_names_every_auto_class_the_official_pipelines_load():
    # save_pretrained records only the class being saved; the official strict fine-tuning loads AutoModel.
    cfg = StreamMixerConfig()
    assert {"AutoConfig", "AutoModel", "AutoModelForCausalLM", "AutoModelForSequenceClassification"} <= set(cfg.auto_map)
    # An older export's partial map is completed, not replaced.
    old = StreamMixerConfig(auto_map={"AutoModelForCausalLM": AUTO_MAP["AutoModelForCausalLM"]},
                            layer_types=["full_attention"] * 16)
    assert old.auto_map == AUTO_MAP and not hasattr(old, "layer_types")


def test_config_round_trip(tmp_path):
    cfg = StreamMixerConfig(attention_layers=[5, 10], chunk_size=32, n_streams=16)
    cfg.save_pretrained(tmp_path)
    back = StreamMixerConfig.from_pretrained(tmp_path)
    assert back.attention_layers == [5, 10] and back.chunk_size == 32 and back.n_streams == 16
    assert back.auto_map == cfg.auto_map


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(attention_layers=[16]), "out of range"),
        (dict(attention_layers=[-1]), "out of range"),
        (dict(num_hidden_layers=4, attention_layers=[8]), "out of range"),
        (dict(attention_layers=[3, 3]), "duplicates"),
        (dict(n_streams=0), "n_streams"),
        (dict(stream_dim=0), "stream_dim"),
        (dict(n_read_heads=0), "n_read_heads"),
        (dict(chunk_size=0), "chunk_size"),
        (dict(prefill_segment=-1), "prefill_segment"),
        (dict(num_hidden_layers=0, attention_layers=[]), "num_hidden_layers"),
        (dict(head_dim=63), "even"),
        (dict(mixer_impl="fast"), "mixer_impl"),
        (dict(rope_theta=0.0), "rope_theta"),
    ],
)
def test_invalid_combinations_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        StreamMixerConfig(**kwargs)


def test_odd_head_dim_allowed_without_attention():
    assert StreamMixerConfig(head_dim=63, attention_layers=[]).head_dim == 63
