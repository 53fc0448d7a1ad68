"""Model tests run on one thread: their tensors are tiny, and on a shared 2-core machine a second thread
spends far more time waiting than computing (30 tiny training steps: ~1.5 s on one thread, ~18 s on two)."""

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
