"""The SQL store on SQLite and PostgreSQL: migrations, feeds, de-duplication, events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from bot.core.models import FeedStatus, ParsedEntry
from bot.errors import StoreError
from bot.store import SqlStore, open_engine
from bot.store.migrations import MIGRATIONS, migrate
from bot.store.schema import schema_version

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def entry(item_id: str, url: str | None, title: str = "t") -> ParsedEntry:
    return ParsedEntry(item_id=item_id, url=url, canonical_url=url, title=title, text="body", summary="s")


def test_migrations_are_recorded_and_idempotent(store: SqlStore) -> None:
    assert migrate(store.engine) == []  # already applied when the store was opened
    with store.engine.connect() as conn:
        versions = list(conn.execute(select(schema_version.c.version)).scalars())
    assert versions == [m[0] for m in MIGRATIONS]


def test_a_database_from_before_item_digests_gains_the_column_and_keeps_its_feeds(store: SqlStore) -> None:
    """Migration 15 on a database made by an earlier briefbot (feeds without item_digests)."""
    feed, _ = store.add_feed("https://news.example/rss", topic=None, title=None, now=NOW)
    with store.engine.begin() as conn:
        conn.execute(text("ALTER TABLE feeds DROP COLUMN item_digests"))
        conn.execute(text("DELETE FROM schema_version WHERE version >= 15"))
    assert migrate(store.engine)[0] == 15
    feed.item_digests = "0123456789abcdef fedcba9876543210"
    store.store_entries(feed, [entry("a", "https://news.example/a")], now=NOW, backfill=True)
    (stored,) = store.list_feeds()
    assert stored.url == feed.url and stored.item_digests == feed.item_digests


def test_a_database_newer_than_the_code_is_refused(db_url: str) -> None:
    engine = open_engine(db_url)
    with engine.begin() as conn:
        conn.execute(schema_version.insert().values(version=999, description="future", applied_at=NOW))
    with pytest.raises(StoreError, match="newer than this briefbot"):
        migrate(engine)
    engine.dispose()


def test_an_unreachable_database_is_one_line_error() -> None:
    with pytest.raises(StoreError, match="cannot open the database") as info:
        open_engine("postgresql+psycopg://nobody:secret@127.0.0.1:1/none?connect_timeout=2")
    assert "\n" not in str(info.value)
    assert "secret" not in str(info.value)


def test_feed_added_once_listed_and_removed(store: SqlStore) -> None:
    feed, created = store.add_feed("https://a.example/feed", topic="chips", title=None, now=NOW)
    again, created_again = store.add_feed("https://a.example/feed", topic=None, title=None, now=NOW)
    assert created and not created_again and again.id == feed.id
    assert feed.status is FeedStatus.NEW and feed.topic == "chips"
    assert [f.url for f in store.list_feeds()] == ["https://a.example/feed"]
    assert store.remove_feed("https://a.example/feed")
    assert not store.remove_feed("https://a.example/feed")
    assert store.list_feeds() == []


def test_entries_are_new_once_per_feed_and_one_article_per_url(store: SqlStore) -> None:
    a, _ = store.add_feed("https://a.example/feed", topic=None, title=None, now=NOW)
    b, _ = store.add_feed("https://b.example/feed", topic=None, title=None, now=NOW)
    first = [entry("1", "https://news.example/x"), entry("2", "https://news.example/y"), entry("3", None)]
    assert store.store_entries(a, first, now=NOW, backfill=True) == 3
    assert store.store_entries(a, first, now=NOW, backfill=False) == 0
    # Feed b carries the same story under its own guid: linked, not stored twice.
    assert store.store_entries(b, [entry("b-9", "https://news.example/x")], now=NOW, backfill=False) == 0
    assert store.count_articles() == 3
    assert [art.canonical_url for art in store.articles_for_feed(b.id)] == ["https://news.example/x"]
    # Two items of one document with the same URL are one article.
    dup = [entry("4", "https://news.example/z"), entry("5", "https://news.example/z")]
    assert store.store_entries(b, dup, now=NOW, backfill=False) == 1
    assert all(art.backfill for art in store.articles_for_feed(a.id))


def test_due_feeds_and_state_round_trip(store: SqlStore) -> None:
    feed, _ = store.add_feed("https://a.example/feed", topic=None, title=None, now=NOW)
    assert [f.id for f in store.due_feeds(NOW)] == [feed.id]
    feed.next_fetch = NOW + timedelta(minutes=15)
    feed.etag = '"abc"'
    feed.status = FeedStatus.OK
    store.save_feed_state(feed)
    assert store.due_feeds(NOW) == []
    assert [f.id for f in store.due_feeds(NOW, include_not_due=True)] == [feed.id]
    loaded = store.get_feed(feed.url)
    assert loaded is not None and loaded.etag == '"abc"' and loaded.next_fetch == NOW + timedelta(minutes=15)
    assert loaded.next_fetch.tzinfo is not None


def test_events_and_meta(store: SqlStore) -> None:
    store.add_event("feed_disabled", "feed x disabled", now=NOW)
    assert [e.message for e in store.list_events(unreported_only=True)] == ["feed x disabled"]
    assert store.get_meta("k") is None
    store.set_meta("k", "1")
    store.set_meta("k", "2")
    assert store.get_meta("k") == "2"


def test_sqlite_runs_in_wal_mode(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = open_engine(f"sqlite:///{tmp_path / 'x' / 'b.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine.dispose()


def test_many_feed_states_saved_in_one_batch(store: SqlStore) -> None:
    added = [
        store.add_feed(f"https://f{i}.example/feed", topic=None, title=None, now=NOW)[0] for i in range(3)
    ]
    for i, feed in enumerate(added):
        feed.status = FeedStatus.OK
        feed.etag = f'"e{i}"'
        feed.next_fetch = NOW + timedelta(minutes=i + 1)
    store.save_feed_states(added)
    loaded = {f.url: f for f in store.list_feeds()}
    assert [loaded[f.url].etag for f in added] == ['"e0"', '"e1"', '"e2"']
    assert loaded[added[2].url].next_fetch == NOW + timedelta(minutes=3)
    assert all(f.status is FeedStatus.OK for f in loaded.values())
