"""`briefbot run` with Slack and Discord credentials: both adapters at once, beside the jobs.

A real `briefbot run` subprocess connects to the fake Slack Socket Mode websocket and the fake
Discord gateway (run here in a thread of its own), answers a slash command on each, and
exits 0 on SIGTERM. An adapter that cannot start prints one line naming the problem; the
other keeps answering; with none left the run exits 1. No traceback reaches the user.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.adapters.test_slack_socket import APP_TOKEN, BOT_TOKEN, slash
from tests.support.discord_gateway import (
    CHANNEL_ID,
    GUILD_ID,
    OWNER_ID,
    SYSTEM_CHANNEL_ID,
    TOKEN,
    FakeGateway,
    interaction_payload,
)
from tests.support.discord_server import FakeDiscord
from tests.support.discord_server import discord_api as discord_api
from tests.support.slack_server import FakeSlack
from tests.support.slack_server import slack_api as slack_api
from tests.support.slack_socket import FakeSocket
from tests.support.slack_socket import slack_socket as slack_socket

T = TypeVar("T")


class GatewayThread:
    """The fake Discord gateway on an event loop in a thread, for a subprocess to dial."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.gateway = FakeGateway()
        self.url = self.call(self.gateway.start())

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(20)

    def close(self) -> None:
        self.call(self.gateway.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def gateway(discord_api: FakeDiscord) -> Iterator[GatewayThread]:
    discord_api.add_guild(
        GUILD_ID, OWNER_ID, [CHANNEL_ID, SYSTEM_CHANNEL_ID], system_channel_id=SYSTEM_CHANNEL_ID
    )
    running = GatewayThread()
    discord_api.gateway_url = running.url
    yield running
    running.close()


def start_run(tmp_path: Path, extra: dict[str, str]) -> subprocess.Popen[bytes]:
    child_env = dict(os.environ)
    for key in ("SLACK_SIGNING_SECRET", "BRIEFBOT_HTTP_PORT", "SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET"):
        child_env.pop(key, None)
    child_env.update(extra)
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "run", "--limit", "0"],
        cwd=tmp_path,
        env=child_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def wait(proc: subprocess.Popen[bytes], check: Callable[[], object], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert proc.poll() is None, f"briefbot run ended before {what}: {proc.communicate()}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def slack_env(api: FakeSlack) -> dict[str, str]:
    return {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": APP_TOKEN, "BRIEFBOT_SLACK_API_URL": api.url}


def discord_env(api: FakeDiscord) -> dict[str, str]:
    return {"DISCORD_TOKEN": TOKEN, "BRIEFBOT_DISCORD_API_URL": api.url}


def test_run_serves_slack_and_discord_at_once_and_stops_on_sigterm(
    env: dict[str, str],
    tmp_path: Path,
    slack_api: FakeSlack,
    slack_socket: FakeSocket,
    discord_api: FakeDiscord,
    gateway: GatewayThread,
) -> None:
    slack_api.socket_url = slack_socket.url
    slack_api.add_user("U1")
    proc = start_run(tmp_path, slack_env(slack_api) | discord_env(discord_api))
    try:
        wait(proc, lambda: slack_socket.connected >= 1, "Slack's websocket")
        wait(proc, lambda: discord_api.requests_to("sync_commands"), "Discord's command sync")

        envelope = slack_socket.push("slash_commands", slash("/subscriptions", ""))
        slack_socket.ack_for(envelope, timeout=20)
        [posted, *_] = slack_api.wait_for(("chat.postMessage", "chat.postEphemeral"), timeout=20)
        assert posted.token == BOT_TOKEN and "You follow nothing yet" in str(posted.params)

        discord_api.interaction("itoken-subs", CHANNEL_ID)
        gateway.call(
            gateway.gateway.dispatch(
                "INTERACTION_CREATE", interaction_payload("subscriptions", token="itoken-subs")
            )
        )
        wait(proc, lambda: discord_api.requests_to("followup"), "Discord's follow-up", timeout=30)
        followup = discord_api.requests_to("followup")[0].body
        assert "You follow nothing yet" in str(followup) and followup["allowed_mentions"] == {"parse": []}

        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err.decode()
        text = err.decode()
        assert "Slack (Socket Mode) connected" in text and "briefbot: stopping" in text
        assert "Traceback" not in text
        assert slack_socket.connected == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_a_refused_discord_token_is_one_line_and_slack_keeps_answering(
    env: dict[str, str],
    tmp_path: Path,
    slack_api: FakeSlack,
    slack_socket: FakeSocket,
    discord_api: FakeDiscord,
    gateway: GatewayThread,
) -> None:
    slack_api.socket_url = slack_socket.url
    slack_api.add_user("U1")
    discord_api.fail("me", 401, code=0)
    proc = start_run(tmp_path, slack_env(slack_api) | discord_env(discord_api))
    try:
        wait(proc, lambda: slack_socket.connected >= 1, "Slack's websocket")
        envelope = slack_socket.push("slash_commands", slash("/stories", "chips"))
        slack_socket.ack_for(envelope, timeout=20)
        slack_api.wait_for(("chat.postMessage", "chat.postEphemeral"), timeout=20)
        assert proc.poll() is None  # Discord's failure did not end the run
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err.decode()
        lines = [line for line in err.decode().splitlines() if "Discord" in line]
        assert len(lines) == 1 and "DISCORD_TOKEN" in lines[0], err.decode()
        assert "Traceback" not in err.decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_with_no_adapter_left_the_run_exits_1_with_the_reason(
    env: dict[str, str], tmp_path: Path, discord_api: FakeDiscord, gateway: GatewayThread
) -> None:
    discord_api.fail("me", 401, code=0)
    proc = start_run(tmp_path, discord_env(discord_api))
    _, err = proc.communicate(timeout=60)
    text = err.decode()
    assert proc.returncode == 1, text
    assert "briefbot: Discord: Discord refused DISCORD_TOKEN" in text and "Traceback" not in text


def test_slack_startup_prints_no_sdk_noise(
    env: dict[str, str], tmp_path: Path, slack_api: FakeSlack, slack_socket: FakeSocket
) -> None:
    """Only briefbot's own lines reach the terminal (bolt's 'token will be unused' does not)."""
    slack_api.socket_url = slack_socket.url
    proc = start_run(tmp_path, slack_env(slack_api))
    try:
        wait(proc, lambda: slack_socket.connected >= 1, "Slack's websocket")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err.decode()
        assert "will be unused" not in err.decode()
        assert all(line.startswith("briefbot") for line in err.decode().splitlines() if line.strip())
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
