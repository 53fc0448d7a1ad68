"""The nestling lm-eval backend returns what lm-eval's own hf backend returns, request by request."""

from __future__ import annotations

import pytest

pytest.importorskip("lm_eval", reason="lm-evaluation-harness not installed (pip install 'nestling[lmeval]')")

from lm_eval.api.instance import Instance  # noqa: E402


@pytest.fixture(scope="module")
def backends(tiny_model_dir):
    from lm_eval.models.huggingface import HFLM

    from nestling.evaluation.lmeval_backend import NestlingLM

    hf = HFLM(pretrained=str(tiny_model_dir), device="cpu", batch_size=4)
    ours = NestlingLM(pretrained=str(tiny_model_dir), device="cpu", batch_size=8)
    return hf, ours


def _instances(kind, args):
    return [Instance(request_type=kind, doc={}, arguments=a, idx=i) for i, a in enumerate(args)]


def test_loglikelihood_equals_hf_backend(backends):
    hf, ours = backends
    context = "Once upon a time the cat sat on the mat while many children read their books. " * 4
    requests = [("", "The cat sat on the mat."), ("", "The cat sat on the mat."), ("", "我们喜欢读书。"),
                ("De kat", " zat op de mat."), ("Ann is tall.", " She reaches it.")]
    # One multiple-choice item with a long shared context: its choices take the shared-prefix path.
    requests += [(context, f" choice {i} of the many.") for i in range(16)]
    theirs, mine = hf.loglikelihood(_instances("loglikelihood", requests)), \
        ours.loglikelihood(_instances("loglikelihood", requests))
    assert len(mine) == len(requests)
    for (a, greedy_a), (b, greedy_b) in zip(theirs, mine):
        assert abs(a - b) < 1e-4 and greedy_a == greedy_b


def test_same_tokens_split_differently(tiny_model_dir, backends):
    """Two requests with one token sequence, split at different places: HFLM's one-token logits cache
    groups them and scores the shorter continuation on the other's positions; nestling scores each
    as HFLM does without that cache."""
    from lm_eval.models.huggingface import HFLM

    _, ours = backends
    plain = HFLM(pretrained=str(tiny_model_dir), device="cpu", batch_size=4, logits_cache=False)
    requests = _instances("loglikelihood", [("", "De kat zat op de mat."), ("De kat", " zat op de mat.")])
    for (a, greedy_a), (b, greedy_b) in zip(plain.loglikelihood(requests), ours.loglikelihood(requests)):
        assert abs(a - b) < 1e-4 and greedy_a == greedy_b


def test_greedy_flags_equal_hf_backend(backends):
    """Continuations built from the model's own argmax are greedy in both backends, others not."""
    import torch

    hf, ours = backends
    token_requests = []
    for text in ["The cat sat", "Many children like", "Het kind leest"]:
        ids = hf.tok_encode(text)
        with torch.no_grad():
            best = int(hf.model(torch.tensor([ids])).logits[0, -1].argmax())
        token_requests += [((None, None), ids, [best]), ((None, None), ids, [(best + 1) % hf.vocab_size])]
        token_requests += [((None, None), [hf.prefix_token_id], ids)]
    theirs = hf._loglikelihood_tokens(token_requests, disable_tqdm=True)
    mine = ours._loglikelihood_tokens(token_requests, disable_tqdm=True)
    assert [g for _, g in theirs] == [g for _, g in mine]
    assert any(g for _, g in mine) and not all(g for _, g in mine)
    for (a, _), (b, _) in zip(theirs, mine):
        assert abs(a - b) < 1e-4


def test_loglikelihood_rolling_equals_hf_backend(backends):
    hf, ours = backends
    texts = [("A short text.",), ("The cat sat on the mat. " * 60,)]  # the second spans several windows
    hf._max_length = ours._max_length = 128
    try:
        theirs = hf.loglikelihood_rolling(_instances("loglikelihood_rolling", texts))
        mine = ours.loglikelihood_rolling(_instances("loglikelihood_rolling", texts))
    finally:
        hf._max_length = ours._max_length = None
    assert mine == pytest.approx(theirs, abs=1e-3)


def test_registered_as_nestling():
    from lm_eval.api.registry import get_model

    from nestling.evaluation.lmeval_backend import NestlingLM

    assert get_model("nestling") is NestlingLM
