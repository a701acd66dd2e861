"""Protocols the core needs from the outside world; ``bot.store`` and ``bot.ingest`` implement them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from bot.core.models import Article, Event, Feed, FetchResult, ParsedEntry


class Clock(Protocol):
    """Tells the time; tests pass a frozen clock."""

    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...


class FeedStore(Protocol):
    """Storage of feeds, their fetch state, articles and events."""

    def add_feed(self, url: str, *, topic: str | None, title: str | None, now: datetime) -> tuple[Feed, bool]:
        """Add a feed; returns the feed and True, or the existing feed and False."""
        ...

    def get_feed(self, url: str) -> Feed | None:
        """The feed with this URL, or None."""
        ...

    def list_feeds(self) -> list[Feed]:
        """Every feed, oldest first."""
        ...

    def remove_feed(self, url: str) -> bool:
        """Remove a feed (its articles stay); False when there was no such feed."""
        ...

    def due_feeds(self, now: datetime, *, include_not_due: bool = False) -> list[Feed]:
        """Enabled feeds whose next fetch is due (all enabled feeds with ``include_not_due``)."""
        ...

    def save_feed_state(self, feed: Feed) -> None:
        """Persist the fetch state fields of ``feed`` (status, validators, schedule, errors)."""
        ...

    def save_feed_states(self, batch: Sequence[Feed]) -> None:
        """Persist the fetch state of many feeds in one transaction."""
        ...

    def change_feed_url(self, feed_id: int, new_url: str) -> bool:
        """Point a feed at a new URL after a permanent redirect; False if another feed has it."""
        ...

    def store_entries(
        self, feed: Feed, entries: Sequence[ParsedEntry], *, now: datetime, backfill: bool
    ) -> int:
        """Store a feed's new entries and its fetch state in one transaction; returns new articles."""
        ...

    def add_event(self, kind: str, message: str, *, now: datetime, feed_id: int | None = None) -> None:
        """Record something admins should be told about."""
        ...

    def list_events(self, *, unreported_only: bool = False) -> list[Event]:
        """Events, oldest first."""
        ...

    def count_articles(self) -> int:
        """How many articles are stored."""
        ...

    def recent_articles(self, limit: int) -> list[Article]:
        """The most recently fetched articles, newest first."""
        ...

    def get_meta(self, key: str) -> str | None:
        """A value from the key-value table, or None."""
        ...

    def set_meta(self, key: str, value: str) -> None:
        """Set a value in the key-value table."""
        ...


class Fetcher(Protocol):
    """Fetches a feed URL over HTTP; raises FetchError or UnsafeURLError."""

    async def fetch(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> FetchResult:
        """Fetch ``url`` conditionally; body is None on 304."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


class BodyProcessor(Protocol):
    """Parses a fetched feed body and stores its new entries, off the event loop."""

    async def process(
        self, feed: Feed, body: bytes, url: str, headers: dict[str, str], *, now: datetime, backfill: bool
    ) -> int:
        """Parse ``body`` and store its new entries together with ``feed``'s state, in one
        transaction; returns how many articles are new. Raises ParseError."""
        ...

    def close(self) -> None:
        """Stop any worker processes."""
        ...
