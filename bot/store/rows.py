"""Small helpers the store modules share: chunked IN lists, article rows, outlet names."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from bot.core.models import Article

# SQLite allows 32,766 bound parameters; stay well below for IN lists and bulk inserts.
CHUNK = 500


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    """``items`` in slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def article_from(m: Mapping[Any, Any]) -> Article:
    """An Article from a row mapping of the articles table (extra columns are ignored)."""
    return Article(
        id=m["id"],
        feed_id=m["feed_id"],
        url=m["url"],
        canonical_url=m["canonical_url"],
        title=m["title"],
        text=m["text"],
        summary=m["summary"],
        author=m["author"],
        published=m["published"],
        fetched_at=m["fetched_at"],
        backfill=bool(m["backfill"]),
    )


def outlet_name(feed_title: str | None, url: str | None) -> str:
    """The outlet a reader recognises: the feed's title, else the article's host."""
    if feed_title and feed_title.strip():
        return feed_title.strip()
    host = urlsplit(url or "").hostname or ""
    return host.removeprefix("www.") or "unknown outlet"
