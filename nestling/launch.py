"""The torchrun variables (RANK, WORLD_SIZE, LOCAL_RANK), read and checked in one place.

torchrun sets them; a user may also set them by hand, so a value that is not a whole number in range
is a one-line UserError rather than a ValueError deep inside training or data preparation.
"""

from __future__ import annotations

import os
from typing import NamedTuple

from nestling.errors import UserError


class Ranks(NamedTuple):
    rank: int
    world_size: int
    local_rank: int


def _whole(name: str, default: int) -> int:
    text = os.environ.get(name)
    if text is None or not text.strip():
        return default
    try:
        return int(text)
    except ValueError:
        raise UserError(f"environment variable {name}={text!r} is not a whole number "
                        "(torchrun sets RANK, WORLD_SIZE and LOCAL_RANK; unset them to run one process)") from None


def ranks() -> Ranks:
    """This process's place under torchrun; (0, 1, 0) for a plain single process."""
    world = _whole("WORLD_SIZE", 1)
    rank, local = _whole("RANK", 0), _whole("LOCAL_RANK", 0)
    if world < 1 or not 0 <= rank < world or local < 0:
        raise UserError(f"torchrun variables out of range: RANK={rank}, WORLD_SIZE={world}, LOCAL_RANK={local} "
                        "(need WORLD_SIZE >= 1, 0 <= RANK < WORLD_SIZE, LOCAL_RANK >= 0)")
    return Ranks(rank, world, local)
