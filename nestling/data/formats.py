"""Input files: which ones a folder holds, what format each is, and reading them safely.

Policies for bad input (each tested in tests/data/test_formats.py):

* missing path, an empty folder (no text files in it), or a binary file (a NUL byte in the
  first 64 KiB): ``UserError`` naming the path.
* an empty file: kept in the ledger with zero lines (a language left with no text is an error
  in ``prepare``).
* CRLF or CR line endings: accepted; lines are split on ``\\n``, ``\\r\\n`` and ``\\r`` alike and
  the ledger notes ``"line_endings": "crlf"``.
* invalid UTF-8 in a line, or a line over ``MAX_LINE_BYTES`` (1 MiB): with
  ``on_bad_line="error"`` (default) a ``UserError`` naming file and line; with ``"skip"`` the
  line is dropped and counted under ``invalid_utf8`` / ``line_too_long``.

Folders are walked recursively in sorted order, following symbolic links (each folder once); a
link that leads nowhere is skipped and listed. Hidden files and files whose suffix is not a
text suffix (``TEXT_SUFFIXES``) are skipped and listed in the ledger. A file named directly is
always read.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

from nestling.errors import UserError

MAX_LINE_BYTES = 1 << 20
TEXT_SUFFIXES = {"", ".txt", ".train", ".dev", ".test", ".text", ".cha", ".srt", ".vtt", ".html", ".htm",
                 ".xhtml", ".md", ".wiki", ".raw"}
SUFFIX_FORMATS = {".cha": "chat", ".srt": "srt", ".vtt": "srt", ".html": "html", ".htm": "html",
                  ".xhtml": "html", ".md": "markdown"}
BAD_LINE_POLICIES = ("error", "skip")

_SNIFF_BYTES = 1 << 16
_SRT_TIMING = re.compile(r"^\d{1,2}:\d{2}(?::\d{2})?[,.]\d{1,3}\s*-->", re.M)
_WIKI_HEADER = re.compile(r"^ ?= = .* = = ?$", re.M)
_CHAT_TIER = re.compile(r"^\*[A-Z0-9]{2,8}:\t", re.M)
_HTML_TAG = re.compile(r"</?(?:p|div|br|span|i|b|a|html|body|h[1-6]|li|ul|td|tr|table|em|strong)\b[^<>]*>", re.I)
_MD_LINE = re.compile(r"^#{1,6}(?: |$)", re.M)


def list_files(path: Path) -> tuple[list[Path], list[str]]:
    """``(files to read, skipped paths)`` for a file or folder; UserError if there is nothing.

    Symbolic links are followed (a folder reached twice, e.g. through a loop, is walked once); a
    link that leads nowhere (broken, or pointing at itself) is listed as skipped.
    """
    path = Path(path)
    if path.is_symlink() and not path.exists():
        raise UserError(f"{path}: a symbolic link that leads nowhere (broken, or pointing at itself)")
    if not path.exists():
        raise UserError(f"{path}: no such file or folder")
    if path.is_file():
        return [path], []
    files, skipped = [], []
    for p in _walk(path, set()):
        hidden = any(part.startswith(".") for part in p.relative_to(path).parts)
        if not p.is_file() or hidden or p.suffix.lower() not in TEXT_SUFFIXES:
            skipped.append(str(p))
        else:
            files.append(p)
    if not files:
        raise UserError(f"{path}: folder has no text files ({', '.join(sorted(TEXT_SUFFIXES - {''}))})")
    return files, skipped


def _walk(folder: Path, seen: set) -> Iterator[Path]:
    """Every non-folder entry under ``folder``, sorted, following links to folders once each."""
    seen.add(folder.resolve())
    for p in sorted(folder.iterdir()):
        if p.is_dir():
            if p.resolve() not in seen:
                yield from _walk(p, seen)
        else:
            yield p


def sniff(path: Path) -> bytes:
    """The first 64 KiB; UserError if it holds a NUL byte (a binary file, not text)."""
    with open(path, "rb") as f:
        head = f.read(_SNIFF_BYTES)
    nul = head.find(b"\x00")
    if nul >= 0:
        raise UserError(f"{path}: binary file (NUL byte at offset {nul}); give text files only")
    return head


def detect_format(path: Path, head: bytes | None = None) -> str:
    """The cleaning format of a file: by suffix first, else by its first 64 KiB.

    ``chat`` (``@Begin``/``*SPK:`` tiers), ``srt`` (timestamp lines with ``-->``), ``wiki``
    (``= = Header = =`` lines), ``html`` (common tags), ``markdown`` (``#`` headings), else ``text``.
    """
    path = Path(path)
    if path.suffix.lower() in SUFFIX_FORMATS:
        return SUFFIX_FORMATS[path.suffix.lower()]
    sample = (head if head is not None else sniff(path)).decode("utf-8", errors="replace")
    if sample.lstrip("\ufeff").startswith(("@UTF8", "@Begin")) or len(_CHAT_TIER.findall(sample)) >= 2:
        return "chat"
    if _SRT_TIMING.search(sample):
        return "srt"
    if _WIKI_HEADER.search(sample):
        return "wiki"
    if len(_HTML_TAG.findall(sample)) >= 2:
        return "html"
    if _MD_LINE.search(sample):
        return "markdown"
    return "text"


class BadInput:
    """A line that could not be read: its number, ledger reason and one-line message."""

    __slots__ = ("lineno", "reason", "message")

    def __init__(self, lineno: int, reason: str, message: str):
        self.lineno, self.reason, self.message = lineno, reason, message


def read_lines(path: Path, info: dict | None = None, start: int = 0, end: int | None = None,
               first_lineno: int = 1) -> Iterator[tuple[int, str] | BadInput]:
    """Stream ``(lineno, text)`` without line endings, or a :class:`BadInput` for a bad line.

    Arguments as :func:`read_blocks`, whose blocks this flattens.
    """
    for item in read_blocks(path, info, start, end, first_lineno):
        if isinstance(item, BadInput):
            yield item
        else:
            first, texts = item
            yield from zip(range(first, first + len(texts)), texts)


def read_blocks(path: Path, info: dict | None = None, start: int = 0, end: int | None = None,
                first_lineno: int = 1) -> Iterator[tuple[int, list[str]] | BadInput]:
    """Stream ``(lineno of the first line, [text, ...])`` blocks of consecutive good lines, or a
    :class:`BadInput` for a bad line.

    Reads 1 MiB at a time and decodes a block at once (line by line only when it holds invalid
    UTF-8 or CR endings); never holds more than a block plus one line (at most
    ``MAX_LINE_BYTES``) in memory. ``start``/``end``/``first_lineno``: read only bytes
    ``[start, end)``, numbering lines from ``first_lineno`` (a slice from :func:`split_ranges`).
    ``info`` (if given) receives ``line_endings`` ("lf", "crlf" or "cr").
    """
    info = info if info is not None else {}
    info.setdefault("line_endings", "lf")
    lineno = first_lineno - 1
    carry, overlong = b"", False
    with open(path, "rb") as f:
        f.seek(start)
        left = None if end is None else end - start
        while True:
            block = f.read(_BLOCK if left is None else min(_BLOCK, left))
            left = None if left is None else left - len(block)
            if not block:
                break
            lines = (carry + block).split(b"\n")
            carry = lines.pop()
            if overlong and lines:
                # The first piece ends the overlong line we were skipping.
                lineno += 1
                yield BadInput(lineno, "line_too_long", f"line longer than {MAX_LINE_BYTES} bytes (1 MiB)")
                lines, overlong = lines[1:], False
            yield from _decode_lines(lines, lineno, info)
            lineno += len(lines)
            if len(carry) > MAX_LINE_BYTES:
                carry, overlong = b"", True
    if overlong:
        yield BadInput(lineno + 1, "line_too_long", f"line longer than {MAX_LINE_BYTES} bytes (1 MiB)")
    elif carry:
        yield from _decode_lines([carry], lineno, info)


_BLOCK = 1 << 20


def _decode_lines(lines: list[bytes], lineno: int, info: dict) -> Iterator[tuple[int, list[str]] | BadInput]:
    """Decode lines numbered from ``lineno + 1``: the whole list at once when it is clean UTF-8."""
    if not lines:
        return
    data = b"\n".join(lines)
    if b"\r" not in data and len(data) <= MAX_LINE_BYTES:
        try:
            yield lineno + 1, data.decode("utf-8").split("\n")
            return
        except UnicodeDecodeError:
            pass
    for n, raw in enumerate(lines, lineno + 1):
        if len(raw) > MAX_LINE_BYTES:
            yield BadInput(n, "line_too_long", f"line longer than {MAX_LINE_BYTES} bytes (1 MiB)")
            continue
        if raw.endswith(b"\r"):
            info["line_endings"] = "crlf"
            raw = raw[:-1]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            yield BadInput(n, "invalid_utf8", f"invalid UTF-8 (byte 0x{raw[err.start]:02x} at column {err.start + 1})")
            continue
        if "\r" in text:
            # Old Mac endings: one physical line holds several lines (they share its number).
            if info["line_endings"] == "lf":
                info["line_endings"] = "cr"
            for part in text.split("\r"):
                yield n, [part]
        else:
            yield n, [text]


# Where a file may be cut so that no multi-line unit (CHAT tier + continuation lines, subtitle
# cue) is split: after a newline followed by a new tier, after a blank line, after any newline.
_CUTS = {"chat": re.compile(rb"\n(?=[*@])"), "srt": re.compile(rb"\n[ \t\r]*\n"), "text": re.compile(rb"\n"),
         "wiki": re.compile(rb"\n"), "markdown": re.compile(rb"\n")}


def split_ranges(path: Path, fmt: str, piece_bytes: int) -> list[tuple[int, int, int]]:
    """Cut a big file into ``(start, end, first_lineno)`` slices of about ``piece_bytes`` at safe
    line boundaries, so its slices can be cleaned in parallel. HTML is never cut (script blocks)."""
    size = Path(path).stat().st_size
    if fmt not in _CUTS or size <= 2 * piece_bytes:
        return [(0, size, 1)]
    cuts = []
    with open(path, "rb") as f:
        for target in range(piece_bytes, size - piece_bytes // 2, piece_bytes):
            f.seek(target)
            window = f.read(4 * _BLOCK)
            match = _CUTS[fmt].search(window)
            if match and (not cuts or target + match.end() > cuts[-1]):
                cuts.append(target + match.end())
        bounds = [0] + cuts + [size]
        ranges, lineno, pos = [], 1, 0
        for a, b in zip(bounds, bounds[1:]):
            # Count newlines up to the slice start, in bounded reads.
            f.seek(pos)
            while pos < a:
                chunk = f.read(min(1 << 24, a - pos))
                lineno, pos = lineno + chunk.count(b"\n"), pos + len(chunk)
            ranges.append((a, b, lineno))
    return ranges
