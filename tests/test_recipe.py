"""Recipes: every shipped recipe loads through the real loader; keys are typed, documented, overridable."""

from pathlib import Path

import pytest

from nestling import recipe as R
from nestling.errors import UserError

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", R.available_recipes())
def test_every_shipped_recipe_loads_and_builds_its_model_config(name):
    recipe = R.load_recipe(name)
    assert recipe.name and recipe["name"] == recipe.name
    config = R.model_config(recipe.model, recipe.tokenizer.vocab_size)
    assert config.model_type == recipe.model.arch


def test_sections_are_typed_and_frozen():
    import dataclasses

    recipe = R.load_recipe("demo")
    assert recipe.mixing.method == "taam" and recipe.batch.seq_len == 128 and recipe.model.arch == "stream_mixer"
    with pytest.raises(dataclasses.FrozenInstanceError):
        recipe.mixing.method = "uniform"
    assert R.with_value(recipe, "data.dir", "x").data.dir == "x" and recipe.data.dir is None


@pytest.mark.parametrize("overrides, message", [
    (["model.attention_layers=[20]"], "attention_layers \\[20\\] out of range"),
    (["model.atention_layers=[1]"], "unknown recipe key 'model.atention_layers'"),
    (["model.arch=llama", "model.n_streams=4"], "unknown recipe key 'model.n_streams' for model.arch=llama"),
    (["model.arch=gpt"], "expected one of stream_mixer, llama"),
])
def test_model_keys_are_checked_at_load(overrides, message):
    with pytest.raises(UserError, match=message):
        R.load_recipe("demo", overrides)


def test_changing_the_arch_drops_the_other_archs_inherited_keys(tmp_path):
    llama = R.load_recipe("demo", ["model.arch=llama"]).model
    assert "attention_layers" not in llama and "n_streams" not in llama and "chunk_size" not in llama
    assert llama["hidden_size"] == 128 and llama["head_dim"] == 32, "keys both architectures know carry over"
    (tmp_path / "l.yaml").write_text("base: demo\nmodel: {arch: llama, num_key_value_heads: 2}\n")
    from_base = R.load_recipe(tmp_path / "l.yaml").model
    assert from_base.to_dict() == {**llama.to_dict(), "num_key_value_heads": 2}
    (tmp_path / "bad.yaml").write_text("base: demo\nmodel: {arch: llama, stream_dim: 8}\n")
    with pytest.raises(UserError, match="model.stream_dim"):
        R.load_recipe(tmp_path / "bad.yaml")


def test_issue_recipes_exist():
    names = set(R.available_recipes())
    assert {"demo", "stream-mixer-48m", "taam-multilingual", "taam-v1", "taam-v2", "prior", "pstar",
            "uniform", "temperature", "unimax", "llama-baseline", "debug", "stream-mixer-26m", "llama-48m", "taam-pstar",
            "ablation-mixer", "ablation-llama", "ablation-taam"} <= names
    assert (REPO / "recipes" / "demo.yaml").is_file(), "recipes/ at the repository root must show the recipes"


def test_full_scale_recipe_matches_the_published_model():
    recipe = R.load_recipe("stream-mixer-48m")
    assert recipe["batch"]["global_batch"] == 128 and recipe["batch"]["seq_len"] == 1024
    assert recipe["budget"]["epochs"] == 10 and recipe["data"]["track"] == "strict"
    assert recipe["tokenizer"]["vocab_size"] == 16384
    assert recipe["model"]["attention_layers"] == [8]


def test_pstar_holds_the_published_final_pi():
    assert R.load_recipe("pstar")["mixing"]["probs"] == {"eng": 0.159, "nld": 0.258, "zho": 0.583}


def test_overrides_parse_numbers_lists_and_model_keys():
    recipe = R.load_recipe("demo", ["optimizer.muon_lr=1e-3", "model.attention_layers=[1, 3]", "seed=7",
                                    "budget.max_steps=null"])
    assert recipe["optimizer"]["muon_lr"] == pytest.approx(1e-3)
    assert recipe["model"]["attention_layers"] == [1, 3]
    assert recipe["model"]["hidden_size"] == 128, "an override of one model key keeps the others"
    assert recipe["seed"] == 7 and recipe["budget"]["max_steps"] is None


@pytest.mark.parametrize("override, message", [
    ("optimizer.lr=1", "unknown recipe key 'optimizer.lr'"),
    ("optimizer.muon_lr=fast", "expects int or float"),
    ("mixing.method=roundrobin", "expected one of"),
    ("batch.seq_len=0", "must be a positive integer"),
    ("batch.micro_batch=big", "micro_batch"),
    ("seed", "KEY=VALUE"),
    ("run.compile=1", "expects bool"),
])
def test_bad_overrides_give_one_clear_line(override, message):
    with pytest.raises(UserError, match=message):
        R.load_recipe("demo", [override])


def test_missing_recipe_names_the_shipped_ones():
    with pytest.raises(UserError, match="demo"):
        R.load_recipe("no-such-recipe")


def test_base_recipes_compose_and_cycles_fail(tmp_path):
    (tmp_path / "a.yaml").write_text("base: b\nseed: 3\n")
    (tmp_path / "b.yaml").write_text("base: a\n")
    with pytest.raises(UserError, match="cycle"):
        R.load_recipe(tmp_path / "a.yaml")
    (tmp_path / "c.yaml").write_text("base: demo\nmixing: {reward: v1}\n")
    recipe = R.load_recipe(tmp_path / "c.yaml")
    assert recipe["mixing"] == {**R.load_recipe("demo")["mixing"], "reward": "v1"}
    assert recipe.source == str(tmp_path / "c.yaml")


def test_every_key_is_documented_and_the_reference_is_current():
    keys = R.documented_keys()
    assert all(k.doc.strip() for k in keys.values())
    assert (REPO / "docs" / "recipes.md").read_text() == R.reference_markdown(), \
        "regenerate with: python -m nestling.recipe > docs/recipes.md"


def test_resolved_recipe_round_trips_through_yaml(tmp_path):
    recipe = R.load_recipe("demo")
    path = tmp_path / "recipe.yaml"
    path.write_text(R.dump_recipe(recipe))
    assert R.load_recipe(path).to_dict() == recipe.to_dict()
    # Run folders written before the typed recipe held a "_source" line: they load too.
    path.write_text(R.dump_recipe(recipe) + "_source: /somewhere/demo.yaml\n")
    assert R.load_recipe(path).to_dict() == recipe.to_dict()


def test_cli_defaults_and_choices_come_from_the_schema():
    from nestling.cli import build_parser

    parser = build_parser()
    prepare = parser.parse_args(["data", "prepare", "--lang", "eng=x", "--out", "o"])
    assert prepare.track == R.default("data.track") and prepare.on_bad_line == R.default("data.on_bad_line")
    assert parser.parse_args(["tokenizer", "train", "d"]).vocab_size == R.default("tokenizer.vocab_size")
    builtin = parser.parse_args(["data", "builtin", "--out", "o"])
    assert builtin.words == R.default("data.builtin_words") and builtin.langs.split(",") == R.default("data.builtin_langs")
    assert parser.parse_args(["mix", "simulate"]).reward == R.default("mixing.reward")
    for value in R.choices("data.format"):
        assert parser.parse_args(["data", "prepare", "--lang", "eng=x", "--out", "o", "--format", value]).format == value
    assert "`markdown`" in R.reference_markdown() and "`text`" in R.reference_markdown()
