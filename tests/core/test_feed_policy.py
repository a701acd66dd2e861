"""Next fetch times: the interval with its jitter, backoff and disabling of failing feeds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.core.feeds import backoff_delay, interval_jitter, record_failure, record_success
from bot.core.models import Feed, FeedStatus

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def test_backoff_doubles_and_is_capped_at_a_day() -> None:
    assert backoff_delay(1) == timedelta(minutes=5)
    assert backoff_delay(2) == timedelta(minutes=10)
    assert backoff_delay(5) == timedelta(minutes=80)
    assert backoff_delay(30) == timedelta(days=1)


def test_retry_after_is_honoured_when_longer() -> None:
    assert backoff_delay(1, retry_after=3600) == timedelta(hours=1)
    assert backoff_delay(1, retry_after=10) == timedelta(minutes=5)


def test_feed_is_disabled_after_seven_days_of_continuous_failure() -> None:
    feed = Feed(id=1, url="https://a.example/feed")
    assert record_failure(feed, NOW, "HTTP 500") is False
    assert feed.status is FeedStatus.FAILING and feed.next_fetch == NOW + timedelta(minutes=5)
    assert record_failure(feed, NOW + timedelta(days=6), "HTTP 500") is False
    assert record_failure(feed, NOW + timedelta(days=7), "HTTP 500") is True
    assert feed.status is FeedStatus.DISABLED and not feed.enabled and feed.last_error == "HTTP 500"


def test_success_clears_the_failure_streak() -> None:
    feed = Feed(id=1, url="https://a.example/feed", interval_seconds=600)
    record_failure(feed, NOW, "timeout")
    record_success(feed, NOW + timedelta(days=6))
    assert feed.error_count == 0 and feed.failing_since is None and feed.status is FeedStatus.OK
    assert feed.next_fetch == NOW + timedelta(days=6, minutes=10) + interval_jitter(
        feed, NOW + timedelta(days=6)
    )
    record_failure(feed, NOW + timedelta(days=8), "timeout")
    assert feed.status is FeedStatus.FAILING  # the streak restarted


def test_feeds_fetched_together_come_due_spread_over_at_most_a_minute() -> None:
    """Feeds fetched in one pass come due again a little apart, each within its jitter:
    a tenth of the interval, at most a minute."""
    due = []
    for feed_id in range(1, 41):
        feed = Feed(id=feed_id, url=f"https://{feed_id}.example/feed", interval_seconds=900)
        record_success(feed, NOW)
        assert feed.next_fetch is not None
        due.append(feed.next_fetch)
    assert all(NOW + timedelta(minutes=15) <= d <= NOW + timedelta(minutes=16) for d in due)
    assert max(due) - min(due) > timedelta(seconds=30)
    short = Feed(id=1, url="https://short.example/feed", interval_seconds=60)
    assert timedelta(0) <= interval_jitter(short, NOW) <= timedelta(seconds=6)
    assert interval_jitter(short, NOW) == interval_jitter(short, NOW)  # reproducible
