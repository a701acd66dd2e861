"""The DeliveryStore half of SqlStore: the delivery outbox, and what alerting reads."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row, and_, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from bot.core.delivery import CLAIMED, POSTED, Delivery
from bot.core.subscriptions import Subscription
from bot.store.schema import articles, deliveries, metadata, story_members, subscriptions


def create_deliveries(conn: Connection) -> None:
    """Migration 9: the deliveries table."""
    metadata.create_all(conn, tables=[deliveries])


def _delivery(row: Row[Any]) -> Delivery:
    m = row._mapping
    return Delivery(
        key=m["key"],
        destination=m["destination"],
        kind=m["kind"],
        payload=dict(m["payload"] or {}),
        state=m["state"],
        attempts=int(m["attempts"]),
        claimed_at=m["claimed_at"],
        posted_at=m["posted_at"],
        error=m["error"],
    )


class DeliverySql:
    """Mixin for SqlStore (which provides ``engine``): implements ``DeliveryStore`` and ``AlertStore``."""

    engine: Engine

    # -- the outbox --------------------------------------------------------------------

    def claim_delivery(
        self, key: str, destination: str, kind: str, payload: Mapping[str, Any], now: datetime
    ) -> tuple[Delivery, bool]:
        """Insert a claimed row; returns (row, True), or (the existing row, False) when the key exists."""
        values = {
            "key": key,
            "destination": destination,
            "kind": kind,
            "payload": dict(payload),
            "state": CLAIMED,
            "attempts": 0,
            "claimed_at": now,
        }
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(deliveries).values(**values))
        except IntegrityError:  # the key was claimed before (or concurrently)
            existing = self.get_delivery(key)
            if existing is not None:
                return existing, False
            raise
        return Delivery(key, destination, kind, dict(payload), CLAIMED, 0, now), True

    def get_delivery(self, key: str) -> Delivery | None:
        """The row with this key, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(select(deliveries).where(deliveries.c.key == key)).first()
        return _delivery(row) if row else None

    def finish_delivery(
        self, key: str, state: str, *, attempts: int, now: datetime, error: str | None = None
    ) -> None:
        """Set a row's state (``posted`` sets ``posted_at``), attempts and last error."""
        values: dict[str, Any] = {"state": state, "attempts": attempts, "error": error}
        if state == POSTED:
            values["posted_at"] = now
        with self.engine.begin() as conn:
            conn.execute(update(deliveries).where(deliveries.c.key == key).values(**values))

    def unconfirmed_deliveries(self) -> list[Delivery]:
        """Claimed rows not yet marked posted or failed, oldest first."""
        query = select(deliveries).where(deliveries.c.state == CLAIMED).order_by(deliveries.c.id)
        with self.engine.connect() as conn:
            return [_delivery(r) for r in conn.execute(query)]

    def list_deliveries(self, *, destination: str | None = None) -> list[Delivery]:
        """Every row, oldest first, optionally one destination's."""
        query = select(deliveries).order_by(deliveries.c.id)
        if destination is not None:
            query = query.where(deliveries.c.destination == destination)
        with self.engine.connect() as conn:
            return [_delivery(r) for r in conn.execute(query)]

    # -- what alerting reads -----------------------------------------------------------

    def count_deliveries_since(self, destination: str, kind: str, since: datetime) -> int:
        """How many ``kind`` deliveries to ``destination`` were claimed at or after ``since``."""
        query = select(func.count()).where(
            deliveries.c.destination == destination,
            deliveries.c.kind == kind,
            deliveries.c.claimed_at >= since,
        )
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar() or 0)

    def subscriptions_matching(self, interests: Iterable[tuple[str, str]]) -> list[Subscription]:
        """Subscriptions to any of the (kind, value) pairs, plus every keyword subscription."""
        pairs = sorted(set(interests))
        conditions = [subscriptions.c.kind == "keyword"]
        conditions += [and_(subscriptions.c.kind == k, subscriptions.c.value == v) for k, v in pairs]
        query = select(subscriptions).where(or_(*conditions)).order_by(subscriptions.c.id)
        with self.engine.connect() as conn:
            return [
                Subscription(r.platform, r.user_id, r.kind, r.value, r.created_at)
                for r in conn.execute(query)
            ]

    def alertable_story_ids(self, story_ids: Sequence[int]) -> set[int]:
        """The stories among ``story_ids`` with at least one article that is not backfill."""
        found: set[int] = set()
        ids = sorted(set(story_ids))
        with self.engine.connect() as conn:
            for start in range(0, len(ids), 500):  # stay far below SQLite's bound-parameter limit
                query = (
                    select(story_members.c.story_id)
                    .join(articles, articles.c.id == story_members.c.article_id)
                    .where(
                        story_members.c.story_id.in_(ids[start : start + 500]), articles.c.backfill.is_(False)
                    )
                    .distinct()
                )
                found.update(int(sid) for sid in conn.execute(query).scalars())
        return found
