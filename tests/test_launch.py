"""The torchrun variables are read and checked in one place (nestling.launch)."""

import pytest

from nestling import launch
from nestling.errors import UserError


def test_a_plain_process_is_rank_0_of_1(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert launch.ranks() == (0, 1, 0)


def test_torchrun_values_are_read(monkeypatch):
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert launch.ranks() == launch.Ranks(rank=1, world_size=2, local_rank=1)


@pytest.mark.parametrize("env, message", [
    ({"WORLD_SIZE": "two"}, r"WORLD_SIZE='two' is not a whole number"),
    ({"RANK": "1.5"}, r"RANK='1\.5' is not a whole number"),
    ({"WORLD_SIZE": "0"}, r"out of range"),
    ({"WORLD_SIZE": "2", "RANK": "2"}, r"RANK=2, WORLD_SIZE=2"),
    ({"LOCAL_RANK": "-1"}, r"LOCAL_RANK=-1"),
])
def test_bad_values_are_one_line_user_errors(monkeypatch, env, message):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(UserError, match=message):
        launch.ranks()
