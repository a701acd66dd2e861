"""Turning one fetched body into stored articles: parse, then store with the feed's state."""

from __future__ import annotations

from datetime import datetime

from bot.core.models import Feed
from bot.core.ports import FeedStore
from bot.ingest.items import item_layout
from bot.ingest.parse import parse_feed, without_lead_in


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

    Only the items not in the feed's last stored body are parsed (see
    :mod:`bot.ingest.items`); the digests of this body's items are stored with the state.
    Returns the number of new articles; raises ParseError when the body is no feed.
    """
    body = without_lead_in(body)  # as parse_feed reads it, so the item offsets fit
    layout = item_layout(body)
    fresh = layout.new_items(feed.item_digests) if layout is not None else None
    feed.item_digests = layout.encode() if layout is not None else None
    if fresh is not None and not fresh:
        return store.store_entries(feed, [], now=now, backfill=backfill)  # nothing new: state only
    document = layout.only(body, fresh) if layout is not None and fresh else body
    parsed = parse_feed(document, url, headers)
    if fresh is not None and any(e.url and "#" in e.url for e in parsed.entries):
        # Posts that differ only by their #fragment keep it in their canonical URL, which
        # depends on the feed's other items: read the whole document.
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
