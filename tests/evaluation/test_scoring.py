"""Batched scoring equals minicons, the slow reference, and itself under any batching."""

from __future__ import annotations

import copy
import json
from itertools import islice

import numpy as np
import pytest
import torch

from nestling.evaluation.scoring import (BatchScorer, _batches, encode, plan_shared_prefixes, reference_score,
                                         score_texts)


def sample_sentences(shared, n=6):
    """A few good/bad sentences from every full-sentence format of the real data (incl. '\\n' ones)."""
    files = [shared / "eval" / "blimp" / "data" / "anaphor_gender_agreement.jsonl",
             shared / "eval" / "babylm_2025" / "blimp_filtered" / "wh_island.jsonl",
             shared / "eval" / "babylm_2025" / "supplement_filtered" / "turn_taking.jsonl",
             shared / "eval" / "babylm_2025" / "supplement_filtered" / "qa_congruence_tricky.jsonl",
             shared / "eval" / "blimp_nl" / "blimp-nl.jsonl",
             shared / "eval" / "zhoblimp" / "data" / "BA_BEI_subj_drop.jsonl"]
    out = []
    for file in files:
        with open(file, encoding="utf-8") as f:
            for line in islice(f, n):
                record = json.loads(line)
                out += [record["sentence_good"], record["sentence_bad"]]
    return out


def test_equals_minicons_sum_of_logprobs(tiny_model, shared_data):
    from minicons import scorer

    model, tokenizer = tiny_model
    sentences = sample_sentences(shared_data)
    assert any("\n" in s for s in sentences)
    ours = score_texts(model, tokenizer, [("", s) for s in sentences], batch_size=7, progress=False)
    lm = scorer.IncrementalLMScorer(model, "cpu", tokenizer=copy.deepcopy(tokenizer))
    theirs = np.array(lm.sequence_score(sentences, reduction=lambda x: x.sum(0).item()))
    np.testing.assert_allclose(ours, theirs, atol=1e-4, rtol=0)


def test_continuation_equals_reference_and_minicons_partial(tiny_model, shared_data):
    model, tokenizer = tiny_model
    with open(shared_data / "eval" / "babylm_2025" / "entity_tracking" / "regular.jsonl") as f:
        record = json.loads(next(f))
    requests = [(record["input_prefix"], option) for option in record["options"]]
    requests += [("Ann is tall.", " She reaches the shelf."), ("", "Whole sentence.")]
    fast = score_texts(model, tokenizer, requests, batch_size=3, progress=False)
    slow = [reference_score(model, tokenizer, c, t) for c, t in requests]
    np.testing.assert_allclose(fast, slow, atol=1e-4, rtol=0)
    # The prefix is never scored: context + continuation scores less than the whole string.
    whole = score_texts(model, tokenizer, [("", c + t) for c, t in requests[:5]], progress=False)
    assert np.all(whole < fast[:5])


def test_batching_and_dedup_do_not_change_scores(tiny_model, shared_data):
    model, tokenizer = tiny_model
    requests = [("", s) for s in sample_sentences(shared_data, n=3)]
    requests = requests + requests[:5]  # repeats are scored once and returned at every position
    one = score_texts(model, tokenizer, requests, batch_size=1, progress=False)
    many = score_texts(model, tokenizer, requests, batch_size=64, max_tokens=200, progress=False)
    np.testing.assert_allclose(one, many, atol=1e-4, rtol=0)
    np.testing.assert_array_equal(many[-5:], many[:5])
    assert score_texts(model, tokenizer, [], progress=False).shape == (0,)


def test_first_token_and_special_tokens_never_scored(tiny_model):
    from tokenizers import processors

    model, tokenizer = tiny_model
    text = "The cat sat on the mat."
    (ids, mask), = encode(tokenizer, [("", text)])
    assert ids[0] == tokenizer.bos_token_id and mask[0] is False and all(mask[1:])
    # A tokenizer that also appends EOS: the EOS is special, so the score does not change.
    with_eos = copy.deepcopy(tokenizer)
    with_eos.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", tokenizer.bos_token_id), ("</s>", tokenizer.eos_token_id)])
    (ids_eos, mask_eos), = encode(with_eos, [("", text)])
    assert ids_eos[-1] == tokenizer.eos_token_id and mask_eos[-1] is False
    a = score_texts(model, tokenizer, [("", text)], progress=False)
    b = score_texts(model, with_eos, [("", text)], progress=False)
    np.testing.assert_allclose(a, b, atol=1e-5)
    # Without BOS the first real token has no prediction: only tokens 1.. count.
    no_bos = copy.deepcopy(tokenizer)
    no_bos.backend_tokenizer.post_processor = processors.TemplateProcessing(single="$A", special_tokens=[])
    (plain, plain_mask), = encode(no_bos, [("", text)])
    assert plain[0] != tokenizer.bos_token_id and plain_mask[0] is False and all(plain_mask[1:])
    with torch.inference_mode():
        logits = model(input_ids=torch.tensor([plain])).logits[0]
    manual = sum(float(torch.log_softmax(logits[t - 1], -1)[plain[t]]) for t in range(1, len(plain)))
    assert score_texts(model, no_bos, [("", text)], progress=False)[0] == pytest.approx(manual, abs=1e-4)


def test_batches_sorted_and_within_budget():
    lengths = [5, 50, 7, 49, 6, 8, 51]
    batches = _batches(lengths, batch_size=2, max_tokens=100)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    flat = [lengths[i] for b in batches for i in b]
    assert flat == sorted(flat, reverse=True)
    assert all(len(b) <= 2 and len(b) * lengths[b[0]] <= 100 for b in batches)


def pair_requests(shared_data, n_items=12):
    """BLiMP pairs and entity-tracking 5-way items as requests plus their candidate groups."""
    requests, groups = [], []
    for path, n in [(shared_data / "eval" / "blimp" / "data" / "wh_island.jsonl", n_items),
                    (shared_data / "eval" / "babylm_2025" / "entity_tracking" / "move_contents.jsonl", 2)]:
        with open(path) as f:
            for line in islice(f, n):
                r = json.loads(line)
                cands = ([(r["input_prefix"], o) for o in r["options"]] if "options" in r
                         else [("", r["sentence_good"]), ("", r["sentence_bad"])])
                groups.append(list(range(len(requests), len(requests) + len(cands))))
                requests += cands
    return requests, groups


def test_shared_prefix_path_equals_plain(tiny_model, shared_data, fresh_checks):
    import nestling.evaluation.scoring as scoring

    model, tokenizer = tiny_model
    requests, groups = pair_requests(shared_data)
    encoded = encode(tokenizer, requests)
    plan = plan_shared_prefixes(encoded, groups)
    assert sum(len(g) for gs in plan.values() for g in gs) > len(requests) // 2  # most of them share
    shared = score_texts(model, tokenizer, requests, groups=groups, batch_size=8, progress=False)
    assert scoring._VERIFIED[model] == {"split": True, "shared": True}  # both fast paths were used
    plain = score_texts(model, tokenizer, requests, progress=False)
    np.testing.assert_allclose(shared, plain, atol=1e-4, rtol=0)


@pytest.fixture
def fresh_checks(monkeypatch):
    """Forget what earlier tests verified about the session's model."""
    import weakref

    import nestling.evaluation.scoring as scoring

    monkeypatch.setattr(scoring, "_VERIFIED", weakref.WeakKeyDictionary())


def test_shared_prefix_falls_back_when_cache_misbehaves(tiny_model, shared_data, monkeypatch, fresh_checks):
    import nestling.evaluation.scoring as scoring

    model, tokenizer = tiny_model
    requests, groups = pair_requests(shared_data, n_items=6)
    plain = score_texts(model, tokenizer, requests, progress=False)

    def wrong(self, prefix_len, rows):
        return [np.zeros(len(g)) for g in rows]

    monkeypatch.setattr(BatchScorer, "shared", wrong)
    with pytest.warns(scoring.FastPathOff, match="does not reproduce"):
        np.testing.assert_allclose(score_texts(model, tokenizer, requests, groups=groups, progress=False), plain,
                                   atol=1e-4, rtol=0)

    def broken(self, prefix_len, rows):
        raise TypeError("forward() got an unexpected keyword argument 'past_key_values'")

    monkeypatch.setattr(scoring, "_VERIFIED", __import__("weakref").WeakKeyDictionary())
    monkeypatch.setattr(BatchScorer, "shared", broken)
    with pytest.warns(scoring.FastPathOff, match="TypeError"):
        np.testing.assert_allclose(score_texts(model, tokenizer, requests, groups=groups, progress=False), plain,
                                   atol=1e-4, rtol=0)


def test_plan_shared_prefixes_rules():
    seq = lambda ids, mask=None: (ids, mask or [i > 0 for i in range(len(ids))])  # noqa: E731
    encoded = [seq([1, 5, 6, 7, 8, 9]), seq([1, 5, 6, 7, 8, 3, 4]), seq([1, 5, 6, 7, 8]),
               seq([1, 2, 3, 4, 5]), seq([1, 2, 3, 9, 9]), seq([1, 5, 6, 7, 8, 9], [False] * 3 + [True] * 3)]
    plan = plan_shared_prefixes(encoded, [[0, 1, 2], [3, 4], [0, 5]], min_prefix=3)
    # Group 0 stops one short of its shortest member (length 5 -> prefix 4); group 1 shares 3 tokens;
    # sequence 0 is already taken, so [0, 5] is left to the plain path.
    assert plan == {4: [[0, 1, 2]], 3: [[3, 4]]}
    mask_differs = plan_shared_prefixes([encoded[0], encoded[5]], [[0, 1]], min_prefix=2)
    assert mask_differs == {}  # shared tokens but not a shared scored mask: only 1 < 2 positions agree


def test_head_split_falls_back_when_logits_are_not_lm_head_of_hidden(tiny_model, monkeypatch, fresh_checks):
    import nestling.evaluation.scoring as scoring

    model, tokenizer = tiny_model
    texts = [("", "The cat sat on the mat."), ("", "A dog barked.")]
    expected = [reference_score(model, tokenizer, c, t) for c, t in texts]
    wrong_head = torch.nn.Linear(model.config.hidden_size, model.config.vocab_size, bias=False)
    monkeypatch.setattr(scoring, "_split_head", lambda m: (m.base_model, wrong_head))
    np.testing.assert_allclose(score_texts(model, tokenizer, texts, progress=False), expected, atol=1e-4, rtol=0)


def test_unknown_precision_is_a_user_error(tiny_model):
    from nestling.errors import UserError

    model, tokenizer = tiny_model
    with pytest.raises(UserError, match="unknown precision 'fp8'"):
        score_texts(model, tokenizer, [("", "a")], precision="fp8")


def test_score_encoded_greedy_flags_equal_argmax_loop(tiny_model):
    """Greedy flags (lm-eval's is_greedy) on the plain and the shared-prefix path equal a slow argmax loop."""
    from nestling.evaluation.scoring import score_encoded

    model, tokenizer = tiny_model
    context = "Once upon a time the cat sat on the mat while the children read. " * 6
    requests = [(context, f" choice {i} here.") for i in range(24)] + [("", "A dog barked."), ("De kat", " zat.")]
    encoded = encode(tokenizer, requests)
    with torch.no_grad():  # make some rows greedy: a one-token continuation, the model's own next token
        for n in (0, 25):
            ids, mask = encoded[n]
            k = mask.index(True)
            best = int(model(input_ids=torch.tensor([ids[:k]])).logits[0, -1].argmax())
            encoded[n] = (ids[:k] + [best], [False] * k + [True])
    groups = [list(range(24))]
    sums, flags = score_encoded(model, encoded, groups=groups, batch_size=8, progress=False, greedy=True)
    np.testing.assert_allclose(sums, score_encoded(model, encoded, progress=False), atol=1e-4, rtol=0)
    expected = []
    with torch.no_grad():
        for ids, mask in encoded:
            logits = model(input_ids=torch.tensor([ids])).logits[0]
            expected.append(all(int(logits[t - 1].argmax()) == ids[t] for t in range(1, len(ids)) if mask[t]))
    assert flags.tolist() == expected and any(expected)
def agreement_pairs(n=40):
    """Minimal pairs that share a long token prefix, enough of them (>= 1,024 tokens) for shared batches."""
    requests = []
    for i in range(n):
        end = f"happy on day {i} of the long school year."
        requests += [("", f"The children who the teacher praised were {end}"),
                     ("", f"The children who the teacher praised was {end}")]
    return requests, [[2 * i, 2 * i + 1] for i in range(n)]


def test_stream_mixer_takes_both_fast_paths(tiny_model, fresh_checks, recwarn):
    """The Hybrid Stream Mixer's cache must reproduce the plain scores, so no fast path is ever turned off."""
    import nestling.evaluation.scoring as scoring
    from nestling.models.stream_mixer import StreamMixerConfig, StreamMixerForCausalLM

    _, tokenizer = tiny_model
    torch.manual_seed(0)
    config = StreamMixerConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                               attention_layers=[1], n_streams=4, stream_dim=8, n_read_heads=2, num_attention_heads=2,
                               head_dim=16, chunk_size=4, max_position_embeddings=128)
    model = StreamMixerForCausalLM(config).eval()
    requests, groups = agreement_pairs()
    shared = score_texts(model, tokenizer, requests, groups=groups, progress=False)
    assert scoring._VERIFIED[model] == {"split": True, "shared": True}
    assert not [w for w in recwarn if issubclass(w.category, scoring.FastPathOff)]
    plain = [reference_score(model, tokenizer, c, s) for c, s in requests]
    np.testing.assert_allclose(shared, plain, atol=1e-4, rtol=0)


def test_a_fast_path_turned_off_says_why(tiny_model, fresh_checks, monkeypatch):
    import nestling.evaluation.scoring as scoring

    model, tokenizer = tiny_model

    def broken(self, prefix_len, rows):
        raise AttributeError("'Cache' object has no attribute 'batch_select_indices'")

    monkeypatch.setattr(BatchScorer, "shared", broken)
    requests, groups = agreement_pairs()
    with pytest.warns(scoring.FastPathOff, match="shared-prefix.*batch_select_indices"):
        score_texts(model, tokenizer, requests, groups=groups, progress=False)


def test_near_tie_is_settled_as_the_official_code_scores(tiny_model):
    """A constructed near-tie (two batched scores 5e-5 nats apart) is rescored candidate by candidate;
    an item with a clear winner keeps its batched scores."""
    from nestling.evaluation.scoring import NEAR_TIE_NATS, official_sum, settle_near_ties

    model, tokenizer = tiny_model
    requests = [("", "The cat sat on the mat."), ("", "The mat sat on the cat."),
                ("Box 1 contains", " the hat."), ("Box 1 contains", " the map.")]
    scores = score_texts(model, tokenizer, requests, progress=False)
    far = scores[2:].copy()
    assert abs(far[0] - far[1]) > NEAR_TIE_NATS
    scores[1] = scores[0] + NEAR_TIE_NATS / 2  # batching noise that could flip the choice
    settled = settle_near_ties(model, tokenizer, requests, scores, [[0, 1], [2, 3]])
    assert settled == [0]
    for i in (0, 1):
        (ids, mask), = encode(tokenizer, [requests[i]])
        assert scores[i] == official_sum(model, ids, mask)
        assert scores[i] == pytest.approx(reference_score(model, tokenizer, *requests[i]), abs=1e-4)
    assert list(scores[2:]) == list(far)


def test_near_ties_are_counted_per_task(tiny_model):
    from nestling.evaluation.evaluate import score_items
    from nestling.evaluation.tasks import Item, Task

    model, tokenizer = tiny_model
    same = Item("u", None, None, "0", (("", "A dog barked."), ("", "A dog barked.")))
    clear = Item("u", None, None, "1", (("", "A dog barked."), ("", "dog A barked mailman the at.")))
    counts = {}
    score_items(model, tokenizer, [Task("t1", "pairs", [clear, same], []), Task("t2", "pairs", [clear], [])],
                near_ties=counts, progress=False)
    assert counts == {"t1": 1, "t2": 0}


def test_requests_are_tokenized_once_per_tokenizer(tiny_model_dir):
    """A second revision with byte-identical tokenizer files reuses the first one's rows."""
    from transformers import AutoTokenizer

    from nestling.evaluation.scoring import encode_once

    requests = [("", "The cat sat."), ("Box 1 contains", " the hat.")]
    first, again = (AutoTokenizer.from_pretrained(tiny_model_dir) for _ in range(2))
    rows = encode_once(first, requests)
    assert encode_once(again, list(requests)) is rows and rows == encode(first, requests)
    assert encode_once(first, requests[:1]) == encode(first, requests[:1])
