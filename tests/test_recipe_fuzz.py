"""Property-based fuzzing of the recipe loader and the `--set KEY=VALUE` parser (hypothesis).

Whatever a user writes (any mapping, any YAML text, any override) gives either a valid recipe or a
one-line `UserError`, never another exception. Inputs are drawn near the real schema (real section
and key names, values of every YAML type) so that deep checks are reached, and also fully at random.
"""

from __future__ import annotations

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nestling.errors import UserError
from nestling.recipe import Recipe, SECTIONS, documented_keys, load_recipe, parse_override

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

KEYS = sorted(documented_keys()) + ["model.hidden_size", "model.num_hidden_layers", "model.arch", "model.bogus"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                    st.text(max_size=12), st.sampled_from(["auto", "cpu", "1e-3", "inf", "nan", "[]", "eng"]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                      st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                      max_leaves=6)


def _nested(dotted: str, value) -> dict:
    for part in reversed(dotted.split(".")):
        value = {part: value}
    return value


def _merged(pairs: list[tuple[str, object]]) -> dict:
    tree: dict = {}
    for dotted, value in pairs:
        node = tree
        *path, last = dotted.split(".")
        for part in path:
            node = node.setdefault(part, {}) if isinstance(node.get(part, {}), dict) else {}
        node[last] = value
    return tree


near_schema = st.lists(st.tuples(st.sampled_from(KEYS), values), max_size=4).map(_merged)
any_mapping = st.dictionaries(st.one_of(st.sampled_from(sorted(SECTIONS)), st.text(max_size=8), st.integers()),
                              values, max_size=4)


def _valid_or_user_error(load) -> None:
    try:
        recipe = load()
    except UserError as err:
        assert "\n" not in str(err).strip(), str(err)
        return
    assert isinstance(recipe, Recipe)
    load_recipe(recipe)  # a loaded recipe loads again unchanged


@FUZZ
@given(st.one_of(near_schema, any_mapping))
def test_any_mapping_gives_a_recipe_or_a_user_error(tree):
    _valid_or_user_error(lambda: load_recipe(tree))


@FUZZ
@given(st.one_of(near_schema.map(lambda tree: yaml.safe_dump(tree, allow_unicode=True)), st.text(max_size=200),
                 st.binary(max_size=100).map(lambda raw: raw.decode("utf-8", "replace"))))
def test_any_yaml_text_gives_a_recipe_or_a_user_error(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("fuzz") / "recipe.yaml"
    path.write_text(text, encoding="utf-8")
    _valid_or_user_error(lambda: load_recipe(path))


@FUZZ
@given(st.lists(st.one_of(st.tuples(st.sampled_from(KEYS), values).map(lambda kv: f"{kv[0]}={yaml.safe_dump(kv[1], default_flow_style=True).strip()}"),
                          st.text(max_size=40)), max_size=3))
def test_any_set_override_gives_a_recipe_or_a_user_error(overrides):
    _valid_or_user_error(lambda: load_recipe("debug", overrides))


@FUZZ
@given(st.text(max_size=60))
def test_parse_override_gives_a_mapping_or_a_user_error(text):
    try:
        parsed = parse_override(text)
    except UserError:
        return
    assert isinstance(parsed, dict)
