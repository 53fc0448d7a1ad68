"""The recipes that are the published cards: each builds its model on the meta device (no memory, no data)
and is checked for its parameter count, its planned steps and token exposures, and the revisions
(chck_* branches) a completed run writes."""

from __future__ import annotations

import pytest
import torch

from nestling.recipe import load_recipe
from nestling.run_folder import milestone_names
from nestling.training.counting import plan_steps
from nestling.training.milestones import Corpus, planned_end_credit, planned_revisions
from nestling.training.schedule import wsd_phases

# A strict corpus of exactly 100M words (1% held out), at 1.3 tokens per word: what a card's word-counted
# milestones are computed on (a run's own corpus decides its words per token).
STRICT = Corpus(train_tokens=128_700_000, val_tokens=1_300_000, train_words=99_000_000, val_words=1_000_000)
# The multilingual card counts token exposures, so its revisions do not depend on the corpus.
MULTILINGUAL = Corpus(train_tokens=400_000_000, val_tokens=4_000_000, train_words=300e6, val_words=3e6)
CARD_STEPS, CARD_TOKENS = 7_629, 7_629 * 128 * 1024
TAAM_TOKENS = 655_360_000


def build_on_meta(recipe):
    from nestling.models import build_model

    with torch.device("meta"):
        model = build_model(recipe.model.to_dict(), recipe.tokenizer.vocab_size, 0, 1, 2)
    return model, sum(p.numel() for p in model.parameters())


def planned(recipe, corpus: Corpus) -> tuple[int, int]:
    tokens_per_step = recipe.batch.global_batch * recipe.batch.seq_len
    steps = plan_steps(recipe.budget, corpus.train_tokens, tokens_per_step)
    return steps, steps * tokens_per_step


@pytest.mark.parametrize("name, params", [("stream-mixer-48m", 48_734_748), ("stream-mixer-26m", 26_093_944),
                                          ("llama-48m", 48_775_680), ("llama-baseline", 48_775_680)])
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
    assert abs(n / 35_600_000 - 1) < 0.01 and n == 35_660_288
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
