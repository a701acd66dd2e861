"""Plain data objects shared by every layer of briefbot."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class FeedStatus(StrEnum):
    """Health of a feed as shown by ``briefbot feeds list``."""

    NEW = "new"  # added, never fetched
    OK = "ok"
    FAILING = "failing"  # last fetch failed; backing off
    DISABLED = "disabled"  # failed continuously for too long, or disabled by an admin


@dataclass(frozen=True)
class ParsedEntry:
    """One item of a feed document after parsing and cleaning.

    ``item_id`` is stable across fetches: the item's guid, else its canonical link,
    else a hash of title and date. ``text`` is plain text (paragraphs separated by a
    blank line); ``summary`` is a capped lead of it, or the feed's own summary.
    """

    item_id: str
    url: str | None
    canonical_url: str | None
    title: str
    text: str
    summary: str
    author: str | None = None
    published: datetime | None = None


@dataclass(frozen=True)
class ParsedFeed:
    """A parsed feed document. ``warning`` carries a non-fatal parser complaint (bozo)."""

    title: str | None
    site_url: str | None
    entries: list[ParsedEntry]
    warning: str | None = None


@dataclass
class Feed:
    """A subscribed feed and its fetch state."""

    id: int
    url: str
    title: str | None = None
    site_url: str | None = None
    topic: str | None = None
    status: FeedStatus = FeedStatus.NEW
    enabled: bool = True
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    item_digests: str | None = None  # digests of the items of the last stored body (bot.ingest.items)
    last_fetch: datetime | None = None
    last_success: datetime | None = None
    next_fetch: datetime | None = None
    error_count: int = 0
    failing_since: datetime | None = None
    last_error: str | None = None
    interval_seconds: int = 900
    created_at: datetime | None = None


@dataclass(frozen=True)
class Article:
    """A stored article: one per canonical URL, whichever feeds carried it."""

    id: int
    feed_id: int
    url: str | None
    canonical_url: str | None
    title: str
    text: str
    summary: str
    published: datetime | None
    fetched_at: datetime
    backfill: bool
    author: str | None = None


@dataclass(frozen=True)
class FetchResult:
    """What the fetcher got for one feed URL.

    ``body`` is None when the server answered 304 Not Modified. ``moved_to`` is the new
    URL when the request followed only permanent redirects (301/308), so the stored
    feed URL can be updated.
    """

    url: str
    status: int
    body: bytes | None
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    moved_to: str | None = None


@dataclass(frozen=True)
class Event:
    """Something admins should hear about, such as a feed disabled after failing."""

    id: int
    at: datetime
    kind: str
    message: str
    feed_id: int | None = None


@dataclass
class IngestReport:
    """The outcome of one ingest pass, as printed by ``briefbot ingest``."""

    feeds: int = 0
    fetched: int = 0
    not_modified: int = 0
    failed: int = 0
    new_articles: int = 0
    seconds: float = 0.0
    failures: list[tuple[str, str]] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        """The machine-readable summary of ``briefbot ingest --json``."""
        return {
            "feeds": self.feeds,
            "fetched": self.fetched,
            "not_modified": self.not_modified,
            "failed": self.failed,
            "new_articles": self.new_articles,
            "seconds": round(self.seconds, 3),
            "failures": [{"url": u, "error": e} for u, e in self.failures],
        }
