"""Numbered schema migrations, applied in order at start.

Each migration is a function of a connection inside a transaction. The applied
versions are recorded in ``schema_version``; a database newer than this code is
refused rather than guessed at.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, func, insert, inspect, select, text

from bot.errors import StoreError
from bot.store import schema
from bot.store.briefing_sql import create_briefings as _briefings
from bot.store.channel_options_sql import create_channel_options as _channel_options
from bot.store.channel_sql import create_channels as _channels
from bot.store.delivery_sql import create_deliveries as _deliveries
from bot.store.feedback_sql import create_feedback as _feedback
from bot.store.llm_sql import create_llm as _llm
from bot.store.quiet_sql import create_quiet as _quiet
from bot.store.search_sql import create_search as _search
from bot.store.slack_sql import create_slack_events as _slack_events
from bot.store.slack_sql import create_slack_oauth as _slack_oauth
from bot.store.thread_sql import create_threads as _threads
from bot.store.vector_sql import create_vectors as _vectors


def _initial(conn: Connection) -> None:
    tables = [schema.meta, schema.feeds, schema.articles, schema.feed_items, schema.events]
    schema.metadata.create_all(conn, tables=tables)


def _item_digests(conn: Connection) -> None:
    # Databases from migration 1 on create feeds from today's table, which has the column.
    if "item_digests" not in {c["name"] for c in inspect(conn).get_columns("feeds")}:
        conn.execute(text("ALTER TABLE feeds ADD COLUMN item_digests TEXT"))


def _stories(conn: Connection) -> None:
    tables = [schema.stories, schema.story_members, schema.story_entities, schema.deals]
    schema.metadata.create_all(conn, tables=tables)


MIGRATIONS: list[tuple[int, str, Callable[[Connection], None]]] = [
    (1, "feeds, articles, feed items, events, meta", _initial),
    (2, "stories, story members, story entities, deals", _stories),
    (3, "passages and full-text search", _search),
    (4, "conversation threads", _threads),
    (5, "llm calls and response cache", _llm),
    (6, "briefings per channel and what they told", _briefings),
    (7, "channels, subscriptions and mutes", _channels),
    (8, "passage vectors for semantic search", _vectors),
    (9, "delivery outbox", _deliveries),
    (10, "feedback on briefings and answers", _feedback),
    (11, "slack event ids seen, shared by instances", _slack_events),
    (12, "per-channel options (thread follow-ups)", _channel_options),
    (13, "slack installations and oauth states (slack_sdk tables)", _slack_oauth),
    (14, "people's quiet hours and the alerts they hold back", _quiet),
    (15, "digests of each feed's items, so changed feeds parse only new items", _item_digests),
]


def migrate(engine: Engine) -> list[int]:
    """Apply every pending migration; returns the versions applied now."""
    applied: list[int] = []
    with engine.begin() as conn:
        schema.metadata.create_all(conn, tables=[schema.schema_version])
        current = conn.execute(select(func.max(schema.schema_version.c.version))).scalar() or 0
        latest = MIGRATIONS[-1][0]
        if current > latest:
            raise StoreError(
                f"the database is at schema version {current}, newer than this briefbot ({latest})"
            )
        for version, description, step in MIGRATIONS:
            if version <= current:
                continue
            step(conn)
            conn.execute(
                insert(schema.schema_version).values(
                    version=version, description=description, applied_at=datetime.now(UTC)
                )
            )
            applied.append(version)
    return applied
