"""nestling's scorer as an lm-evaluation-harness model backend, registered as ``nestling``.

``NestlingLM`` is lm-eval's own ``hf`` model (HFLM: loading, tokenization, prefix token, rolling
windows, generation) with one method replaced: ``_loglikelihood_tokens``, the place every
``loglikelihood`` and ``loglikelihood_rolling`` request ends up as (context tokens, continuation
tokens). Those run through ``nestling.evaluation.scoring.score_encoded``: identical requests once,
requests that share a context run it once and fan out from its KV cache / the stream mixer's
constant state, the rest in length-sorted batches, logits only where a continuation token is
predicted. Sums and greedy flags equal HFLM's (held by tests/evaluation/test_lmeval_backend.py).

Importing this module registers the model, so ``simple_evaluate(model="nestling", ...)`` works in
Python; from the shell, ``nestling-lm-eval`` is lm-eval's own command line with it registered
(``nestling-lm-eval run --model nestling --model_args pretrained=DIR ...``): lm-eval 0.4.13 looks
models up only in its own registry (no plugin entry points), so plain ``lm_eval`` cannot see it.
"""

from __future__ import annotations

import numpy as np
from lm_eval.api.registry import register_model
from lm_eval.models.huggingface import HFLM

from nestling.evaluation.lm_tasks import context_groups, token_rows
from nestling.evaluation.scoring import score_encoded


@register_model("nestling")
class NestlingLM(HFLM):
    """lm-eval's HFLM with nestling's log-likelihood scorer.

    Extra keyword arguments (also as ``--model_args``): ``max_tokens`` (padded tokens per forward
    pass, default 16384), ``precision`` ("fp32" or "bf16" CUDA autocast), ``share_prefixes``
    (default True). ``batch_size`` caps sequences per pass ("auto" means 64 here). Everything else
    is HFLM's; ``trust_remote_code`` stays False unless asked for.
    """

    def __init__(self, pretrained, *, max_tokens: int = 16384, precision: str = "fp32",
                 share_prefixes: bool = True, trust_remote_code: bool = False, **kwargs):
        super().__init__(pretrained, trust_remote_code=trust_remote_code, **kwargs)
        self.max_tokens, self.precision = int(max_tokens), precision
        self.share_prefixes = share_prefixes not in (False, "False", "false", "0", 0)

    def _score_batch_size(self) -> int:
        size = self.batch_size
        return int(size) if str(size).isdigit() else 64

    def _loglikelihood_tokens(self, requests, disable_tqdm: bool = False, override_bs=None):
        rows, index, fallback = token_rows(requests, self.max_length)
        sums, greedy = score_encoded(
            self.model, rows, groups=context_groups(rows) if self.share_prefixes else None,
            batch_size=override_bs or self._score_batch_size(), max_tokens=self.max_tokens, device=self.device,
            precision=self.precision, progress=not disable_tqdm and self.rank == 0, greedy=True,
        ) if rows else (np.zeros(0), np.zeros(0, dtype=bool))
        leftover = iter(super()._loglikelihood_tokens([requests[n] for n in fallback], disable_tqdm=True)
                        if fallback else [])
        out = []
        for (request_str, _, _), row in zip(requests, index):
            if row < 0:  # HFLM already recorded it in the cache hook
                out.append(next(leftover))
                continue
            answer = (float(sums[row]), bool(greedy[row]))
            if request_str is not None:  # rolling windows are recorded per document by HFLM
                self.cache_hook.add_partial("loglikelihood", request_str, answer)
            out.append(answer)
        return out

