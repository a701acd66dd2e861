"""The deliveries table (migration 9) on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, inspect, select

from bot.core.briefing import Briefing
from bot.core.delivery import CLAIMED, FAILED, POSTED
from bot.runtime.scheduler import Publishers
from bot.store import SqlStore
from bot.store.schema import schema_version

NOW = datetime(2026, 11, 26, 9, tzinfo=UTC)


def test_migration_9_creates_the_outbox(store: SqlStore) -> None:
    assert "deliveries" in inspect(store.engine).get_table_names()
    with store.engine.connect() as conn:
        assert (conn.execute(select(func.max(schema_version.c.version))).scalar() or 0) >= 9


def test_a_key_is_claimed_once_and_rows_keep_their_state(store: SqlStore) -> None:
    row, created = store.claim_delivery("alert:slack:U1:story:1", "slack:U1", "alert", {"text": "a"}, NOW)
    assert created and row.state == CLAIMED and row.attempts == 0
    again, created = store.claim_delivery("alert:slack:U1:story:1", "slack:U1", "alert", {"text": "b"}, NOW)
    assert not created and again.payload == {"text": "a"}
    store.claim_delivery("alert:slack:U1:story:2", "slack:U1", "alert", {}, NOW + timedelta(minutes=30))
    store.claim_delivery("digest:slack:U1:x", "slack:U1", "digest", {}, NOW)
    assert [d.key for d in store.unconfirmed_deliveries()] == [
        "alert:slack:U1:story:1",
        "alert:slack:U1:story:2",
        "digest:slack:U1:x",
    ]
    store.finish_delivery("alert:slack:U1:story:1", POSTED, attempts=2, now=NOW)
    store.finish_delivery("alert:slack:U1:story:2", FAILED, attempts=1, now=NOW, error="gone")
    posted, failed = (
        store.get_delivery("alert:slack:U1:story:1"),
        store.get_delivery("alert:slack:U1:story:2"),
    )
    assert posted is not None and (posted.state, posted.attempts, posted.posted_at) == (POSTED, 2, NOW)
    assert failed is not None and (failed.state, failed.error, failed.posted_at) == (FAILED, "gone", None)
    assert [d.key for d in store.unconfirmed_deliveries()] == ["digest:slack:U1:x"]
    assert store.count_deliveries_since("slack:U1", "alert", NOW) == 2
    assert store.count_deliveries_since("slack:U1", "alert", NOW + timedelta(minutes=1)) == 1
    assert store.count_deliveries_since("slack:U2", "alert", NOW) == 0


def test_a_platform_without_adapter_leaves_its_rows_alone(store: SqlStore) -> None:
    from bot.core.delivery import Outbox
    from bot.core.subscriptions import Channel

    store.save_channel(Channel("slack", "C1"), NOW)
    store.claim_delivery("digest:slack:C1:x", "slack:C1", "digest", {"text": "t"}, NOW)

    class Clock:
        def now(self) -> datetime:
            return NOW

    outbox = Outbox(store, Publishers({}), Clock(), sleep=lambda s: None)
    assert outbox.resolve_unconfirmed() == {"pending": 1}
    channel = store.get_channel("slack", "C1")
    assert channel is not None and channel.enabled
    assert [d.state for d in store.unconfirmed_deliveries()] == [CLAIMED]


def test_a_delivered_briefing_is_remembered_once_per_key(store: SqlStore) -> None:
    """The outbox may settle one digest twice (a crash after remembering it, before marking it
    posted): the channel's history gets it once."""
    briefing = Briefing(
        generated_at=NOW, since=NOW - timedelta(days=1), top_line="One story", sections=(), deals=(),
        sources=(), mode="extractive", footer="",
    )  # fmt: skip
    key = "digest:slack:C1:2026-11-26T09:00+00:00"
    assert store.record_briefing("slack:C1", briefing, key=key) is True
    assert store.record_briefing("slack:C1", briefing, key=key) is False
    assert store.record_briefing("slack:C1", briefing, key=key + "-other") is True
    assert [when for _, when, _ in store.recent_briefings("slack:")] == [NOW, NOW]
    assert store.last_briefing_at("slack:C1") == NOW
