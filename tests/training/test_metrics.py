import json

from nestling.training.metrics import truncate_after


def test_resume_drops_records_past_the_state_and_a_partial_last_line(tmp_path):
    """A kill mid-write leaves half a line: resume drops it instead of failing on it."""
    path = tmp_path / "metrics.jsonl"
    records = [{"kind": "train", "step": s} for s in (1, 2, 3, 4)]
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + '{"kind": "train", "st')
    truncate_after(path, 3)
    assert [json.loads(line)["step"] for line in path.read_text().splitlines()] == [1, 2, 3]
