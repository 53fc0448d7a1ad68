"""`make reproduce-cards` at toy size on CPU: each card's command trains, evaluates every revision and
exports, so the full-size GPU command cannot rot."""

import re
import subprocess
from pathlib import Path

import pytest

from nestling.reproduce import CARDS, main

MAKEFILE = Path(__file__).resolve().parents[1] / "Makefile"


def test_the_makefile_has_one_command_per_card():
    assert re.search(r"^CARDS := (.*)$", MAKEFILE.read_text(), flags=re.M).group(1).split() == list(CARDS)
    dry = subprocess.run(["make", "-n", "-o", ".venv/.nestling-installed", "reproduce-cards"], cwd=MAKEFILE.parent,
                         capture_output=True, text=True, check=True).stdout
    assert [f"-m nestling.reproduce {card} --out runs/reproduce" in dry for card in CARDS] == [True] * len(CARDS)


@pytest.mark.parametrize("card", CARDS)
def test_a_card_reproduces_at_toy_size(card, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NESTLING_REPRODUCE_TOY", "1")
    main([card, "--out", str(tmp_path)])
    out = capsys.readouterr()
    assert re.search(r"planned FLOPs: [0-9.]+e\+\d+ \(6 x parameters x tokens\)", out.out)
    assert re.search(r"measured on cpu .*: [\d,]+ tokens/s", out.out)
    assert "expected training wall-clock: " in out.out and "plan: writes" in out.err
    run, repo = tmp_path / card, tmp_path / f"{card}-hub"
    revisions = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert revisions and (run / "results.json").is_file()
    branches = subprocess.run(["git", "-C", str(repo), "branch", "--format=%(refname:short)"], capture_output=True,
                              text=True, check=True).stdout.split()
    assert set(revisions) <= set(branches) and "main" in branches
