"""Deterministic fast subsets: sizes, determinism, independence from order and seed."""

from __future__ import annotations

from collections import Counter

from nestling.evaluation.fast import fast_subset, per_uid_for
from nestling.evaluation.tasks import Item, load_task


def test_sizes_and_order_on_real_blimp(shared_data):
    task = load_task(shared_data / "eval" / "babylm_2025" / "blimp_filtered")
    subset = fast_subset(task.items, per_uid_for(task.format))
    counts = Counter(i.uid for i in subset)
    full = Counter(i.uid for i in task.items)
    assert all(counts[u] == min(200, full[u]) for u in full)
    positions = {id(i): n for n, i in enumerate(task.items)}
    assert [positions[id(i)] for i in subset] == sorted(positions[id(i)] for i in subset)  # file order kept
    again = fast_subset(load_task(shared_data / "eval" / "babylm_2025" / "blimp_filtered").items, 200)
    assert [(i.uid, i.key) for i in again] == [(i.uid, i.key) for i in subset]


def test_supplement_takes_50(shared_data):
    task = load_task(shared_data / "eval" / "babylm_2025" / "supplement_filtered")
    assert per_uid_for(task.format) == 50
    subset = fast_subset(task.items, per_uid_for(task.format))
    assert set(Counter(i.uid for i in subset).values()) == {50} and len(subset) == 250


def test_independent_of_file_order_and_other_uids():
    items = [Item(u, None, None, str(k), (("", "a"), ("", "b"))) for u in ("x", "y") for k in range(500)]
    chosen = {(i.uid, i.key) for i in fast_subset(items, 20)}
    shuffled = list(reversed(items))
    assert {(i.uid, i.key) for i in fast_subset(shuffled, 20)} == chosen
    only_x = [i for i in items if i.uid == "x"]
    assert {(i.uid, i.key) for i in fast_subset(only_x, 20)} == {c for c in chosen if c[0] == "x"}
    # A UID smaller than the quota keeps everything.
    assert len(fast_subset(items[:5], 20)) == 5
