"""The BriefingStore half of SqlStore: what each channel was briefed, and when."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import Connection, Engine, delete, func, insert, select

from bot.core.briefing import Briefing
from bot.store.schema import briefed_stories, briefings, metadata

DELIVERY_KEY = "delivery_key"  # in a briefing's stored data: the outbox key that delivered it


def create_briefings(conn: Connection) -> None:
    """Migration 6: the briefings and briefed_stories tables."""
    metadata.create_all(conn, tables=[briefings, briefed_stories])


class BriefingSql:
    """Mixin for SqlStore (which provides ``engine``): implements ``BriefingStore``."""

    engine: Engine

    def last_briefing_at(self, channel: str) -> datetime | None:
        """When the channel's last briefing was composed, or None."""
        query = select(func.max(briefings.c.created_at)).where(briefings.c.channel == channel)
        with self.engine.connect() as conn:
            value: datetime | None = conn.execute(query).scalar()  # max() keeps the column's UTC type
        return value

    def briefed_fingerprints(self, channel: str) -> dict[int, str]:
        """Story id -> fingerprint of what the channel was last told about it."""
        query = select(briefed_stories.c.story_id, briefed_stories.c.fingerprint).where(
            briefed_stories.c.channel == channel
        )
        with self.engine.connect() as conn:
            return {int(sid): str(fp) for sid, fp in conn.execute(query)}

    def recent_briefings(
        self, prefix: str = "", limit: int = 5, channels: Collection[str] | None = None
    ) -> list[tuple[str, datetime, str]]:
        """The newest ``limit`` briefings of channels whose key starts with ``prefix``
        (``slack:``), and is one of ``channels`` when given, newest first: (channel, when,
        top line)."""
        query = (
            select(briefings.c.channel, briefings.c.created_at, briefings.c.top_line)
            .order_by(briefings.c.created_at.desc(), briefings.c.id.desc())
            .limit(limit)
        )
        if prefix:
            query = query.where(briefings.c.channel.startswith(prefix, autoescape=True))
        if channels is not None:
            query = query.where(briefings.c.channel.in_(list(channels)))
        with self.engine.connect() as conn:
            return [(str(c), at, str(top)) for c, at, top in conn.execute(query)]

    def record_briefing(self, channel: str, briefing: Briefing, *, key: str | None = None) -> bool:
        """Remember a composed briefing and its stories' fingerprints, in one transaction.

        With a delivery ``key`` (a scheduled digest) it is remembered once: a second call
        with the same key and briefing does nothing and returns False."""
        data = briefing.as_json() | ({DELIVERY_KEY: key} if key else {})
        with self.engine.begin() as conn:
            if key:
                same_time = select(briefings.c.data).where(
                    briefings.c.channel == channel, briefings.c.created_at == briefing.generated_at
                )
                if any((row or {}).get(DELIVERY_KEY) == key for row in conn.execute(same_time).scalars()):
                    return False
            conn.execute(
                insert(briefings).values(
                    channel=channel,
                    created_at=briefing.generated_at,
                    since=briefing.since,
                    mode=briefing.mode,
                    story_count=len(briefing.items),
                    top_line=briefing.top_line,
                    data=data,
                )
            )
            ids = list(briefing.fingerprints)
            if ids:
                conn.execute(
                    delete(briefed_stories).where(
                        briefed_stories.c.channel == channel, briefed_stories.c.story_id.in_(ids)
                    )
                )
                conn.execute(
                    insert(briefed_stories),
                    [
                        {
                            "channel": channel,
                            "story_id": sid,
                            "fingerprint": fp,
                            "briefed_at": briefing.generated_at,
                        }
                        for sid, fp in briefing.fingerprints.items()
                    ],
                )
        return True
