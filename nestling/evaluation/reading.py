"""Reading times: word surprisal from a causal LM, regressed on eye-tracking and self-paced reading.

The method is the official strict pipeline's (strict/evaluation_pipeline/reading/, causal backend):

- each row of ``reading_data.csv`` asks for P(word | item), where ``item`` is the sentence up to
  the word (no trailing space) and ``word`` is tokenized without special tokens, as written (no
  leading space). A missing item is the string "None" (``fillna("None")``, as there);
- a word of several tokens is ``get_p2``'s product: token 0 given the item, then each next token
  given the item plus the decoded tokens so far, re-tokenized, its target re-tokenized from its
  decoded text; each probability is a float32 softmax at the context's last position;
- ``pred`` = -log P(word | item); ``prev_pred`` the same for (prev_item, prev_word), NaN when the
  row has no previous item (spillover);
- scores, in percent of the maximum possible: for each eye-tracking measure, (R2_model -
  R2_baseline) / (1 - R2_baseline) * 100 of two statsmodels OLS fits (baseline: frequency, length,
  context length and their pairwise interactions; model: + pred), averaged over RTfirstfix,
  RTfirstpass, RTgopast and RTrightbound; for self-paced reading, the same with one-word spillover
  (prev_length and prev_pred join the baseline, with all pairwise interactions).

Speed: the official code runs one forward pass per word and per sub-word token. Here every
context the official code would feed is built exactly (tokenization only), and a context that is
a token prefix of another needed context is read from that longer sequence's pass: the rows of
one sentence are served by one pass over its longest context (plus one per extra sub-word step
that is not such a prefix). `reference_surprisal` is the literal one-pass-per-token reference.
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from nestling.errors import UserError
from nestling.evaluation.scoring import BatchScorer, _batches

EYE_TRACKING = ("RTfirstfix", "RTfirstpass", "RTgopast", "RTrightbound")
SELF_PACED = "self_paced_reading_time"
_BASELINE = ("Subtlex_log10 + length + context_length + Subtlex_log10:length + Subtlex_log10:context_length"
             " + length:context_length")
_SPILLOVER = ("Subtlex_log10 + length + context_length + prev_length + prev_pred + Subtlex_log10:length"
              " + Subtlex_log10:context_length + Subtlex_log10:prev_length + Subtlex_log10:prev_pred"
              " + length:context_length + length:prev_length + length:prev_pred + context_length:prev_length"
              " + context_length:prev_pred + prev_length:prev_pred")
REQUIRED_COLUMNS = ("item", "word", "prev_item", "prev_word", "Subtlex_log10", "length", "context_length",
                    "prev_length", SELF_PACED, *EYE_TRACKING)


def load_reading(path: str | Path):
    """reading_data.csv as the official code reads it (item as str, a missing item -> "None")."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such reading data file")
    try:
        df = pd.read_csv(path, dtype={"item": str})
    except (ValueError, pd.errors.ParserError) as err:
        raise UserError(f"{path}: not a readable CSV ({str(err).splitlines()[0]})") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise UserError(f"{path}: missing column(s) {', '.join(missing)}")
    df["item"] = df["item"].fillna("None")
    return df


def _ids(tokenizer, texts: list[str], special: bool) -> list[list[int]]:
    if not texts:
        return []
    return [list(x) for x in tokenizer(texts, add_special_tokens=special)["input_ids"]]


def official_steps(tokenizer, pairs: list[tuple[str, str]]) -> list[list[tuple[tuple[int, ...], int]]]:
    """For each (context, word): the (context ids, target id) of every forward pass get_p2 makes."""
    words = list(dict.fromkeys(w for _, w in pairs))
    word_ids = dict(zip(words, _ids(tokenizer, words, special=False)))
    for word, ids in word_ids.items():
        if not ids:
            raise UserError(f"reading: the word {word!r} tokenizes to nothing")
    # Later sub-word tokens: their decoded text, re-tokenized (get_p's target_id).
    pieces = list(dict.fromkeys(t for ids in word_ids.values() for t in ids[1:]))
    decoded = {t: tokenizer.decode(t) for t in dict.fromkeys(t for ids in word_ids.values() for t in ids)}
    piece_text = [decoded[t] for t in pieces]
    retok = dict(zip(pieces, _ids(tokenizer, piece_text, special=False)))
    for t, ids in retok.items():
        if not ids:
            raise UserError(f"reading: the sub-word {decoded[t]!r} re-tokenizes to nothing")
    plans, contexts = [], []
    for context, word in pairs:
        ids = word_ids[word]
        text, plan = context, [(len(contexts), ids[0])]
        contexts.append(text)
        text = text + decoded[ids[0]]
        for token in ids[1:]:
            plan.append((len(contexts), retok[token][0]))
            contexts.append(text)
            text = text + decoded[token]
        plans.append(plan)
    context_ids = _ids(tokenizer, contexts, special=True)
    for text, ids in zip(contexts, context_ids):
        if not ids:
            raise UserError(f"reading: the context {text!r} tokenizes to nothing (no BOS token to predict from)")
    return [[(tuple(context_ids[c]), target) for c, target in plan] for plan in plans]


def _hosts(seqs: list[tuple[int, ...]]) -> dict[tuple[int, ...], tuple[int, ...]]:
    """Each sequence -> the longest needed sequence it is a prefix of (itself when none).

    In sorted order a sequence that is a prefix of any other is a prefix of its successor, so one
    backward sweep finds every host.
    """
    ordered = sorted(set(seqs))
    host: dict[tuple[int, ...], tuple[int, ...]] = {}
    for i in range(len(ordered) - 1, -1, -1):
        s = ordered[i]
        nxt = ordered[i + 1] if i + 1 < len(ordered) else None
        host[s] = host[nxt] if nxt is not None and nxt[: len(s)] == s else s
    return host


def word_surprisals(model, tokenizer, pairs: list[tuple[str, str]], *, batch_size: int = 64,
                    max_tokens: int = 16384, progress: bool = True) -> np.ndarray:
    """-log P(word | context) for each (context, word) pair, as the official get_p2 computes it, float64 [N]."""
    if not pairs:
        return np.zeros(0)
    unique = list(dict.fromkeys(pairs))
    steps = official_steps(tokenizer, unique)
    host = _hosts([ctx for plan in steps for ctx, _ in plan])
    hosts = list(dict.fromkeys(host.values()))
    host_index = {h: i for i, h in enumerate(hosts)}
    queries = list(dict.fromkeys((ctx, target) for plan in steps for ctx, target in plan))
    by_host: dict[int, list[int]] = {}
    for q, (ctx, _) in enumerate(queries):
        by_host.setdefault(host_index[host[ctx]], []).append(q)
    device = next(model.parameters()).device
    model.eval()
    scorer = BatchScorer(model, device, nullcontext())
    probs = np.zeros(len(queries))
    batches = _batches([len(h) for h in hosts], batch_size, max_tokens)
    with torch.inference_mode():
        for batch in tqdm(batches, desc="reading", unit="batch", disable=not progress, leave=False):
            rows, pos, targets, owners = [], [], [], []
            for r, h in enumerate(batch):
                for q in by_host.get(h, []):
                    ctx, target = queries[q]
                    rows.append(r), pos.append(len(ctx) - 1), targets.append(target), owners.append(q)
            probs[owners] = scorer.probs_at([list(hosts[h]) for h in batch], rows, pos, targets)
    query_index = {q: i for i, q in enumerate(queries)}
    surprisal = {pair: -math.log(math.prod(probs[query_index[step]] for step in plan))
                 for pair, plan in zip(unique, steps)}
    return np.array([surprisal[p] for p in pairs], dtype=np.float64)


def reference_surprisal(model, tokenizer, context: str, word: str) -> float:
    """Slow reference: the official get_p2 loop, one forward pass per sub-word token."""
    device = next(model.parameters()).device

    def p_next(text: str, target_text: str) -> float:
        ids = tokenizer(text, return_tensors="pt").to(device)
        with torch.inference_mode():
            logits = model(**ids).logits[:, -1, :].float().cpu()
        target_id = tokenizer(target_text, add_special_tokens=False)["input_ids"][0]
        return torch.softmax(logits[0], dim=-1)[target_id].item()

    target = tokenizer(word, add_special_tokens=False)["input_ids"]
    # Token 0 is asked for by its own id, the rest by the ids of their decoded text (as get_p2).
    ids = tokenizer(context, return_tensors="pt").to(device)
    with torch.inference_mode():
        logits = model(**ids).logits[:, -1, :].float().cpu()
    out = [torch.softmax(logits[0], dim=-1)[target[0]].item()]
    text = context + tokenizer.decode(target[0])
    for token in target[1:]:
        piece = tokenizer.decode(token)
        out.append(p_next(text, piece))
        text = text + piece
    return -math.log(float(np.prod(out)))


def add_predictions(df, model, tokenizer, **kwargs):
    """df with ``pred`` (-log P(word | item)) and ``prev_pred`` (same for the previous word, or NaN)."""
    pairs = [(str(i), str(w)) for i, w in zip(df["item"], df["word"])]
    has_prev = [isinstance(p, str) for p in df["prev_item"]]
    prev_pairs = [(p, str(w)) for p, w, ok in zip(df["prev_item"], df["prev_word"], has_prev) if ok]
    values = word_surprisals(model, tokenizer, pairs + prev_pairs, **kwargs)
    df = df.copy()
    df["pred"] = values[: len(pairs)]
    prev = np.full(len(df), np.nan)
    prev[np.flatnonzero(has_prev)] = values[len(pairs):]
    df["prev_pred"] = prev
    return df


def _delta_r2_pct(df, dv: str, baseline: str, columns: list[str]) -> dict:
    """(R2 with pred - R2 without) / (1 - R2 without) * 100, each model fitted on its own complete rows."""
    import statsmodels.formula.api as smf

    base = smf.ols(f"{dv} ~ {baseline}", data=df[[dv, *columns]].dropna()).fit()
    full = smf.ols(f"{dv} ~ {baseline} + pred", data=df[[dv, *columns, "pred"]].dropna()).fit()
    r2_base, r2_full = float(base.rsquared), float(full.rsquared)
    return {"r2_baseline": r2_base, "r2_model": r2_full, "delta_r2_pct": (r2_full - r2_base) / (1 - r2_base) * 100,
            "coefficient": float(full.params["pred"]), "p_value": float(full.pvalues["pred"])}


def reading_scores(df) -> dict:
    """The official reading scores (percent of the maximum R2 increase) of a df holding pred/prev_pred."""
    by_measure = {dv: _delta_r2_pct(df, dv, _BASELINE, ["Subtlex_log10", "length", "context_length"])
                  for dv in EYE_TRACKING}
    by_measure[SELF_PACED] = _delta_r2_pct(
        df, SELF_PACED, _SPILLOVER, ["Subtlex_log10", "length", "context_length", "prev_length", "prev_pred"])
    eye = sum(by_measure[dv]["delta_r2_pct"] for dv in EYE_TRACKING) / len(EYE_TRACKING)
    return {"eye_tracking": eye, "self_paced_reading": by_measure[SELF_PACED]["delta_r2_pct"],
            "by_measure": by_measure}


def evaluate_reading(model, tokenizer, df, **kwargs) -> tuple[dict, list[dict]]:
    """(task result, official predictions list) for a loaded reading_data.csv (see load_reading)."""
    scored = add_predictions(df, model, tokenizer, **kwargs)
    result = {"format": "reading", "metric": "delta_r2_pct", "n_items": len(scored), **reading_scores(scored)}
    predictions = [{"id": int(index), "pred": float(pred), "prev_pred": float(prev)}
                   for index, pred, prev in zip(scored.index, scored["pred"], scored["prev_pred"])]
    return result, predictions
