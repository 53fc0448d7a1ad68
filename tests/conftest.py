"""Shared fixtures: where the real data of ../shared lives, and a skip when it is absent."""

import os
from pathlib import Path

import pytest
import torch

# Off CUDA the fused stream-mixer kernel runs only in Triton's interpreter, and Triton decides that when the
# kernel is defined: at the first import of the model's modules, which many tests do before
# tests/models/test_ops_triton_stream_mixer.py runs. So it is chosen here, before any of them.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """`../shared/data` beside the checkout, or $NESTLING_SHARED_DATA."""
    return Path(os.environ.get("NESTLING_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"real data not found at {path} (clone with ../shared beside it, or set NESTLING_SHARED_DATA)")
    return path


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tests run torch on one intra-op thread: their tensors are tiny, and on a busy 2-core machine a
    second thread spins far more than it computes (30 tiny training steps: ~1.5 s on one, ~18 s on two)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
