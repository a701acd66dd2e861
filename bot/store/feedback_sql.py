"""👍/👎 feedback on briefings and answers (migration 10): one vote per person and key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, Engine, case, delete, func, insert, select

from bot.store.schema import feedback, metadata


def create_feedback(conn: Connection) -> None:
    """Migration 10: the feedback table."""
    metadata.create_all(conn, tables=[feedback])


@dataclass(frozen=True)
class FeedbackDay:
    """Votes cast on one UTC day."""

    day: date
    up: int
    down: int


class FeedbackSql:
    """Mixin for SqlStore (which provides ``engine``): stores and counts feedback."""

    engine: Engine

    def record_feedback(self, platform: str, user_id: str, key: str, vote: int, at: datetime) -> None:
        """Record ``user_id``'s vote (+1 or -1) on ``key``, replacing an earlier one."""
        if vote not in (1, -1):
            raise ValueError(f"a vote is 1 or -1, got {vote}")
        mine = (feedback.c.platform == platform) & (feedback.c.user_id == user_id) & (feedback.c.key == key)
        with self.engine.begin() as conn:
            conn.execute(delete(feedback).where(mine))
            conn.execute(
                insert(feedback).values(
                    platform=platform, user_id=user_id[:100], key=key[:300], vote=vote, at=at
                )
            )

    def feedback_counts(self, since: datetime | None = None) -> list[FeedbackDay]:
        """👍 and 👎 per UTC day at or after ``since``, oldest day first."""
        day = func.date(feedback.c.at)
        query = select(
            day.label("day"),
            func.sum(case((feedback.c.vote > 0, 1), else_=0)).label("up"),
            func.sum(case((feedback.c.vote < 0, 1), else_=0)).label("down"),
        ).group_by(day)
        if since is not None:
            query = query.where(feedback.c.at >= since)
        with self.engine.connect() as conn:
            rows = [r._mapping for r in conn.execute(query)]
        days = [FeedbackDay(_as_date(r["day"]), int(r["up"] or 0), int(r["down"] or 0)) for r in rows]
        return sorted(days, key=lambda d: d.day)


def _as_date(value: object) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))
