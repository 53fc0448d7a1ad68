"""Recipes: every shipped recipe loads through the real loader; keys are typed, documented, overridable."""

from pathlib import Path

import pytest
import yaml

from nestling import recipe as R
from nestling.errors import UserError

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", R.available_recipes())
def test_every_shipped_recipe_loads_and_builds_its_model_config(name):
    recipe = R.load_recipe(name)
    assert recipe["name"]
    cfg = dict(recipe["model"])
    arch = cfg.pop("arch")
    if arch == "stream_mixer":
        from nestling.models.stream_mixer import StreamMixerConfig as Config
    else:
        from transformers import LlamaConfig as Config
    Config(vocab_size=recipe["tokenizer"]["vocab_size"], **cfg)


def test_issue_recipes_exist():
    names = set(R.available_recipes())
    assert {"demo", "stream-mixer-48m", "taam-multilingual", "taam-v1", "taam-v2", "prior", "pstar",
            "uniform", "temperature", "unimax", "llama-baseline", "debug"} <= names
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
    ("batch.seq_len=0", "must be positive"),
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


def test_every_key_is_documented_and_the_reference_is_current():
    keys = R.documented_keys()
    assert all(k.doc.strip() for k in keys.values())
    assert (REPO / "docs" / "recipes.md").read_text() == R.reference_markdown(), \
        "regenerate with: python -m nestling.recipe > docs/recipes.md"


def test_resolved_recipe_round_trips_through_yaml(tmp_path):
    recipe = R.load_recipe("demo")
    path = tmp_path / "recipe.yaml"
    path.write_text(R.dump_recipe(recipe))
    again = R.load_recipe(path)
    assert {k: v for k, v in again.items() if k != "_source"} == {k: v for k, v in recipe.items() if k != "_source"}


def test_a_runs_recorded_recipe_trains_again(tmp_path):
    """The trainer records recipe.yaml with its private keys (_source): it must load as it is."""
    recipe = R.load_recipe("demo")
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    assert "_source" in path.read_text()
    again = R.load_recipe(path)
    assert {k: v for k, v in again.items() if k != "_source"} == {k: v for k, v in recipe.items() if k != "_source"}


def test_run_dir_name():
    import datetime as dt

    assert R.run_dir_name(R.load_recipe("demo"), dt.date(2026, 11, 22)) == "2026-11-22_taam-v2_seed0"
