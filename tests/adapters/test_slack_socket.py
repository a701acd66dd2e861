"""Slack's Socket Mode over a local fake websocket: ``apps.connections.open`` on the fake Web
API gives the websocket's address; slash commands, mentions and button clicks arrive as
envelopes, are acknowledged with their ``envelope_id`` and answered through the fake Web
API. ``serve_slack`` runs either mode until its stop event; bad tokens and an unreachable
websocket are one-line errors."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.adapters.slack.app import SlackAdapter
from bot.adapters.slack.socket_mode import SocketModeConnection
from bot.config import Settings
from bot.core.commands import CommandContext, Reply
from bot.errors import BriefbotError, ConfigError
from bot.runtime.health import HealthServer
from bot.runtime.slack import serve_slack, slack_configured
from bot.runtime.wiring import App, build
from tests.adapters.test_slack_app import FakeCommands
from tests.support.slack_server import FakeSlack, signed_headers
from tests.support.slack_server import slack_api as slack_api
from tests.support.slack_socket import FakeSocket
from tests.support.slack_socket import slack_socket as slack_socket

BOT_TOKEN = "xoxb-socket-test"
APP_TOKEN = "xapp-1-socket-test"


@dataclass
class Votes:
    """A FeedbackRecorder that keeps the votes."""

    votes: list[tuple[str, str, str, int]] = field(default_factory=list)

    def record_feedback(self, platform: str, user_id: str, key: str, vote: int, at: datetime) -> None:
        self.votes.append((platform, user_id, key, vote))


@dataclass
class Connected:
    adapter: SlackAdapter
    commands: FakeCommands
    votes: Votes
    connection: SocketModeConnection


@pytest.fixture
def connected(slack_api: FakeSlack, slack_socket: FakeSocket) -> Iterator[Connected]:
    """A SlackAdapter (fake command layer) connected over Socket Mode."""
    slack_api.socket_url = slack_socket.url
    slack_api.add_user("U1")
    commands, votes = FakeCommands(), Votes()
    adapter = SlackAdapter(
        commands, token=BOT_TOKEN, signing_secret="", api_url=slack_api.url, feedback=votes
    )
    connection = SocketModeConnection(adapter.app, APP_TOKEN)
    connection.connect()
    try:
        yield Connected(adapter, commands, votes, connection)
    finally:
        connection.close()


def slash(command: str, text: str, *, user: str = "U1", channel: str = "C1") -> dict[str, Any]:
    """A slash command's payload as Socket Mode carries it."""
    return {"token": "legacy", "team_id": "T1", "team_domain": "fake", "channel_id": channel,
            "channel_name": "news", "user_id": user, "user_name": user.lower(), "command": command,
            "text": text, "api_app_id": "A1", "response_url": "http://127.0.0.1:9/unused",
            "trigger_id": "1.2.3"}  # fmt: skip


def event(inner: dict[str, Any], event_id: str) -> dict[str, Any]:
    """An Events API callback as Socket Mode carries it."""
    return {"token": "legacy", "team_id": "T1", "api_app_id": "A1", "event": inner,
            "type": "event_callback", "event_id": event_id, "event_time": int(time.time())}  # fmt: skip


def button(action_id: str, value: str, *, message_ts: str = "1700000000.000300") -> dict[str, Any]:
    """A click on a button of a message in C1."""
    action = {"type": "button", "action_id": action_id, "block_id": "briefbot_actions", "value": value,
              "action_ts": "1.0"}  # fmt: skip
    message = {"type": "message", "ts": message_ts, "user": "UBOT", "text": "a briefing"}
    return {"type": "block_actions", "user": {"id": "U1", "name": "u1"}, "api_app_id": "A1",
            "token": "legacy", "team": {"id": "T1"}, "trigger_id": "13345.trigger",
            "container": {"type": "message", "message_ts": message_ts, "channel_id": "C1"},
            "channel": {"id": "C1", "name": "news"}, "message": message, "actions": [action]}  # fmt: skip


# ---- the adapter over the websocket ---------------------------------------------------------


def test_connects_with_the_app_token_from_apps_connections_open(
    connected: Connected, slack_api: FakeSlack, slack_socket: FakeSocket
) -> None:
    opened = slack_api.calls_to("apps.connections.open")
    assert len(opened) == 1 and opened[0].token == APP_TOKEN
    assert connected.connection.connected and slack_socket.connected == 1
    assert connected.connection.address == slack_socket.url.split("/")[2]


def test_slash_command_is_acked_then_answered(
    connected: Connected, slack_api: FakeSlack, slack_socket: FakeSocket
) -> None:
    """The envelope is acknowledged while the command layer is still working (within Slack's
    3 seconds however slow the work), and the answer follows."""
    working = threading.Event()
    done = connected.commands.reply

    def slow(ctx: CommandContext, text: str) -> Reply:
        assert working.wait(10), "the command layer was never released"
        return done(ctx, text)

    connected.commands.reply = slow
    envelope = slack_socket.push("slash_commands", slash("/stories", "chips"), accepts_response_payload=True)
    ack = slack_socket.ack_for(envelope)
    assert ack["envelope_id"] == envelope and not ack.get("payload")  # an empty ack: the answer follows
    assert not slack_api.calls_to("chat.postMessage")
    working.set()
    post = slack_api.wait_for("chat.postMessage")[0]
    assert post.token == BOT_TOKEN and post.params["channel"] == "C1"
    assert "done: /stories chips" in str(post.params["blocks"])
    ctx, text = connected.commands.calls[0]
    assert text == "/stories chips" and (ctx.platform, ctx.user_id, ctx.channel_id) == ("slack", "U1", "C1")


def test_refusal_is_ephemeral(connected: Connected, slack_api: FakeSlack, slack_socket: FakeSocket) -> None:
    connected.commands.reply = lambda ctx, text: Reply("admins only", error=True)
    slack_socket.ack_for(slack_socket.push("slash_commands", slash("/feeds", "list")))
    ephemeral = slack_api.wait_for("chat.postEphemeral")[0].params
    assert ephemeral["user"] == "U1" and "admins only" in str(ephemeral["blocks"])
    assert slack_api.calls_to("chat.postMessage") == []


def test_app_mention_is_answered_in_its_thread(
    connected: Connected, slack_api: FakeSlack, slack_socket: FakeSocket
) -> None:
    mention = {"type": "app_mention", "user": "U1", "text": "<@UBOT> who funds Anthropic?",
               "ts": "1700000000.000200", "channel": "C1", "event_ts": "1700000000.000200"}  # fmt: skip
    envelope = slack_socket.push("events_api", event(mention, "Ev-socket-1"), retry_attempt=0)
    assert slack_socket.ack_for(envelope)["envelope_id"] == envelope
    post = slack_api.wait_for("chat.postMessage")[0].params
    assert post["channel"] == "C1" and post["thread_ts"] == "1700000000.000200"
    ctx, text = connected.commands.calls[0]
    assert text == "ask who funds Anthropic?" and ctx.thread_id == "1700000000.000200"


def test_retried_event_is_acked_but_answered_once(
    connected: Connected, slack_api: FakeSlack, slack_socket: FakeSocket
) -> None:
    mention = {"type": "app_mention", "user": "U1", "text": "<@UBOT> chips?", "ts": "1700000000.000400",
               "channel": "C1", "event_ts": "1700000000.000400"}  # fmt: skip
    first = slack_socket.push("events_api", event(mention, "Ev-socket-2"))
    slack_socket.ack_for(first)
    slack_api.wait_for("chat.postMessage")
    again = slack_socket.push(
        "events_api", event(mention, "Ev-socket-2"), retry_attempt=1, retry_reason="timeout"
    )
    slack_socket.ack_for(again)
    time.sleep(0.3)
    assert len(slack_api.calls_to("chat.postMessage")) == 1 and len(connected.commands.calls) == 1


def test_button_click_is_handled(
    connected: Connected, slack_api: FakeSlack, slack_socket: FakeSocket
) -> None:
    envelope = slack_socket.push("interactive", button("feedback_up", "slack:briefing:2026-12-03T09:00"))
    assert slack_socket.ack_for(envelope)["envelope_id"] == envelope
    confirmation = slack_api.wait_for("chat.postEphemeral")[0].params
    assert confirmation["user"] == "U1" and "Thanks" in str(confirmation["blocks"])
    assert connected.votes.votes == [("slack", "U1", "slack:briefing:2026-12-03T09:00", 1)]


def wait_reconnected(slack_socket: FakeSocket, connection: SocketModeConnection, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while slack_socket.connections < 2 or slack_socket.connected < 1 or not connection.connected:
        assert time.monotonic() < deadline, "no reconnection"
        time.sleep(0.05)


def test_reconnects_when_slack_asks_to_refresh(
    connected: Connected, slack_api: FakeSlack, slack_socket: FakeSocket
) -> None:
    slack_socket.disconnect_all()
    wait_reconnected(slack_socket, connected.connection)
    assert len(slack_api.calls_to("apps.connections.open")) == 2  # a fresh address each time
    slack_socket.ack_for(slack_socket.push("slash_commands", slash("/deals", "")))
    assert "done: /deals" in str(slack_api.wait_for("chat.postMessage")[0].params["blocks"])


def test_reconnects_after_a_dropped_connection(slack_api: FakeSlack, slack_socket: FakeSocket) -> None:
    slack_api.socket_url = slack_socket.url
    connection = SocketModeConnection(adapter_for(slack_api).app, APP_TOKEN, ping_interval=0.3)
    connection.connect()
    try:
        slack_socket.disconnect_all(warn=False)
        wait_reconnected(slack_socket, connection)
        slack_socket.ack_for(slack_socket.push("slash_commands", slash("/deals", "")))
        slack_api.wait_for("chat.postMessage")
    finally:
        connection.close()


# ---- connection errors ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def adapter_for(slack_api: FakeSlack) -> SlackAdapter:
    return SlackAdapter(FakeCommands(), token=BOT_TOKEN, signing_secret="", api_url=slack_api.url)


def test_a_bot_token_as_app_token_names_slack_app_token(
    slack_api: FakeSlack, slack_socket: FakeSocket
) -> None:
    slack_api.socket_url = slack_socket.url
    connection = SocketModeConnection(adapter_for(slack_api).app, "xoxb-not-an-app-token")
    with pytest.raises(ConfigError) as caught:
        connection.connect()
    message = str(caught.value)
    assert "SLACK_APP_TOKEN" in message and "not_allowed_token_type" in message and "\n" not in message
    assert slack_socket.connections == 0


def test_an_unreachable_websocket_is_one_line(slack_api: FakeSlack) -> None:
    slack_api.socket_url = f"ws://127.0.0.1:{free_port()}/link/?ticket=x"
    connection = SocketModeConnection(adapter_for(slack_api).app, APP_TOKEN)
    with pytest.raises(BriefbotError) as caught:
        connection.connect()
    message = str(caught.value)
    assert (
        message.startswith("cannot reach Slack's Socket Mode websocket at 127.0.0.1:") and "\n" not in message
    )


# ---- serve_slack: briefbot run's entry point ----------------------------------------------------


def settings_for(tmp_path: Path, slack_api: FakeSlack, **env: str) -> Settings:
    return Settings.load(
        {
            "BRIEFBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'briefbot.db'}",
            "BRIEFBOT_DATA_DIR": str(tmp_path / "data"),
            "BRIEFBOT_LOAD_DEFAULT_FEEDS": "false",
            "BRIEFBOT_SLACK_API_URL": slack_api.url,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            **env,
        }
    )


@pytest.fixture
def built(tmp_path: Path, slack_api: FakeSlack) -> Iterator[App]:
    app = build(settings_for(tmp_path, slack_api, SLACK_APP_TOKEN=APP_TOKEN))
    try:
        yield app
    finally:
        asyncio.run(app.aclose())


def test_slack_configured() -> None:
    def configured(**env: str) -> bool:
        return slack_configured(Settings.load(env))

    assert configured(SLACK_BOT_TOKEN="xoxb-1", SLACK_APP_TOKEN="xapp-1")
    assert configured(SLACK_BOT_TOKEN="xoxb-1", SLACK_SIGNING_SECRET="s", BRIEFBOT_HTTP_PORT="8080")
    assert not configured(SLACK_BOT_TOKEN="xoxb-1", SLACK_SIGNING_SECRET="s")
    assert not configured(SLACK_APP_TOKEN="xapp-1")
    assert not configured(SLACK_BOT_TOKEN="xoxb-1")
    assert not configured()


def test_serve_slack_in_socket_mode_until_stopped(
    built: App, slack_api: FakeSlack, slack_socket: FakeSocket, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real command layer and store over Socket Mode: /subscriptions answered, then a
    clean stop (the websocket closed, no reconnection)."""
    slack_api.socket_url = slack_socket.url
    slack_api.add_user("U1")

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(serve_slack(built, stop, None))
        await asyncio.to_thread(slack_socket.wait_connected)
        envelope = slack_socket.push("slash_commands", slash("/subscriptions", ""))
        await asyncio.to_thread(slack_socket.ack_for, envelope)
        await asyncio.to_thread(slack_api.wait_for, ("chat.postMessage", "chat.postEphemeral"))
        stop.set()
        await asyncio.wait_for(task, 15)

    asyncio.run(scenario())
    assert slack_api.calls_to("auth.test")[0].token == BOT_TOKEN
    answer = (slack_api.calls_to("chat.postMessage") + slack_api.calls_to("chat.postEphemeral"))[0]
    assert answer.params["channel"] == "C1" and "follow" in str(answer.params["blocks"]).lower()
    deadline = time.monotonic() + 5
    while slack_socket.connected:
        assert time.monotonic() < deadline, "the websocket stayed open after stop"
        time.sleep(0.05)
    time.sleep(0.5)
    assert slack_socket.connections == 1  # closed for good: no reconnection
    err = capsys.readouterr().err
    assert "briefbot: Slack (Socket Mode) connected to 127.0.0.1:" in err


def test_serve_slack_with_a_revoked_bot_token_is_one_line(
    built: App, slack_api: FakeSlack, slack_socket: FakeSocket
) -> None:
    slack_api.socket_url = slack_socket.url
    slack_api.fail("auth.test", "invalid_auth")
    with pytest.raises(ConfigError) as caught:
        asyncio.run(serve_slack(built, asyncio.Event(), None))
    assert str(caught.value) == "Slack refused SLACK_BOT_TOKEN (invalid_auth): check the bot token (xoxb-…)"
    assert slack_socket.connections == 0


def test_serve_slack_with_an_unreachable_socket_is_one_line(built: App, slack_api: FakeSlack) -> None:
    slack_api.socket_url = f"ws://127.0.0.1:{free_port()}/link/"
    with pytest.raises(BriefbotError) as caught:
        asyncio.run(serve_slack(built, asyncio.Event(), None))
    assert "cannot reach Slack's Socket Mode websocket" in str(caught.value)


def test_serve_slack_in_http_mode_routes_then_unroutes(
    tmp_path: Path, slack_api: FakeSlack, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "serve-slack-secret"
    app = build(settings_for(tmp_path, slack_api, SLACK_SIGNING_SECRET=secret, BRIEFBOT_HTTP_PORT="1"))
    slack_api.add_user("U1")
    form = "team_id=T1&channel_id=C1&user_id=U1&command=%2Fsubscriptions&text="

    async def scenario() -> tuple[int, int]:
        server = HealthServer(app.store.engine, host="127.0.0.1", port=0)
        port = await server.start()
        url = f"http://127.0.0.1:{port}/slack/events"
        head = {"Content-Type": "application/x-www-form-urlencoded", **signed_headers(form, secret)}
        stop = asyncio.Event()
        task = asyncio.create_task(serve_slack(app, stop, server))
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                deadline = time.monotonic() + 10
                while True:
                    served = await client.post(url, content=form, headers=head)
                    if served.status_code != 404 or time.monotonic() > deadline:
                        break
                    await asyncio.sleep(0.05)
                stop.set()
                await asyncio.wait_for(task, 10)
                after = await client.post(url, content=form, headers=head)
            return served.status_code, after.status_code
        finally:
            await server.close()

    try:
        assert asyncio.run(scenario()) == (200, 404)
        slack_api.wait_for(("chat.postMessage", "chat.postEphemeral"))
        assert "briefbot: Slack (HTTP mode) at POST /slack/events on port" in capsys.readouterr().err
        with pytest.raises(ConfigError, match="BRIEFBOT_HTTP_PORT"):
            asyncio.run(serve_slack(app, asyncio.Event(), None))
    finally:
        asyncio.run(app.aclose())


# ---- briefbot run -------------------------------------------------------------------------------


def test_briefbot_run_connects_with_socket_mode(
    env: dict[str, str], slack_api: FakeSlack, slack_socket: FakeSocket, tmp_path: Path
) -> None:
    """`briefbot run` with the app token answers over the websocket (/healthz still served on
    BRIEFBOT_HTTP_PORT) and SIGTERM closes the websocket and exits 0."""
    slack_api.socket_url = slack_socket.url
    slack_api.add_user("U1")
    port = free_port()
    child_env = dict(os.environ)
    child_env.update(
        {
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_APP_TOKEN": APP_TOKEN,
            "SLACK_SIGNING_SECRET": "unused-in-socket-mode",
            "BRIEFBOT_HTTP_PORT": str(port),
            "BRIEFBOT_SLACK_API_URL": slack_api.url,
        }
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "run", "--limit", "0"],
        cwd=tmp_path,
        env=child_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while slack_socket.connected < 1:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "briefbot run did not connect"
            time.sleep(0.1)
        envelope = slack_socket.push("slash_commands", slash("/subscriptions", ""))
        slack_socket.ack_for(envelope, timeout=20)
        posted = slack_api.wait_for(("chat.postMessage", "chat.postEphemeral"), timeout=20)
        assert posted[0].token == BOT_TOKEN and posted[0].params["channel"] == "C1"
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err.decode()
        assert b"briefbot: Slack (Socket Mode) connected to 127.0.0.1:" in err
        assert slack_socket.connected == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
