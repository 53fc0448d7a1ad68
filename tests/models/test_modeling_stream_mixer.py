"""StreamMixerForCausalLM: equal forms, cached decoding, padding, reload in a fresh process, scoring, training."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from nestling.models import build_model
from nestling.models.stream_mixer import StreamMixerCache, StreamMixerConfig, StreamMixerForCausalLM

TINY = dict(
    vocab_size=61, hidden_size=32, intermediate_size=48, num_hidden_layers=3, attention_layers=[1], n_streams=4,
    stream_dim=8, n_read_heads=2, num_attention_heads=2, head_dim=16, chunk_size=8, max_position_embeddings=64,
)
LAYOUTS = {"pure": [], "one": [1], "two": [0, 2]}


def tiny_model(seed=0, **overrides) -> StreamMixerForCausalLM:
    torch.manual_seed(seed)
    model = StreamMixerForCausalLM(StreamMixerConfig(**{**TINY, **overrides}))
    # Non-trivial norms and gates, so the tests exercise them rather than their identity initialisation.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name or "gate" in name:
                p.add_(0.1 * torch.randn_like(p))
    return model.eval()


def ids(B=2, T=21, seed=1, vocab=61):
    return torch.randint(0, vocab, (B, T), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("layout", LAYOUTS)
def test_chunked_model_equals_reference_model_with_gradients(layout):
    x = ids(T=29)
    results = []
    for impl in ("reference", "chunked"):
        model = tiny_model(attention_layers=LAYOUTS[layout], mixer_impl=impl).train()
        loss = model(x, labels=x, use_cache=False).loss
        loss.backward()
        results.append((loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}))
    (ref_loss, ref_grads), (loss, grads) = results
    torch.testing.assert_close(loss, ref_loss, atol=1e-5, rtol=1e-5)
    for name, g in grads.items():
        torch.testing.assert_close(g, ref_grads[name], atol=1e-5, rtol=1e-4, msg=name)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_incremental_decoding_equals_full_forward(layout):
    model, x = tiny_model(attention_layers=LAYOUTS[layout]), ids(T=19)
    with torch.no_grad():
        full = model(x, use_cache=False).logits
        cache = StreamMixerCache(model.config)
        steps = [model(x[:, t : t + 1], past_key_values=cache, use_cache=True).logits for t in range(x.shape[1])]
        torch.testing.assert_close(torch.cat(steps, 1), full, atol=1e-5, rtol=1e-5)
        # A multi-token continuation after a prefix (chunked form with a carried state and a KV offset).
        cache = StreamMixerCache(model.config)
        head = model(x[:, :11], past_key_values=cache, use_cache=True).logits
        tail = model(x[:, 11:], past_key_values=cache, use_cache=True).logits
        torch.testing.assert_close(torch.cat([head, tail], 1), full, atol=1e-5, rtol=1e-5)
    assert cache.get_seq_length() == x.shape[1]
    mixer_state = cache.states[[i for i in range(3) if i not in LAYOUTS[layout]][0]]
    assert mixer_state.shape == (2, TINY["n_streams"], TINY["stream_dim"])  # constant size, whatever the length


@pytest.mark.parametrize("layout", LAYOUTS)
def test_greedy_generate_same_with_and_without_cache(layout):
    model, x = tiny_model(attention_layers=LAYOUTS[layout]), ids(T=6)
    with torch.no_grad():
        cached = model.generate(x, max_new_tokens=32, do_sample=False, use_cache=True)
        uncached = model.generate(x, max_new_tokens=32, do_sample=False, use_cache=False)
    assert cached.shape == (2, 38)
    assert torch.equal(cached, uncached)


def test_left_padded_batch_equals_each_row_alone():
    model = tiny_model(attention_layers=[0, 2])
    rows = [ids(1, 5, seed=3)[0], ids(1, 9, seed=4)[0], ids(1, 13, seed=5)[0]]
    T = max(len(r) for r in rows)
    batch = torch.zeros(len(rows), T, dtype=torch.long)
    mask = torch.zeros(len(rows), T, dtype=torch.long)
    for i, r in enumerate(rows):
        batch[i, T - len(r) :], mask[i, T - len(r) :] = r, 1
    with torch.no_grad():
        padded = model(batch, attention_mask=mask).logits
        gen = model.generate(batch, attention_mask=mask, max_new_tokens=8, do_sample=False)
        for i, r in enumerate(rows):
            alone = model(r[None]).logits[0]
            torch.testing.assert_close(padded[i, T - len(r) :], alone, atol=1e-5, rtol=1e-5)
            alone_gen = model.generate(r[None], max_new_tokens=8, do_sample=False)
            assert torch.equal(gen[i, T:], alone_gen[0, len(r) :])


def test_labels_give_shifted_cross_entropy_ignoring_minus_100():
    model, x = tiny_model(), ids(T=12)
    labels = x.clone()
    labels[:, :4] = -100
    out = model(x, labels=labels)
    expected = F.cross_entropy(out.logits[:, :-1].reshape(-1, 61), labels[:, 1:].reshape(-1), ignore_index=-100)
    torch.testing.assert_close(out.loss, expected)


def test_inputs_embeds_and_logits_to_keep():
    model, x = tiny_model(), ids(T=10)
    with torch.no_grad():
        full = model(x).logits
        from_embeds = model(inputs_embeds=model.get_input_embeddings()(x)).logits
        last = model(x, logits_to_keep=1).logits
    torch.testing.assert_close(from_embeds, full)
    torch.testing.assert_close(last, full[:, -1:])
    assert model.lm_head.weight is model.model.embed_tokens.weight


def test_bf16_autocast_trains_with_fp32_recurrence():
    model, x = tiny_model().train(), ids(T=40)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x, labels=x, use_cache=False)
    out.loss.backward()
    assert out.logits.dtype == torch.bfloat16 and torch.isfinite(out.loss)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_four_dimensional_mask_rejected():
    model, x = tiny_model(), ids(T=5)
    with pytest.raises(ValueError, match="2-D"):
        model(x, attention_mask=torch.ones(2, 1, 5, 5))


def _tokenizer(tmp_path: Path, text: list[str]):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<pad>", "<s>", "</s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(text, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", bos_token="<s>", eos_token="</s>")
    fast.save_pretrained(tmp_path)
    return fast


SENTENCES = ["the cat sat on the mat", "a dog ran to the park", "the children are playing outside"]


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    """A tiny hybrid with its own BPE tokenizer, saved as a Hugging Face folder."""
    path = tmp_path_factory.mktemp("stream_mixer")
    tok = _tokenizer(path, SENTENCES * 20)
    model = tiny_model(vocab_size=len(tok), pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    model.save_pretrained(path)
    return path, model, tok


def test_save_pretrained_carries_code_and_auto_map(saved_model):
    path, _, _ = saved_model
    files = {p.name for p in path.iterdir()}
    assert {"configuration_stream_mixer.py", "modeling_stream_mixer.py", "ops_stream_mixer.py"} <= files
    import json

    auto_map = json.loads((path / "config.json").read_text())["auto_map"]
    assert auto_map["AutoModelForCausalLM"] == "modeling_stream_mixer.StreamMixerForCausalLM"


def test_fresh_process_reload_without_nestling(saved_model, tmp_path):
    path, model, tok = saved_model
    x = torch.tensor(tok(SENTENCES[2])["input_ids"])[None]
    with torch.no_grad():
        torch.save({"x": x, "logits": model(x).logits, "gen": model.generate(x, max_new_tokens=32, do_sample=False)},
                   tmp_path / "expected.pt")
    script = f"""
import sys
sys.modules["nestling"] = None  # nestling must not be importable: the folder alone carries the model
import torch
from transformers import AutoModelForCausalLM
m = AutoModelForCausalLM.from_pretrained({str(path)!r}, trust_remote_code=True).eval()
e = torch.load({str(tmp_path / 'expected.pt')!r})
with torch.no_grad():
    assert torch.equal(m(e["x"]).logits, e["logits"]), "logits differ"
    a = m.generate(e["x"], max_new_tokens=32, do_sample=False, use_cache=True)
    b = m.generate(e["x"], max_new_tokens=32, do_sample=False, use_cache=False)
assert torch.equal(a, b) and torch.equal(a, e["gen"]), "generation differs"
with torch.no_grad():
    beam = [m.generate(e["x"], max_new_tokens=8, num_beams=3, do_sample=False, use_cache=c) for c in (True, False)]
assert torch.equal(*beam), "beam search differs with the cache"
# The official strict fine-tuning loads AutoModel and reads the final hidden states.
from transformers import AutoModel, AutoModelForSequenceClassification
base = AutoModel.from_pretrained({str(path)!r}, trust_remote_code=True).eval()
with torch.no_grad():
    out = base(e["x"], output_hidden_states=True)
    ref = m(e["x"], output_hidden_states=True).hidden_states
assert type(base).__name__ == "StreamMixerModel" and len(out.hidden_states) == len(ref)
assert torch.equal(out.last_hidden_state, ref[-1]), "AutoModel hidden states differ"
clf = AutoModelForSequenceClassification.from_pretrained({str(path)!r}, trust_remote_code=True, num_labels=3)
assert clf(e["x"]).logits.shape == (1, 3)
print("ok", type(m).__module__)
"""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["OMP_NUM_THREADS"] = "1"
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "ok transformers_modules" in done.stdout


def test_minicons_scores_the_saved_model(saved_model):
    scorer_mod = pytest.importorskip("minicons.scorer")
    path, model, tok = saved_model
    scorer = scorer_mod.IncrementalLMScorer(str(path), tokenizer=str(path), trust_remote_code=True)
    scores = scorer.sequence_score(SENTENCES, reduction=lambda x: x.sum(0).item())
    for sentence, score in zip(SENTENCES, scores):
        x = torch.tensor(tok(sentence)["input_ids"])[None]
        with torch.no_grad():
            logp = model(x).logits.log_softmax(-1)[0, :-1].gather(-1, x[0, 1:, None]).sum().item()
        assert score == pytest.approx(logp, abs=1e-4)


def _batches(steps, B=8, T=32, vocab=61):
    """A tiny, repetitive corpus: shifted copies of one period-7 pattern, learnable in a few steps."""
    pattern = torch.tensor([3, 14, 15, 9, 26, 5, 35])
    g = torch.Generator().manual_seed(0)
    for _ in range(steps):
        start = torch.randint(0, 7, (B, 1), generator=g)
        yield pattern[(start + torch.arange(T)) % 7]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_trains_pure_one_and_two_attention_layers(layout):
    model = tiny_model(attention_layers=LAYOUTS[layout]).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses = []
    for x in _batches(30):
        loss = model(x, labels=x, use_cache=False).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-5:]) / 5 < 0.5 * losses[0], losses


def test_build_model_both_architectures():
    special = dict(vocab_size=61, bos_token_id=1, eos_token_id=2, pad_token_id=0)
    tiny = {k: v for k, v in TINY.items() if k != "vocab_size"}
    mixer = build_model({"arch": "stream_mixer", **tiny}, **special)
    assert isinstance(mixer, StreamMixerForCausalLM) and mixer.config.eos_token_id == 2
    llama = build_model({"arch": "llama", "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2,
                         "num_attention_heads": 2}, **special)
    assert type(llama).__name__ == "LlamaForCausalLM"
    with pytest.raises(ValueError, match="unknown model.arch"):
        build_model({"arch": "rnn"}, **special)


def test_all_attention_matches_llama():
    """With every block attention, the model is a Llama: copy the weights across and compare logits."""
    from transformers import LlamaConfig, LlamaForCausalLM

    model = tiny_model(attention_layers=[0, 1, 2])
    llama = LlamaForCausalLM(LlamaConfig(
        vocab_size=61, hidden_size=32, intermediate_size=48, num_hidden_layers=3, num_attention_heads=2, head_dim=16,
        rms_norm_eps=1e-6, tie_word_embeddings=True, rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
    )).eval()
    rename = {"input_norm": "input_layernorm", "post_norm": "post_attention_layernorm", "mixer": "self_attn"}
    state = {}
    for name, tensor in model.state_dict().items():
        for ours, theirs in rename.items():
            name = name.replace(f".{ours}.", f".{theirs}.")
        state[name] = tensor
    missing, unexpected = llama.load_state_dict(state, strict=False)
    assert not unexpected and set(missing) <= {"lm_head.weight"}
    x = ids(T=15)
    with torch.no_grad():
        torch.testing.assert_close(model(x).logits, llama(x).logits, atol=1e-5, rtol=1e-5)


def _one_shot_and_segmented(model, segment, **kwargs):
    """(one pass, segment-wise) outputs of the same no-grad call, switching only config.prefill_segment."""
    outs = []
    with torch.no_grad():
        for seg in (0, segment):
            model.config.prefill_segment = seg
            outs.append(model(**kwargs))
    return outs


def _assert_same_cache(a, b):
    assert a.get_seq_length() == b.get_seq_length() and a.tokens_seen == b.tokens_seen
    for store in ("states", "keys", "values"):
        for ta, tb in zip(getattr(a, store), getattr(b, store)):
            assert (ta is None) == (tb is None)
            if ta is not None:
                torch.testing.assert_close(ta, tb, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("segment", [1, 7, 16])
def test_segmented_forward_equals_one_shot(layout, segment):
    model, x = tiny_model(attention_layers=LAYOUTS[layout]), ids(T=37)
    labels = x.clone()
    labels[:, :5] = -100
    one, seg = _one_shot_and_segmented(model, segment, input_ids=x, labels=labels, use_cache=True)
    torch.testing.assert_close(seg.logits, one.logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(seg.loss, one.loss, atol=1e-5, rtol=1e-5)
    _assert_same_cache(seg.past_key_values, one.past_key_values)
    # The returned cache continues exactly: one more token after the segmented prefill.
    nxt = ids(T=1, seed=9)
    with torch.no_grad():
        a = model(nxt, past_key_values=one.past_key_values, use_cache=True).logits
        b = model(nxt, past_key_values=seg.past_key_values, use_cache=True).logits
    torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-5)
    # use_cache=False returns no cache either way; logits_to_keep slices the segmented logits too.
    one, seg = _one_shot_and_segmented(model, segment, input_ids=x, use_cache=False, logits_to_keep=3)
    assert one.past_key_values is None and seg.past_key_values is None
    assert seg.logits.shape == (2, 3, 61)
    torch.testing.assert_close(seg.logits, one.logits, atol=1e-5, rtol=1e-5)


def test_segmented_forward_with_left_padding_and_after_a_past():
    model = tiny_model(attention_layers=[0, 2])
    x = ids(B=3, T=30, seed=7)
    mask = torch.ones_like(x)
    mask[0, :19] = 0  # padding longer than a segment: whole segments of this row are padding
    mask[1, :4] = 0
    one, seg = _one_shot_and_segmented(model, 8, input_ids=x, attention_mask=mask, use_cache=True)
    keep = mask.bool()
    torch.testing.assert_close(seg.logits[keep], one.logits[keep], atol=1e-5, rtol=1e-5)
    _assert_same_cache(seg.past_key_values, one.past_key_values)
    # A long continuation after a cached prefix, with a (B, past + T) mask and with a (B, T) mask.
    more = ids(B=3, T=21, seed=8)
    for cont_mask in (torch.cat([mask, torch.ones_like(more)], 1), torch.ones_like(more)):
        outs = []
        for seg_len in (0, 8):
            model.config.prefill_segment = seg_len
            with torch.no_grad():
                cache = StreamMixerCache(model.config)
                model(x, attention_mask=mask, past_key_values=cache, use_cache=True)
                outs.append(model(more, attention_mask=cont_mask, past_key_values=cache, use_cache=True))
        torch.testing.assert_close(outs[1].logits, outs[0].logits, atol=1e-5, rtol=1e-5)
        _assert_same_cache(outs[1].past_key_values, outs[0].past_key_values)


def test_segmented_forward_only_without_gradients():
    model, x = tiny_model(prefill_segment=4), ids(T=13)
    calls = []
    model.model._forward_once = lambda *a, _f=model.model._forward_once: calls.append(1) or _f(*a)
    model(x, labels=x, use_cache=False).loss.backward()  # training: one pass
    assert len(calls) == 1
    with torch.no_grad():
        model(x, use_cache=False)
    assert len(calls) == 1 + 4  # ceil(13 / 4) segments
    with torch.no_grad():
        model(x[:, :4], use_cache=False)  # T <= segment: one pass
    assert len(calls) == 6


@pytest.mark.parametrize("layout", LAYOUTS)
def test_batch_select_fans_a_prefix_cache_out_to_continuations(layout):
    """A prefix run once, its cache rows selected (with repeats), then continued = each full sequence alone."""
    model, x = tiny_model(attention_layers=LAYOUTS[layout]), ids(B=2, T=17)
    rows = torch.tensor([1, 0, 1])
    with torch.no_grad():
        full = model(x[rows], use_cache=False).logits
        cache = StreamMixerCache(model.config)
        model(x[:, :9], past_key_values=cache, use_cache=True)
        cache.batch_select_indices(rows)
        tail = model(x[rows, 9:], past_key_values=cache, use_cache=True).logits
    torch.testing.assert_close(tail, full[:, 9:], atol=1e-5, rtol=1e-5)


def test_output_hidden_states_one_per_block_input_plus_final():
    model, x = tiny_model(), ids(B=2, T=9)
    with torch.no_grad():
        out = model(x, output_hidden_states=True, use_cache=False)
        base = model.model(x, use_cache=False)
    assert len(out.hidden_states) == model.config.num_hidden_layers + 1
    torch.testing.assert_close(out.hidden_states[-1], base.last_hidden_state)
    torch.testing.assert_close(out.hidden_states[0], model.model.embed_tokens(x))
    # The segment-wise prefill gives the same hidden states as one pass.
    model.config.prefill_segment = 4
    with torch.no_grad():
        seg = model(x, output_hidden_states=True, use_cache=False)
    for a, b in zip(seg.hidden_states, out.hidden_states):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_sequence_classifier_same_prediction_left_or_right_padded(layout):
    from nestling.models.stream_mixer import StreamMixerForSequenceClassification

    torch.manual_seed(0)
    config = tiny_model(attention_layers=LAYOUTS[layout]).config
    config.num_labels, config.pad_token_id = 3, 0
    clf = StreamMixerForSequenceClassification(config).eval()
    rows = [ids(B=1, T=n)[0].clamp(min=1) for n in (5, 9)]  # 0 is the padding id
    alone = torch.cat([clf(r[None]).logits for r in rows])
    pad = lambda r, left: torch.cat([r.new_zeros(9 - len(r)), r] if left else [r, r.new_zeros(9 - len(r))])
    for left in (True, False):
        batch = torch.stack([pad(r, left) for r in rows])
        mask = torch.stack([pad(torch.ones_like(r), left) for r in rows])
        torch.testing.assert_close(clf(batch, attention_mask=mask).logits, alone, atol=1e-5, rtol=1e-5)
    loss = clf(rows[1][None], labels=torch.tensor([2])).loss
    loss.backward()
    assert clf.score.weight.grad is not None and torch.isfinite(loss)
