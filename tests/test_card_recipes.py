"""The recipes that are the published cards: each builds its model on the meta device (no memory, no data)
and is checked for its parameter count, its planned steps and token exposures, and the revisions
(chck_* branches) a completed run writes."""

from __future__ import annotations

import pytest
import torch

from nestling.recipe import load_recipe
from nestling.run_folder import milestone_names
from nestling.training.counting import plan_steps
from nestling.training.milestones import (Corpus, plan_message, planned_end_credit, planned_revisions,
                                          unwritten_revisions)
from nestling.training.schedule import wsd_phases

# A strict corpus of exactly 100M words (1% held out), at 1.3 tokens per word: what a card's word-counted
# milestones are computed on (a run's own corpus decides its words per token).
STRICT = Corpus(train_tokens=128_700_000, val_tokens=1_300_000, train_words=99_000_000, val_words=1_000_000)
# A cleaned strict corpus as prepare writes it: 99.85M words (1% held out) at 0.63 words per token.
CLEANED = Corpus(train_tokens=round(98_851_500 / 0.63), val_tokens=round(998_500 / 0.63),
                 train_words=98_851_500, val_words=998_500)
# The multilingual card counts token exposures, so its revisions do not depend on the corpus.
MULTILINGUAL = Corpus(train_tokens=400_000_000, val_tokens=4_000_000, train_words=300e6, val_words=3e6)
CARD_STEPS, CARD_TOKENS = 7_629, 7_629 * 128 * 1024
TAAM_TOKENS = 655_360_000


def build_on_meta(recipe):
    from nestling.models import build_model

    with torch.device("meta"):
        model = build_model(recipe.model.to_dict(), recipe.tokenizer.vocab_size, 0, 1, 2)
    return model, sum(p.numel() for p in model.parameters())


def hub_display(n_params: int) -> str:
    """The parameter count as the Hub's model page shows it (millions, one decimal)."""
    return f"{n_params / 1e6:.1f}M"


def test_the_hybrid_builds_the_cards_exact_count():
    n = build_on_meta(load_recipe("stream-mixer-48m"))[1]
    assert abs(n / 48_169_440 - 1) < 1e-4, n


def planned(recipe, corpus: Corpus) -> tuple[int, int]:
    tokens_per_step = recipe.batch.global_batch * recipe.batch.seq_len
    steps = plan_steps(recipe.budget, corpus.train_tokens, tokens_per_step)
    return steps, steps * tokens_per_step


@pytest.mark.parametrize("name, params", [("stream-mixer-48m", 48_169_500), ("stream-mixer-26m", 26_093_944),
                                          ("llama-48m", 48_161_280), ("llama-baseline", 48_161_280)])
def test_strict_card_recipes(name, params):
    recipe = load_recipe(name)
    model, n = build_on_meta(recipe)
    assert n == params
    assert planned(recipe, STRICT) == (CARD_STEPS, CARD_TOKENS)  # the card: 7,629 steps of 128 x 1,024
    warmup, stable, decay = wsd_phases(CARD_STEPS, recipe.schedule.warmup_fraction, recipe.schedule.decay_fraction)
    assert stable / CARD_STEPS == pytest.approx(0.85, abs=5e-4)
    o = recipe.optimizer
    assert (o.name, o.muon_lr, o.adamw_lr, o.weight_decay, o.adjust_lr_fn) == ("muon_adamw", 5e-3, 5e-4, 0.1, "original")
    assert recipe.checkpoints.unit == "words" and recipe.tokenizer.vocab_size == 16384
    # 999,948,288 tokens at 1.3 tokens per word: 769M words, chck_1M ... chck_700M.
    assert planned_revisions(recipe, STRICT) == milestone_names()[:25]


def test_the_pure_mixer_and_the_llama_match_the_hybrid_as_the_cards_say():
    hybrid = build_on_meta(load_recipe("stream-mixer-48m"))[1]
    llama = build_on_meta(load_recipe("llama-48m"))[1]
    assert abs(llama / hybrid - 1) < 0.01
    pure = load_recipe("stream-mixer-26m")
    assert pure.model["attention_layers"] == [] and abs(build_on_meta(pure)[1] / 26_247_616 - 1) < 0.01
    assert pure.optimizer == load_recipe("stream-mixer-48m").optimizer, "the card: same LR config"


@pytest.mark.parametrize("name, mixing", [("taam-pstar", {"method": "fixed"}), ("taam-v1", {"reward": "v1"}),
                                          ("taam-v2", {"reward": "v2"})])
def test_taam_card_recipes(name, mixing):
    recipe = load_recipe(name)
    model, n = build_on_meta(recipe)
    assert n == 35_648_000 and hub_display(n) == "35.6M"  # the card's size as the Hub shows it
    # Native transformers architecture: no auto_map, so it loads without trust_remote_code.
    assert type(model).__module__.startswith("transformers.models.llama") and not getattr(model.config, "auto_map", None)
    assert recipe.seed == 1337 and recipe.checkpoints.unit == "tokens"
    assert planned(recipe, MULTILINGUAL) == (20_000, TAAM_TOKENS)
    revisions = planned_revisions(recipe, MULTILINGUAL)
    assert len(revisions) == 24 and revisions[0] == "chck_1M" and revisions[-1] == "chck_600M"
    assert {k: recipe.mixing[k] for k in mixing} == mixing
    if name == "taam-pstar":
        assert recipe.mixing.probs == {"eng": 0.159, "nld": 0.258, "zho": 0.583}


def test_a_ten_epoch_strict_budget_names_chck_1000m():
    recipe = load_recipe("stream-mixer-48m", ["budget.max_tokens=null", "budget.epochs=10"])
    steps, tokens = planned(recipe, STRICT)
    assert tokens <= 10 * STRICT.train_tokens and tokens * STRICT.words_per_token < 990e6
    assert planned_end_credit("words", recipe.budget, STRICT) == pytest.approx(1e9)
    assert planned_revisions(recipe, STRICT) == milestone_names()


def test_planned_end_credit_only_for_a_budget_in_the_milestone_unit():
    budget = load_recipe("stream-mixer-48m").budget  # max_tokens 1e9
    assert planned_end_credit("words", budget, STRICT) is None
    assert planned_end_credit("tokens", budget, STRICT) == 1e9
    steps = load_recipe("stream-mixer-48m", ["budget.max_steps=100"]).budget
    assert planned_end_credit("tokens", steps, STRICT) is None and planned_end_credit("words", steps, STRICT) is None
    epochs = load_recipe("stream-mixer-48m", ["budget.max_tokens=null", "budget.epochs=2"]).budget
    assert planned_end_credit("tokens", epochs, STRICT) == 2 * 130_000_000


# Every card recipe's plan on the cleaned corpus (99.85M words, 0.63 words per token): the revisions a
# completed run writes, then final. 1e9 tokens is about 630M words, so the strict cards stop at chck_600M
# (and say so at plan time); the TAAM cards count 655,360,000 token exposures: chck_1M ... chck_600M.
NAMES = milestone_names()
CARD_PLANS = {
    "stream-mixer-48m": NAMES[:24], "stream-mixer-26m": NAMES[:24], "llama-48m": NAMES[:24],
    "llama-baseline": NAMES[:24], "taam-pstar": NAMES[:24], "taam-v1": NAMES[:24], "taam-v2": NAMES[:24],
    "taam-multilingual": NAMES,
}


@pytest.mark.parametrize("name", sorted(CARD_PLANS))
def test_every_card_recipe_lists_its_plans_milestones(name):
    recipe = load_recipe(name)
    corpus = CLEANED if recipe.data.track == "strict" else Corpus(
        train_tokens=3 * CLEANED.train_tokens, val_tokens=3 * CLEANED.val_tokens,
        train_words=3 * CLEANED.train_words, val_words=3 * CLEANED.val_words)
    assert planned_revisions(recipe, corpus) == CARD_PLANS[name]
    missing = unwritten_revisions(recipe, corpus)
    assert missing == NAMES[len(CARD_PLANS[name]):]
    message = plan_message(recipe, corpus)
    assert message.startswith(f"plan: writes {len(CARD_PLANS[name])} revisions (chck_1M ... ")
    assert ("will not write chck_700M ... chck_1000M (4)" in message) == bool(missing)


def test_ten_epochs_over_a_cleaned_corpus_end_at_chck_1000m():
    # 99.85M words: ten passes count 998.5M, but a completed run of the track's 10 epochs is credited 1B.
    recipe = load_recipe("stream-mixer-48m", ["budget.max_tokens=null", "budget.epochs=10"])
    assert planned_end_credit("words", recipe.budget, CLEANED, "strict") == pytest.approx(1e9)
    assert planned_end_credit("words", recipe.budget, CLEANED) == pytest.approx(998.5e6)  # no track: own words
    assert planned_revisions(recipe, CLEANED) == NAMES and unwritten_revisions(recipe, CLEANED) == []
    assert plan_message(recipe, CLEANED) == "plan: writes 28 revisions (chck_1M ... chck_1000M) and final"


def test_a_corpus_well_under_the_track_is_credited_its_own_words():
    half = Corpus(train_tokens=CLEANED.train_tokens // 2, val_tokens=CLEANED.val_tokens // 2,
                  train_words=CLEANED.train_words / 2, val_words=CLEANED.val_words / 2)
    recipe = load_recipe("stream-mixer-48m", ["budget.max_tokens=null", "budget.epochs=10"])
    assert planned_end_credit("words", recipe.budget, half, "strict") == pytest.approx(499.25e6)
    assert planned_revisions(recipe, half)[-1] == "chck_400M"
