import pytest

from nestling.errors import UserError
from nestling.training.milestones import crossed, milestone_names, milestones


def test_28_babylm_names_in_order():
    names = milestone_names()
    assert len(names) == 28
    assert names[:10] == [f"chck_{i}M" for i in range(1, 10)] + ["chck_10M"]
    assert names[9:19] == [f"chck_{i}M" for i in range(10, 101, 10)]
    assert names[18:] == [f"chck_{i}M" for i in range(100, 1001, 100)]
    assert [m.name for m in milestones()] == names


def test_scale_keeps_names_and_spacing():
    full, tiny = milestones(1.0), milestones(1e-4)
    assert [m.name for m in tiny] == [m.name for m in full]
    assert tiny[0].threshold == pytest.approx(100) and tiny[-1].threshold == pytest.approx(100_000)
    assert all(t.threshold == pytest.approx(f.threshold * 1e-4) for t, f in zip(tiny, full))
    with pytest.raises(UserError, match="milestone_scale"):
        milestones(0)


def test_crossed_returns_every_milestone_reached():
    ms = milestones(1e-6)  # 1, 2, ... words
    assert [m.name for m in crossed(ms, 0, 2.5)] == ["chck_1M", "chck_2M"]
    assert [m.name for m in crossed(ms, 2, 2.5)] == []
    assert [m.name for m in crossed(ms, 2, 10)][-1] == "chck_10M"
