"""Turning feed HTML into the plain text briefbot stores, shows and summarises.

Standard library only. ``html_to_text`` is a small HTML tokenizer written for this job:
it runs on every ingested item, so it is single-pass and linear in the input (no
backtracking regular expressions, nesting capped), never raises on malformed markup,
and keeps out what a reader of the page would not see: scripts, styles, comments,
templates, SVG, media fallbacks and elements hidden with ``hidden``,
``aria-hidden="true"`` or an inline ``display:none`` / ``visibility:hidden``.
"""

from __future__ import annotations

import re
from html import unescape

__all__ = ["clean_inline", "html_to_text", "lead", "plain_text"]

# Invisible characters that only make text harder to match or carry hidden payloads:
# C0/C1 controls (tab, newline and the other whitespace controls are handled as
# whitespace), soft hyphen, zero-width and joiner characters, bidi controls, word
# joiner and invisible operators, BOM, interlinear annotations and Unicode "tag"
# characters (used to smuggle invisible instructions).
_INVISIBLE = re.compile(
    "[\x00-\x08\x0e-\x1b\x7f-\x9f\xad\u061c\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u2069\ufeff\ufff9-\ufffb\U000e0000-\U000e007f]+"
)
_BLANK_LINE = re.compile(r"\n[^\S\n]*\n\s*")

# One markup construct at a "<": a tag (slash, name, attribute text up to ">"), a comment
# opener, or the start of a bogus comment. In attribute text quotes delimit values only
# after "=", as in the HTML tokenizer; possessive quantifiers keep matching linear.
_ATTR_TEXT = r"""(?:[^>"'=]++|=[\t\n\f\r ]*+"[^"]*+"|=[\t\n\f\r ]*+'[^']*+'|[="'])*+"""
_MARKUP = re.compile(rf"<(?:(/?)([A-Za-z][^\t\n\f\r />]*+)({_ATTR_TEXT})>|(!--)|[!?/])")
_TAG_START = re.compile(r"<[A-Za-z!?/]")
_TAG_END = re.compile(rf"{_ATTR_TEXT}>")
_COMMENT_END = re.compile(r"--!?>")
_ATTR = re.compile(
    r"""([^\t\n\f\r />][^\t\n\f\r />=]*+)"""
    r"""(?:[\t\n\f\r ]*+=[\t\n\f\r ]*+(?:"([^"]*+)"|'([^']*+)'|([^\t\n\f\r >]*+)))?"""
)
_MAYBE_HIDDEN = re.compile(r"hidden|none", re.IGNORECASE)

# What matters about an element, as bit flags (unknown elements have none).
_BLOCK = 1  # starts a new paragraph of output text
_CELL = 2  # table cell: a space between neighbours
_CLOSES_P = 4  # its start tag closes an open <p> ("close a p element in button scope")
_P_SCOPE = 8  # stops that search ("button scope" boundary)
_RAW = 16  # raw text up to its end tag, never shown (script, style, ...)
_SKIP = 32  # parsed, but its content is not what a reader sees (template, svg, media fallback)
_VOID = 64  # never has content
_FOREIGN = 128  # SVG/MathML: "<x/>" really is self-closing
_FORMATTING = 256  # its end tag does not close a hidden element opened inside it
_PARA = 512  # <p>

_KIND: dict[str, int] = {}


def _kind(flag: int, names: str) -> None:
    for name in names.split():
        _KIND[name] = _KIND.get(name, 0) | flag


_kind(
    _BLOCK | _CLOSES_P,
    "address article aside blockquote center dd details dialog dir div dl dt fieldset figcaption"
    " figure footer form h1 h2 h3 h4 h5 h6 header hgroup hr li listing main menu nav ol p pre"
    " section summary table ul",
)
_kind(_BLOCK, "br caption tbody tfoot thead tr")
_kind(_CLOSES_P, "plaintext xmp")
_kind(_CELL, "td th")
_kind(_P_SCOPE, "applet button caption html marquee object table td th template svg math")
_kind(_RAW, "script style noscript iframe noembed noframes title")
_kind(_SKIP, "template svg math video audio canvas object select datalist")
_kind(
    _VOID,
    "area base basefont bgsound br col embed frame hr img input keygen link meta param source track wbr",
)
_kind(_FOREIGN, "svg math")
_kind(_FORMATTING, "a b big code em font i nobr s small strike strong tt u")
_kind(_PARA, "p")
_RAW_END = {
    name: re.compile(rf"</{name}[\t\n\f\r />]", re.IGNORECASE) for name, k in _KIND.items() if k & _RAW
}
_MAX_DEPTH = 512  # like browsers, deeper elements are not nested further


def _strip_css_comments(style: str) -> str:
    kept: list[str] = []
    pos = 0
    while (start := style.find("/*", pos)) >= 0:
        kept.append(style[pos:start])
        pos = style.find("*/", start + 2) + 2
        if pos == 1:  # unterminated: the comment runs to the end
            return "".join(kept)
    kept.append(style[pos:])
    return "".join(kept)


def _style_hides(style: str) -> bool:
    """Whether an inline style sets display:none or visibility:hidden/collapse (last declaration wins)."""
    style = _strip_css_comments(style).lower()
    found: dict[str, tuple[str, bool]] = {}
    for decl in style.split(";"):
        prop, colon, value = decl.partition(":")
        prop = prop.strip()
        if not colon or prop not in ("display", "visibility"):
            continue
        value = "".join(value.split())
        important = value.endswith("!important")
        value = value.removesuffix("!important")
        if prop in found and found[prop][1] and not important:
            continue
        found[prop] = (value, important)
    return found.get("display", ("", False))[0] == "none" or found.get("visibility", ("", False))[0] in (
        "hidden",
        "collapse",
    )


def _hides(attrs: str) -> bool:
    """Whether a start tag's attribute text hides the element."""
    if not _MAYBE_HIDDEN.search(attrs):
        return False
    seen: set[str] = set()
    for m in _ATTR.finditer(attrs):
        name = m.group(1).lower()
        if name in seen:  # the first of duplicate attributes wins
            continue
        seen.add(name)
        if name == "hidden":
            return True
        value = m.group(2) or m.group(3) or m.group(4) or ""
        if name == "aria-hidden" and value.strip().lower() == "true":
            return True
        if name == "style" and value and _style_hides(unescape(value)):
            return True
    return False


_ASCII_CONTROLS = bytes(range(32)) + b"\x7f"


def _printable(text: str) -> bool:
    """No control, format or non-space whitespace characters (``str.isprintable``, faster for ASCII)."""
    if text.isascii():
        raw = text.encode("ascii")
        return len(raw.translate(None, _ASCII_CONTROLS)) == len(raw)
    return text.isprintable()


def _normalize(text: str) -> str:
    """Remove invisible characters and collapse whitespace to single spaces."""
    if "  " not in text and _printable(text):  # the common case: nothing to do
        return text.strip(" ")
    text = " ".join(text.split())
    # After collapsing, the only whitespace left is " ", so any control or format
    # character makes the text "unprintable": the slow path is taken only then.
    if not _printable(text):
        text = " ".join(_INVISIBLE.sub("", text).split())
    return text


def plain_text(text: str) -> str:
    """Normalise plain text: invisible characters removed, whitespace collapsed,
    blank lines kept as paragraph breaks (paragraphs joined by a blank line)."""
    if "\n" not in text:
        return _normalize(text)
    paragraphs = (_normalize(p) for p in _BLANK_LINE.split(text))
    return "\n\n".join(p for p in paragraphs if p)


def html_to_text(html: str) -> str:
    """Plain text of an HTML fragment or document: what a reader of the page sees.

    Tags are removed and entities decoded; block elements (p, div, br, li, h1-h6, tr,
    blockquote, ...) separate paragraphs, which are joined by a blank line; inside a
    paragraph whitespace collapses to single spaces. Input without any tag is taken as
    plain text whose blank lines separate paragraphs. Never raises on malformed markup.
    """
    if "<" not in html:
        return plain_text(unescape(html) if "&" in html else html)

    paragraphs: list[str] = []
    buf: list[str] = []  # visible text of the current paragraph
    stack: list[str] = []  # open elements
    open_at: dict[str, list[int]] = {}  # stack indexes of the open elements of each name
    p_at: list[int] = []  # stack indexes of open <p> elements
    scope_at: list[int] = []  # stack indexes of open button-scope boundaries
    hidden_at = -1  # stack index of the outermost hidden element, or -1
    no_end_tag: set[str] = set()  # raw-text elements whose end tag is not in the rest of the input
    kinds = _KIND
    # A tag can only end at a ">": searching no further than the last one means every
    # tag match succeeds and no search rescans the tail (linear time).
    end = html.rfind(">") + 1
    markup = _MARKUP.search
    pos = 0

    def flush() -> None:
        text = "".join(buf)
        buf.clear()
        if "&" in text:
            text = unescape(text)
        text = _normalize(text)
        if text:
            paragraphs.append(text)

    def pop_to(index: int) -> None:
        nonlocal hidden_at
        while len(stack) > index:
            open_at[stack.pop()].pop()
        while p_at and p_at[-1] >= index:
            p_at.pop()
        while scope_at and scope_at[-1] >= index:
            scope_at.pop()
        if hidden_at >= index:
            hidden_at = -1

    while True:
        m = markup(html, pos, end)
        if m is None:
            if hidden_at < 0:
                tail = _TAG_START.search(html, pos)  # a tag cut off by the end of input is dropped
                buf.append(html[pos : tail.start() if tail else len(html)])
            break
        if hidden_at < 0 and m.start() > pos:
            buf.append(html[pos : m.start()])
        pos = m.end()
        name = m.group(2)
        if name is None:
            if m.group(4):  # comment: <!-- ... -->, also the abrupt <!--> and <!--->
                if html.startswith(">", pos):
                    pos += 1
                elif html.startswith("->", pos):
                    pos += 2
                else:
                    comment_end = _COMMENT_END.search(html, pos)
                    if comment_end is None:
                        break
                    pos = comment_end.end()
            else:  # bogus comment: <!DOCTYPE ...>, <![CDATA[...]]>, <?...>, </ ...>
                pos = html.find(">", pos) + 1
                if pos == 0:
                    break
            continue

        name = name.lower()
        kind = kinds.get(name, 0)
        if m.group(1):  # end tag
            indexes = open_at.get(name)
            if indexes and not (kind & _FORMATTING and hidden_at > indexes[-1]):
                pop_to(indexes[-1])
            if kind & _BLOCK:
                if buf:
                    flush()
            elif kind & _CELL and hidden_at < 0:
                buf.append(" ")
            continue

        # start tag
        attrs = m.group(3)
        if kind:
            if kind & _CLOSES_P and p_at and (not scope_at or scope_at[-1] < p_at[-1]):
                pop_to(p_at[-1])
            if kind & _BLOCK:
                if buf:
                    flush()
            elif kind & _CELL and hidden_at < 0:
                buf.append(" ")
            if kind & _VOID:
                continue
            if kind & _RAW:
                raw_end = None if name in no_end_tag else _RAW_END[name].search(html, pos)
                if raw_end is not None:
                    tag_end = _TAG_END.match(html, raw_end.end() - 1)
                    if tag_end is None:
                        break
                    pos = tag_end.end()
                elif attrs.endswith("/"):  # an XHTML-style <iframe/> without end tag: just a tag
                    no_end_tag.add(name)
                else:  # raw text to the end of input, as in a browser
                    break
                continue
        if (kind & _FOREIGN or open_at.get("svg") or open_at.get("math")) and attrs.endswith("/"):
            continue
        hides = bool(kind & _SKIP) or (bool(attrs) and hidden_at < 0 and _hides(attrs))
        depth = len(stack)
        if depth >= _MAX_DEPTH:
            if hides and hidden_at < 0:
                hidden_at = depth - 1  # hide until the parent closes
            continue
        if hides and hidden_at < 0:
            hidden_at = depth
        if kind & _PARA:
            p_at.append(depth)
        elif kind & _P_SCOPE:
            scope_at.append(depth)
        indexes = open_at.get(name)
        if indexes is None:
            open_at[name] = [depth]
        else:
            indexes.append(depth)
        stack.append(name)

    if buf:
        flush()
    return "\n\n".join(paragraphs)


def clean_inline(s: str, *, is_html: bool = True) -> str:
    """One line of plain text for a title or an author name.

    ``s`` is HTML (feeds put ``<b>`` and entities in titles) unless ``is_html`` is
    False, in which case ``<`` and ``&`` are kept as written.
    """
    if not s:
        return ""
    if is_html and ("<" in s or "&" in s):
        s = html_to_text(s)
    return _normalize(s)


# A sentence ends at one of these; "[.!?]" must be followed by a space, the CJK marks not.
_SENTENCE_ENDS = (". ", "! ", "? ", '." ', ".” ", ".’ ", ".) ", '!" ', "!” ", '?" ', "?” ", "。", "！", "？")
_TRAILING_PUNCT = ",;:-–—([{\"'“‘ "


def lead(text: str, limit: int = 400) -> str:
    """The opening of ``text`` as one line of at most ``limit`` characters.

    When the text is longer it is cut after the last sentence that ends in the second
    half of the allowance (then " …" follows), else at the last word boundary, else
    mid-word, and "…" is appended.
    """
    if limit <= 0:
        return ""
    # Normalise only as much of the text as the lead can use.
    window = 2 * limit + 64
    while True:
        head = _normalize(text[:window])
        if len(head) > limit or window >= len(text):
            break
        window *= 4
    if len(head) <= limit:
        return head
    room = limit - 1  # characters left for text before the ellipsis
    if room <= 0:
        return "…"
    end = -1
    for mark in _SENTENCE_ENDS:
        at = head.rfind(mark, room // 2, room - 1)  # room for " …"; a trailing space is not kept
        if at >= 0:
            end = max(end, at + len(mark.rstrip()))
    if end > 0:
        return head[:end] + " …"
    cut = head.rfind(" ", 0, room + 1)  # a word may end exactly at the allowance
    if cut >= room // 3:
        shortened = head[:cut].rstrip(_TRAILING_PUNCT)
        if shortened:
            return shortened + "…"
    return head[:room].rstrip() + "…"
