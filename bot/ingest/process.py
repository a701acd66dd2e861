"""Turning one fetched body into stored articles: parse, then store with the feed's state."""

from __future__ import annotations

from datetime import datetime

from bot.core.models import Feed
from bot.core.ports import FeedStore
from bot.ingest.parse import parse_feed


def ingest_body(
    store: FeedStore,
    feed: Feed,
    body: bytes,
    url: str,
    headers: dict[str, str],
    *,
    now: datetime,
    backfill: bool,
) -> int:
    """Parse ``body`` and store its new entries and ``feed``'s state in one transaction.

    Returns the number of new articles; raises ParseError when the body is no feed.
    """
    parsed = parse_feed(body, url, headers)
    if parsed.title and not feed.title:
        feed.title = parsed.title
    if parsed.site_url and not feed.site_url:
        feed.site_url = parsed.site_url
    return store.store_entries(feed, parsed.entries, now=now, backfill=backfill)


class InlineProcessor:
    """Parses and stores in this process (one worker, or tests)."""

    def __init__(self, store: FeedStore) -> None:
        self.store = store

    async def process(
        self, feed: Feed, body: bytes, url: str, headers: dict[str, str], *, now: datetime, backfill: bool
    ) -> int:
        """Parse and store inline; see :func:`ingest_body`."""
        return ingest_body(self.store, feed, body, url, headers, now=now, backfill=backfill)

    def close(self) -> None:
        """Nothing to release."""
