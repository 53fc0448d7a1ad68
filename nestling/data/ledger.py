"""Reading a prepared dataset's ledger.json: the ledger itself, and the per-language token budgets
it implies (how many training tokens the sampler may draw from each language).

Rule, per language l (``max_epochs`` passes over the data it may use):

    distinct_l = train_tokens_l                                   # shards/<l>/meta.json
    if the ledger holds each language to its own budget (``limit_scope == "per_language"``, the
    multilingual track) and the language has more bytes than its byte target:
        distinct_l *= byte_target_l / bytes_l
    if the ledger entry gives an explicit ``word_budget`` (English-word equivalents):
        distinct_l = min(distinct_l, word_budget_l / words_per_token_l)
    budget_l = floor(distinct_l * max_epochs)

The byte target is the track's word limit in English-word equivalents turned into bytes with the
language's byte premium (543 MB x premium per 100M words, see nestling.data.counting), so
byte_target / bytes is exactly the share of the language's data its English-word-equivalent budget
covers: a language that needs more bytes than English for the same content (Dutch, premium 1.05) is
given more bytes, one that needs fewer (Mandarin simplified, 0.94: each character is 3 UTF-8 bytes but
carries about a word's worth of content) is given fewer. The premiums and the byte-target rule are
reconstructions (docs/reconstructions.md). The ledger certifies the words in the data; epochs re-read
them (as BabyLM allows), so the cap is on exposure.

Unique tokens and exposures. ``distinct_l`` is the language's certified unique-token budget
(``unique_tokens``); a plan's exposures of the language (its tokens drawn, repeats counted) over it are
its passes (``exposure_report``, said at plan time): the TAAM card's 655,360,000 exposures over at most
100M unique tokens are about 6.5 passes.
"""

from __future__ import annotations

import math
from pathlib import Path

from nestling.errors import UserError

LEDGER = "ledger.json"
LEDGER_WORD_BUDGET_KEY = "word_budget"


def read_ledger(dataset_dir: str | Path, required: bool = True) -> dict | None:
    """``dataset_dir/ledger.json``; None when absent and not ``required`` (UserError when required)."""
    from nestling.data.prepare import load_ledger  # the reader with its checks

    if not required and not (Path(dataset_dir) / LEDGER).is_file():
        return None
    return load_ledger(Path(dataset_dir))


def _ledger_share(ledger: dict | None, lang: str) -> float:
    """Share of the language's data its per-language byte target covers (1.0 when not per-language)."""
    if not ledger or ledger.get("limit_scope") != "per_language":
        return 1.0
    entry = (ledger.get("languages") or {}).get(lang) or {}
    target, n_bytes = entry.get("byte_target"), entry.get("bytes")
    if target is None or not n_bytes:
        return 1.0
    return min(1.0, float(target) / float(n_bytes))


def unique_tokens(ledger: dict | None, shard_metas: dict[str, dict]) -> dict[str, int]:
    """{lang: distinct training tokens the ledger certifies the language may use}: ``distinct_l`` of the
    rule in the module docstring (epochs re-read these; they are counted once)."""
    return {lang: int(math.floor(distinct)) for lang, distinct in _distinct_tokens(ledger, shard_metas).items()}


def token_budgets(ledger: dict | None, shard_metas: dict[str, dict], max_epochs: float) -> dict[str, int]:
    """{lang: most tokens the mixer may draw} from the ledger and each language's shard meta.json."""
    if not max_epochs > 0:
        raise UserError(f"max_epochs must be > 0, got {max_epochs}")
    return {lang: int(math.floor(distinct * max_epochs))
            for lang, distinct in _distinct_tokens(ledger, shard_metas).items()}


def _distinct_tokens(ledger: dict | None, shard_metas: dict[str, dict]) -> dict[str, float]:
    ledger_langs = (ledger or {}).get("languages", {}) or {}
    distinct_by_lang = {}
    for lang, meta in shard_metas.items():
        try:
            distinct = float(meta["train_tokens"])
        except (KeyError, TypeError, ValueError):
            raise UserError(f"shards/{lang}/meta.json: missing or bad 'train_tokens'") from None
        distinct *= _ledger_share(ledger, lang)
        word_budget = (ledger_langs.get(lang) or {}).get(LEDGER_WORD_BUDGET_KEY)
        if word_budget is not None:
            words_per_token = float(meta.get("words_per_token") or 0.0)
            if not words_per_token > 0:
                raise UserError(f"shards/{lang}/meta.json: 'words_per_token' must be > 0 to apply the word budget")
            distinct = min(distinct, float(word_budget) / words_per_token)
        distinct_by_lang[lang] = distinct
    return distinct_by_lang


def exposure_report(unique: dict[str, int], pi: dict[str, float], total_tokens: int) -> str:
    """One line for the plan: each language's planned token exposures (total x pi) over its certified unique
    tokens, and the passes that makes; then the totals (the TAAM card: 655,360,000 exposures over at most
    100M unique tokens, about 6.5 passes). With an adaptive mixer, pi is the one it starts from."""
    def passes(exposures: float, distinct: int) -> str:
        return f"{exposures / distinct:.2f} passes" if distinct else "no unique tokens"

    exposures = {lang: pi[lang] * total_tokens for lang in unique}
    parts = [f"{lang} {exposures[lang]:,.0f} over {unique[lang]:,} ({passes(exposures[lang], unique[lang])})"
             for lang in sorted(unique)]
    total_unique = sum(unique.values())
    return (f"exposures over unique tokens: {'; '.join(parts)}; total {total_tokens:,} over {total_unique:,} "
            f"({passes(total_tokens, total_unique)})")
