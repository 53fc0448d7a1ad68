"""Format detection, folder listing and the safe line reader."""

import pytest

from nestling.data.formats import MAX_LINE_BYTES, BadInput, detect_format, list_files, read_lines, sniff
from nestling.errors import UserError


def test_detect_real_files(shared_data):
    corpora = shared_data / "corpora"
    assert detect_format(corpora / "childes_eng_brown/Brown/Adam/adam01.cha") == "chat"
    assert detect_format(corpora / "ud_text/en_ewt_all.txt") == "text"
    assert detect_format(corpora / "storybooks/nl/0001_een-hele-lange-man.txt") == "markdown"


@pytest.mark.parametrize("name,text,fmt", [
    ("a.txt", "@UTF8\n@Begin\n*MOT:\thi .\n", "chat"),
    ("a.txt", "1\n00:00:01,000 --> 00:00:02,000\nHi.\n", "srt"),
    ("a.srt", "anything\n", "srt"),
    ("a.train", " = Robert Boulter = \n Robert is an actor .\n = = Career = = \n", "wiki"),
    ("a.txt", "<p>one</p>\n<p>two</p>\n", "html"),
    ("a.txt", "just text\nmore text\n", "text"),
])
def test_detect_by_suffix_then_content(tmp_path, name, text, fmt):
    path = tmp_path / name
    path.write_text(text)
    assert detect_format(path) == fmt


def test_list_files_walks_folders_and_skips_non_text(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.cha").write_text("@Begin\n")
    (tmp_path / "a.txt").write_text("x\n")
    (tmp_path / ".hidden.txt").write_text("x\n")
    (tmp_path / "model.bin").write_bytes(b"\x00\x01")
    files, skipped = list_files(tmp_path)
    assert [p.name for p in files] == ["a.txt", "b.cha"]
    assert sorted(p.rsplit("/", 1)[1] for p in skipped) == [".hidden.txt", "model.bin"]


def test_missing_path_and_empty_folder(tmp_path):
    with pytest.raises(UserError, match="no such file or folder"):
        list_files(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="folder has no text files"):
        list_files(tmp_path / "empty")


def test_binary_file_is_refused(tmp_path):
    path = tmp_path / "image.txt"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(UserError, match=r"image.txt: binary file \(NUL byte at offset 8\)"):
        sniff(path)


def test_reader_crlf_cr_invalid_utf8_and_long_lines(tmp_path):
    path = tmp_path / "mixed.txt"
    long_line = b"a" * (MAX_LINE_BYTES + 10)
    path.write_bytes(b"one\r\ntwo\r\n\xff\xfebad\r\n" + long_line + b"\nold\rmac\nlast")
    info = {}
    items = list(read_lines(path, info))
    good = [item for item in items if not isinstance(item, BadInput)]
    bad = [item for item in items if isinstance(item, BadInput)]
    assert good == [(1, "one"), (2, "two"), (5, "old"), (5, "mac"), (6, "last")]
    assert [(b.lineno, b.reason) for b in bad] == [(3, "invalid_utf8"), (4, "line_too_long")]
    assert "byte 0xff at column 1" in bad[0].message
    assert info["line_endings"] == "crlf"


def test_split_ranges_cut_between_chat_tiers(shared_data):
    from nestling.data.formats import split_ranges

    path = shared_data / "corpora/childes_eng_brown/Brown/Adam/adam01.cha"
    ranges = split_ranges(path, "chat", 20_000)
    data = path.read_bytes()
    assert len(ranges) > 5 and ranges[0][0] == 0 and ranges[-1][1] == len(data)
    for (_, end, _), (start, _, first_lineno) in zip(ranges, ranges[1:]):
        assert end == start and data[start:start + 1] in (b"*", b"@")
        assert first_lineno == data[:start].count(b"\n") + 1
