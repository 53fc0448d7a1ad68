"""benchmarks/gpu_check.sh --dry-run: every part of the prepared GPU run works, at toy size on CPU.

The GPU is lent for minutes; a script that first fails on it wastes them. This runs the same driver with
``--dry-run`` (toy models, CPU, aot_eager for the compiled modes) and checks that every part reported
figures, and that the fused modes either ran (Triton present) or were skipped with their reason.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_gpu_check_dry_run_runs_every_part(tmp_path, shared_data):
    out = tmp_path / "gpu_check.json"
    env = {**os.environ, "PYTHON": sys.executable, "NESTLING_SHARED_DATA": str(shared_data),
           "NESTLING_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run([str(REPO / "benchmarks" / "gpu_check.sh"), "--dry-run", "--out", str(out)],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    errors = {name: part.get("error") for name, part in report["parts"].items() if part["status"] != "ok"}
    assert not errors, errors
    train = report["parts"]["train"]["result"]
    for mode, figures in train.items():
        assert figures.get("tokens_per_s", 0) > 0 or "skipped" in figures, (mode, figures)
    assert report["parts"]["generate"]["result"]["llama-48m"]["decode_tokens_per_s"] > 0
    assert report["parts"]["eval"]["result"]["tasks"] >= 1
    assert "device:" in proc.stdout
