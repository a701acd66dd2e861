"""The delivery outbox: every digest or alert is posted exactly once.

A delivery is first **claimed** in a row with a unique key (``digest:slack:C1:2026-11-26T09:00+01:00``,
``alert:slack:U1:story:42``), then posted through a :class:`Publisher`, then marked
**posted**. A second attempt with the same key finds the row and does nothing. A crash
between claim and post leaves a claimed row; :meth:`Outbox.resolve_unconfirmed` (run at
start) asks the publisher whether the platform already holds that delivery (a Slack or
Discord adapter answers from message metadata or a nonce carrying the key) and posts only
if not. A :class:`TransientError` is retried with exponential backoff; a
:class:`PermanentError` (channel gone, no permission) marks the row **failed**, disables
the destination and records an event for admins.

``on_failed`` runs after a permanent failure (the scheduler tells the admins named in
``BRIEFBOT_ADMINS`` on that platform, with a :func:`failure_notice`).

``on_delivered`` runs once a row's post is on the platform (posted now, or confirmed
there after a crash) and before the row is marked posted, whichever path settles it: the
scheduler remembers a digest's briefing there, so a digest posted at restart from its
stored payload is remembered like any other (the callback must be idempotent: a crash
after it and before the mark runs it again).

The payload is platform-neutral JSON data: ``kind``, a Markdown ``text`` every adapter
can show, and the structured data (``briefing`` or the alert's story) for richer ones.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from bot.core.subscriptions import PERSON_PREFIX, ChannelStore, person_channel_id

log = logging.getLogger(__name__)

NOTICE = "notice"  # the kind of a notice to admins (never itself reported when it fails)
CLAIMED = "claimed"
POSTED = "posted"
FAILED = "failed"
DEFAULT_BACKOFF = (1.0, 4.0, 16.0)  # seconds before the 2nd, 3rd and 4th attempts

Payload = Mapping[str, Any]
Outcome = Literal["posted", "confirmed", "skipped", "failed", "pending"]


class TransientError(Exception):
    """The platform could not take the post now (rate limit, 5xx, timeout): try again later."""


class PermanentError(Exception):
    """The platform will never take this post (channel gone, no permission)."""


class Publisher(Protocol):
    """Posts to one kind of destination (a chat adapter implements it)."""

    def post(self, destination: str, payload: Payload, key: str) -> None:
        """Post ``payload`` to ``destination``, tagged with ``key`` where the platform allows.

        Raises TransientError or PermanentError."""
        ...

    def already_delivered(self, destination: str, key: str) -> bool:
        """True when the platform already holds the post tagged ``key``."""
        ...


@dataclass(frozen=True)
class Delivery:
    """One outbox row."""

    key: str
    destination: str
    kind: str
    payload: dict[str, Any]
    state: str
    attempts: int
    claimed_at: datetime
    posted_at: datetime | None = None
    error: str | None = None


class DeliveryStore(Protocol):
    """The outbox rows (implemented by ``bot.store.delivery_sql``)."""

    def claim_delivery(
        self, key: str, destination: str, kind: str, payload: Payload, now: datetime
    ) -> tuple[Delivery, bool]:
        """Insert a claimed row; returns (row, True), or (the existing row, False) when the key exists."""
        ...

    def get_delivery(self, key: str) -> Delivery | None:
        """The row with this key, or None."""
        ...

    def finish_delivery(
        self, key: str, state: str, *, attempts: int, now: datetime, error: str | None = None
    ) -> None:
        """Set a row's state (``posted`` sets ``posted_at``), attempts and last error."""
        ...

    def unconfirmed_deliveries(self) -> list[Delivery]:
        """Claimed rows not yet marked posted or failed, oldest first."""
        ...

    def add_event(self, kind: str, message: str, *, now: datetime, feed_id: int | None = None) -> None:
        """Record something admins should be told about."""
        ...


class Clock(Protocol):
    def now(self) -> datetime: ...


class Outbox:
    """Claims, posts and confirms deliveries; see the module docstring."""

    def __init__(
        self,
        store: DeliveryStore,
        publisher: Publisher,
        clock: Clock,
        *,
        disable: Callable[[str], object] | None = None,
        on_delivered: Callable[[Delivery], object] | None = None,
        on_failed: Callable[[Delivery, str], object] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        backoff: Sequence[float] = DEFAULT_BACKOFF,
    ) -> None:
        self.store = store
        self.publisher = publisher
        self.clock = clock
        self.disable = disable
        self.on_delivered = on_delivered
        self.on_failed = on_failed
        self.sleep = sleep
        self.backoff = tuple(backoff)

    def seen(self, key: str) -> bool:
        """True when a delivery with this key was claimed already (in any state)."""
        return self.store.get_delivery(key) is not None

    def deliver(self, key: str, destination: str, kind: str, payload: Payload) -> Outcome:
        """Post ``payload`` once for ``key``.

        Returns ``posted`` (posted now), ``confirmed`` (an earlier claim turned out to be on
        the platform already), ``skipped`` (posted before), ``failed`` (a permanent error,
        now or before) or ``pending`` (transient errors outlasted the retries; the row stays
        claimed for :meth:`resolve_unconfirmed`).
        """
        row, created = self.store.claim_delivery(key, destination, kind, payload, self.clock.now())
        if not created:
            if row.state == POSTED:
                return "skipped"
            if row.state == FAILED:
                return "failed"
            return self._resolve(row)
        return self._post(row)

    def resolve_unconfirmed(self, older_than: timedelta | None = None) -> dict[str, int]:
        """Settle every claimed-but-unconfirmed row; returns counts by outcome.

        At start every such row is left from an earlier run; while jobs run, ``older_than``
        leaves alone the rows a delivery in progress has just claimed.
        """
        counts: dict[str, int] = {}
        cutoff = self.clock.now() - older_than if older_than is not None else None
        for row in self.store.unconfirmed_deliveries():
            if cutoff is not None and row.claimed_at > cutoff:
                continue
            outcome = self._resolve(row)
            counts[outcome] = counts.get(outcome, 0) + 1
        return counts

    def _resolve(self, row: Delivery) -> Outcome:
        """A claimed row from an earlier attempt: confirm it if the platform has it, else post."""
        try:
            delivered = self.publisher.already_delivered(row.destination, row.key)
        except TransientError as exc:
            log.warning("cannot check delivery %s now: %s", row.key, exc)
            return "pending"
        except PermanentError as exc:
            return self._fail(row, row.attempts, exc)
        if delivered:
            self._delivered(row)
            self.store.finish_delivery(row.key, POSTED, attempts=row.attempts, now=self.clock.now())
            return "confirmed"
        return self._post(row)

    def _post(self, row: Delivery) -> Outcome:
        attempts = row.attempts
        error: str | None = None
        for retry in range(len(self.backoff) + 1):
            if retry:
                self.sleep(self.backoff[retry - 1])
            attempts += 1
            try:
                self.publisher.post(row.destination, row.payload, row.key)
            except TransientError as exc:
                log.warning("delivery %s attempt %d failed: %s", row.key, attempts, exc)
                error = _line(exc)
                continue
            except PermanentError as exc:
                return self._fail(row, attempts, exc)
            self._delivered(row)
            self.store.finish_delivery(row.key, POSTED, attempts=attempts, now=self.clock.now())
            return "posted"
        self.store.finish_delivery(row.key, CLAIMED, attempts=attempts, now=self.clock.now(), error=error)
        return "pending"

    def _delivered(self, row: Delivery) -> None:
        """Run ``on_delivered``; its failure is logged and never un-posts the row."""
        if self.on_delivered is None:
            return
        try:
            self.on_delivered(row)
        except Exception:
            log.exception("after delivering %s", row.key)

    def _fail(self, row: Delivery, attempts: int, exc: Exception) -> Outcome:
        now = self.clock.now()
        error = _line(exc)
        self.store.finish_delivery(row.key, FAILED, attempts=attempts, now=now, error=error)
        if self.disable is not None:
            self.disable(row.destination)
        self.store.add_event(
            "delivery_failed",
            f"{row.kind} for {row.destination} failed for good and the destination is disabled: {error}",
            now=now,
        )
        log.error("delivery %s failed: %s; %s disabled", row.key, error, row.destination)
        if self.on_failed is not None and row.kind != NOTICE:
            try:
                self.on_failed(row, error)
            except Exception:
                log.exception("reporting the failure of %s", row.key)
        return "failed"


def failure_notice(row: Delivery, error: str) -> dict[str, Any]:
    """What admins are told when ``row`` failed for good: where, why, what is off now and
    how to turn it back on."""
    text = (
        f"briefbot cannot post to {row.destination} any more ({row.kind}): {error}. "
        f"Its digests are off. Once it is fixed, `briefbot channels add {row.destination}` or "
        "/schedule in that channel (for a person's own digest: /digest me) turns them back on; "
        "`briefbot doctor` shows the failed deliveries."
    )
    return {"kind": NOTICE, "text": text, "destination": row.destination, "error": error}


def disable_channel(channels: ChannelStore, destination: str, now: datetime) -> bool:
    """Turn off the digest channel ``platform:id``, or the personal digest of the person
    ``platform:<USER_ID>`` (a direct message failing for good); True when there was an enabled one."""
    platform, _, channel_id = destination.partition(":")
    channel = channels.get_channel(platform, channel_id)
    if channel is None and not channel_id.startswith(PERSON_PREFIX):
        channel = channels.get_channel(platform, person_channel_id(channel_id))
    if channel is None or not channel.enabled:
        return False
    channels.save_channel(replace(channel, enabled=False), now)
    return True


def _line(exc: Exception) -> str:
    text = (str(exc).splitlines() or [""])[0].strip() or type(exc).__name__
    return text[:300]
