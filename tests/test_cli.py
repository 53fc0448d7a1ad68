"""The CLI: a thin table whose subcommands match the README, with one-line errors and exit code 2."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from nestling import cli

REPO = Path(__file__).resolve().parents[1]


def _subcommands(parser) -> dict:
    for action in parser._actions:
        if action.__class__.__name__ == "_SubParsersAction":
            return action.choices
    return {}


def cli_commands() -> set[str]:
    names = set()
    for name, sub in _subcommands(cli.build_parser()).items():
        nested = _subcommands(sub)
        names |= {f"{name} {n}" for n in nested} if nested else {name}
    return names


def test_issue_subcommands_exist():
    top = set(_subcommands(cli.build_parser()))
    assert {"data", "tokenizer", "mix", "train", "eval", "export", "report", "demo"} <= top


def test_readme_documents_exactly_the_cli_table():
    readme = (REPO / "README.md").read_text()
    documented = set(re.findall(r"^\| `nestling ([a-z]+(?: [a-z]+)?)", readme, flags=re.M))
    assert documented == cli_commands()


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "nestling", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args", [[], ["data"], ["bogus"], ["train"], ["data", "prepare", "--lang", "eng"],
                                  ["mix", "simulate", "--reward", "v3"]])
def test_wrong_arguments_give_one_line_and_exit_2(args):
    result = run_cli(*args)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_every_command_explains_itself():
    for command in sorted(cli_commands()):
        result = run_cli(*command.split(), "--help")
        assert result.returncode == 0 and "usage:" in result.stdout, command


def test_user_error_from_the_library_is_one_line_exit_2(tmp_path):
    result = run_cli("train", str(tmp_path / "missing.yaml"))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "not found" in result.stderr


def _every_command(parser, path=()) -> list[tuple[str, ...]]:
    """The command paths of the parser tree, found from the parser itself: (), (data,), (data, prepare), ..."""
    found = [path]
    for name, sub in _subcommands(parser).items():
        found += _every_command(sub, path + (name,))
    return found


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_of_every_command_and_group_exits_0(flag, capsys):
    commands = _every_command(cli.build_parser())
    assert len(commands) > len(cli_commands())  # the top level and the groups are in it too
    for command in commands:
        with pytest.raises(SystemExit) as exit_:
            cli.main([*command, flag])
        out, err = capsys.readouterr()
        assert exit_.value.code == 0 and "usage: nestling" in out, (command, err)
        assert "Traceback" not in out + err


def test_top_level_help_in_a_fresh_process():
    result = run_cli("--help")
    assert result.returncode == 0 and "usage: nestling" in result.stdout and not result.stderr
