"""What the table tests of the CLI share (tests/test_bad_inputs.py, tests/test_writers.py).

Each row runs the `nestling` command in this process, as a user would type it, and reads its exit code
and stderr; the helpers here build the small inputs most rows start from.
"""

from __future__ import annotations

from pathlib import Path

from nestling import cli

PAIR = {"sentence_good": "the cat sat on the mat", "sentence_bad": "the cat sat mat on the", "UID": "u"}


def run_cli(argv: list[str], capsys) -> tuple[int, str]:
    """(exit code, stderr) of ``nestling ARGV``; no traceback may reach stderr."""
    capsys.readouterr()
    try:
        cli.main(argv)
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    err = capsys.readouterr().err
    assert "Traceback" not in err, err[-3000:]
    return code, err


def nestling_lines(err: str) -> list[str]:
    """The lines nestling itself wrote to stderr (errors and notices start with its name)."""
    return [line for line in err.splitlines() if line.startswith("nestling")]


def text_file(path: Path, lines: int = 20) -> Path:
    """A small plain-text corpus file of ``lines`` distinct sentences."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"the child saw {i} small birds today\n" for i in range(lines)))
    return path


def prepare_argv(*langs: str, out: str = "ds") -> list[str]:
    """`nestling data prepare` of the strict-small track with one ``--lang`` per item."""
    argv = ["data", "prepare", "--track", "strict-small", "--out", out]
    for lang in langs:
        argv += ["--lang", lang]
    return argv
