"""What the parity benchmarks share when they time nestling and the official code as whole processes.

Both sides run in child processes with the same thread count and offline Hugging Face settings, so the
ratio they print compares like with like.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path


def bench_env(threads: int, **extra: str) -> dict:
    """os.environ with ``threads`` BLAS/OpenMP threads, offline Hub, quiet tokenizers; ``extra`` on top."""
    return {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
            "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1", **extra}


def timed_run(cmd: list[str], cwd: Path, env: dict) -> float:
    """Seconds ``cmd`` took; exits with its output's tail when it fails (a benchmark has nothing to compare)."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd[:3])}...\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return time.perf_counter() - start
