"""The ChannelStore half of SqlStore: digest channels, people's subscriptions and mutes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from bot.core.subscriptions import Channel, Subscription, channel_scope
from bot.store.schema import channels, metadata, mutes, subscriptions


def create_channels(conn: Connection) -> None:
    """Migration 7: the channels, subscriptions and mutes tables."""
    metadata.create_all(conn, tables=[channels, subscriptions, mutes])


def _channel(row: Row[Any]) -> Channel:
    m = row._mapping
    return Channel(
        platform=m["platform"],
        channel_id=m["channel_id"],
        at=m["at"],
        tz=m["tz"],
        days=m["days"],
        topics=tuple(m["topics"] or ()),
        enabled=bool(m["enabled"]),
        created_at=m["created_at"],
    )


def _subscription(row: Row[Any]) -> Subscription:
    m = row._mapping
    return Subscription(m["platform"], m["user_id"], m["kind"], m["value"], m["created_at"])


class ChannelSql:
    """Mixin for SqlStore (which provides ``engine``): implements ``ChannelStore``."""

    engine: Engine

    # -- channels ----------------------------------------------------------------------

    def save_channel(self, channel: Channel, now: datetime) -> bool:
        """Insert or replace the channel's settings; True when it was new."""
        where = (channels.c.platform == channel.platform, channels.c.channel_id == channel.channel_id)
        values = {
            "at": channel.at,
            "tz": channel.tz,
            "days": channel.days,
            "topics": list(channel.topics),
            "enabled": channel.enabled,
            "updated_at": now,
        }
        with self.engine.begin() as conn:
            if conn.execute(update(channels).where(*where).values(**values)).rowcount:
                return False
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(channels).values(
                        platform=channel.platform, channel_id=channel.channel_id, created_at=now, **values
                    )
                )
        except IntegrityError:  # added concurrently: apply these settings over it
            with self.engine.begin() as conn:
                conn.execute(update(channels).where(*where).values(**values))
            return False
        return True

    def get_channel(self, platform: str, channel_id: str) -> Channel | None:
        """The channel, or None."""
        query = select(channels).where(channels.c.platform == platform, channels.c.channel_id == channel_id)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return _channel(row) if row else None

    def list_channels(self) -> list[Channel]:
        """Every channel, by platform and id."""
        query = select(channels).order_by(channels.c.platform, channels.c.channel_id)
        with self.engine.connect() as conn:
            return [_channel(r) for r in conn.execute(query)]

    def remove_channel(self, platform: str, channel_id: str) -> bool:
        """Remove a channel and its mutes, in one transaction; False when there was none."""
        with self.engine.begin() as conn:
            removed = conn.execute(
                delete(channels).where(channels.c.platform == platform, channels.c.channel_id == channel_id)
            ).rowcount
            if removed:
                conn.execute(delete(mutes).where(mutes.c.scope == channel_scope(platform, channel_id)))
        return bool(removed)

    # -- subscriptions -----------------------------------------------------------------

    def add_subscription(self, subscription: Subscription, now: datetime) -> bool:
        """Add a subscription; False when the person already had it."""
        s = subscription
        exists = select(subscriptions.c.id).where(
            subscriptions.c.platform == s.platform,
            subscriptions.c.user_id == s.user_id,
            subscriptions.c.kind == s.kind,
            subscriptions.c.value == s.value,
        )
        try:
            with self.engine.begin() as conn:
                if conn.execute(exists).first() is not None:
                    return False
                conn.execute(
                    insert(subscriptions).values(
                        platform=s.platform, user_id=s.user_id, kind=s.kind, value=s.value, created_at=now
                    )
                )
        except IntegrityError:  # the same subscription added concurrently
            return False
        return True

    def remove_subscription(self, platform: str, user_id: str, kind: str, value: str) -> bool:
        """Remove a subscription; False when there was none."""
        with self.engine.begin() as conn:
            removed = conn.execute(
                delete(subscriptions).where(
                    subscriptions.c.platform == platform,
                    subscriptions.c.user_id == user_id,
                    subscriptions.c.kind == kind,
                    subscriptions.c.value == value,
                )
            ).rowcount
        return bool(removed)

    def list_subscriptions(
        self, *, platform: str | None = None, user_id: str | None = None
    ) -> list[Subscription]:
        """Subscriptions, optionally one platform's or one person's, oldest first."""
        query = select(subscriptions).order_by(subscriptions.c.id)
        if platform is not None:
            query = query.where(subscriptions.c.platform == platform)
        if user_id is not None:
            query = query.where(subscriptions.c.user_id == user_id)
        with self.engine.connect() as conn:
            return [_subscription(r) for r in conn.execute(query)]

    # -- mutes -------------------------------------------------------------------------

    def add_mute(self, scope: str, word: str, now: datetime) -> bool:
        """Mute a word for a scope; False when it was already muted."""
        exists = select(mutes.c.id).where(mutes.c.scope == scope, mutes.c.word == word)
        try:
            with self.engine.begin() as conn:
                if conn.execute(exists).first() is not None:
                    return False
                conn.execute(insert(mutes).values(scope=scope, word=word, created_at=now))
        except IntegrityError:
            return False
        return True

    def remove_mute(self, scope: str, word: str) -> bool:
        """Unmute a word; False when it was not muted."""
        with self.engine.begin() as conn:
            removed = conn.execute(delete(mutes).where(mutes.c.scope == scope, mutes.c.word == word)).rowcount
        return bool(removed)

    def list_mutes(self, scope: str) -> list[str]:
        """The scope's muted words, oldest first."""
        query = select(mutes.c.word).where(mutes.c.scope == scope).order_by(mutes.c.id)
        with self.engine.connect() as conn:
            return [str(w) for w in conn.execute(query).scalars()]
