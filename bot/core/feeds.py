"""Feed scheduling policy: when to fetch next, how to back off, when to give up.

Each feed keeps its own ``next_fetch``: its interval after a success, plus a small jitter
(:func:`interval_jitter`) so feeds fetched in one pass drift apart rather than coming due
together for ever; the backoff after a failure. ``briefbot run``'s feed job looks for due
feeds every minute, so each feed is fetched close to its own time.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from bot.core.models import Feed, FeedStatus

BACKOFF_BASE = timedelta(minutes=5)
BACKOFF_CAP = timedelta(days=1)
DISABLE_AFTER = timedelta(days=7)
JITTER_SHARE = 0.1  # of the interval
JITTER_CAP = timedelta(minutes=1)


def interval_jitter(feed: Feed, now: datetime) -> timedelta:
    """How long past its interval a feed fetched at ``now`` comes due again: up to a tenth of
    the interval, at most a minute; fixed by the feed and the time (reproducible in tests)."""
    spread = min(timedelta(seconds=feed.interval_seconds) * JITTER_SHARE, JITTER_CAP)
    share = random.Random(f"{feed.id}:{now.isoformat()}").random()
    return timedelta(seconds=round(spread.total_seconds() * share, 3))


def record_success(feed: Feed, now: datetime) -> None:
    """Mark a fetch that worked (200 or 304): clear errors, schedule the next regular fetch."""
    feed.status = FeedStatus.OK
    feed.last_fetch = now
    feed.last_success = now
    feed.error_count = 0
    feed.failing_since = None
    feed.last_error = None
    feed.next_fetch = now + timedelta(seconds=feed.interval_seconds) + interval_jitter(feed, now)


def backoff_delay(error_count: int, retry_after: float | None = None) -> timedelta:
    """Exponential backoff after ``error_count`` consecutive failures, capped at a day.

    A server's Retry-After is honoured when it asks for longer.
    """
    delay: timedelta = BACKOFF_BASE * int(2 ** max(0, min(error_count - 1, 20)))
    delay = min(delay, BACKOFF_CAP)
    if retry_after is not None and retry_after > 0:
        delay = max(delay, min(timedelta(seconds=retry_after), BACKOFF_CAP))
    return delay


def record_failure(feed: Feed, now: datetime, reason: str, retry_after: float | None = None) -> bool:
    """Mark a failed fetch and schedule a retry; returns True when the feed is now disabled.

    A feed that has failed continuously for seven days is disabled; the caller records
    an event for admins.
    """
    feed.last_fetch = now
    feed.error_count += 1
    feed.last_error = reason
    if feed.failing_since is None:
        feed.failing_since = now
    feed.next_fetch = now + backoff_delay(feed.error_count, retry_after)
    if now - feed.failing_since >= DISABLE_AFTER:
        feed.status = FeedStatus.DISABLED
        feed.enabled = False
        return True
    feed.status = FeedStatus.FAILING
    return False
