"""Load an exported model folder the way the official BabyLM pipelines do and record what it computes.

Run by ``compat_transformers.py`` inside each throw-away environment, in a fresh process that cannot
import nestling (the folder's own code must be enough). Writes one JSON file:

    python compat_probe.py MODEL_DIR PAIRS_JSONL OUT_JSON

Records: which auto classes load (AutoConfig, AutoTokenizer, AutoProcessor, AutoModelForCausalLM,
AutoModel, AutoModelForSequenceClassification), logits on fixed sentences, AutoModel's hidden states
against the causal model's, greedy generation with and without the cache, the summed log-probability
of both sentences of each minimal pair, and the text of ``pipeline("text-generation", ...)``.
"""

from __future__ import annotations

import json
import sys

sys.modules["nestling"] = None  # `import nestling` now raises ImportError: the folder must stand alone

import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import (  # noqa: E402
    AutoConfig,
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForSequenceClassification,
    AutoProcessor,
    AutoTokenizer,
    pipeline,
)

SENTENCES = ["The cat sat on the mat.", "Where did the children go?", "De hond slaapt.", "我 有 一 本 书 。"]
PROMPTS = ["The cat sat on the", "She gave the"]


def _loads(fn) -> tuple[object | None, str]:
    try:
        obj = fn()
        return obj, type(obj).__name__
    except Exception as err:  # the table reports the failure; one broken class must not hide the others
        return None, f"FAILED: {type(err).__name__}: {str(err).splitlines()[0][:160]}"


def _sentence_logprob(model, tok, sentence: str) -> float:
    """Sum of log p(token_t | tokens_<t) over the sentence's tokens after the first (BOS when the tokenizer adds one)."""
    ids = tok(sentence, return_tensors="pt").input_ids
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=ids).logits.float(), dim=-1)
    return float(logp[0, :-1].gather(-1, ids[0, 1:, None]).sum())


def probe(model_dir: str, pairs_path: str) -> dict:
    torch.manual_seed(0)
    remote = {"trust_remote_code": True}
    out = {"transformers": transformers.__version__, "torch": torch.__version__, "loads": {}}
    _, out["loads"]["AutoConfig"] = _loads(lambda: AutoConfig.from_pretrained(model_dir, **remote))
    tok, out["loads"]["AutoTokenizer"] = _loads(lambda: AutoTokenizer.from_pretrained(model_dir, **remote))
    _, out["loads"]["AutoProcessor"] = _loads(lambda: AutoProcessor.from_pretrained(model_dir, **remote))
    lm, out["loads"]["AutoModelForCausalLM"] = _loads(
        lambda: AutoModelForCausalLM.from_pretrained(model_dir, **remote).eval())
    base, out["loads"]["AutoModel"] = _loads(lambda: AutoModel.from_pretrained(model_dir, **remote).eval())
    _, out["loads"]["AutoModelForSequenceClassification"] = _loads(
        lambda: AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=3, **remote))
    if lm is None or tok is None:
        return out
    batch = [tok(s, return_tensors="pt").input_ids for s in SENTENCES]
    with torch.no_grad():
        out["logits"] = [lm(input_ids=ids).logits[0].tolist() for ids in batch]
        if base is not None:
            hidden = base(input_ids=batch[0], output_hidden_states=True)
            causal_hidden = lm(input_ids=batch[0], output_hidden_states=True).hidden_states[-1]
            out["automodel_hidden_matches"] = bool(torch.allclose(hidden.last_hidden_state, causal_hidden, atol=1e-6))
            out["automodel_hidden_states"] = len(hidden.hidden_states)
    generations = {}
    for use_cache in (True, False):
        ids = [tok(p, return_tensors="pt").input_ids for p in PROMPTS]
        generations[str(use_cache)] = [
            lm.generate(x, max_new_tokens=24, do_sample=False, use_cache=use_cache)[0].tolist() for x in ids]
    out["generate_cache_equal"] = generations["True"] == generations["False"]
    out["generations"] = generations["True"]
    with open(pairs_path, encoding="utf-8") as f:
        pairs = [json.loads(line) for line in f if line.strip()]
    out["pairs"] = [[_sentence_logprob(lm, tok, p["sentence_good"]), _sentence_logprob(lm, tok, p["sentence_bad"])]
                    for p in pairs]
    text, failure = _loads(lambda: _pipeline_text(model_dir))
    out["pipeline"] = failure if text is None else text
    return out


def _pipeline_text(model_dir: str) -> str:
    """What a user's first pipeline call returns: greedy text from the folder, loaded by name."""
    generator = pipeline("text-generation", model=model_dir, trust_remote_code=True)
    return generator(PROMPTS[0], max_new_tokens=24, do_sample=False)[0]["generated_text"]


if __name__ == "__main__":
    model_dir, pairs_path, out_path = sys.argv[1:4]
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(probe(model_dir, pairs_path), f)
