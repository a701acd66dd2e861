"""Per-channel follow-ups: ``/followups on|off|default`` through the real command layer and
store (SQLite and PostgreSQL), consulted by the Slack app for each thread reply; the global
``BRIEFBOT_SLACK_THREAD_FOLLOWUPS`` is the default of channels without their own setting."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from bot.adapters.slack.app import SlackAdapter
from bot.config import Settings
from bot.core.ask import Turn
from bot.core.commands import CommandContext, CommandLayer
from bot.runtime.slack import slack_adapter
from bot.runtime.wiring import App, build
from tests.adapters.test_slack_app import SECRET, TOKEN, FakeCommands, Running
from tests.adapters.test_slack_threads import channel_message, send_event
from tests.support.slack_http import SlackHttp, serve_http
from tests.support.slack_server import FakeSlack
from tests.support.slack_server import slack_api as slack_api


class Bot:
    """briefbot's Slack app as ``run`` wires it (real service, command layer and store)."""

    def __init__(self, app: App, running: Running, server: SlackHttp) -> None:
        self.app, self.running, self.server = app, running, server


def start(settings: Settings, slack_api: FakeSlack) -> Bot:
    settings = replace(
        settings, slack_bot_token=TOKEN, slack_signing_secret=SECRET, slack_api_url=slack_api.url
    )
    app = build(settings)
    adapter = slack_adapter(app.service, settings, feedback=app.store, claims=app.store)
    server = serve_http(adapter)
    return Bot(app, Running(server.url, FakeCommands(), adapter), server)


@pytest.fixture
def default_on() -> bool:
    return True


@pytest.fixture
def bot(env: dict[str, str], slack_api: FakeSlack, default_on: bool) -> Iterator[Bot]:
    made = start(replace(Settings.load(), slack_thread_followups=default_on), slack_api)
    slack_api.add_user("UADMIN", admin=True)
    slack_api.add_user("U1")
    now = datetime.now(UTC)
    for channel in ("C1", "C2"):  # a thread the bot answered in each channel
        made.app.store.add_turns(
            f"slack:{channel}:9.1",
            [Turn("user", "what is ironwood?", (), now), Turn("bot", "a TPU", (), now)],
        )
    try:
        yield made
    finally:
        made.server.close()
        asyncio.run(made.app.aclose())


def ephemeral_text(slack_api: FakeSlack, count: int) -> str:
    return json.dumps(slack_api.wait_for("chat.postEphemeral", count)[count - 1].params.get("blocks"))


def thread_reply(bot: Bot, channel: str, ts: str) -> None:
    send_event(bot.running, channel_message("and how fast is it?", ts, thread_ts="9.1", channel=channel))


def answered_in(slack_api: FakeSlack) -> list[str]:
    return [str(c.params["channel"]) for c in slack_api.calls_to("chat.postMessage")]


def test_followups_off_in_one_channel_only(bot: Bot, slack_api: FakeSlack) -> None:
    """An admin's /followups off in C1: a thread reply without a mention is ignored there,
    still answered in C2."""
    assert bot.running.command("/followups", "off", user="UADMIN").status_code == 200
    assert "Follow-ups in this channel: off" in ephemeral_text(slack_api, 1)
    assert bot.app.store.get_thread_followups("slack", "C1") is False
    thread_reply(bot, "C1", "9.2")
    thread_reply(bot, "C2", "9.3")
    slack_api.wait_for("chat.postMessage")
    time.sleep(0.4)
    assert answered_in(slack_api) == ["C2"]
    assert slack_api.calls_to("chat.postMessage")[0].params["thread_ts"] == "9.1"
    # a mention in C1's thread is still answered
    send_event(
        bot.running,
        {"channel": "C1", "user": "U1", "text": "<@UBOT> and its power?", "ts": "9.4", "thread_ts": "9.1"},
        "app_mention",
    )
    slack_api.wait_for("chat.postMessage", 2)
    assert answered_in(slack_api) == ["C2", "C1"]


def test_back_on_and_back_to_the_default(bot: Bot, slack_api: FakeSlack) -> None:
    bot.app.store.set_thread_followups("slack", "C1", False, datetime.now(UTC))
    assert bot.running.command("/followups", "on", user="UADMIN").status_code == 200
    assert "Follow-ups in this channel: on" in ephemeral_text(slack_api, 1)
    thread_reply(bot, "C1", "9.2")
    slack_api.wait_for("chat.postMessage")
    assert bot.running.command("/followups", "default", user="UADMIN").status_code == 200
    assert "the bot's default" in ephemeral_text(slack_api, 2)
    assert bot.app.store.get_thread_followups("slack", "C1") is None


@pytest.mark.parametrize("default_on", [False])
def test_the_global_setting_is_the_default(bot: Bot, slack_api: FakeSlack) -> None:
    """BRIEFBOT_SLACK_THREAD_FOLLOWUPS=false: channels without their own setting need a
    mention; /followups on in C2 turns them on there."""
    thread_reply(bot, "C1", "9.2")
    thread_reply(bot, "C2", "9.3")
    time.sleep(0.4)
    assert answered_in(slack_api) == []
    assert bot.running.command("/followups", "on", user="UADMIN").status_code == 200  # in C1
    slack_api.wait_for("chat.postEphemeral")
    thread_reply(bot, "C1", "9.5")
    thread_reply(bot, "C2", "9.6")
    slack_api.wait_for("chat.postMessage")
    time.sleep(0.4)
    assert answered_in(slack_api) == ["C1"]


def test_followups_is_for_admins(bot: Bot, slack_api: FakeSlack) -> None:
    assert bot.running.command("/followups", "off", user="U1").status_code == 200
    assert "/followups is for admins" in ephemeral_text(slack_api, 1)
    assert bot.app.store.get_thread_followups("slack", "C1") is None
    thread_reply(bot, "C1", "9.2")
    slack_api.wait_for("chat.postMessage")


def test_the_command_in_the_shared_layer(bot: Bot) -> None:
    """/followups is in /help for admins, says what is set, and refuses nonsense in one line."""
    layer = CommandLayer(bot.app.service)
    admin = CommandContext("slack", "UADMIN", "C7", is_platform_admin=True)
    assert "/followups on|off|default" in layer.handle(admin, "/help").text
    assert "/followups" in layer.handle(CommandContext("slack", "U1", "C7"), "/help").text
    assert "default" in layer.handle(admin, "/followups").text
    bad = layer.handle(admin, "/followups maybe")
    assert bad.error and bad.text == "usage: /followups on|off|default"
    layer.handle(admin, "followups OFF")
    assert bot.app.service.thread_followups("slack", "C7") is False
    assert "off" in layer.handle(admin, "/followups").text


def test_a_failing_setting_falls_back_to_the_default(slack_api: FakeSlack) -> None:
    class Broken:
        def thread_followups(self, platform: str, channel_id: str) -> bool | None:
            raise RuntimeError("database gone")

    adapter = SlackAdapter(
        FakeCommands(), token=TOKEN, signing_secret=SECRET, api_url=slack_api.url, followups=Broken()
    )
    assert adapter.followups_on("C1") is True
    adapter.thread_followups = False
    assert adapter.followups_on("C1") is False
