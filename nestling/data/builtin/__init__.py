"""The built-in grammars, one module per language; ``nestling.data.generator`` is the entry point."""

from . import dutch, english, mandarin

GRAMMARS = {module.CODE: module for module in (english, dutch, mandarin)}
