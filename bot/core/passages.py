"""Cutting an article into passages: the paragraph-sized pieces search indexes and answers cite.

Standard library only, deterministic and linear in the input. A passage follows the
article's paragraphs: short paragraphs are merged with the next one, long ones are split
between sentences, and a sentence longer than a passage is cut between words (or, with no
space to cut at, anywhere). The first passage starts with the title, so an article whose
title alone matches a question is still found.

Hostile input stays bounded: control and invisible characters become spaces, runs of
whitespace collapse, at most ``max_passages`` passages are made (the rest of an absurdly
long text is dropped) and no passage is longer than ``max_chars``.
"""

from __future__ import annotations

import re

__all__ = ["split_passages"]

# C0/C1 controls except newline, and invisible characters (zero-width, bidi, BOM, tags).
_INVISIBLE = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\xad\u061c\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u2069\ufeff\ufff9-\ufffb\U000e0000-\U000e007f]+"
)
_SPACES = re.compile(r"[^\S\n]+")
_LINES = re.compile(r"\s*\n\s*")
# The end of a sentence: terminal punctuation, up to three closing quotes or brackets, then
# a space (text is cleaned first: one space between words). Bounded, so linear on any input.
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]{0,3} ")
_TITLE_END = ".!?:;…"


def _clean(text: str, limit: int) -> str:
    """Visible characters only, single spaces, one newline between paragraphs, at most
    ``limit`` characters (cut at a newline or space near the limit when there is one)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _INVISIBLE.sub(" ", text)
    text = _SPACES.sub(" ", text)
    text = _LINES.sub("\n", text).strip()
    if len(text) > limit:
        text = text[:limit]
    return text


def _cut_words(sentence: str, max_chars: int) -> list[str]:
    """A sentence longer than ``max_chars`` cut into pieces at spaces (anywhere if none)."""
    pieces: list[str] = []
    start, end = 0, len(sentence)
    while end - start > max_chars:
        cut = sentence.rfind(" ", start, start + max_chars + 1)
        if cut <= start + max_chars // 2:
            cut = start + max_chars  # no usable space: cut mid-word
            pieces.append(sentence[start:cut])
            start = cut
        else:
            pieces.append(sentence[start:cut])
            start = cut + 1
    if start < end:
        pieces.append(sentence[start:end])
    return [p.strip() for p in pieces if p.strip()]


def _sentences(paragraph: str, max_chars: int) -> list[str]:
    """A paragraph's sentences, none longer than ``max_chars``."""
    out: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(paragraph):
        out.extend(_cut_words(paragraph[start : match.end()].strip(), max_chars))
        start = match.end()
    out.extend(_cut_words(paragraph[start:].strip(), max_chars))
    return out


def _split_paragraph(paragraph: str, max_chars: int) -> list[str]:
    """A paragraph as pieces of at most ``max_chars``, split between sentences and
    balanced in length (a 900-character paragraph gives two of about 450, not 700 + 200)."""
    if len(paragraph) <= max_chars:
        return [paragraph]
    sentences = _sentences(paragraph, max_chars)
    groups = -(-len(paragraph) // max_chars)
    target = len(paragraph) / groups
    pieces: list[str] = []
    current = ""
    for sentence in sentences:
        if current and (len(current) + 1 + len(sentence) > max_chars or len(current) >= target):
            pieces.append(current)
            current = sentence
        else:
            current = f"{current} {sentence}" if current else sentence
    if current:
        pieces.append(current)
    return pieces


def _title(title: str, max_chars: int) -> str:
    """The title on one line, at most half a passage (cut between words)."""
    clean = _clean(title, 4 * max_chars).replace("\n", " ")
    limit = max(1, max_chars // 2)
    return clean if len(clean) <= limit else _cut_words(clean, limit)[0]


def split_passages(
    title: str,
    text: str,
    *,
    max_chars: int = 700,
    min_chars: int = 120,
    max_passages: int = 200,
) -> list[str]:
    """The article's passages, in order: each at most ``max_chars`` characters.

    Paragraphs (lines of ``text``) shorter than ``min_chars`` are merged with what
    follows while the result fits; longer paragraphs are split between sentences. The
    first passage is "Title. first paragraph ...". An empty text gives one passage, the
    title; an empty title and text give none. Paragraphs within a passage are joined
    by a newline.
    """
    if max_chars < 20:
        raise ValueError("max_chars must be at least 20")
    head = _title(title, max_chars)
    body = _clean(text, max_passages * (max_chars + 1))
    if not body:
        return [head] if head else []
    paragraphs = body.split("\n")
    if head:
        sep = " " if head[-1] in _TITLE_END else ". "
        paragraphs[0] = f"{head}{sep}{paragraphs[0]}"
    passages: list[str] = []
    current = ""
    for paragraph in paragraphs:
        for piece in _split_paragraph(paragraph, max_chars):
            if current and (len(current) >= min_chars or len(current) + 1 + len(piece) > max_chars):
                passages.append(current)
                if len(passages) >= max_passages:
                    return passages
                current = piece
            else:
                current = f"{current}\n{piece}" if current else piece
    if current:
        if passages and len(current) < min_chars and len(passages[-1]) + 1 + len(current) <= max_chars:
            passages[-1] = f"{passages[-1]}\n{current}"
        elif len(passages) < max_passages:
            passages.append(current)
    return passages
