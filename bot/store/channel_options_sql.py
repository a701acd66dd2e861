"""Per-channel options (migration 12): today whether replies in the bot's threads are
answered without a mention (``/followups on|off``). A channel with no row, or a NULL,
follows the global default (``BRIEFBOT_SLACK_THREAD_FOLLOWUPS``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Engine,
    Integer,
    String,
    Table,
    UniqueConstraint,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from bot.store.schema import UTCDateTime, metadata

channel_options = Table(
    "channel_options",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("platform", String(20), nullable=False),
    Column("channel_id", String(100), nullable=False),
    Column("thread_followups", Boolean),  # NULL: the global default
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("platform", "channel_id", name="uq_channel_options_channel"),
)


def create_channel_options(conn: Connection) -> None:
    """Migration 12: the ``channel_options`` table."""
    metadata.create_all(conn, tables=[channel_options])


class ChannelOptionsSql:
    """Mixin for SqlStore (which provides ``engine``): per-channel options."""

    engine: Engine

    def get_thread_followups(self, platform: str, channel_id: str) -> bool | None:
        """The channel's own follow-up setting, or None when it has none."""
        query = select(channel_options.c.thread_followups).where(
            channel_options.c.platform == platform, channel_options.c.channel_id == channel_id
        )
        with self.engine.connect() as conn:
            value = conn.execute(query).scalar()
        return None if value is None else bool(value)

    def set_thread_followups(self, platform: str, channel_id: str, on: bool | None, now: datetime) -> None:
        """Set (True/False) or clear (None) the channel's follow-up setting."""
        where = (channel_options.c.platform == platform, channel_options.c.channel_id == channel_id)
        values = {"thread_followups": on, "updated_at": now}
        with self.engine.begin() as conn:
            if conn.execute(update(channel_options).where(*where).values(**values)).rowcount:
                return
        try:
            with self.engine.begin() as conn:
                row = {"platform": platform, "channel_id": channel_id, **values}
                conn.execute(insert(channel_options).values(**row))
        except IntegrityError:  # set concurrently: this setting wins
            with self.engine.begin() as conn:
                conn.execute(update(channel_options).where(*where).values(**values))
