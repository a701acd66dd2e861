"""Slack's shared state on SQLite and PostgreSQL: event claims (migration 11), per-channel
follow-up settings (migration 12) and slack_sdk's installation tables (migration 13)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from slack_sdk.oauth.installation_store import Installation
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy import inspect

from bot.store.sql import SqlStore

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def test_an_event_is_claimed_once(store: SqlStore) -> None:
    assert store.claim_slack_event("Ev1", NOW) is True
    assert store.claim_slack_event("Ev1", NOW + timedelta(seconds=5)) is False
    assert store.claim_slack_event("Ev2", NOW) is True


def test_concurrent_claims_let_exactly_one_through(store: SqlStore) -> None:
    """Eight threads (instances) claim the same event at once: one wins."""
    results: list[bool] = []
    start = threading.Barrier(8)

    def claim() -> None:
        start.wait()
        results.append(store.claim_slack_event("EvRace", NOW))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 7 + [True]


def test_old_event_ids_are_forgotten(store: SqlStore) -> None:
    store.claim_slack_event("EvOld", NOW - timedelta(days=2))
    store.claim_slack_event("EvNew", NOW - timedelta(hours=2))
    assert store.delete_old_slack_events(NOW - timedelta(days=1)) == 1
    assert store.claim_slack_event("EvOld", NOW) is True  # forgotten: claimable again
    assert store.claim_slack_event("EvNew", NOW) is False


def test_thread_followups_per_channel(store: SqlStore) -> None:
    assert store.get_thread_followups("slack", "C1") is None
    store.set_thread_followups("slack", "C1", False, NOW)
    store.set_thread_followups("slack", "C2", True, NOW)
    assert store.get_thread_followups("slack", "C1") is False
    assert store.get_thread_followups("slack", "C2") is True
    assert store.get_thread_followups("discord", "C1") is None  # per platform
    store.set_thread_followups("slack", "C1", True, NOW)
    assert store.get_thread_followups("slack", "C1") is True
    store.set_thread_followups("slack", "C1", None, NOW)  # back to the default
    assert store.get_thread_followups("slack", "C1") is None


def test_slack_sdk_installation_tables_are_migrated(store: SqlStore) -> None:
    """Migration 13 made slack_sdk's tables: its stores work on briefbot's engine as they are."""
    tables = set(inspect(store.engine).get_table_names())
    assert {"slack_installations", "slack_bots", "slack_oauth_states", "slack_events"} <= tables
    installations = SQLAlchemyInstallationStore(client_id="111.222", engine=store.engine)
    installations.save(
        Installation(
            app_id="A1",
            team_id="T2",
            bot_token="xoxb-t2",
            bot_id="B2",
            bot_user_id="U2",
            user_id="UINSTALLER",
            installed_at=NOW.timestamp(),
        )
    )
    bot = installations.find_bot(enterprise_id=None, team_id="T2")
    assert bot is not None and bot.bot_token == "xoxb-t2"
    states = SQLAlchemyOAuthStateStore(expiration_seconds=60, engine=store.engine)
    state = states.issue()
    assert states.consume(state) is True and states.consume(state) is False
