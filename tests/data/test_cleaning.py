"""Every cleaning rule on real lines of ../shared/data/corpora (hand-made lines for SRT, WikiText, HTML)."""

import unicodedata

import pytest

from nestling.data import cleaning
from nestling.data.cleaning import Cleaner, rule_names

BROWN = "corpora/childes_eng_brown/Brown"


def real_line(shared_data, relpath: str, lineno: int) -> str:
    with open(shared_data / relpath, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if n == lineno:
                return line.rstrip("\n")
    raise AssertionError(f"{relpath} has no line {lineno}")


def clean_one(fmt: str, text: str, **kwargs):
    (line,) = list(Cleaner(fmt, **kwargs)([(1, text)]))
    return line


# (file, line, the raw utterance as a reminder, expected clean text); the rule each row exercises
# is named in the test id.
CHAT_CASES = {
    "chat_replacements": ("Adam/adam01.cha", 147, "sit dere [: there] .", "sit there."),
    "chat_replacements_two": ("Adam/adam28.cha", 4110, None, "oh oh oh I told the carpenter that too."),
    "chat_retracings_repeat": ("Adam/adam01.cha", 1090, "my [/] my ball player .", "my my ball player."),
    "chat_retracings_correction": ("Adam/adam05.cha", 1060, "come from [//] for ?", "come from for?"),
    "chat_scopes": ("Adam/adam05.cha", 1249, "<tape recorder> [//] taper@c .", "tape recorder taper."),
    "chat_scopes_replacement": ("Sarah/sarah023.cha", 1282, None, "doodoo there choo choo there choo choo."),
    "chat_pauses_incomplete_words": ("Adam/adam01.cha", 93, "ge(t) over (.) Mommy .", "get over Mommy."),
    "chat_unintelligible_xxx": ("Adam/adam01.cha", 876, "okay kitty xxx .", "okay kitty."),
    "chat_unintelligible_yyy": ("Adam/adam01.cha", 4699, "John yyy .", "John."),
    "chat_form_markers_b": ("Adam/adam01.cha", 1211, "na@b na@b na@b .", "na na na."),
    "chat_form_markers_l": ("Adam/adam02.cha", 680, "d@l a@l m@l .", "d a m."),
    "chat_form_markers_quoted": ("Adam/adam55.cha", 5525, None, "she said \u201cticolary\u201d so she's a lollipop."),
    "chat_omissions": ("Sarah/sarah026.cha", 185, "I feed him 0in (th)ere .", "I feed him there."),
    "chat_postcodes_trail_off": ("Adam/adam01.cha", 1512, '+" he sticks to me like +...', "he sticks to me like..."),
    "chat_postcodes_interruption": ("Adam/adam07.cha", 1348, "I +/.", "I."),
    "chat_postcodes_linkers": ("Adam/adam01.cha", 5205, '+, Adam +"/.', "Adam."),
    "chat_postcodes_bracketed": ("Sarah/sarah005.cha", 354, "bobobobo@b [% chantilng] . [+ bch]", "bobobobo."),
    "chat_compounds_plus": ("Adam/adam01.cha", 488, "bunny+rabbit .", "bunny rabbit."),
    "chat_compounds_underscore": ("Adam/adam01.cha", 323, "you'll have_to pick them up .", "you'll have to pick them up."),
    "chat_prosody": ("Adam/adam03.cha", 3716, "airplane (.) o:h .", "airplane oh."),
    "chat_annotations_uncertain": ("Adam/adam01.cha", 404, "sit in [?] Adam chair .", "sit in Adam chair."),
    "chat_annotations_stress": ("Adam/adam02.cha", 1705, "three [!!] men .", "three men."),
    "chat_annotations_error": ("Adam/adam09.cha", 4634, "where mines [: mine] [* +s-pos] ?", "where mine?"),
    "chat_annotations_repeat": ("Adam/adam02.cha", 1957, "Cliffy [x 5] .", "Cliffy."),
    "chat_annotations_overlap": ("Adam/adam23.cha", 3914, "<told me> [<] .", "told me."),
    "chat_annotations_explanation": ("Adam/adam01.cha", 1569, None, "you gave it to him."),
    "chat_annotations_alternative": ("Adam/adam01.cha", 302, "who's [=? who] (th)at ?", "who's that?"),
    "chat_terminators_trail_off_repeat": ("Sarah/sarah055.cha", 2002, None, "no I have ta duhbluh..."),
}


@pytest.mark.parametrize("case", sorted(CHAT_CASES))
def test_chat_rules_on_brown(shared_data, case):
    relpath, lineno, raw, expected = CHAT_CASES[case]
    text = real_line(shared_data, f"{BROWN}/{relpath}", lineno)
    if raw is not None:
        assert text.split("\t", 1)[1] == raw
    line = clean_one("chat", text)
    assert line.dropped is None and line.text == expected
    assert line.speaker == text[1:4]


@pytest.mark.parametrize("relpath,lineno,reason", [
    ("Adam/adam01.cha", 1, "chat_header"),          # @UTF8
    ("Adam/adam01.cha", 5, "chat_header"),          # @ID
    ("Adam/adam01.cha", 14, "chat_dependent_tier"),  # %mor
    ("Adam/adam06.cha", 1678, "no_words"),          # www .
    ("Adam/adam09.cha", 1816, "no_words"),          # &=laughs . (chat_events)
])
def test_chat_lines_dropped(shared_data, relpath, lineno, reason):
    line = clean_one("chat", real_line(shared_data, f"{BROWN}/{relpath}", lineno))
    assert line.dropped == reason


def test_chat_continuation_lines_join_their_tier(shared_data):
    # adam01.cha 225-228: an utterance, its %mor tier continued on a tab line, then %gra.
    lines = [(n, real_line(shared_data, f"{BROWN}/Adam/adam01.cha", n)) for n in range(225, 229)]
    assert lines[2][1].startswith("\t")
    out = list(Cleaner("chat")(lines))
    kept = [line.text for line in out if line.dropped is None]
    assert kept == ["why don't you read Shadow yourself?"]
    assert [line.dropped for line in out] == [None, "chat_dependent_tier", "chat_dependent_tier"]


def test_chat_utterance_continued_on_tab_line():
    lines = [(1, "*MOT:\tand then we can go"), (2, "\tto the park ."), (3, "%com:\tlong line")]
    out = [line.text for line in Cleaner("chat")(lines) if line.dropped is None]
    assert out == ["and then we can go to the park."]


def test_chat_fillers_and_scoped_replacement():
    # CHAT manual forms absent from Brown (which predates &-um): a filler and a replaced scope.
    assert clean_one("chat", "*MOT:\t&-um <goed it> [: went] away &+fr .").text == "um went away."


def test_chat_time_bullets_and_tag_markers():
    assert clean_one("chat", "*MOT:\tyes \u201e okay . \x151234_5678\x15").text == "yes, okay."


def test_keep_child_option_and_speaker_metadata(shared_data):
    text = real_line(shared_data, f"{BROWN}/Adam/adam01.cha", 13)  # *CHI: play checkers .
    assert clean_one("chat", text).text == "play checkers."
    dropped = clean_one("chat", text, keep_child=False)
    assert dropped.dropped == "child_speech" and dropped.speaker == "CHI"
    assert clean_one("chat", real_line(shared_data, f"{BROWN}/Adam/adam01.cha", 20), keep_child=False).speaker == "MOT"


def test_chat_fixtures_all_languages(shared_data):
    out = {}
    for lang in ("eng", "nld", "zho"):
        path = shared_data / "corpora/chat_fixtures" / f"{lang}-conversation.cha"
        lines = list(enumerate(path.read_text(encoding="utf-8").splitlines(), 1))
        out[lang] = [line.text for line in Cleaner("chat", lang=lang)(lines) if line.dropped is None]
    assert out["eng"][0] == "Triangle kept going."
    assert out["nld"] == ["aai."] * 3
    # Mandarin: the retraced <动> [/] stays (it was said); CHILDES word spaces go (cjk_spaces).
    assert out["zho"][0] == "这一个这礼拜不是动动物."
    assert out["zho"][1] == "动物课吗?"


def test_broken_chat_markup_is_a_bad_line():
    for text in ["*MOT:\tsit dere [: there .", "*MOT:\t<tape recorder [//] taper .", "*MOT no tab here .",
                 "stray text outside any tier"]:
        line = clean_one("chat", text)
        assert line.dropped == "broken_chat_markup" and line.bad


def test_plain_text_rules_on_ud(shared_data):
    path = shared_data / "corpora/ud_text/nl_lassysmall_2017_train_tokenized.txt"
    lines = path.read_text(encoding="utf-8").splitlines()[:200]
    accented = next(t for t in lines if not t.isascii() and unicodedata.normalize("NFD", t) != t)
    cleaned = [clean_one("text", t).text for t in lines if t.strip()]
    # Tokenized UD text passes unchanged: the text format does not detokenize.
    assert cleaned == [" ".join(t.split()) for t in lines if t.strip()]
    # unicode_nfc: a decomposed copy of a real line comes back composed.
    assert clean_one("text", unicodedata.normalize("NFD", accented)).text == " ".join(accented.split())
    # whitespace + control_chars on a real line.
    assert clean_one("text", "\ufeff  " + lines[0].replace(" ", " \t ") + "\x07 ").text == lines[0]


def test_mandarin_ud_line_kept_exactly(shared_data):
    line = (shared_data / "corpora/ud_text/zh_gsdsimp_devtest.txt").read_text(encoding="utf-8").splitlines()[0]
    assert clean_one("text", line, lang="zho").text == line


def test_markdown_storybook_rules(shared_data):
    path = shared_data / "corpora/storybooks/nl/0001_een-hele-lange-man.txt"
    lines = list(enumerate(path.read_text(encoding="utf-8").splitlines(), 1))
    out = list(Cleaner("markdown")(lines))
    kept = [line.text for line in out if line.dropped is None]
    reasons = {line.dropped for line in out}
    assert kept[:2] == ["Een hele lange man", "Zijn schoffel was te kort."]
    assert {"markdown_page_marker", "markdown_credit", "empty"} <= reasons
    assert not any(t.startswith(("#", "*")) for t in kept)


SRT = """1
00:00:01,000 --> 00:00:03,500
<i>Where are you going?</i>

2
00:00:04,000 --> 00:00:06,000
- To the park.
- Can I come?

3
00:00:07,000 --> 00:00:09,000
{\\an8}I don't know what
you mean [laughs] &amp; why.
"""


def test_subtitle_rules():
    out = list(Cleaner("srt")(enumerate(SRT.splitlines(), 1)))
    kept = [line.text for line in out if line.dropped is None]
    assert kept == ["Where are you going?", "To the park.", "Can I come?", "I don't know what you mean & why."]
    dropped = [line.dropped for line in out if line.dropped]
    assert dropped.count("subtitle_index") == 3 and dropped.count("subtitle_timing") == 3


def test_wikipedia_rules():
    text = [" = Valkyria Chronicles III = ", "", " = = Gameplay = = ", " = = = Plot = = = ",
            " The game sold 1 @,@ 000 copies in a well @-@ known series [1] . "]
    out = list(Cleaner("wiki")(enumerate(text, 1)))
    assert [line.dropped for line in out][:4] == ["wiki_header", "empty", "wiki_header", "wiki_header"]
    assert out[4].text == "The game sold 1,000 copies in a well-known series ."


def test_html_rules():
    text = ["<html><head>", "<script>var x = 1;", "</script></head>", "<body><p>Het <b>paard</b> zegt &quot;Hihi&quot;&nbsp;!</p>",
            "<p>caf&eacute; &#233;&amp;<br>next</p>", "</body></html>"]
    out = list(Cleaner("html")(enumerate(text, 1)))
    kept = [line.text for line in out if line.dropped is None]
    assert kept == ['Het paard zegt "Hihi" !', "café é& next"]
    assert [line.dropped for line in out][:3] == ["html_script_style"] * 3


def test_rule_names_recorded_per_format():
    assert rule_names("chat")[:2] == ["chat_continuation_lines", "chat_headers"]
    assert "chat_replacements" in rule_names("chat") and "cjk_spaces" in rule_names("text", "zho")
    assert set(cleaning.FORMATS) == set(cleaning.PIPELINES)


def test_block_cleaning_equals_line_cleaning(shared_data):
    ud = shared_data / "corpora/ud_text"
    lines = []
    for name in ("en_ewt_all.txt", "nl_lassysmall_2017_train_tokenized.txt", "zh_gsdsimp_devtest.txt"):
        lines += (ud / name).read_text(encoding="utf-8").splitlines()[:300]
    lines += ["", "  ", "...", "\ufeffa\u3000 b\t\x07c ", "e\u0301 x\u00a0y", "\x0b\x1c", "我 们 ，好", " _ ", "a\u2028b"]
    for lang in (None, "zho"):
        cleaner = Cleaner("text", lang=lang)
        assert cleaner.clean_block(lines) == [cleaner.clean_text(t) for t in lines]


def test_block_whitespace_table_is_every_unicode_space():
    every = {chr(c) for c in range(0x110000) if chr(c).isspace()} - {" ", "\n"}
    assert set(cleaning._UNICODE_SPACES) == every
