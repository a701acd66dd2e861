"""OPML import and export of the feed list."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from xml.sax.saxutils import escape, quoteattr

from bot.core.models import Feed
from bot.core.service import FeedSpec
from bot.errors import ParseError

_MAX_OPML_BYTES = 5 * 1024 * 1024


def parse_opml(data: bytes) -> list[FeedSpec]:
    """Every outline with an ``xmlUrl``; the enclosing folder (or ``category``) is its topic."""
    if len(data) > _MAX_OPML_BYTES:
        raise ParseError(f"OPML file is larger than {_MAX_OPML_BYTES // (1024 * 1024)} MiB")
    if b"<!DOCTYPE" in data[:2048] or b"<!ENTITY" in data:
        raise ParseError("OPML file declares a DTD or entities, which are not accepted")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise ParseError(f"not a readable OPML file: {exc}") from None
    body = root.find("body")
    if root.tag != "opml" or body is None:
        raise ParseError("not an OPML file: no <opml><body> element")
    specs: list[FeedSpec] = []

    def walk(node: ET.Element, folder: str | None) -> None:
        for outline in node.findall("outline"):
            url = (outline.get("xmlUrl") or outline.get("xmlurl") or "").strip()
            label = (outline.get("title") or outline.get("text") or "").strip() or None
            if url:
                label = None if label == url else label
                category = (outline.get("category") or "").strip().strip("/") or None
                specs.append(FeedSpec(url=url, title=label, topic=category or folder))
            else:
                walk(outline, label or folder)

    walk(body, None)
    return specs


def export_opml(feeds: Iterable[Feed], title: str = "briefbot feeds") -> str:
    """The feeds as an OPML 2.0 document; a feed's topic becomes its ``category``."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<opml version="2.0">',
        f"  <head><title>{escape(title)}</title></head>",
        "  <body>",
    ]
    for feed in feeds:
        attrs = [f'type="rss" text={quoteattr(feed.title or feed.url)}', f"xmlUrl={quoteattr(feed.url)}"]
        if feed.title:
            attrs.append(f"title={quoteattr(feed.title)}")
        if feed.site_url:
            attrs.append(f"htmlUrl={quoteattr(feed.site_url)}")
        if feed.topic:
            attrs.append(f"category={quoteattr(feed.topic)}")
        lines.append(f"    <outline {' '.join(attrs)}/>")
    lines += ["  </body>", "</opml>", ""]
    return "\n".join(lines)
