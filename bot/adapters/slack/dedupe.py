"""Slack event de-duplication shared by every instance (and surviving restarts).

Slack resends an event it saw no quick 200 for (``X-Slack-Retry-Num``), and behind a load
balancer any instance may get the retry. :class:`SharedDeduper` keeps the per-process LRU
(:class:`~bot.adapters.slack.app.EventDeduper`) in front, so a retry reaching the same
process costs no query, and claims every new ``event_id`` through :class:`EventClaims`
(``SqlStore.claim_slack_event``: an insert into ``slack_events`` that fails when the id is
there). A claim that cannot be made (the database is down) lets the event through: answering
twice is better than not answering.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from bot.adapters.slack.app import DEDUP_SIZE, EventDeduper

log = logging.getLogger(__name__)


class EventClaims(Protocol):
    """Where event ids are claimed once for all instances (``SqlStore``)."""

    def claim_slack_event(self, event_id: str, at: datetime) -> bool:
        """True for the first claim of ``event_id``, False for any later one."""
        ...


class SharedDeduper(EventDeduper):
    """``first(event_id)`` is True once per id across every instance sharing ``claims``."""

    def __init__(
        self,
        claims: EventClaims,
        size: int = DEDUP_SIZE,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(size)
        self.claims = claims
        self.now = now

    def first(self, event_id: str) -> bool:
        if not super().first(event_id):
            return False
        try:
            return self.claims.claim_slack_event(event_id, self.now())
        except Exception:  # the shared table is unreachable: answer rather than drop; logged
            log.exception("slack event %s could not be claimed in the database", event_id)
            return True
