"""Slack's retries across instances and restarts: event ids claimed in the shared
``slack_events`` table (SQLite and PostgreSQL), signed events over HTTP to two bolt apps,
answers through the local fake Slack Web API."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.adapters.slack.app import SlackAdapter
from bot.adapters.slack.dedupe import SharedDeduper
from bot.config import Settings
from bot.runtime.scheduler import BotScheduler, Publishers
from bot.runtime.wiring import build
from bot.store import SqlStore, open_engine
from tests.adapters.test_slack_app import SECRET, TOKEN, FakeCommands, Running
from tests.support.slack_http import SlackHttp, serve_http
from tests.support.slack_server import FakeSlack
from tests.support.slack_server import slack_api as slack_api

RETRY = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}


class Instances:
    """Briefbot instances: each its own engine on the shared database and its own bolt app."""

    def __init__(self, db_url: str, slack_api: FakeSlack) -> None:
        self.db_url = db_url
        self.slack_api = slack_api
        self.commands = FakeCommands()
        self._stop: list[tuple[SlackHttp, SqlStore]] = []

    def start(self) -> Running:
        engine = open_engine(self.db_url)
        store = SqlStore(engine)
        adapter = SlackAdapter(
            self.commands,
            token=TOKEN,
            signing_secret=SECRET,
            api_url=self.slack_api.url,
            deduper=SharedDeduper(store),
        )
        server = serve_http(adapter)
        self._stop.append((server, store))
        return Running(server.url, self.commands, adapter)

    def stop(self, running: Running | None = None) -> None:
        for server, store in list(self._stop):
            if running is None or running.url == server.url:
                server.close()
                store.engine.dispose()
                self._stop.remove((server, store))


@pytest.fixture
def instances(db_url: str, slack_api: FakeSlack) -> Iterator[Instances]:
    open_engine(db_url).dispose()  # migrate once before the instances start
    made = Instances(db_url, slack_api)
    try:
        yield made
    finally:
        made.stop()


def settle(slack_api: FakeSlack, posts: int) -> None:
    slack_api.wait_for("chat.postMessage", posts)
    time.sleep(0.3)
    assert len(slack_api.calls_to("chat.postMessage")) == posts


def test_a_retry_reaching_another_instance_is_not_answered_again(
    instances: Instances, slack_api: FakeSlack
) -> None:
    first, second = instances.start(), instances.start()
    assert first.mention("<@UBOT> what is ironwood?", event_id="EvShared").status_code == 200
    slack_api.wait_for("chat.postMessage")
    retry = second.mention("<@UBOT> what is ironwood?", event_id="EvShared", **RETRY)
    assert retry.status_code == 200  # acknowledged, so Slack stops retrying
    assert second.mention("<@UBOT> and AMD?", event_id="EvOther").status_code == 200
    settle(slack_api, 2)
    assert [text for _, text in instances.commands.calls] == ["ask what is ironwood?", "ask and AMD?"]


def test_the_same_event_at_both_instances_at_once_is_answered_once(
    instances: Instances, slack_api: FakeSlack
) -> None:
    a, b = instances.start(), instances.start()
    statuses: list[int] = []

    def deliver(running: Running) -> None:
        statuses.append(running.mention("<@UBOT> who builds Stargate?", event_id="EvRace").status_code)

    threads = [threading.Thread(target=deliver, args=(r,)) for r in (a, b, a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * 4
    settle(slack_api, 1)


def test_a_retry_after_a_restart_is_not_answered_again(instances: Instances, slack_api: FakeSlack) -> None:
    before = instances.start()
    assert before.mention("<@UBOT> what is ironwood?", event_id="EvRestart").status_code == 200
    slack_api.wait_for("chat.postMessage")
    instances.stop(before)
    after = instances.start()  # a new process: its in-memory LRU is empty
    assert after.mention("<@UBOT> what is ironwood?", event_id="EvRestart", **RETRY).status_code == 200
    time.sleep(0.3)
    assert len(slack_api.calls_to("chat.postMessage")) == 1


class BrokenClaims:
    def claim_slack_event(self, event_id: str, at: datetime) -> bool:
        raise RuntimeError("database gone")


def test_an_unreachable_table_lets_events_through_once_per_process() -> None:
    """With the database down the event is answered (better twice than never); the
    process's own LRU still drops its retry."""
    dedupe = SharedDeduper(BrokenClaims())
    assert dedupe.first("Ev1") is True
    assert dedupe.first("Ev1") is False


def test_housekeeping_forgets_event_ids_after_a_day(env: dict[str, str]) -> None:
    now = datetime(2026, 12, 3, 4, 15, tzinfo=UTC)

    class Clock:
        def now(self) -> datetime:
            return now

    app = build(replace(Settings.load(), retention_days=0), clock=Clock())  # type: ignore[arg-type]
    try:
        app.store.claim_slack_event("EvOld", now - timedelta(days=1, minutes=1))
        app.store.claim_slack_event("EvNew", now - timedelta(hours=23))
        assert BotScheduler(app, Publishers({})).housekeeping() == {"slack_events": 1}
        assert app.store.claim_slack_event("EvOld", now) is True
        assert app.store.claim_slack_event("EvNew", now) is False
    finally:
        asyncio.run(app.aclose())
