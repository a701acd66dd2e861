"""SqlStore: the FeedStore protocol on SQLAlchemy Core, for SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Row, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from bot.core.models import Article, Event, Feed, FeedStatus, ParsedEntry
from bot.store.briefing_sql import BriefingSql
from bot.store.channel_options_sql import ChannelOptionsSql
from bot.store.channel_sql import ChannelSql
from bot.store.delivery_sql import DeliverySql
from bot.store.feedback_sql import FeedbackSql
from bot.store.llm_sql import LlmSql
from bot.store.locks import write_turn
from bot.store.quiet_sql import QuietSql
from bot.store.retention_sql import RetentionSql
from bot.store.rows import article_from, chunks
from bot.store.schema import articles, events, feed_items, feeds, meta
from bot.store.search_sql import SearchSql
from bot.store.slack_sql import SlackSql
from bot.store.story_sql import StorySql
from bot.store.thread_sql import ThreadSql
from bot.store.vector_sql import VectorSql

FEED_INTERVAL = "feed_interval"  # meta key: the default interval the feeds were given
DEFAULT_FEED_INTERVAL = 900  # what feeds got before that key was kept

_FEED_STATE_FIELDS = (
    "title",
    "site_url",
    "status",
    "enabled",
    "etag",
    "last_modified",
    "body_hash",
    "item_digests",
    "last_fetch",
    "last_success",
    "next_fetch",
    "error_count",
    "failing_since",
    "last_error",
    "interval_seconds",
)


def _feed(row: Row[Any]) -> Feed:
    m = row._mapping
    return Feed(
        id=m["id"],
        url=m["url"],
        title=m["title"],
        site_url=m["site_url"],
        topic=m["topic"],
        status=FeedStatus(m["status"]),
        enabled=bool(m["enabled"]),
        etag=m["etag"],
        last_modified=m["last_modified"],
        body_hash=m["body_hash"],
        item_digests=m["item_digests"],
        last_fetch=m["last_fetch"],
        last_success=m["last_success"],
        next_fetch=m["next_fetch"],
        error_count=m["error_count"],
        failing_since=m["failing_since"],
        last_error=m["last_error"],
        interval_seconds=m["interval_seconds"],
        created_at=m["created_at"],
    )


class SqlStore(
    StorySql,
    SearchSql,
    ThreadSql,
    LlmSql,
    BriefingSql,
    ChannelSql,
    VectorSql,
    DeliverySql,
    FeedbackSql,
    RetentionSql,
    SlackSql,
    ChannelOptionsSql,
    QuietSql,
):
    """Feeds, articles, events and stories in a SQL database reached through ``engine``."""

    def __init__(self, engine: Engine, *, default_interval: int = 900) -> None:
        self.engine = engine
        self.default_interval = default_interval

    # -- feeds -----------------------------------------------------------------

    def add_feed(self, url: str, *, topic: str | None, title: str | None, now: datetime) -> tuple[Feed, bool]:
        """Add a feed; returns the feed and True, or the existing feed and False."""
        existing = self.get_feed(url)
        if existing is not None:
            return existing, False
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(feeds).values(
                        url=url,
                        topic=topic,
                        title=title,
                        status=FeedStatus.NEW.value,
                        enabled=True,
                        error_count=0,
                        interval_seconds=self.default_interval,
                        created_at=now,
                        next_fetch=now,
                    )
                )
        except IntegrityError:
            pass  # added concurrently by another instance: report it as existing
        feed = self.get_feed(url)
        assert feed is not None
        return feed, existing is None

    def follow_feed_interval(self, interval: int) -> int:
        """Give ``interval`` (``BRIEFBOT_FEED_INTERVAL``) to every feed still on the default it
        was added with, when the setting changed since; returns how many feeds changed."""
        previous = int(self.get_meta(FEED_INTERVAL) or DEFAULT_FEED_INTERVAL)
        if previous == interval:
            return 0
        with self.engine.begin() as conn:
            changed = conn.execute(
                update(feeds).where(feeds.c.interval_seconds == previous).values(interval_seconds=interval)
            ).rowcount
        self.set_meta(FEED_INTERVAL, str(interval))
        return int(changed or 0)

    def get_feed(self, url: str) -> Feed | None:
        """The feed with this URL, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(select(feeds).where(feeds.c.url == url)).first()
        return _feed(row) if row else None

    def list_feeds(self) -> list[Feed]:
        """Every feed, oldest first."""
        with self.engine.connect() as conn:
            return [_feed(r) for r in conn.execute(select(feeds).order_by(feeds.c.id))]

    def remove_feed(self, url: str) -> bool:
        """Remove a feed (its articles stay); False when there was no such feed."""
        with self.engine.begin() as conn:
            feed_id = conn.execute(select(feeds.c.id).where(feeds.c.url == url)).scalar()
            if feed_id is None:
                return False
            conn.execute(delete(feed_items).where(feed_items.c.feed_id == feed_id))
            conn.execute(update(articles).where(articles.c.feed_id == feed_id).values(feed_id=None))
            conn.execute(update(events).where(events.c.feed_id == feed_id).values(feed_id=None))
            conn.execute(delete(feeds).where(feeds.c.id == feed_id))
        return True

    def due_feeds(self, now: datetime, *, include_not_due: bool = False) -> list[Feed]:
        """Enabled feeds whose next fetch is due (all enabled feeds with ``include_not_due``)."""
        query = select(feeds).where(feeds.c.enabled.is_(True))
        if not include_not_due:
            query = query.where(or_(feeds.c.next_fetch.is_(None), feeds.c.next_fetch <= now))
        with self.engine.connect() as conn:
            return [_feed(r) for r in conn.execute(query.order_by(feeds.c.id))]

    def save_feed_state(self, feed: Feed) -> None:
        """Persist the fetch state fields of ``feed``."""
        with self.engine.begin() as conn:
            conn.execute(update(feeds).where(feeds.c.id == feed.id).values(**_state(feed)))

    def save_feed_states(self, batch: Sequence[Feed]) -> None:
        """Persist the fetch state of many feeds in one transaction (one executemany)."""
        if not batch:
            return
        rows = [{"_id": feed.id, **_state(feed)} for feed in batch]
        stmt = update(feeds).where(feeds.c.id == bindparam("_id"))
        with self.engine.begin() as conn:
            conn.execute(stmt, rows)

    def change_feed_url(self, feed_id: int, new_url: str) -> bool:
        """Point a feed at a new URL after a permanent redirect; False if another feed has it."""
        try:
            with self.engine.begin() as conn:
                conn.execute(update(feeds).where(feeds.c.id == feed_id).values(url=new_url))
        except IntegrityError:
            return False
        return True

    # -- articles --------------------------------------------------------------

    def store_entries(
        self, feed: Feed, entries: Sequence[ParsedEntry], *, now: datetime, backfill: bool
    ) -> int:
        """Store a feed's new entries and its fetch state in one transaction; returns new articles.

        An entry is new for this feed when its item id was never seen from this feed. A new
        entry whose canonical URL is already stored (from another feed) links to that article
        instead of creating a second one.
        """
        unique: dict[str, ParsedEntry] = {}
        for entry in entries:
            unique.setdefault(entry.item_id, entry)
        for attempt in range(3):
            try:
                with write_turn(self.engine):
                    return self._store_new(feed, unique, now=now, backfill=backfill)
            except IntegrityError:
                # Another worker stored one of these URLs first; now it is known: retry.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _store_new(self, feed: Feed, unique: dict[str, ParsedEntry], *, now: datetime, backfill: bool) -> int:
        with self.engine.begin() as conn:
            seen_query = select(feed_items.c.item_id).where(feed_items.c.feed_id == feed.id)
            seen = {row[0] for row in _select_in(conn, seen_query, feed_items.c.item_id, list(unique))}
            fresh = {item_id: e for item_id, e in unique.items() if item_id not in seen}
            keys = {item_id: _dedupe_key(feed.id, item_id, e) for item_id, e in fresh.items()}
            id_query = select(articles.c.dedupe_key, articles.c.id)
            known = dict(_select_in(conn, id_query, articles.c.dedupe_key, list(set(keys.values()))))
            rows: dict[str, dict[str, Any]] = {}
            for item_id, entry in fresh.items():
                key = keys[item_id]
                if key not in known and key not in rows:
                    rows[key] = _article_row(feed.id, key, entry, now=now, backfill=backfill)
            if rows:
                # executemany without RETURNING is one round trip; ids are read back by key.
                conn.execute(insert(articles), list(rows.values()))
                known.update(_select_in(conn, id_query, articles.c.dedupe_key, list(rows)))
            links = [{"feed_id": feed.id, "item_id": i, "article_id": known[k]} for i, k in keys.items()]
            if links:
                conn.execute(insert(feed_items), links)
            conn.execute(update(feeds).where(feeds.c.id == feed.id).values(**_state(feed)))
        return len(rows)

    def count_articles(self) -> int:
        """How many articles are stored."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(articles)).scalar() or 0)

    def recent_articles(self, limit: int) -> list[Article]:
        """The most recently fetched articles, newest first."""
        query = select(articles).order_by(articles.c.fetched_at.desc(), articles.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [article_from(r._mapping) for r in conn.execute(query)]

    def articles_for_feed(self, feed_id: int) -> list[Article]:
        """Every article a feed delivered (including ones first stored from another feed)."""
        query = (
            select(articles)
            .join(feed_items, feed_items.c.article_id == articles.c.id)
            .where(feed_items.c.feed_id == feed_id)
            .order_by(articles.c.id)
        )
        with self.engine.connect() as conn:
            return [article_from(r._mapping) for r in conn.execute(query)]

    # -- events and meta -------------------------------------------------------

    def add_event(self, kind: str, message: str, *, now: datetime, feed_id: int | None = None) -> None:
        """Record something admins should be told about."""
        with self.engine.begin() as conn:
            conn.execute(insert(events).values(at=now, kind=kind, message=message, feed_id=feed_id))

    def list_events(self, *, unreported_only: bool = False) -> list[Event]:
        """Events, oldest first."""
        query = select(events).order_by(events.c.id)
        if unreported_only:
            query = query.where(events.c.reported_at.is_(None))
        with self.engine.connect() as conn:
            return [
                Event(id=r.id, at=r.at, kind=r.kind, message=r.message, feed_id=r.feed_id)
                for r in conn.execute(query)
            ]

    def get_meta(self, key: str) -> str | None:
        """A value from the key-value table, or None."""
        with self.engine.connect() as conn:
            value = conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar()
        return None if value is None else str(value)

    def set_meta(self, key: str, value: str) -> None:
        """Set a value in the key-value table."""
        with self.engine.begin() as conn:
            if conn.execute(update(meta).where(meta.c.key == key).values(value=value)).rowcount == 0:
                conn.execute(insert(meta).values(key=key, value=value))


def _select_in(conn: Any, query: Any, column: Any, values: list[Any]) -> list[tuple[Any, ...]]:
    """Rows of ``query`` filtered by ``column IN values``, in chunks the database accepts."""
    out: list[tuple[Any, ...]] = []
    for part in chunks(values):
        out.extend(tuple(row) for row in conn.execute(query.where(column.in_(part))))
    return out


def _dedupe_key(feed_id: int, item_id: str, entry: ParsedEntry) -> str:
    return entry.canonical_url or f"item:{feed_id}:{item_id}"


def _article_row(feed_id: int, key: str, e: ParsedEntry, *, now: datetime, backfill: bool) -> dict[str, Any]:
    return {
        "feed_id": feed_id,
        "dedupe_key": key,
        "url": e.url,
        "canonical_url": e.canonical_url,
        "title": e.title,
        "text": e.text,
        "summary": e.summary,
        "author": e.author,
        "published": e.published,
        "fetched_at": now,
        "backfill": backfill,
    }


def _state(feed: Feed) -> dict[str, Any]:
    values = {name: getattr(feed, name) for name in _FEED_STATE_FIELDS}
    values["status"] = feed.status.value
    return values
