"""The Slack app in HTTP mode: signed requests over HTTP to bolt at /slack/events, answers
posted to a local fake Slack Web API (never slack.com)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from bot.adapters.slack.app import EventDeduper, SlackAdapter
from bot.core.ask import Answer
from bot.core.commands import CommandContext, Reply
from bot.core.records import SourceRef
from tests.adapters.test_slack_render import ACTIVE, NOW, hostile_briefing
from tests.support.slack_http import serve_http
from tests.support.slack_server import FakeSlack, signed_headers
from tests.support.slack_server import slack_api as slack_api

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TOKEN = "xoxb-test-token"


@dataclass
class FakeCommands:
    """The command layer's stand-in: records each call, answers with ``reply(ctx, text)``."""

    reply: Callable[[CommandContext, str], Reply] = lambda ctx, text: Reply(f"done: {text}")
    calls: list[tuple[CommandContext, str]] = field(default_factory=list)

    def handle(self, ctx: CommandContext, text: str) -> Reply:
        self.calls.append((ctx, text))
        return self.reply(ctx, text)


@dataclass
class Running:
    url: str
    commands: FakeCommands
    adapter: SlackAdapter

    def post(
        self, body: str, content_type: str, *, secret: str = SECRET, age: float = 0, **headers: str
    ) -> httpx.Response:
        head = {"Content-Type": content_type, **signed_headers(body, secret, age=age), **headers}
        return httpx.post(self.url, content=body.encode(), headers=head, timeout=10)

    def command(self, name: str, text: str, *, user: str = "U1", **kw: Any) -> httpx.Response:
        form = {
            "token": "legacy",
            "team_id": "T1",
            "channel_id": "C1",
            "user_id": user,
            "command": name,
            "text": text,
            "response_url": "http://127.0.0.1:9/unused",
            "trigger_id": "1.2.3",
            "api_app_id": "A1",
        }
        return self.post(urlencode(form), "application/x-www-form-urlencoded", **kw)

    def mention(
        self, text: str, *, event_id: str = "Ev1", thread_ts: str | None = None, **kw: Any
    ) -> httpx.Response:
        event: dict[str, Any] = {
            "type": "app_mention",
            "user": "U1",
            "text": text,
            "ts": "1700000000.000200",
            "channel": "C1",
            "event_ts": "1700000000.000200",
        }
        if thread_ts:
            event["thread_ts"] = thread_ts
        body = {
            "token": "legacy",
            "team_id": "T1",
            "api_app_id": "A1",
            "event": event,
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
        }
        return self.post(json.dumps(body), "application/json", **kw)


@pytest.fixture
def running(slack_api: FakeSlack) -> Iterator[Running]:
    """The adapter in HTTP mode on briefbot's HTTP server, with a fake command layer."""
    commands = FakeCommands()
    adapter = SlackAdapter(commands, token=TOKEN, signing_secret=SECRET, api_url=slack_api.url)
    server = serve_http(adapter)
    try:
        yield Running(server.url, commands, adapter)
    finally:
        server.close()


def test_signed_brief_is_acked_then_the_briefing_is_posted_escaped(
    running: Running, slack_api: FakeSlack
) -> None:
    """A signed /brief is acknowledged before its work runs (the 200 arrives while the command
    layer is still busy, so a slow briefing never misses Slack's 3 seconds); then a briefing in
    Block Kit, hostile feed text inert (``&lt;!channel&gt;``)."""
    slack_api.add_user("U1")
    working = threading.Event()

    def slow(ctx: CommandContext, text: str) -> Reply:
        assert working.wait(10), "the command layer was never released"
        return Reply("top", briefing=hostile_briefing())

    running.commands.reply = slow
    response = running.command("/brief", "chips")
    assert response.status_code == 200 and response.text == ""  # acked while the work waits
    assert not slack_api.calls_to("chat.postMessage")
    working.set()
    posts = slack_api.wait_for("chat.postMessage")
    ctx, text = running.commands.calls[0]
    assert text == "/brief chips"
    assert (ctx.platform, ctx.user_id, ctx.channel_id, ctx.is_platform_admin) == ("slack", "U1", "C1", False)
    first = posts[0].params
    assert first["channel"] == "C1" and "thread_ts" not in first
    assert posts[0].token == TOKEN
    dumped = json.dumps(first["blocks"])
    assert "&lt;!channel&gt;" in dumped
    assert not ACTIVE.search(dumped)
    assert not ACTIVE.search(first["text"])
    assert first["blocks"][0]["type"] == "header"


def test_workspace_admin_from_users_info(running: Running, slack_api: FakeSlack) -> None:
    """is_platform_admin comes from users.info (is_admin or is_owner)."""
    slack_api.add_user("UADMIN", owner=True)
    assert running.command("/schedule", "09:00 Europe/Berlin", user="UADMIN").status_code == 200
    slack_api.wait_for("chat.postMessage")
    ctx, text = running.commands.calls[0]
    assert ctx.is_platform_admin and text == "/schedule 09:00 Europe/Berlin"
    assert slack_api.calls_to("users.info")[0].params["user"] == "UADMIN"


def test_refusals_are_ephemeral(running: Running, slack_api: FakeSlack) -> None:
    slack_api.add_user("U1")
    running.commands.reply = lambda ctx, text: Reply("/feeds is for admins", ephemeral=True, error=True)
    assert running.command("/feeds", "list").status_code == 200
    call = slack_api.wait_for("chat.postEphemeral")[0]
    assert call.params["user"] == "U1" and call.params["channel"] == "C1"
    assert "for admins" in json.dumps(call.params["blocks"])
    assert not slack_api.calls_to("chat.postMessage")


@pytest.mark.parametrize("how", ["bad", "stale", "missing"])
def test_bad_or_stale_signature_is_401(running: Running, slack_api: FakeSlack, how: str) -> None:
    if how == "bad":
        response = running.command("/brief", "", secret="not-the-secret")
    elif how == "stale":
        response = running.command("/brief", "", age=10 * 60)
    else:
        response = httpx.post(running.url, content=b"command=%2Fbrief", timeout=10)
    assert response.status_code == 401
    time.sleep(0.2)
    assert running.commands.calls == []
    assert not slack_api.calls_to("chat.postMessage")


def test_mention_is_answered_in_a_thread(running: Running, slack_api: FakeSlack) -> None:
    """An @mention is a question for /ask, answered in the mention's thread with the answer's blocks."""
    source = SourceRef(1, "https://news.example/a", "TPU news", "Wire", NOW)
    answer = Answer("q", "q", "Ironwood is GA <!here> [1].", True, (source,), "extractive")
    running.commands.reply = lambda ctx, text: Reply(answer.text, answer=answer)
    assert running.mention("<@UBOT> what is ironwood?").status_code == 200
    post = slack_api.wait_for("chat.postMessage")[0].params
    assert post["thread_ts"] == "1700000000.000200" and post["channel"] == "C1"
    assert "<https://news.example/a|[1]>" in json.dumps(post["blocks"])
    assert "&lt;!here&gt;" in json.dumps(post["blocks"])
    ctx, text = running.commands.calls[0]
    assert text == "ask what is ironwood?"
    assert ctx.thread_id == "1700000000.000200"  # the command layer's thread: slack:C1:<thread_ts>


def test_mention_inside_a_thread_keeps_that_thread(running: Running, slack_api: FakeSlack) -> None:
    assert running.mention("<@UBOT> and AMD?", thread_ts="1699999999.000100").status_code == 200
    post = slack_api.wait_for("chat.postMessage")[0].params
    assert post["thread_ts"] == "1699999999.000100"
    assert running.commands.calls[0][0].thread_id == "1699999999.000100"


def test_retried_event_is_answered_once(running: Running, slack_api: FakeSlack) -> None:
    """Slack's retry (same event_id, X-Slack-Retry-Num) gets a 200 and no second answer."""
    assert running.mention("<@UBOT> what is ironwood?", event_id="EvSame").status_code == 200
    retry = running.mention(
        "<@UBOT> what is ironwood?",
        event_id="EvSame",
        **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"},
    )
    assert retry.status_code == 200
    slack_api.wait_for("chat.postMessage")
    assert running.mention("<@UBOT> another", event_id="EvOther").status_code == 200
    slack_api.wait_for("chat.postMessage", 2)
    time.sleep(0.3)
    assert len(slack_api.calls_to("chat.postMessage")) == 2
    assert [text for _, text in running.commands.calls] == ["ask what is ironwood?", "ask another"]


def test_deduper_forgets_the_oldest() -> None:
    dedupe = EventDeduper(size=2)
    assert dedupe.first("a") and dedupe.first("b") and not dedupe.first("a")
    assert dedupe.first("c")  # evicts b (a was used last)
    assert dedupe.first("b") and not dedupe.first("c")


def test_url_verification_and_other_events_get_200(running: Running, slack_api: FakeSlack) -> None:
    """Slack's URL check is answered with its challenge; events with nothing to answer (the
    bot's own direct message, App Home) still get 200 so Slack does not retry or disable them."""
    check = running.post(json.dumps({"type": "url_verification", "challenge": "abc123"}), "application/json")
    assert check.status_code == 200 and "abc123" in check.text
    dm = {
        "type": "message",
        "channel_type": "im",
        "user": "UBOT",
        "bot_id": "BBOT",
        "text": "hi",
        "ts": "1.2",
        "channel": "D1",
    }
    home = {"type": "app_home_opened", "user": "U1", "channel": "D1", "tab": "home"}
    for event in (dm, home):
        body = {
            "team_id": "T1",
            "api_app_id": "A1",
            "type": "event_callback",
            "event_id": "Ev" + event["type"],
            "event_time": int(time.time()),
            "event": event,
        }
        assert running.post(json.dumps(body), "application/json").status_code == 200
    time.sleep(0.2)
    assert running.commands.calls == [] and not slack_api.calls_to("chat.postMessage")
