"""Text from the outside world, made safe to show a language model as data.

Article text, titles and anything derived from them reach a model only inside data
blocks, and only after :func:`clean_untrusted` has removed what a reader of the page
would not see but a model would (hidden payloads):

- HTML comments, and ``<script>`` / ``<style>`` blocks (an unterminated one runs to the
  end of the text, as in a browser), and stray ``<script>`` / ``<style>`` tags;
- zero-width, joiner, bidi-control and other invisible format characters, Unicode "tag"
  characters and variation selectors (both used to smuggle invisible instructions);
- control characters other than newline and tab (carriage returns become newlines);
- runs of whitespace: exotic spaces become plain spaces, runs of spaces one space, runs
  of blank lines one blank line;
- anything beyond ``max_chars`` (cut at a word boundary, marked with ``[…]``).

:func:`wrap_untrusted` then puts each item between a random per-call marker::

    <<<DATA-7f3a9c1e2b id=1>>>
    ...the item's cleaned text...
    <<<END DATA-7f3a9c1e2b>>>

The prompts tell the model that text between these markers is untrusted data, never
instructions. The marker is unguessable, and every occurrence of it or of anything that
looks like a data marker (``<<<END DATA-…>>>``, also with look-alike brackets) is removed
from the text first, so article text can never close its block and speak as the prompt.
Links in the text become ``[link]``: a model cites sources by number and never writes a
link, so it is never shown one to copy.
"""

from __future__ import annotations

import random
import re
import secrets
from collections.abc import Sequence

__all__ = ["DEFAULT_MAX_CHARS", "clean_untrusted", "new_marker", "shown_text", "wrap_untrusted"]

DEFAULT_MAX_CHARS = 8000
_TRUNCATED = " […]"

# Invisible characters: C0/C1 controls except \t and \n (\r, \v, \f are turned into
# newlines first), soft hyphen, Arabic letter mark, Mongolian vowel separator, zero-width
# space/joiners, LRM/RLM, bidi embeddings/overrides/isolates, word joiner and invisible
# operators, deprecated format characters, BOM, interlinear annotations, variation
# selectors, and the Unicode "tag" block.
_INVISIBLE = re.compile(
    "[\x00-\x08\x0e-\x1f\x7f-\x9f\xad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f"
    "\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff9-\ufffb"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff]+"
)
_LINE_BREAKS = re.compile("\r\n?|[\v\f\x1c-\x1e\x85\u2028\u2029]")
_SPACES = re.compile("[\xa0\u1680\u2000-\u200a\u202f\u205f\u3000]")
_LONG_SPACE = re.compile(r" [ \t]+|\t[ \t]+")
_TRAILING_SPACE = re.compile(r"[ \t]+\n")
_MANY_NEWLINES = re.compile(r"\n[ \t\n]*\n")
_RAW_OPEN = re.compile(r"<(script|style)(?:[\t\n\f ][^<>]{0,500})?/?>", re.IGNORECASE)
_RAW_TAG = re.compile(r"<[^\S\n]*/?[^\S\n]*(?:script|style)\b[^<>\n]{0,500}>", re.IGNORECASE)

# Brackets and look-alikes a model might read as the "<<<" and ">>>" of a data marker.
_LT = "<\uff1c\ufe64\u2039\u00ab\u2329\u27e8\u3008\u300a\u226a\u02c2\u276e"
_GT = ">\uff1e\ufe65\u203a\u00bb\u232a\u27e9\u3009\u300b\u226b\u02c3\u276f"
_DOUBLE_LT = "\u226a\u300a"  # "≪" and "《" look like "<<" on their own
# Runs of three or more brackets are first cut to two ("<<<" is the start of a marker);
# then two opening brackets (or one that looks doubled) followed on the same line
# (within 120 characters, no other bracket) by the word DATA or END are a forged data
# marker, up to its closing brackets.
_BRACKET_RUN = re.compile(rf"([{_LT}])[{_LT}]{{2,}}|([{_GT}])[{_GT}]{{2,}}")
_FORGED_MARKER = re.compile(
    rf"(?:[{_LT}]{{2}}|[{_DOUBLE_LT}])[^{_LT}{_GT}\n]{{0,120}}?(?:DATA|\bEND\b)[^{_LT}{_GT}\n]{{0,120}}[{_GT}]*",
    re.IGNORECASE,
)
# A URL with a scheme or starting "www.", without the punctuation that ends its sentence.
_LINK = re.compile(r"\b(?:[a-z][a-z0-9+.-]{1,20}://|www\.)[^\s<>\"'`]*[^\s<>\"'`.,;:!?)\]]", re.IGNORECASE)
_LABEL_CHARS = re.compile(r"[^A-Za-z0-9_.:#/-]+")
_MARKER = re.compile(r"DATA-[0-9a-f]{10}\Z")


def _drop_comments(text: str) -> str:
    """Remove ``<!-- ... -->`` comments; an unterminated one runs to the end."""
    if "<!--" not in text:
        return text
    kept: list[str] = []
    pos = 0
    while (start := text.find("<!--", pos)) >= 0:
        kept.append(text[pos:start])
        end = text.find("-->", start + 4)
        end_bang = text.find("--!>", start + 4)
        if end < 0 or (0 <= end_bang < end):
            end, width = end_bang, 4
        else:
            width = 3
        if end < 0:
            return "".join(kept)
        pos = end + width
    kept.append(text[pos:])
    return "".join(kept)


def _drop_raw_blocks(text: str) -> str:
    """Remove ``<script>``/``<style>`` elements with their content, then stray tags."""
    if "<" not in text:
        return text
    lowered = text.lower()
    kept: list[str] = []
    pos = 0
    while (m := _RAW_OPEN.search(text, pos)) is not None:
        kept.append(text[pos : m.start()])
        close = lowered.find(f"</{m.group(1).lower()}", m.end())
        if close < 0:  # unterminated: raw text runs to the end, as in a browser
            pos = len(text)
            break
        gt = text.find(">", close)
        pos = len(text) if gt < 0 else gt + 1
        kept.append(" ")
    kept.append(text[pos:])
    return _RAW_TAG.sub(" ", "".join(kept))


def _cap(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    room = max(0, max_chars - len(_TRUNCATED))
    cut = text[:room]
    space = max(cut.rfind(" "), cut.rfind("\n"))
    if space >= room * 0.8:
        cut = cut[:space]
    return cut.rstrip() + _TRUNCATED


def clean_untrusted(text: str, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """``text`` without hidden payloads, whitespace tamed, at most ``max_chars`` long.

    See the module docstring for what is removed. Visible text, including names and
    figures, is kept as written (no Unicode normalisation: "10²" stays "10²").
    """
    if max_chars < 1:
        raise ValueError("max_chars must be positive")
    # Bound the work on absurd inputs; hidden payloads are removed before the real cap.
    text = text[: max_chars * 8 + 10_000]
    text = _LINE_BREAKS.sub("\n", text)
    text = _INVISIBLE.sub("", text)
    text = _drop_comments(text)
    text = _drop_raw_blocks(text)
    text = _SPACES.sub(" ", text)
    text = _LONG_SPACE.sub(" ", text)
    text = _TRAILING_SPACE.sub("\n", text)
    text = _MANY_NEWLINES.sub("\n\n", text)
    return _cap(text.strip(), max_chars)


def new_marker(rng: random.Random | None = None) -> str:
    """A fresh data marker such as ``DATA-7f3a9c1e2b`` (40 random bits).

    Without ``rng`` the bits come from :mod:`secrets`; pass a seeded ``random.Random``
    only in tests.
    """
    bits = rng.getrandbits(40) if rng is not None else secrets.randbits(40)
    return f"DATA-{bits:010x}"


def _defuse(text: str, marker: str | None) -> str:
    """Remove the marker and anything that looks like a data marker, until none is left."""
    token = re.compile(re.escape(marker), re.IGNORECASE) if marker else None
    while True:
        before = text
        if token is not None:
            text = token.sub("", text)
        text = _BRACKET_RUN.sub(lambda m: (m.group(1) or m.group(2)) * 2, text)
        text = _FORGED_MARKER.sub(" ", text)
        if text == before:
            return text


def shown_text(
    text: str, *, marker: str | None = None, max_chars: int = DEFAULT_MAX_CHARS, keep_links: bool = False
) -> str:
    """What a data block made by :func:`wrap_untrusted` holds for ``text``: what the model reads.

    Checks of a model's reply against its input (names, amounts) read this, so that text
    a model never saw (hidden HTML, anything past ``max_chars``, links) never vouches for it.
    """
    body = _defuse(clean_untrusted(text, max_chars), marker)
    if not keep_links:
        body = _LINK.sub("[link]", body)
    return body.strip()


def _label(label: str) -> str:
    cleaned = _LABEL_CHARS.sub("_", label.strip())[:40].strip("_")
    return cleaned or "item"


def wrap_untrusted(
    items: Sequence[tuple[str, str]],
    *,
    rng: random.Random | None = None,
    marker: str | None = None,
    max_chars: int = DEFAULT_MAX_CHARS,
    keep_links: bool = False,
) -> tuple[str, str]:
    """Clean each ``(label, text)`` item and wrap it in a data block; returns ``(marker, block)``.

    The marker is new for each call unless ``marker`` (from :func:`new_marker` or an
    earlier call) is given, so several blocks of one prompt can share it. Labels are
    reduced to ``[A-Za-z0-9_.:#/-]`` (at most 40 characters); each text is cleaned with
    :func:`clean_untrusted` (capped at ``max_chars``) and freed of the marker and of
    anything resembling a data marker; links (``https://…``, ``www.…``) become ``[link]``
    unless ``keep_links``. Blocks are separated by a blank line.
    """
    if marker is None:
        marker = new_marker(rng)
    elif not _MARKER.match(marker):
        raise ValueError(f"a data marker looks like DATA-7f3a9c1e2b, got {marker!r}")
    blocks = []
    for label, text in items:
        body = shown_text(text, marker=marker, max_chars=max_chars, keep_links=keep_links)
        blocks.append(f"<<<{marker} id={_label(label)}>>>\n{body}\n<<<END {marker}>>>")
    return marker, "\n\n".join(blocks)
