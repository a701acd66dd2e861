"""Slack's shared state in briefbot's database: event ids seen (migration 11) and the OAuth
install tables of slack_sdk (migration 13).

``slack_events`` lets every instance behind a load balancer, and an instance after a restart,
drop Slack's retries of an event one of them already took: the first to insert the
``event_id`` claims it, a second insert fails on the primary key. The daily housekeeping
deletes rows older than :data:`EVENT_TTL` (Slack stops retrying after about an hour).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Column, Connection, Engine, Index, MetaData, String, Table, delete, insert
from sqlalchemy.exc import IntegrityError

from bot.store.schema import UTCDateTime, metadata

EVENT_TTL = timedelta(days=1)  # how long an event id is remembered
MAX_EVENT_ID = 100

# One row per Slack event taken by some instance (``team:event_id``).
slack_events = Table(
    "slack_events",
    metadata,
    Column("event_id", String(MAX_EVENT_ID), primary_key=True),
    Column("seen_at", UTCDateTime, nullable=False),
    Index("ix_slack_events_seen_at", "seen_at"),
)

# slack_sdk's table names (SQLAlchemyInstallationStore, SQLAlchemyOAuthStateStore defaults).
INSTALLATIONS_TABLE = "slack_installations"
BOTS_TABLE = "slack_bots"
OAUTH_STATES_TABLE = "slack_oauth_states"


def create_slack_events(conn: Connection) -> None:
    """Migration 11: the ``slack_events`` table."""
    metadata.create_all(conn, tables=[slack_events])


def create_slack_oauth(conn: Connection) -> None:
    """Migration 13: slack_sdk's installation and OAuth state tables, from its own table
    builders (imported here only, so the SDK loads only when this migration runs)."""
    from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
    from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore

    oauth = MetaData()
    SQLAlchemyInstallationStore.build_installations_table(oauth, INSTALLATIONS_TABLE)
    SQLAlchemyInstallationStore.build_bots_table(oauth, BOTS_TABLE)
    SQLAlchemyOAuthStateStore.build_oauth_states_table(oauth, OAUTH_STATES_TABLE)
    oauth.create_all(conn)


class SlackSql:
    """Mixin for SqlStore (which provides ``engine``): Slack event claims."""

    engine: Engine

    def claim_slack_event(self, event_id: str, at: datetime) -> bool:
        """True for the first claim of ``event_id`` in this database; False when any
        instance claimed it already (the insert fails on the primary key)."""
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(slack_events).values(event_id=event_id[:MAX_EVENT_ID], seen_at=at))
        except IntegrityError:
            return False
        return True

    def delete_old_slack_events(self, before: datetime) -> int:
        """Forget the event ids claimed before ``before``; returns how many."""
        with self.engine.begin() as conn:
            result = conn.execute(delete(slack_events).where(slack_events.c.seen_at < before))
        return int(result.rowcount or 0)
