"""Cleaning rules: one small named function per phenomenon, grouped into a pipeline per format.

A *rule* maps one logical line to its cleaned text, or to ``None`` to drop the line; the ledger
counts a dropped line under the name of the rule that dropped it (``"chat_header"``,
``"subtitle_timing"``...) or ``"no_words"`` when nothing wordlike is left. Rules that need to see
more than one physical line (CHAT continuation lines, subtitle cues, HTML ``<script>`` blocks)
are *groupers* that run first. Broken markup raises :class:`BadLine`; the caller applies the
``on_bad_line`` policy (error or skip-and-count).

CHAT policy, chosen to give a language model the words a child heard, in standard spelling:
replacements ``word [: target]`` keep the target; retraced words (``[/]``, ``[//]``) are kept
(they were said) and only the codes go; ``(th)at`` is completed to ``that``; ``&-um`` fillers are
kept as ``um``; events (``&=laughs``), fragments (``&+fr``, old-style ``&uh``), ``xxx``/``yyy``/
``www``, ``0word`` omissions, pauses and all other bracket codes are removed; ``word@b`` loses its
form marker; compounds ``ice+cream``/``Humpty_Dumpty`` get a space; utterance terminators attach
to the last word (``big drum .`` -> ``big drum.``), trailing off ``+...`` becomes ``...`` and other
special terminators (``+/.``) their final mark.
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

FORMATS = ("text", "chat", "srt", "wiki", "html", "markdown")
# Other names users type for a format (--format txt).
FORMAT_ALIASES = {"txt": "text", "plain": "text", "cha": "chat", "subtitles": "srt", "vtt": "srt",
                  "wikipedia": "wiki", "htm": "html", "md": "markdown"}


class BadLine(Exception):
    """A line whose markup cannot be trusted; ``reason`` is the ledger's drop key."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason


@dataclass
class Line:
    """One logical line after grouping: where it starts, its text, and who said it (CHAT)."""

    lineno: int
    text: str
    speaker: str | None = None
    dropped: str | None = None
    # Set with ``dropped`` when the line is bad input (not just unwanted): the one-line reason.
    bad: str | None = None


Rule = Callable[[str], "str | None"]


# ---- generic rules -------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200d\u2060\ufeff]")


def control_chars(s: str) -> str:
    """Remove control and zero-width characters (BOM included); tabs become spaces."""
    s = s.replace("\t", " ")
    return _CONTROL.sub("", s) if _CONTROL.search(s) else s


def unicode_nfc(s: str) -> str:
    """Unicode NFC, so that one spelling has one byte sequence (and one byte count)."""
    return s if s.isascii() or unicodedata.is_normalized("NFC", s) else unicodedata.normalize("NFC", s)


def whitespace(s: str) -> str:
    """Collapse runs of whitespace to one space and trim both ends."""
    return " ".join(s.split())


_BRACKETS = re.compile(r"\[[^\[\]]*\]")


def bracket_annotations(s: str) -> str:
    """Drop square-bracket annotations: ``[laughs]``, ``[MUSIC]``, citation marks ``[12]``."""
    return _BRACKETS.sub(" ", s) if "[" in s else s


# ---- HTML ----------------------------------------------------------------------------------

_INLINE_TAG = re.compile(r"</?(?:i|b|u|em|strong|span|a|font|small|sub|sup|abbr|code)\b[^<>]*>", re.I)
_ANY_TAG = re.compile(r"<!--.*?-->|</?[A-Za-z!][^<>]*>")


def html_tags(s: str) -> str:
    """Remove tags; inline tags (``<i>``) vanish, block tags (``<p>``, ``<br>``) leave a space."""
    if "<" not in s:
        return s
    return _ANY_TAG.sub(" ", _INLINE_TAG.sub("", s))


def html_entities(s: str) -> str:
    """Decode entities: ``&amp;`` -> ``&``, ``&#233;`` -> ``é``, ``&nbsp;`` -> space."""
    return html.unescape(s).replace("\xa0", " ") if "&" in s else s


_SCRIPT_OPEN = re.compile(r"<(script|style|head)\b", re.I)
_SCRIPT_CLOSE = re.compile(r"</(script|style|head)\s*>", re.I)


def group_html(lines: Iterable[tuple[int, str]]) -> Iterator[Line]:
    """Drop whole ``<script>``, ``<style>`` and ``<head>`` blocks, which span lines."""
    inside = False
    for lineno, text in lines:
        if inside or _SCRIPT_OPEN.search(text):
            inside = not _SCRIPT_CLOSE.search(text)
            yield Line(lineno, text, dropped="html_script_style")
            continue
        yield Line(lineno, text)


# ---- Wikipedia -----------------------------------------------------------------------------

_WIKI_HEADER = re.compile(r"^\s*(?:=\s*)+[^=]*?(?:\s*=)+\s*$")
_WIKI_AT = re.compile(r" @([-,.])@ ")


def wiki_headers(s: str) -> str | None:
    """Drop section headers written ``= = = Header = = =`` (WikiText style)."""
    return None if s.lstrip().startswith("=") and _WIKI_HEADER.match(s) else s


def wiki_at_markers(s: str) -> str:
    """Rejoin WikiText's split numbers and hyphens: ``1 @,@ 000`` -> ``1,000``, ``a @-@ b`` -> ``a-b``."""
    return _WIKI_AT.sub(r"\1", s) if " @" in s else s


# ---- subtitles -----------------------------------------------------------------------------

_SUB_INDEX = re.compile(r"^\s*\d+\s*$")
_SUB_TIMING = re.compile(r"\d{1,2}:\d{2}(?::\d{2})?[,.]\d{1,3}\s*-->\s*\d{1,2}:\d{2}")
_SUB_DASH = re.compile(r"^\s*[-\u2010-\u2015]+\s*")
_DASHES = "-\u2010\u2011\u2012\u2013\u2014\u2015"
_SUB_STYLE = re.compile(r"\{\\[^{}]*\}")


def subtitle_index(s: str) -> str | None:
    """Drop cue numbers: a line holding only digits."""
    return None if _SUB_INDEX.match(s) else s


def subtitle_timing(s: str) -> str | None:
    """Drop timestamp lines ``00:00:01,000 --> 00:00:04,000`` and the ``WEBVTT`` header."""
    return None if "-->" in s and _SUB_TIMING.search(s) or s.startswith("WEBVTT") else s


def subtitle_dashes(s: str) -> str:
    """Strip dialogue dashes that open a speaker turn: ``- Where?`` -> ``Where?``."""
    return _SUB_DASH.sub("", s) if s[:1] in "-\u2010\u2011\u2012\u2013\u2014\u2015 " else s


def subtitle_styling(s: str) -> str:
    """Remove ASS/SSA override tags such as ``{\\an8}`` and ``{\\i1}``."""
    return _SUB_STYLE.sub("", s) if "{\\" in s else s


def group_srt(lines: Iterable[tuple[int, str]]) -> Iterator[Line]:
    """Join the text lines of one cue into one line, unless they are dashed dialogue turns."""
    cue: list[tuple[int, str]] = []

    def flush() -> Iterator[Line]:
        text = [(n, t) for n, t in cue if t.strip()]
        dashed = any(t.lstrip()[:1] in _DASHES for _, t in text)
        if dashed or len(text) < 2:
            yield from (Line(n, t) for n, t in text)
        else:
            yield Line(text[0][0], " ".join(t.strip() for _, t in text))
        cue.clear()

    for lineno, text in lines:
        if not text.strip():
            yield from flush()
        elif subtitle_index(text) is None and not cue:
            yield Line(lineno, text, dropped="subtitle_index")
        elif subtitle_timing(text) is None:
            yield from flush()
            yield Line(lineno, text, dropped="subtitle_timing")
        else:
            cue.append((lineno, text))
    yield from flush()


# ---- Markdown storybooks -------------------------------------------------------------------

_MD_MARKER = re.compile(r"^\s*#{1,6}\s*$")
_MD_HEADING = re.compile(r"^\s*#{1,6}\s+")
_MD_CREDIT = re.compile(r"^\s*[*-]\s+[A-Z][\w ]{0,30}:\s")


def markdown_page_markers(s: str) -> str | None:
    """Drop heading markers with no text (storybooks mark each page with ``##``)."""
    return None if s.lstrip().startswith("#") and _MD_MARKER.match(s) else s


def markdown_headings(s: str) -> str:
    """Keep a heading's text (a story title is text) without its ``#`` marks."""
    return _MD_HEADING.sub("", s) if s.lstrip().startswith("#") else s


def markdown_credits(s: str) -> str | None:
    """Drop credit lines ``* License: ...``, ``* Text: ...`` (metadata, not language)."""
    return None if _MD_CREDIT.match(s) else s


# ---- CHAT (CHILDES) ------------------------------------------------------------------------

_CHAT_SPEAKER = re.compile(r"^\*([A-Za-z0-9_+\-]{2,8}):\s?(.*)$", re.S)


def group_chat(lines: Iterable[tuple[int, str]]) -> Iterator[Line]:
    """Join continuation lines (which start with a tab) onto the tier they continue."""
    held: Line | None = None
    for lineno, text in lines:
        if text.startswith("\t") and held is not None:
            held.text += " " + text.strip()
            continue
        if held is not None:
            yield held
        held = Line(lineno, text)
    if held is not None:
        yield held


def chat_tier(line: Line, keep_child: bool) -> None:
    """Classify a CHAT line: drop ``@`` headers and ``%`` tiers, split ``*SPK:`` off as metadata."""
    text = line.text
    if text.startswith("@"):
        line.dropped = "chat_header"
    elif text.startswith("%"):
        line.dropped = "chat_dependent_tier"
    elif text.startswith("*"):
        match = _CHAT_SPEAKER.match(text)
        if match is None:
            raise BadLine("broken_chat_markup", f"speaker tier without '*SPK:' tag: {text[:60]!r}")
        line.speaker, line.text = match.group(1), match.group(2)
        if not keep_child and line.speaker == "CHI":
            line.dropped = "child_speech"
    elif text.strip():
        raise BadLine("broken_chat_markup", f"line is not a CHAT header, tier or utterance: {text[:60]!r}")
    else:
        line.dropped = "empty"


_BULLET = re.compile(r"\x15[^\x15]*\x15")


def chat_time_bullets(s: str) -> str:
    """Remove media time bullets ``\\x15123_456\\x15``."""
    return _BULLET.sub("", s) if "\x15" in s else s


def chat_balanced(s: str) -> str:
    """Refuse an utterance whose ``[...]`` or ``<...>`` markup is unbalanced (broken markup)."""
    if "[" not in s and "]" not in s and "<" not in s and ">" not in s:
        return s
    depth_sq = depth_angle = 0
    for ch in s:
        if ch == "[":
            depth_sq += 1
        elif ch == "]":
            depth_sq -= 1
        elif ch == "<" and depth_sq == 0:
            depth_angle += 1
        elif ch == ">" and depth_sq == 0:
            depth_angle -= 1
        if depth_sq < 0 or depth_sq > 1 or depth_angle < 0:
            break
    if depth_sq or depth_angle:
        raise BadLine("broken_chat_markup", f"unbalanced [ ] or < > in {s[:80]!r}")
    return s


_REPLACEMENT = re.compile(r"(?:<[^<>]*>|[^\s<>\[\]]+)\s*\[::? ([^\]]+)\]")


def chat_replacements(s: str) -> str:
    """``word [: target]`` and ``<a b> [: target]`` -> ``target`` (keep the intended word)."""
    return _REPLACEMENT.sub(r"\1", s) if "[:" in s else s


_RETRACE = re.compile(r"\[/{1,3}[-?]?\]")


def chat_retracings(s: str) -> str:
    """Remove retracing codes ``[/]``, ``[//]``, ``[///]``, ``[/-]``; the repeated words were said and stay."""
    return _RETRACE.sub(" ", s) if "[/" in s else s


def chat_annotations(s: str) -> str:
    """Remove every other bracket code: ``[?]``, ``[!!]``, ``[= x]``, ``[=! cries]``, ``[* +ed]``,
    ``[+ bch]``, ``[<]``, ``[x 3]``."""
    return _BRACKETS.sub(" ", s) if "[" in s else s


_TRAIL_OFF = re.compile(r"(?<!\S)\+\.\.[.?](?!\S)")
_SPECIAL_TERMINATOR = re.compile(r"(?<!\S)\+\S*?([.?!]+)(?!\S)")
_LINKER = re.compile(r"(?<!\S)\+\S*")


def chat_postcodes(s: str) -> str:
    """Special terminators and linkers: ``+...`` -> ``...``, ``+/.``/``+"/.`` -> ``.``;
    ``+"``, ``+^``, ``+<``, ``+,`` go."""
    if "+" not in s:
        return s
    s = _TRAIL_OFF.sub("...", s)
    s = _SPECIAL_TERMINATOR.sub(r"\1", s)
    return _LINKER.sub(" ", s)


def chat_scopes(s: str) -> str:
    """Remove ``<`` ``>`` scope brackets once their codes are handled; the words inside stay."""
    return s.replace("<", " ").replace(">", " ") if "<" in s or ">" in s else s


_PAUSE = re.compile(r"\(\.{1,3}\)|\(\d+(?::\d+)?(?:\.\d*)?\)")


def chat_pauses(s: str) -> str:
    """Remove pauses ``(.)``, ``(..)``, ``(...)``, ``(1.5)``."""
    return _PAUSE.sub(" ", s) if "(" in s else s


_UNINTELLIGIBLE = re.compile(r"(?<!\S)(?:xxx|yyy|www|xx|yy)(?:@\S*)?(?!\S)")


def chat_unintelligible(s: str) -> str:
    """Remove ``xxx`` (unintelligible), ``yyy`` (phonetic only) and ``www`` (untranscribed)."""
    return _UNINTELLIGIBLE.sub(" ", s) if "xx" in s or "yy" in s or "www" in s else s


_FILLER = re.compile(r"(?<!\S)&-(\S+)")
_EVENT = re.compile(r"(?<!\S)&\S*")


def chat_fillers(s: str) -> str:
    """Keep fillers as words: ``&-um`` -> ``um``."""
    return _FILLER.sub(r"\1", s) if "&-" in s else s


def chat_events(s: str) -> str:
    """Remove events ``&=laughs``, fragments ``&+fr`` and old-style ``&uh`` codes (not clean words)."""
    return _EVENT.sub(" ", s) if "&" in s else s


_FORM_MARKER = re.compile(r"(?<=\S)@[A-Za-z:$*]*")


def chat_form_markers(s: str) -> str:
    """``word@b``, ``a@l``, ``gato@s:spa`` -> the bare word."""
    return _FORM_MARKER.sub("", s) if "@" in s else s


_OMISSION = re.compile(r"(?<!\S)0\S*")


def chat_omissions(s: str) -> str:
    """Remove ``0word`` (a word the speaker omitted) and ``0`` (an action without speech)."""
    return _OMISSION.sub(" ", s) if "0" in s else s


def chat_incomplete_words(s: str) -> str:
    """``(th)at`` -> ``that``: complete words whose sounds were dropped (the standard form)."""
    return s.replace("(", "").replace(")", "") if "(" in s else s


_COMPOUND = re.compile(r"(?<=\w)[+_](?=\w)")


def chat_compounds(s: str) -> str:
    """``ice+cream``, ``Humpty_Dumpty`` -> ``ice cream``, ``Humpty Dumpty``."""
    return _COMPOUND.sub(" ", s) if "+" in s or "_" in s else s


_PROSODY = re.compile(r"(?<=\w):|[\^\u2191\u2193\u2260\u21d7\u2197\u2192\u2198\u21d8"
                      r"\u221e\u2261\u2248\u224b\u2206\u2207\u00b0\u2594\u2581]")


def chat_prosody(s: str) -> str:
    """Remove lengthening and pitch marks inside words: ``o:h`` -> ``oh``, ``no:`` -> ``no``."""
    return _PROSODY.sub("", s) if ":" in s or "^" in s or not s.isascii() else s


def chat_tag_markers(s: str) -> str:
    """Tag and vocative markers ``„`` and ``‡`` are commas."""
    return s.replace("\u201e", ",").replace("\u2021", ",") if "\u201e" in s or "\u2021" in s else s


_DETACHED = re.compile(r"\s+([.?!,;]+)(?=\s|$)")


def chat_terminators(s: str) -> str:
    """Attach CHAT's detached punctuation to the last word: ``big drum .`` -> ``big drum.``."""
    return _DETACHED.sub(r"\1", s)


_CJK = "\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
_CJK_SPACE = re.compile(f"(?<=[{_CJK}]) +(?=[{_CJK}])")


def cjk_spaces(s: str) -> str:
    """Mandarin only: remove spaces between Han characters (CHILDES segments words with spaces;
    running text, evaluation sets and the byte count do not)."""
    return s if s.isascii() else _CJK_SPACE.sub("", s)


# ---- pipelines -----------------------------------------------------------------------------

GENERIC = [control_chars, unicode_nfc]
FINAL = [whitespace]

CHAT_MARKUP = [
    chat_balanced, chat_replacements, chat_retracings, chat_annotations,
    chat_postcodes, chat_scopes, chat_pauses, chat_unintelligible, chat_fillers, chat_events,
    chat_form_markers, chat_omissions, chat_incomplete_words, chat_compounds, chat_prosody,
    chat_tag_markers, whitespace, chat_terminators,
]

PIPELINES: dict[str, list[Rule]] = {
    "text": GENERIC + FINAL,
    # Time bullets first: they are control characters that control_chars would leave as digits.
    "chat": [chat_time_bullets] + GENERIC + CHAT_MARKUP,
    "srt": GENERIC + [subtitle_styling, html_tags, html_entities, bracket_annotations, subtitle_dashes] + FINAL,
    "wiki": GENERIC + [wiki_headers, wiki_at_markers, bracket_annotations] + FINAL,
    "html": GENERIC + [html_tags, html_entities, bracket_annotations] + FINAL,
    "markdown": GENERIC + [markdown_page_markers, markdown_credits, markdown_headings] + FINAL,
}
GROUPERS = {"chat": group_chat, "srt": group_srt, "html": group_html}
EXTRA_RULES = {
    "chat": ["chat_continuation_lines", "chat_headers", "chat_dependent_tiers", "chat_speaker_tags"],
    "srt": ["subtitle_index", "subtitle_timing", "subtitle_cues"],
    "html": ["html_script_style"],
}
_DROP_NAMES = {"wiki_headers": "wiki_header", "markdown_page_markers": "markdown_page_marker",
               "markdown_credits": "markdown_credit"}


def pipeline(fmt: str, lang: str | None = None) -> list[Rule]:
    """The line rules of a format, plus the language's own (``cjk_spaces`` for Mandarin)."""
    rules = list(PIPELINES[fmt])
    if lang is not None and lang.startswith("zho"):
        rules.append(cjk_spaces)
    return rules


def rule_names(fmt: str, lang: str | None = None) -> list[str]:
    """The rules a format applies, in order (what the ledger records per file)."""
    return EXTRA_RULES.get(fmt, []) + [rule.__name__ for rule in pipeline(fmt, lang)]


_WORDLIKE = re.compile(r"[^\W_]")
# Block form of `whitespace`: every str.isspace() character but "\n" (what str.split() splits
# on) becomes a space by fast substring replaces, then runs of spaces collapse.
_UNICODE_SPACES = ("\t\x0b\x0c\r\x1c\x1d\x1e\x1f\x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200b)))
                   + "\u2028\u2029\u202f\u205f\u3000")
_RUNS = re.compile(" {2,}")


def _spaces(block: str) -> str:
    for ch in _UNICODE_SPACES if not block.isascii() else _UNICODE_SPACES[:8]:
        if ch in block:
            block = block.replace(ch, " ")
    return _RUNS.sub(" ", block) if "  " in block else block


def _strip_lines(block: str) -> str:
    """Drop the one space a line may start or end with once runs are collapsed."""
    block = block.replace("\n ", "\n").replace(" \n", "\n")
    return block[block[:1] == " ":len(block) - (block[-1:] == " ")]


def _has_word(s: str) -> bool:
    return _WORDLIKE.search(s) is not None


class Cleaner:
    """Clean a stream of ``(lineno, text)`` physical lines of one format into :class:`Line`s."""

    def __init__(self, fmt: str, keep_child: bool = True, lang: str | None = None):
        if fmt not in PIPELINES:
            raise ValueError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
        self.fmt, self.keep_child = fmt, keep_child
        self.rules = pipeline(fmt, lang)
        self.cjk = cjk_spaces in self.rules

    @property
    def block_safe(self) -> bool:
        """Plain text: every rule is line-local, so :meth:`clean_block` may do a block at once."""
        return self.fmt == "text"

    def clean_block(self, texts: list[str]) -> list[tuple[str | None, str | None]]:
        """:meth:`clean_text` of every line (plain text only), computed with a few passes over
        the joined block instead of a few calls per line: the same rules, the same result."""
        block = "\n".join(texts).replace("\t", " ")
        if _CONTROL.search(block):
            block = _CONTROL.sub("", block)
        block = _strip_lines(_spaces(unicode_nfc(block)))
        if self.cjk:
            block = cjk_spaces(block)
        has_word = _WORDLIKE.search
        return [(t, None) if has_word(t) else (None, "no_words" if t else "empty") for t in block.split("\n")]

    def clean_text(self, text: str) -> tuple[str | None, str | None]:
        """``(cleaned, None)`` or ``(None, drop_reason)`` for one logical line."""
        for rule in self.rules:
            text = rule(text)
            if text is None:
                return None, _DROP_NAMES.get(rule.__name__, rule.__name__)
        if not text:
            return None, "empty"
        if not _has_word(text):
            return None, "no_words"
        return text, None

    def __call__(self, lines: Iterable[tuple[int, str]]) -> Iterator[Line]:
        grouped = GROUPERS[self.fmt](lines) if self.fmt in GROUPERS else (Line(n, t) for n, t in lines)
        for line in grouped:
            try:
                if line.dropped is None and self.fmt == "chat":
                    chat_tier(line, self.keep_child)
                if line.dropped is None:
                    text, reason = self.clean_text(line.text)
                    line.text, line.dropped = (text or ""), reason
            except BadLine as err:
                line.dropped, line.bad = err.reason, str(err)
            yield line
