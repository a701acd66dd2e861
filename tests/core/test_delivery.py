"""The delivery outbox on the real store (both backends): exactly once across crashes and errors."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.core.delivery import FAILED, POSTED, Outbox, PermanentError, TransientError, disable_channel
from bot.core.subscriptions import Channel
from bot.store import SqlStore

NOW = datetime(2026, 11, 26, 8, tzinfo=UTC)
KEY = "digest:console:C1:2026-11-26T09:00+01:00"
PAYLOAD = {"kind": "digest", "text": "# Briefing"}


class FrozenClock:
    def now(self) -> datetime:
        return NOW


class Crash(BaseException):
    """Stands for the process dying between claim and post."""


class Recording:
    """A publisher that records posts; scripted errors first, and what the platform holds."""

    def __init__(self, errors: list[BaseException] | None = None, *, holds: bool = False) -> None:
        self.posts: list[tuple[str, str, dict[str, Any]]] = []
        self.errors = list(errors or [])
        self.holds = holds
        self.checked: list[str] = []

    def post(self, destination: str, payload: Mapping[str, Any], key: str) -> None:
        if self.errors:
            raise self.errors.pop(0)
        self.posts.append((destination, key, dict(payload)))

    def already_delivered(self, destination: str, key: str) -> bool:
        self.checked.append(key)
        return self.holds or any(k == key for _, k, _ in self.posts)


def _outbox(store: SqlStore, publisher: Recording, sleeps: list[float] | None = None) -> Outbox:
    return Outbox(
        store,
        publisher,
        FrozenClock(),
        disable=lambda dest: disable_channel(store, dest, NOW),
        sleep=(sleeps.append if sleeps is not None else lambda s: None),
    )


def test_a_delivery_is_posted_once_per_key(store: SqlStore) -> None:
    publisher = Recording()
    outbox = _outbox(store, publisher)
    assert outbox.deliver(KEY, "console:C1", "digest", PAYLOAD) == "posted"
    assert outbox.deliver(KEY, "console:C1", "digest", PAYLOAD) == "skipped"
    assert publisher.posts == [("console:C1", KEY, PAYLOAD)]
    row = store.get_delivery(KEY)
    assert row is not None and row.state == POSTED and row.attempts == 1 and row.posted_at == NOW
    assert row.payload == PAYLOAD and outbox.seen(KEY)


def test_a_crash_between_claim_and_post_is_resolved_by_posting_once(store: SqlStore) -> None:
    crashing = Recording([Crash()])
    with pytest.raises(Crash):
        _outbox(store, crashing).deliver(KEY, "console:C1", "digest", PAYLOAD)
    assert [d.state for d in store.unconfirmed_deliveries()] == ["claimed"]

    restarted = Recording()  # a fresh Outbox over the same database, as after a restart
    outbox = _outbox(store, restarted)
    assert outbox.resolve_unconfirmed() == {"posted": 1}
    assert outbox.resolve_unconfirmed() == {}
    assert outbox.deliver(KEY, "console:C1", "digest", PAYLOAD) == "skipped"
    assert restarted.checked == [KEY]
    assert restarted.posts == [("console:C1", KEY, PAYLOAD)]


def test_a_crash_after_the_platform_took_the_post_posts_nothing_more(store: SqlStore) -> None:
    with pytest.raises(Crash):
        _outbox(store, Recording([Crash()])).deliver(KEY, "console:C1", "digest", PAYLOAD)
    platform_has_it = Recording(holds=True)
    outbox = _outbox(store, platform_has_it)
    assert outbox.resolve_unconfirmed() == {"confirmed": 1}
    assert outbox.deliver(KEY, "console:C1", "digest", PAYLOAD) == "skipped"
    assert platform_has_it.posts == []
    row = store.get_delivery(KEY)
    assert row is not None and row.state == POSTED


def test_delivering_a_key_left_claimed_resolves_it_first(store: SqlStore) -> None:
    with pytest.raises(Crash):
        _outbox(store, Recording([Crash()])).deliver(KEY, "console:C1", "digest", PAYLOAD)
    again = Recording(holds=True)
    assert _outbox(store, again).deliver(KEY, "console:C1", "digest", PAYLOAD) == "confirmed"
    assert again.posts == []


def test_transient_errors_are_retried_with_backoff(store: SqlStore) -> None:
    publisher = Recording([TransientError("429 slow down"), TransientError("503")])
    sleeps: list[float] = []
    assert _outbox(store, publisher, sleeps).deliver(KEY, "console:C1", "digest", PAYLOAD) == "posted"
    assert sleeps == [1.0, 4.0]
    assert len(publisher.posts) == 1
    row = store.get_delivery(KEY)
    assert row is not None and row.state == POSTED and row.attempts == 3 and row.error is None


def test_transient_errors_that_outlast_the_retries_leave_it_for_the_next_resolve(store: SqlStore) -> None:
    publisher = Recording([TransientError("503")] * 4)
    outbox = _outbox(store, publisher)
    assert outbox.deliver(KEY, "console:C1", "digest", PAYLOAD) == "pending"
    row = store.get_delivery(KEY)
    assert row is not None and row.state == "claimed" and row.attempts == 4 and row.error == "503"
    assert outbox.resolve_unconfirmed() == {"posted": 1}
    assert len(publisher.posts) == 1


def test_a_permanent_error_fails_disables_the_channel_and_tells_admins(store: SqlStore) -> None:
    store.save_channel(Channel("console", "C1"), NOW)
    store.save_channel(Channel("console", "C2"), NOW)
    publisher = Recording([PermanentError("channel_not_found")])
    outbox = _outbox(store, publisher)
    assert outbox.deliver(KEY, "console:C1", "digest", PAYLOAD) == "failed"
    assert outbox.deliver(KEY, "console:C1", "digest", PAYLOAD) == "failed"  # never retried
    assert publisher.posts == []
    row = store.get_delivery(KEY)
    assert row is not None and row.state == FAILED and row.error == "channel_not_found"
    c1, c2 = store.get_channel("console", "C1"), store.get_channel("console", "C2")
    assert c1 is not None and not c1.enabled
    assert c2 is not None and c2.enabled
    events = store.list_events()
    assert [e.kind for e in events] == ["delivery_failed"]
    assert "console:C1" in events[0].message and "channel_not_found" in events[0].message


def test_resolving_while_running_leaves_fresh_claims_alone(store: SqlStore) -> None:
    with pytest.raises(Crash):
        _outbox(store, Recording([Crash()])).deliver(KEY, "console:C1", "digest", PAYLOAD)
    publisher = Recording()
    outbox = _outbox(store, publisher)
    assert outbox.resolve_unconfirmed(older_than=timedelta(hours=1)) == {}  # claimed just now
    assert publisher.posts == []
    assert outbox.resolve_unconfirmed() == {"posted": 1}
