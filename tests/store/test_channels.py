"""Channels, subscriptions and mutes in the real store (migration 7), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import inspect

from bot.core.subscriptions import Channel, Subscription, channel_scope, user_scope
from bot.store import SqlStore

NOW = datetime(2025, 10, 6, 12, tzinfo=UTC)


def test_migration_creates_the_tables(store: SqlStore) -> None:
    names = set(inspect(store.engine).get_table_names())
    assert {"channels", "subscriptions", "mutes"} <= names


def test_channels_are_saved_replaced_listed_and_removed(store: SqlStore) -> None:
    paris = Channel("slack", "C1", at="07:30", tz="Europe/Paris", days="mon,wed", topics=("chips", "cloud"))
    assert store.save_channel(paris, NOW) is True
    assert store.save_channel(Channel("discord", "42"), NOW) is True
    got = store.get_channel("slack", "C1")
    assert got is not None
    assert (got.at, got.tz, got.days, got.topics, got.enabled) == (
        "07:30",
        "Europe/Paris",
        "mon,wed",
        ("chips", "cloud"),
        True,
    )
    assert got.created_at == NOW and got.key == "slack:C1"

    later = NOW + timedelta(days=1)
    assert store.save_channel(Channel("slack", "C1", at="18:00", tz="UTC", days="daily"), later) is False
    changed = store.get_channel("slack", "C1")
    assert changed is not None
    assert (changed.at, changed.days, changed.topics) == ("18:00", "daily", ())
    assert changed.created_at == NOW  # replacing keeps when it was added

    assert [c.key for c in store.list_channels()] == ["discord:42", "slack:C1"]
    assert store.get_channel("slack", "C2") is None
    assert store.remove_channel("slack", "C1") is True
    assert store.remove_channel("slack", "C1") is False
    assert [c.key for c in store.list_channels()] == ["discord:42"]


def test_removing_a_channel_removes_its_mutes_only(store: SqlStore) -> None:
    store.save_channel(Channel("slack", "C1"), NOW)
    store.add_mute(channel_scope("slack", "C1"), "crypto", NOW)
    store.add_mute(channel_scope("slack", "C2"), "crypto", NOW)
    store.add_mute(user_scope("slack", "U1"), "crypto", NOW)
    store.remove_channel("slack", "C1")
    assert store.list_mutes(channel_scope("slack", "C1")) == []
    assert store.list_mutes(channel_scope("slack", "C2")) == ["crypto"]
    assert store.list_mutes(user_scope("slack", "U1")) == ["crypto"]


def test_subscriptions_are_unique_per_person(store: SqlStore) -> None:
    amazon = Subscription("slack", "U1", "company", "Amazon")
    assert store.add_subscription(amazon, NOW) is True
    assert store.add_subscription(amazon, NOW) is False
    assert store.add_subscription(Subscription("slack", "U1", "topic", "chips"), NOW) is True
    assert store.add_subscription(Subscription("slack", "U2", "company", "Amazon"), NOW) is True
    assert store.add_subscription(Subscription("discord", "U1", "company", "Amazon"), NOW) is True

    mine = store.list_subscriptions(platform="slack", user_id="U1")
    assert [(s.kind, s.value) for s in mine] == [("company", "Amazon"), ("topic", "chips")]
    assert mine[0].created_at == NOW
    assert len(store.list_subscriptions()) == 4
    assert len(store.list_subscriptions(platform="discord")) == 1

    assert store.remove_subscription("slack", "U1", "company", "Amazon") is True
    assert store.remove_subscription("slack", "U1", "company", "Amazon") is False
    assert [s.value for s in store.list_subscriptions(platform="slack", user_id="U1")] == ["chips"]
    assert len(store.list_subscriptions(user_id="U2")) == 1


def test_mutes_per_scope(store: SqlStore) -> None:
    scope = user_scope("console", "local")
    assert store.add_mute(scope, "crypto", NOW) is True
    assert store.add_mute(scope, "crypto", NOW) is False
    assert store.add_mute(scope, "metaverse", NOW) is True
    assert store.list_mutes(scope) == ["crypto", "metaverse"]
    assert store.list_mutes(user_scope("console", "other")) == []
    assert store.remove_mute(scope, "crypto") is True
    assert store.remove_mute(scope, "crypto") is False
    assert store.list_mutes(scope) == ["metaverse"]
