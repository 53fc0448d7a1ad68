"""YAML a user wrote is read safely and without aliases (nestling.safe_yaml)."""

import pytest

from nestling.errors import UserError
from nestling.safe_yaml import AliasRefused, load_yaml


def test_plain_yaml_reads_as_safe_load_does():
    assert load_yaml("a: [1, 2.5, null, x]\nb: {c: true}\n", "f") == {"a": [1, 2.5, None, "x"], "b": {"c": True}}
    assert load_yaml("x: &anchor 1\n", "f") == {"x": 1}  # an anchor alone is harmless


@pytest.mark.parametrize("text", ["a: &x [1]\nb: *x\n", "base: &b {k: 1}\nother:\n  <<: *b\n"])
def test_aliases_and_merge_keys_are_refused_before_expansion(text):
    with pytest.raises(AliasRefused, match=r"^f\.yaml: YAML alias \*[bx] at line [23] \(aliases are refused"):
        load_yaml(text, "f.yaml")


def test_invalid_yaml_and_python_tags_are_user_errors():
    with pytest.raises(UserError, match=r"f: not valid YAML"):
        load_yaml("a: [1\n", "f")
    with pytest.raises(UserError, match=r"f: not valid YAML"):
        load_yaml("!!python/object/apply:os.system ['true']", "f")
