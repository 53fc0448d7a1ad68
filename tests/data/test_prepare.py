"""prepare_dataset: the ledger, the budget refusal, bad input policies and atomic output."""

import hashlib
import json
from pathlib import Path

import pytest

from nestling.data import counting, prepare
from nestling.data.prepare import prepare_dataset, summary_table
from nestling.errors import UserError

BROWN = "corpora/childes_eng_brown/Brown/Adam"


@pytest.fixture
def sources(shared_data):
    corpora = shared_data / "corpora"
    return {
        "eng": [shared_data / BROWN / "adam01.cha", corpora / "chat_fixtures/eng-conversation.cha"],
        "nld": [corpora / "ud_text/nl_alpino_devtest.txt"],
        "zho": [corpora / "storybooks/zh"],
    }


def test_ledger_on_real_data(sources, tmp_path):
    out = tmp_path / "ds"
    ledger = prepare_dataset(sources, out, "strict-small")
    assert json.loads((out / "ledger.json").read_text()) == ledger
    assert set(ledger) >= {"track", "limit_words", "word_rule", "allow_over_budget", "over_budget", "languages",
                           "files", "total_words", "budget_used", "created", "nestling_version"}
    assert ledger["track"] == "strict-small" and ledger["limit_words"] == 10_000_000
    for lang, entry in ledger["languages"].items():
        data = (out / "clean" / f"{lang}.txt").read_bytes()
        # The ledger is checkable with wc and sha256sum.
        assert entry["bytes"] == len(data) and entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["lines_kept"] == data.count(b"\n")
        assert entry["whitespace_words"] == len(data.decode().split())
        assert entry["byte_target"] == counting.byte_target(lang, 10_000_000)
    eng, zho = ledger["languages"]["eng"], ledger["languages"]["zho"]
    assert eng["words"] == eng["whitespace_words"] and eng["word_unit"] == "whitespace"
    assert zho["word_unit"] == "english_word_equivalent"
    assert zho["words"] == pytest.approx(zho["bytes"] / (5.43 * 0.935966))
    assert ledger["total_words"] == pytest.approx(sum(e["words"] for e in ledger["languages"].values()))
    assert ledger["budget_used"] == pytest.approx(ledger["total_words"] / 10_000_000)
    adam = ledger["files"][0]
    assert adam["format"] == "chat" and adam["speakers"]["CHI"] > 0 and "chat_replacements" in adam["rules"]
    assert adam["drop_reasons"]["chat_dependent_tier"] > 0 and adam["lines_dropped"] == sum(adam["drop_reasons"].values())
    assert ledger["languages"]["zho"]["files"] == len(list((sources["zho"][0]).glob("*.txt")))
    table = summary_table(ledger)
    assert "eng" in table and "EWE" in table and "strict-small" in table


def test_multilingual_track_counts_every_language_in_ewe(sources, tmp_path):
    ledger = prepare_dataset({"nld": sources["nld"]}, tmp_path / "ds", "multilingual")
    nld = ledger["languages"]["nld"]
    assert nld["word_unit"] == "english_word_equivalent" and nld["byte_target"] == round(543e6 * 1.051606)
    assert ledger["budget_used"] == pytest.approx(nld["bytes"] / nld["byte_target"])


def test_over_budget_is_refused_then_allowed_and_recorded(sources, tmp_path, monkeypatch):
    monkeypatch.setitem(counting.TRACKS, "strict-small", counting.Track("strict-small", 1000, "total"))
    out = tmp_path / "ds"
    with pytest.raises(UserError, match=r"over budget: .* words is .*% of the strict-small limit 1,000"):
        prepare_dataset({"nld": sources["nld"]}, out, "strict-small")
    assert list(tmp_path.iterdir()) == []
    ledger = prepare_dataset({"nld": sources["nld"]}, out, "strict-small", allow_over_budget=True)
    assert ledger["over_budget"] and ledger["allow_over_budget"]
    assert json.loads((out / "ledger.json").read_text())["over_budget"] is True


def test_multilingual_over_budget_names_the_language(sources, tmp_path, monkeypatch):
    monkeypatch.setitem(counting.TRACKS, "multilingual", counting.Track("multilingual", 1000, "per_language"))
    with pytest.raises(UserError, match=r"over budget: nld has .* bytes"):
        prepare_dataset({"nld": sources["nld"]}, tmp_path / "ds", "multilingual")


def write(path, data: bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_bad_inputs_fail_with_file_and_line(tmp_path):
    good = write(tmp_path / "in" / "good.txt", b"a fine line\n")
    cases = {
        "binary": (write(tmp_path / "in" / "bin.txt", b"ok\n\x00\x01\x02"), r"bin.txt: binary file"),
        "utf8": (write(tmp_path / "in" / "latin1.txt", b"ok\ncaf\xe9\n"), r"latin1.txt:2: invalid UTF-8"),
        "long": (write(tmp_path / "in" / "long.txt", b"ok\nok\n" + b"x" * (1 << 20) + b"y\n"), r"long.txt:3: line longer"),
        "chat": (write(tmp_path / "in" / "broken.cha", b"@Begin\n*MOT:\tsit [: there .\n@End\n"), r"broken.cha:2: unbalanced"),
        "missing": (tmp_path / "in" / "nope.txt", r"nope.txt: no such file or folder"),
        "empty_dir": ((tmp_path / "in" / "emptydir"), r"emptydir: folder has no text files"),
    }
    (tmp_path / "in" / "emptydir").mkdir()
    for name, (path, message) in cases.items():
        with pytest.raises(UserError, match=message):
            prepare_dataset({"eng": [good, path]}, tmp_path / f"out_{name}", "strict")
        assert not (tmp_path / f"out_{name}").exists()
    with pytest.raises(UserError, match="unknown language code 'english'"):
        prepare_dataset({"english": [good]}, tmp_path / "out", "strict")
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())


def test_bad_lines_skipped_and_counted(tmp_path):
    files = [write(tmp_path / "in" / "latin1.txt", b"ok\ncaf\xe9\n"),
             write(tmp_path / "in" / "long.txt", b"ok\n" + b"x" * (1 << 20) + b"y\nend\n"),
             write(tmp_path / "in" / "broken.cha", b"@Begin\n*MOT:\tsit [: there .\n*MOT:\tfine .\n@End\n")]
    # Half of latin1.txt is bad: over the 5% rule on drops, so allowed here explicitly.
    ledger = prepare_dataset({"eng": files}, tmp_path / "ds", "strict", on_bad_line="skip", allow_drops=True)
    assert ledger["options"]["allow_drops"] is True and ledger["files"][0]["bad_lines"] == {"invalid_utf8": 1}
    reasons = ledger["languages"]["eng"]["drop_reasons"]
    assert reasons["invalid_utf8"] == 1 and reasons["line_too_long"] == 1 and reasons["broken_chat_markup"] == 1
    assert (tmp_path / "ds" / "clean" / "eng.txt").read_text() == "ok\nok\nend\nfine.\n"


def test_crlf_and_empty_files(tmp_path):
    crlf = write(tmp_path / "in" / "dos.txt", b"one line\r\ntwo  lines\r\n")
    empty = write(tmp_path / "in" / "empty.txt", b"")
    ledger = prepare_dataset({"eng": [crlf, empty]}, tmp_path / "ds", "strict")
    assert (tmp_path / "ds" / "clean" / "eng.txt").read_bytes() == b"one line\ntwo lines\n"
    assert ledger["files"][0]["line_endings"] == "crlf"
    assert ledger["files"][1]["empty"] is True and ledger["files"][1]["lines_kept"] == 0
    # A language with nothing left is an error, not an empty dataset.
    with pytest.raises(UserError, match="eng: no text left after cleaning 1 file"):
        prepare_dataset({"eng": [empty]}, tmp_path / "ds2", "strict")


def test_failure_or_interrupt_leaves_no_half_written_dataset(sources, tmp_path, monkeypatch):
    out = tmp_path / "ds"
    prepare_dataset({"nld": sources["nld"]}, out, "strict")
    before = (out / "ledger.json").read_text()
    with pytest.raises(UserError, match="already exists"):
        prepare_dataset({"nld": sources["nld"]}, out, "strict")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(prepare, "_concatenate", interrupted)
    with pytest.raises(KeyboardInterrupt):
        prepare_dataset({"nld": sources["nld"]}, out, "strict", overwrite=True)
    assert (out / "ledger.json").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]


def test_parallel_cleaning_matches_serial(shared_data, tmp_path, monkeypatch):
    files = sorted((shared_data / BROWN).glob("adam0[1-3].cha"))
    serial = prepare_dataset({"eng": files}, tmp_path / "serial", "strict", workers=1)
    monkeypatch.setattr(prepare, "PARALLEL_MIN_BYTES", 0)
    parallel = prepare_dataset({"eng": files}, tmp_path / "parallel", "strict", workers=2)
    assert parallel["languages"] == serial["languages"]


def test_big_files_cleaned_in_slices_match_whole_files(shared_data, tmp_path, monkeypatch):
    files = [shared_data / BROWN / "adam01.cha", shared_data / "corpora/ud_text/en_ewt_all.txt"]
    whole = prepare_dataset({"eng": files}, tmp_path / "whole", "strict", workers=1)
    monkeypatch.setattr(prepare, "SLICE_BYTES", 64 << 10)
    monkeypatch.setattr(prepare, "PARALLEL_MIN_BYTES", 0)
    sliced = prepare_dataset({"eng": files}, tmp_path / "sliced", "strict", workers=2)
    assert sliced["languages"] == whole["languages"]
    assert [f["sha256"] for f in sliced["files"]] == [f["sha256"] for f in whole["files"]]
    assert sliced["files"][0]["drop_reasons"] == whole["files"][0]["drop_reasons"]


def test_line_numbers_are_exact_in_a_later_slice(tmp_path, monkeypatch):
    monkeypatch.setattr(prepare, "SLICE_BYTES", 4096)
    path = write(tmp_path / "in" / "big.txt", b"".join(b"line %d is fine\n" % i for i in range(1, 4000)) + b"\xff\n")
    with pytest.raises(UserError, match=r"big.txt:4000: invalid UTF-8"):
        prepare_dataset({"eng": [path]}, tmp_path / "ds", "strict")


def test_forced_format_and_its_aliases(tmp_path):
    path = write(tmp_path / "in" / "a.txt", b"= = Header = =\nsome [1] text\n")
    detected = prepare_dataset({"eng": [path]}, tmp_path / "auto", "strict")
    forced = prepare_dataset({"eng": [path]}, tmp_path / "txt", "strict", fmt="txt")
    assert detected["files"][0]["format"] == "wiki" and forced["files"][0]["format"] == "text"
    assert (tmp_path / "auto" / "clean" / "eng.txt").read_text() == "some text\n"
    assert (tmp_path / "txt" / "clean" / "eng.txt").read_text() == "= = Header = =\nsome [1] text\n"
    with pytest.raises(UserError, match="unknown format 'pdf'"):
        prepare_dataset({"eng": [path]}, tmp_path / "pdf", "strict", fmt="pdf")


def _mixed_chat(path: Path, plain_lines: int = 200) -> Path:
    """A file detected as CHAT from two tiers at its top, then plain lines (a childes.train mix)."""
    lines = ["*CHI:\tmore juice .", "*MOT:\tyou want more juice ?"]
    return write(path, ("\n".join(lines + [f"the child saw {i} birds" for i in range(plain_lines)]) + "\n").encode())


def test_split_format_reads_a_trailing_format_name(tmp_path):
    from nestling.data.prepare import split_format

    assert split_format("corpus/childes.train:text") == (Path("corpus/childes.train"), "text")
    assert split_format("a.txt:CHA") == (Path("a.txt"), "chat")  # aliases, any case
    assert split_format("a.txt") == (Path("a.txt"), None)
    assert split_format("notes:todo") == (Path("notes:todo"), None)  # not a format: part of the path
    real = write(tmp_path / "x:text", b"hello there\n")
    assert split_format(real) == (real, None)  # an existing path wins


def test_bad_lines_over_the_share_stop_and_name_file_rule_and_share(tmp_path):
    mixed = _mixed_chat(tmp_path / "in" / "childes.train")
    with pytest.raises(UserError, match=r"childes\.train: 99\.0% of its lines \(200 of 202\) dropped by rule "
                                        r"broken_chat_markup \(read as chat, detected\).*--allow-drops"):
        prepare_dataset({"eng": [mixed]}, tmp_path / "ds", "strict", on_bad_line="skip")
    assert not (tmp_path / "ds").exists()


def test_a_share_at_the_limit_passes(tmp_path):
    # 1 bad line of 20 is exactly 5%: allowed; the next one is not.
    lines = b"".join(b"line %d is fine\n" % i for i in range(19))
    ok = prepare_dataset({"eng": [write(tmp_path / "a.txt", lines + b"caf\xe9\n")]}, tmp_path / "ds", "strict",
                         on_bad_line="skip")
    assert ok["files"][0]["bad_lines"] == {"invalid_utf8": 1}
    with pytest.raises(UserError, match=r"9\.5% of its lines \(2 of 21\) dropped by rule invalid_utf8"):
        prepare_dataset({"eng": [write(tmp_path / "b.txt", lines + b"caf\xe9\n\xff\n")]}, tmp_path / "ds2",
                        "strict", on_bad_line="skip")


def test_format_set_per_file_keeps_every_line(tmp_path):
    mixed = _mixed_chat(tmp_path / "in" / "childes.train")
    chat = write(tmp_path / "in" / "real.cha", b"@Begin\n*MOT:\tsit down .\n%mor:\tv|sit\n@End\n")
    ledger = prepare_dataset({"eng": [f"{mixed}:text", chat]}, tmp_path / "ds", "strict")
    by_name = {Path(f["path"]).name: f for f in ledger["files"]}
    assert by_name["childes.train"]["format"] == "text" and by_name["childes.train"]["lines_kept"] == 202
    assert by_name["childes.train"]["format_from"] == "given for this path"
    assert by_name["real.cha"]["format"] == "chat" and by_name["real.cha"]["format_from"] == "detected"
