"""Age of acquisition (AoA), computed as the official strict pipeline computes it (causal backend).

Source: strict/evaluation_pipeline/AoA_word/{run.py, evaluation_functions.py, eval_util.py} (the
surprisals) and strict/evaluation_pipeline/utils.py ``AoAEvaluator`` (the score). The official
code is the reference, quirks included (docs/aoa.md lists them):

- words and contexts come from ``cdi_childes.json`` (``{word: [{"context": str, ...}, ...]}``);
  words of one character are dropped;
- each (context, word) is one string ``context.strip() + " " + word.strip()``, tokenized with the
  tokenizer's default special tokens (a BOS when the tokenizer adds one); the word's tokens are
  those whose character span ends after the context; the first token is never scored;
- surprisal = minus the summed natural-log probabilities of the word's tokens (nats);
- every ``chck_*`` revision is one step; ``surprisal.json`` holds one row per step x word x
  context: ``{"step", "word_count", "target_word", "context_id", "context", "surprisal"}``;
- the score fits a sigmoid per word to minus surprisal over log10(step words + 1) (all contexts'
  points together), takes the step where it crosses halfway between log2(300000) (bits, compared
  with nats) and the word's minimum surprisal, and correlates (Pearson) those steps with the
  children's AoA fitted from ``cdi_human.csv`` (proportions at 16..30 months, 50 % threshold).

Speed: rows are deduplicated, rows that share a context run its tokens once (KV cache), the rest
is batched by length (`nestling.evaluation.scoring.score_encoded`). That agrees with the official
batch-of-one arithmetic to ~1e-5 nats, not bit for bit, and the official per-word fit can jump with
such differences; so the words whose fit decides the score are rescored with `official_surprisal`
(the official arithmetic, bit for bit) before the final fit (`exact_words`, docs/aoa.md).
"""

from __future__ import annotations

import json
import logging
import math
import re
from pathlib import Path

import numpy as np

from nestling.errors import UserError

AOA_DIR = "full_eval/aoa"
CONTEXTS_FILE = "cdi_childes.json"
HUMAN_FILE = "cdi_human.csv"
# The official collation's rows per revision (collate_preds.AOA_SIZE, the real cdi_childes.json).
OFFICIAL_ROWS = 8005
# The official "random chance" surprisal: log2 of an approximate vocabulary (bits; surprisals are nats).
RANDOM_CHANCE_SURPRISAL = math.log2(300_000)
CHILD_AGES = tuple(range(16, 31))

log = logging.getLogger(__name__)


def load_contexts(path: str | Path) -> list[tuple[str, list[str]]]:
    """(word, its contexts) in file order; one-character words dropped (official ``load_eval``)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UserError(f"{path}: cannot read the AoA contexts ({err})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected {{word: [{{\"context\": ...}}, ...]}}, got {type(data).__name__}")
    out = []
    for word, entries in data.items():
        if len(word) <= 1:
            continue
        if not isinstance(entries, list) or not all(isinstance(e, dict) and isinstance(e.get("context"), str)
                                                    for e in entries):
            raise UserError(f"{path}: word {word!r}: expected a list of {{\"context\": str, ...}} objects")
        out.append((word, [e["context"] for e in entries]))
    return out


def encode_rows(tokenizer, rows: list[tuple[str, str]]) -> list[tuple[list[int], list[bool]]]:
    """(ids, scored mask) per (context, word): the word's tokens after ``context.strip() + " "``."""
    if not getattr(tokenizer, "is_fast", False):
        raise UserError("AoA needs a fast tokenizer (character offsets locate the word, as the official code does)")
    prefixes = [context.strip() + " " for context, _ in rows]
    texts = [prefix + word.strip() for prefix, (_, word) in zip(prefixes, rows)]
    if not texts:
        return []
    enc = tokenizer(texts, return_offsets_mapping=True)
    return [(list(ids), [i > 0 and end > len(prefix) for i, (_, end) in enumerate(offsets)])
            for ids, offsets, prefix in zip(enc["input_ids"], enc["offset_mapping"], prefixes)]


def word_surprisals(model, tokenizer, words: list[tuple[str, list[str]]], **score_kwargs) -> np.ndarray:
    """Surprisal (nats) of every (word, context), words in order, their contexts in order, float64."""
    from nestling.evaluation.scoring import score_encoded

    rows = [(context, word) for word, contexts in words for context in contexts]
    unique: dict[tuple[str, str], int] = {}
    index = np.array([unique.setdefault((c.strip(), w.strip()), len(unique)) for c, w in rows], dtype=np.int64)
    encoded = encode_rows(tokenizer, list(unique))
    # Rows with the same context (a context serves many words) share its forward pass.
    by_context: dict[str, list[int]] = {}
    for n, (context, _) in enumerate(unique):
        by_context.setdefault(context, []).append(n)
    groups = [members for members in by_context.values() if len(members) > 1]
    sums = score_encoded(model, encoded, groups=groups, **score_kwargs)
    return -sums[index] if len(rows) else np.zeros(0)


def official_surprisal(model, tokenizer, context: str, word: str) -> float:
    """One row as the official ``compute_surprisal_causal`` computes it, the same tensors in the same order.

    One string per forward pass (batch of one, no padding), the full-vocabulary log_softmax at every
    position, gather, the masked sum: bit-identical to the official file on the same torch.
    """
    import torch
    import torch.nn.functional as F

    prefix, word = context.strip() + " ", word.strip()
    text = prefix + word
    encoded = tokenizer(text, return_offsets_mapping=True)
    start = len(text) - len(word)
    device = next(model.parameters()).device
    tokens = torch.LongTensor(encoded["input_ids"]).to(device).unsqueeze(0)
    attention = torch.LongTensor(encoded["attention_mask"]).to(device).unsqueeze(0)[:, :-1]
    phrase = torch.LongTensor([int(end > start) for _, end in encoded["offset_mapping"]]).to(device).unsqueeze(0)
    with torch.no_grad():
        out = model(input_ids=tokens[:, :-1], attention_mask=attention)
        logits = out[0] if isinstance(out, tuple) else out["logits"]
        log_probs = F.log_softmax(logits, dim=-1)
        target = torch.gather(log_probs, -1, tokens[:, 1:].unsqueeze(-1)).squeeze(-1)
        return -torch.sum(target * phrase[:, 1:], dim=1)[0].item()


def exact_word_surprisals(model, tokenizer, words: list[tuple[str, list[str]]]) -> np.ndarray:
    """`word_surprisals` with the official arithmetic (`official_surprisal`), each distinct string once."""
    cache: dict[tuple[str, str], float] = {}
    return np.array([_cached_exact(model, tokenizer, context, word, cache)
                     for word, contexts in words for context in contexts], dtype=np.float64)


def _cached_exact(model, tokenizer, context: str, word: str, cache: dict) -> float:
    # The same string gives the same bits: compute each distinct (context, word) once.
    key = (context.strip(), word.strip())
    if key not in cache:
        cache[key] = official_surprisal(model, tokenizer, context, word)
    return cache[key]


def rescore_exact(model, tokenizer, rows: list[dict], words: set[str]) -> int:
    """Replace, in place, the surprisal of ``rows`` (one revision's) of ``words`` by the official arithmetic's."""
    cache: dict[tuple[str, str], float] = {}
    chosen = [r for r in rows if r["target_word"] in words]
    for r in chosen:
        r["surprisal"] = _cached_exact(model, tokenizer, r["context"], r["target_word"], cache)
    return len(chosen)


def surprisal_rows(revision: str, word_count: int, words: list[tuple[str, list[str]]],
                   surprisals: np.ndarray) -> list[dict]:
    """One revision's rows of the official surprisal.json, in the official order."""
    rows, n = [], 0
    for word, contexts in words:
        for context_id, context in enumerate(contexts):
            rows.append({"step": revision, "word_count": word_count, "target_word": word,
                         "context_id": context_id, "context": context, "surprisal": float(surprisals[n])})
            n += 1
    return rows


def surprisal_file(model_name: str, rows: list[dict]) -> dict:
    """The official surprisal.json content (``StepSurprisalExtractor.analyze_steps``)."""
    steps = len({r["step"] for r in rows})
    return {"metadata": {"model_name": model_name, "use_bos_only": False, "total_steps": steps,
                         "completed_steps": steps},
            "results": rows}


def _sigmoid(x, a, b, c, d):
    # A steep trial fit overflows exp to inf, which gives the right limit (0); no warning for it.
    with np.errstate(over="ignore"):
        return a / (1 + np.exp(-b * (x - c))) + d


def _crossing(a: float, b: float, c: float, d: float, y: float) -> float | None:
    """x where the fitted sigmoid reaches y; None when it never does (or the fit is not rising)."""
    if b <= 0 or a <= 0 or y <= d or y >= a + d:
        return None
    return c - np.log((a / (y - d)) - 1) / b


def child_aoa(ages: np.ndarray, proportions: np.ndarray) -> float | None:
    """Age (months) where the fitted proportion of children producing the word reaches 0.5."""
    from scipy.optimize import curve_fit

    valid = ~np.isnan(proportions)
    ages, proportions = ages[valid], proportions[valid]
    if len(proportions) < 3:
        return None
    try:
        popt, _ = curve_fit(_sigmoid, ages, proportions, p0=[1.0, 0.1, np.mean(ages), 0.0],
                            bounds=([0, 0, ages[0], -0.5], [2.0, 1.0, ages[-1], 0.5]), maxfev=1000)
    except (RuntimeError, ValueError) as err:
        log.debug("child sigmoid fit failed: %s", err)
        return None
    aoa = _crossing(*popt, 0.5)
    return None if aoa is None or aoa < ages[0] or aoa > ages[-1] else aoa


def model_aoa(steps: np.ndarray, surprisals: np.ndarray) -> float | None:
    """log10(words + 1) where the word's fitted learning curve is halfway to its best surprisal.

    Halfway between log2(300000) and the minimum surprisal, as the official code (bits against nats).
    """
    return _model_fit(steps, surprisals)[0]


def _model_fit(steps: np.ndarray, surprisals: np.ndarray) -> tuple[float | None, bool]:
    """(`model_aoa`, whether curve_fit converged without a warning)."""
    import warnings

    from scipy.optimize import OptimizeWarning, curve_fit

    if len(surprisals) < 3:
        return None, True
    valid = ~np.isnan(surprisals)
    if not np.any(valid):
        return None, True
    steps, surprisals = steps[valid], surprisals[valid]
    threshold = RANDOM_CHANCE_SURPRISAL - 0.5 * (RANDOM_CHANCE_SURPRISAL - np.min(surprisals))
    rising = -surprisals
    log_steps = np.log10(steps + 1)
    guess = [np.max(rising) - np.min(rising), 1.0, np.mean(log_steps), np.min(rising)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", OptimizeWarning)
        try:
            popt, _ = curve_fit(_sigmoid, log_steps, rising, p0=guess, maxfev=1000)
        except (RuntimeError, ValueError, TypeError) as err:
            log.debug("model sigmoid fit failed: %s", err)
            return None, False
    clean = not any(issubclass(w.category, OptimizeWarning) for w in caught)
    log_aoa = _crossing(*popt, -threshold)
    if log_aoa is None:
        return None, clean
    # The official bounds check uses the first and last rows' steps (rows are in step order).
    words = 10 ** log_aoa - 1
    return (None if words < steps[0] or words > steps[-1] else log_aoa), clean


_STEP_RE = re.compile(r"(\d+(?:\.\d+)?)\s*([KMB]?)", re.IGNORECASE)
_UNITS = {"K": 1e3, "M": 1e6, "B": 1e9}


def step_words(step) -> float | None:
    """The words a step name stands for, read as the official code reads it ("chck_10M" -> 1e7)."""
    if isinstance(step, (int, float)):
        return float(step)
    match = _STEP_RE.search(str(step))
    if not match:
        return None
    return float(match.group(1)) * _UNITS.get(match.group(2).upper(), 1)


def read_human(path: str | Path):
    """cdi_human.csv as a DataFrame (a ``word`` column and proportion columns "16".."30")."""
    import pandas as pd

    try:
        human = pd.read_csv(path)
    except (OSError, ValueError) as err:
        raise UserError(f"{path}: cannot read the CDI norms ({err})") from None
    if "word" not in human.columns or not any(str(a) in human.columns for a in CHILD_AGES):
        raise UserError(f"{path}: expected a 'word' column and age columns 16..30 (months)")
    return human


def _word_curves(rows: list[dict]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{word: (steps as words seen, surprisals)} in row order; rows whose step names no count are left out."""
    curves: dict[str, tuple[list[float], list[float]]] = {}
    for row in rows:
        step = step_words(row["step"])
        if step is not None:
            steps, surprisals = curves.setdefault(row["target_word"], ([], []))
            steps.append(step)
            surprisals.append(float(row["surprisal"]))
    return {w: (np.array(s), np.array(v)) for w, (s, v) in curves.items()}


def _child_aoas(words, human) -> dict[str, float]:
    """{word: children's AoA} for the words in ``words`` whose first CDI row fits (the only ones scored)."""
    columns = [str(a) for a in CHILD_AGES if str(a) in human.columns]
    ages, proportions = np.array([int(c) for c in columns]), human[columns].values
    out = {}
    for word in words:
        matches = np.where(human["word"] == word)[0]
        child = child_aoa(ages, proportions[matches[0]]) if len(matches) else None
        if child is not None:
            out[word] = float(child)
    return out


def aoa_score(rows: list[dict], human) -> dict:
    """Pearson r between model and child AoA over the words both fit (official ``compute_curve_fitness``).

    ``rows``: surprisal.json results; ``human``: `read_human`'s DataFrame. Fewer than 3 words: r = 0.
    """
    from scipy.stats import pearsonr

    curves = _word_curves(rows)
    words, model_aoas, child_aoas = [], [], []
    for word, child in _child_aoas(curves, human).items():
        model = model_aoa(*curves[word])
        if model is not None:
            words.append(word)
            model_aoas.append(float(model))
            child_aoas.append(child)
    if len(words) < 3:
        return {"score": 0.0, "n_words": len(words), "p_value": None, "words": words}
    r, p = pearsonr(model_aoas, child_aoas)
    return {"score": float(r), "n_words": len(words), "p_value": float(p), "words": words,
            "model_aoa": model_aoas, "child_aoa": child_aoas}


# Rows move by up to this (nats) when refitting a word to test its fit: 10x the fast path's largest
# measured difference from the official arithmetic (7.6e-6, BENCHMARKS.md).
EXACT_TOLERANCE = 1e-4
EXACT_DRAWS = 4


def exact_words(rows: list[dict], human, tolerance: float = EXACT_TOLERANCE, draws: int = EXACT_DRAWS,
                seed: int = 0) -> dict[str, list[str]]:
    """The words whose rows need the official arithmetic for the official score, bit for bit.

    Only words with a children's AoA can count. ``kept``: their fit on these rows enters the score,
    so its value must come from the official bits. ``sensitive``: dropped here, but a fit that warns
    or fails, or that keeps the word once the rows move by +-``tolerance`` (``draws`` random sign
    patterns), says the official bits could keep it.
    """
    curves = _word_curves(rows)
    rng = np.random.default_rng(seed)
    kept, sensitive = [], []
    for word in _child_aoas(curves, human):
        steps, surprisals = curves[word]
        aoa, clean = _model_fit(steps, surprisals)
        if aoa is not None:
            kept.append(word)
        elif not clean or any(_moved_fit_counts(steps, surprisals + tolerance * rng.choice([-1.0, 1.0], len(steps)))
                              for _ in range(draws)):
            sensitive.append(word)
    return {"kept": kept, "sensitive": sensitive}


def _moved_fit_counts(steps: np.ndarray, surprisals: np.ndarray) -> bool:
    aoa, clean = _model_fit(steps, surprisals)
    return aoa is not None or not clean


def revision_rows(model, tokenizer, revision: str, words: list[tuple[str, list[str]]], *, exact: bool = False,
                  **score_kwargs) -> list[dict]:
    """surprisal.json rows of one loaded revision (``word_count`` from its name, as the official steps).

    ``exact``: every row with the official arithmetic (`exact_word_surprisals`) instead of the fast path.
    """
    words_seen = step_words(revision)
    surprisals = (exact_word_surprisals(model, tokenizer, words) if exact
                  else word_surprisals(model, tokenizer, words, **score_kwargs))
    return surprisal_rows(revision, int(words_seen) if words_seen is not None else None, words, surprisals)


def aoa_section(rows: list[dict], human_path: Path | None, contexts_path: Path, exact: dict | None = None) -> dict:
    """The results.json "aoa" section (schema in nestling.evaluation.suites); ``exact``: `exact_counts`."""
    revisions = list(dict.fromkeys(r["step"] for r in rows))
    surprisals = np.array([r["surprisal"] for r in rows], dtype=np.float64)
    section = {"schema_version": 1, "metric": "pearson_r", "contexts": str(contexts_path),
               "human": str(human_path) if human_path else None, "revisions": revisions,
               "rows_per_revision": len(rows) // max(1, len(revisions)),
               "mean_surprisal": {rev: float(np.nanmean([r["surprisal"] for r in rows if r["step"] == rev]))
                                  for rev in revisions},
               "n_nan": int(np.isnan(surprisals).sum()), "exact": exact}
    if human_path is None:
        return {**section, "score": None, "n_words": 0, "reason": f"{HUMAN_FILE} not found"}
    scored = aoa_score(rows, read_human(human_path))
    return {**section, "score": scored["score"], "n_words": scored["n_words"], "p_value": scored["p_value"]}


# How the AoA rows are scored (`nestling eval --aoa-exact`): "rescue" (the default: fast, then the
# words of `exact_words` with the official arithmetic), "all" (every row so), "off" (fast only).
AOA_EXACT_MODES = ("rescue", "all", "off")


def exact_counts(mode: str, rows: list[dict], words: dict[str, list[str]] | None = None) -> dict:
    """What took the official arithmetic under ``mode`` (`AOA_EXACT_MODES`; "rescue": ``words`` = `exact_words`)."""
    if mode != "rescue":
        every = mode == "all"
        return {"mode": mode, "words": len({r["target_word"] for r in rows}) if every else 0,
                "rows": len(rows) if every else 0}
    chosen = set(words["kept"]) | set(words["sensitive"])
    return {"mode": "rescue", "words": len(chosen), "kept_words": len(words["kept"]),
            "sensitive_words": len(words["sensitive"]), "rows": sum(r["target_word"] in chosen for r in rows),
            "tolerance": EXACT_TOLERANCE, "draws": EXACT_DRAWS}
