"""People's quiet hours and the alerts held back by them (migration 14)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Connection, Engine, Integer, Row, String, Table, delete, insert, select
from sqlalchemy.exc import IntegrityError

from bot.core.quiet import HeldAlert, QuietHours
from bot.store.schema import UTCDateTime, metadata

quiet_hours = Table(
    "quiet_hours",
    metadata,
    Column("platform", String(20), primary_key=True),
    Column("user_id", String(100), primary_key=True),
    Column("start", String(5), nullable=False),
    Column("end", String(5), nullable=False),
    Column("zone", String(64), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

held_alerts = Table(
    "held_alerts",
    metadata,
    Column("key", String(300), primary_key=True),
    Column("platform", String(20), nullable=False),
    Column("user_id", String(100), nullable=False),
    Column("story_id", Integer, nullable=False),
    Column("matched_kind", String(20), nullable=False),
    Column("matched_value", String(200), nullable=False),
    Column("release_at", UTCDateTime, nullable=False, index=True),
    Column("held_at", UTCDateTime, nullable=False),
)


def create_quiet(conn: Connection) -> None:
    """Migration 14: the quiet_hours and held_alerts tables."""
    metadata.create_all(conn, tables=[quiet_hours, held_alerts])


def _held(row: Row[Any]) -> HeldAlert:
    m = row._mapping
    return HeldAlert(
        m["key"],
        m["platform"],
        m["user_id"],
        int(m["story_id"]),
        m["matched_kind"],
        m["matched_value"],
        m["release_at"],
        m["held_at"],
    )


class QuietSql:
    """Mixin for SqlStore (which provides ``engine``): implements ``QuietStore``."""

    engine: Engine

    def get_quiet_hours(self, platform: str, user_id: str) -> QuietHours | None:
        """The person's own quiet hours, or None."""
        query = select(quiet_hours).where(
            (quiet_hours.c.platform == platform) & (quiet_hours.c.user_id == user_id)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        m = row._mapping
        return QuietHours(m["start"], m["end"], m["zone"])

    def set_quiet_hours(self, platform: str, user_id: str, quiet: QuietHours | None, now: datetime) -> None:
        """Set (or with None clear) the person's quiet hours."""
        mine = (quiet_hours.c.platform == platform) & (quiet_hours.c.user_id == user_id)
        with self.engine.begin() as conn:
            conn.execute(delete(quiet_hours).where(mine))
            if quiet is not None:
                conn.execute(
                    insert(quiet_hours).values(
                        platform=platform,
                        user_id=user_id,
                        start=quiet.start,
                        end=quiet.end,
                        zone=quiet.zone,
                        updated_at=now,
                    )
                )

    def hold_alert(self, alert: HeldAlert) -> bool:
        """Keep ``alert`` until its release time; False when it is already held."""
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(held_alerts).values(
                        key=alert.key,
                        platform=alert.platform,
                        user_id=alert.user_id,
                        story_id=alert.story_id,
                        matched_kind=alert.matched_kind,
                        matched_value=alert.matched_value[:200],
                        release_at=alert.release_at,
                        held_at=alert.held_at,
                    )
                )
        except IntegrityError:
            return False
        return True

    def due_held_alerts(self, now: datetime) -> list[HeldAlert]:
        """Held alerts whose release time has come, oldest first."""
        query = (
            select(held_alerts)
            .where(held_alerts.c.release_at <= now)
            .order_by(held_alerts.c.held_at, held_alerts.c.key)
        )
        with self.engine.connect() as conn:
            return [_held(r) for r in conn.execute(query)]

    def drop_held_alert(self, key: str) -> None:
        """Forget a held alert (delivered, stale or muted)."""
        with self.engine.begin() as conn:
            conn.execute(delete(held_alerts).where(held_alerts.c.key == key))
