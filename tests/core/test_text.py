"""HTML to plain text, inline cleaning and leads: what readers and the summariser see."""

from __future__ import annotations

import pytest

from bot.core.text import clean_inline, html_to_text, lead, plain_text


def test_blocks_become_paragraphs_and_inline_markup_disappears() -> None:
    html = (
        "<h1>Deal</h1><p>Amazon <b>invests</b> in\n   <a href='/x'>Anthropic</a>.</p>"
        "<ul><li>one</li><li>two<li>three</ul><div>a<br>b</div><blockquote>quote</blockquote>"
        "<table><tr><td>cell 1</td><td>cell 2</td></tr></table>"
    )
    assert html_to_text(html) == (
        "Deal\n\nAmazon invests in Anthropic.\n\none\n\ntwo\n\nthree\n\na\n\nb\n\nquote\n\ncell 1 cell 2"
    )


def test_entities_are_decoded() -> None:
    assert html_to_text("<p>AT&amp;T &lt;3 caf&eacute; &#8212; &#x2019;&nbsp;ok</p>") == "AT&T <3 café — ’ ok"
    assert html_to_text("Q&amp;A&nbsp;&nbsp;time") == "Q&A time"


@pytest.mark.parametrize(
    "html",
    [
        "<script>var secret = 1;</script>",
        "<script type='text/javascript'>if (a < b && c > d) { secret() }</script>",
        "<SCRIPT>secret</SCRIPT >",
        "<style>.secret { color: red }</style>",
        "<noscript>secret</noscript>",
        "<template><p>secret</p></template>",
        "<iframe src='https://ads.example'>secret</iframe>",
        "<svg><title>secret</title><text>secret</text><path d='M0'/></svg>",
        "<head><title>secret</title></head>",
        "<video src='v.mp4'>secret fallback</video>",
        "<!-- secret -->",
        "<!--secret--!>",
        "<![CDATA[secret]]>",
        "<?php echo 'secret'; ?>",
        "<div hidden>secret</div>",
        "<div hidden='until-found'>secret</div>",
        "<p aria-hidden='true'>secret</p>",
        "<span style='display:none'>secret</span>",
        "<span style='DISPLAY: None !important;'>secret</span>",
        "<div style='color:red; visibility: hidden'>secret</div>",
        "<div style='display:/* x */none'>secret</div>",
        "<div hidden><div><p>secret</p></div>secret</div>",
        "<b><div hidden>x</b>secret</div>",
        "<div style='display:none'></span>secret</div>",
    ],
)
def test_invisible_content_is_absent(html: str) -> None:
    text = html_to_text(f"<p>before</p>{html}<p>after</p>")
    assert "secret" not in text
    assert text.startswith("before")
    assert text.endswith("after")


@pytest.mark.parametrize(
    "html",
    [
        "<div aria-hidden='false'>shown</div>",
        "<div class='not-hidden' title='none'>shown</div>",
        "<div style='display:none; display:block'>shown</div>",
        "<p hidden>gone<p>shown",  # a <p> closes the hidden <p>
        "<div><span hidden>gone</div>shown",  # closing the parent ends the hidden span
        "<img hidden src='x.png'>shown",
    ],
)
def test_visible_content_around_hidden_markup_stays(html: str) -> None:
    text = html_to_text(html)
    assert "shown" in text
    assert "gone" not in text


@pytest.mark.parametrize(
    "char",
    [
        *("\u200b", "\u200c", "\u200d", "\u200e", "\u200f", "\u2060", "\u2064", "\ufeff", "\u00ad"),
        *("\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"),
        *("\x00", "\x07", "\x1b", "\x7f", "\x9b", "\U000e0041"),
    ],
)
def test_zero_width_bidi_and_control_characters_are_removed(char: str) -> None:
    assert html_to_text(f"<p>Tr{char}ain{char}ium</p>") == "Trainium"
    assert html_to_text(f"Tr{char}ainium") == "Trainium"
    assert clean_inline(f"Tr{char}ainium") == "Trainium"


def test_entity_encoded_invisible_characters_are_removed_too() -> None:
    assert html_to_text("<p>Tr&#8203;ain&shy;ium&#x202E;</p>") == "Trainium"


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("<scr<script>ipt>alert(1)</script>after", "ipt>alert(1)after"),  # as a browser shows it
        ("<p>unclosed <b>bold <i>italic", "unclosed bold italic"),
        ("text then a cut-off tag <a href='x", "text then a cut-off tag"),
        ("<p>cut-off comment <!-- never closed", "cut-off comment"),
        ("a < b and c<3 and 1<<2", "a < b and c<3 and 1<<2"),
        ("</p></div>stray end tags</span>", "stray end tags"),
        ('<a title="x > y" href="/a">link</a> text', "link text"),
        ('<a href="unterminated>link</a> text', "link text"),
        ("<iframe src='x'/>after a self-closed iframe", "after a self-closed iframe"),
        ("<svg/>after a self-closed svg", "after a self-closed svg"),
        ("<>text</>", "<>text"),
        ("", ""),
    ],
)
def test_malformed_html_degrades_like_a_browser(html: str, expected: str) -> None:
    assert html_to_text(html) == expected


def test_huge_attributes_and_deep_nesting_are_handled() -> None:
    huge = "<img src='data:image/png;base64," + "A" * 2_000_000 + "'><p>after the image</p>"
    assert html_to_text(huge) == "after the image"
    deep = "<div>" * 20_000 + "deep text" + "</div>" * 20_000
    assert html_to_text(deep) == "deep text"


@pytest.mark.parametrize(
    "hostile",
    [
        "<a " * 50_000,
        '<a x="' + "<b>" * 50_000,
        "<!--" * 50_000,
        "<" * 100_000,
        "</" * 100_000,
        "<a " + "x=" * 50_000 + ">",
        '<a x="' * 50_000 + ">",
        "<p>" + "<span>" * 600 + "<div>" * 50_000,
        "<b><div hidden>" + "<i>" * 600 + "</b>" * 50_000,
        "<script>" + "</scrip" * 50_000,
        "&#" * 100_000,
        "<div style='" + "display:none;" * 20_000 + "'>x</div>",
        "<div style='display:none " + "/*" * 50_000 + "'>x</div>",
        "<iframe/>" * 50_000,
    ],
)
def test_hostile_input_never_raises(hostile: str) -> None:
    # Each of these is ~100-300 KB; a parser with quadratic behaviour would not finish.
    assert isinstance(html_to_text(hostile), str)
    assert isinstance(lead(html_to_text(hostile)), str)


def test_text_without_markup_keeps_its_paragraphs() -> None:
    assert html_to_text("First line\nstill first.\n\n  Second   paragraph &amp; more ") == (
        "First line still first.\n\nSecond paragraph & more"
    )
    assert plain_text("a\r\n\r\nb \t c\n\n\n") == "a\n\nb c"


def test_clean_inline_makes_one_line_of_plain_text() -> None:
    assert clean_inline("Automotive <b>Slack</b> Market &amp; more\n ") == "Automotive Slack Market & more"
    assert clean_inline("<p>Two</p><p>paragraphs</p>") == "Two paragraphs"
    assert clean_inline("Vector<int> & AT&T", is_html=False) == "Vector<int> & AT&T"
    assert clean_inline("") == ""


def test_lead_keeps_short_text_whole() -> None:
    assert lead("Short text.\n\nSecond paragraph.") == "Short text. Second paragraph."


def test_lead_cuts_at_a_word_boundary_with_an_ellipsis() -> None:
    text = "Nvidia ships Blackwell " + "accelerators " * 60
    out = lead(text, 100)
    assert len(out) <= 100
    assert out.endswith("…")
    assert text.startswith(out[:-1])
    assert out[:-1].split()[-1] == "accelerators"  # no half word


def test_lead_prefers_the_end_of_a_sentence() -> None:
    text = "AWS invests $4 billion in Anthropic. " * 3 + "The deal covers Trainium chips and much more " * 10
    out = lead(text, 140)
    assert out == "AWS invests $4 billion in Anthropic. AWS invests $4 billion in Anthropic. " * 1 + (
        "AWS invests $4 billion in Anthropic. …"
    )


def test_lead_of_text_without_spaces_is_cut_hard() -> None:
    assert lead("x" * 500, 20) == "x" * 19 + "…"
    assert len(lead("投资资讯网交易在线" * 100, 50)) <= 50


@pytest.mark.parametrize("limit", [0, 1, 2, 5, 37, 400])
def test_lead_never_exceeds_its_limit(limit: int) -> None:
    assert len(lead("word " * 200, limit)) <= limit
    assert len(lead("Sentence one. Sentence two! " * 40, limit)) <= limit
