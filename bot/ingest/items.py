"""Where each item sits in a feed document, so a changed feed parses only its new items.

A feed that changed usually gained one or two items and repeats the rest byte for byte.
:func:`item_layout` finds the byte span of every top-level item (``<item>`` of RSS 0.9x,
1.0 and 2.0, ``<entry>`` of Atom) with expat and digests each one. :meth:`ItemLayout.only`
gives the document with every item cut out but the ones not seen in the last fetch; the
rest of it (prolog, namespaces, xml:base, the channel's own elements) stays, so the new
items read exactly as they would in the whole document. Items seen before need no
second reading: what they hold is stored already, and an item is new to a feed only once
anyway. Anything expat cannot read (malformed XML, JSON) has no layout and is parsed
whole.
"""

from __future__ import annotations

import hashlib
import xml.parsers.expat
from collections.abc import Iterable
from dataclasses import dataclass

_ROOTS = frozenset({"rss", "rdf", "feed", "channel"})  # local names that hold items
_ITEMS = frozenset({"item", "entry"})
_DIGEST_BYTES = 8  # 64 bits: a collision among one feed's items is not a practical concern


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=_DIGEST_BYTES).hexdigest()


@dataclass(frozen=True, slots=True)
class ItemLayout:
    """The items of one feed document: their byte spans and digests."""

    spans: tuple[tuple[int, int], ...]
    digests: tuple[str, ...]

    def encode(self) -> str:
        """The digests as stored with the feed (``Feed.item_digests``)."""
        return " ".join(self.digests)

    def new_items(self, previous: str | None) -> list[int] | None:
        """Indexes of the items not in ``previous`` (an :meth:`encode` of the last stored
        fetch), or None when there is nothing to compare with."""
        if not previous:
            return None
        seen = set(previous.split())
        return [i for i, digest in enumerate(self.digests) if digest not in seen]

    def only(self, body: bytes, keep: Iterable[int]) -> bytes:
        """``body`` with every item cut out except those at the indexes ``keep``."""
        wanted = set(keep)
        parts: list[bytes] = []
        pos = 0
        for index, (start, end) in enumerate(self.spans):
            parts.append(body[pos:start])
            if index in wanted:
                parts.append(body[start:end])
            pos = end
        parts.append(body[pos:])
        return b"".join(parts)


def item_layout(body: bytes) -> ItemLayout | None:
    """The layout of an RSS or Atom document as the parser reads it (after
    ``bot.ingest.parse.without_lead_in``), or None if expat cannot read it or it has no
    items directly under its root or channel."""
    spans = _spans(body)
    if spans is None:
        return None
    return ItemLayout(tuple(spans), tuple(_digest(body[s:e]) for s, e in spans))


def _spans(body: bytes) -> list[tuple[int, int]] | None:
    """The byte spans of the items of ``body``, or None."""
    parser = xml.parsers.expat.ParserCreate(namespace_separator=" ")
    spans: list[tuple[int, int]] = []
    path: list[str] = []
    open_at = -1

    def start(name: str, _attrs: object) -> None:
        nonlocal open_at
        local = name.rpartition(" ")[2].rpartition(":")[2].lower()
        if open_at < 0 and local in _ITEMS and path and path[-1] in _ROOTS:
            open_at = parser.CurrentByteIndex
        path.append(local)

    def end(_name: str) -> None:
        nonlocal open_at
        local = path.pop()
        if open_at >= 0 and local in _ITEMS and path and path[-1] in _ROOTS:
            at = parser.CurrentByteIndex
            close = body.find(b">", at) + 1
            if at == open_at or body[at : at + 2] != b"</":
                # <item/>: the end event points at the start tag; it ends at its own ">"
                close = body.find(b">", open_at) + 1
            spans.append((open_at, close))
            open_at = -1

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        parser.Parse(body, True)
    except (xml.parsers.expat.ExpatError, ValueError):
        return None
    if not spans or any(end <= start for start, end in spans):
        return None
    return spans
