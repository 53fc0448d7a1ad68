"""Reading YAML that a user wrote (recipes, --set and --grid values, data maps): safe, and without aliases.

``yaml.safe_load`` runs no code, but it still expands aliases: a few hundred bytes of nested
``&a [*b, *b, ...]`` (a "billion laughs") become hundreds of megabytes once a recipe is copied,
checked or written back. Nothing nestling reads needs an alias, so an alias (``*name``, and so the
merge key ``<<: *name``) is refused in one line naming where it is; anchors alone are harmless.
"""

from __future__ import annotations

from typing import Any

import yaml

from nestling.errors import UserError


class _Alias(yaml.YAMLError):
    """A YAML alias, met while composing: refused before it is expanded."""


class AliasRefused(UserError):
    """The one-line refusal of a YAML alias (a UserError; callers that fall back on bad YAML let it through)."""


class _NoAliasLoader(yaml.SafeLoader):
    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise _Alias(f"YAML alias *{event.anchor} at line {event.start_mark.line + 1} "
                         "(aliases are refused: write the value out)")
        return super().compose_node(parent, index)


def load_yaml(text: str, where: str) -> Any:
    """``text`` read as YAML like ``yaml.safe_load``, but refusing aliases; UserError names ``where``."""
    try:
        return yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader subclass
    except _Alias as err:
        raise AliasRefused(f"{where}: {err}") from None
    except yaml.YAMLError as err:
        raise UserError(f"{where}: not valid YAML ({str(err).splitlines()[0]})") from None
