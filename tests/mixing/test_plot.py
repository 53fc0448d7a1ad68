import pytest

from nestling.errors import UserError
from nestling.mixing.plot import plot_pi


def test_plot_pi_from_metrics_records(tmp_path):
    records = [{"kind": "train", "step": 1, "loss": 3.0}] + [
        {"kind": "mix", "step": s, "pi": {"eng": 0.3, "nld": 0.3, "zho": 0.4}, "rewards": {}} for s in (50, 100, 150)
    ]
    path = plot_pi(records, tmp_path / "pi.png", floor=0.1)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(UserError):
        plot_pi(records[:1], tmp_path / "none.png")
