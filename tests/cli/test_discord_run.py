"""`briefbot run` with DISCORD_TOKEN: a due digest of a `discord:` channel is posted through the
fake Discord REST API (BRIEFBOT_DISCORD_API_URL) once, across two runs."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.adapters.discord.publisher import delivery_nonce
from bot.config import Settings
from bot.runtime.scheduler import LAST_RUN
from bot.runtime.wiring import build
from tests.cli.test_console import TPU_NEWS
from tests.cli.test_story_commands import rss
from tests.support.discord_server import FakeDiscord
from tests.support.discord_server import discord_api as discord_api
from tests.support.feedserver import FeedServer

CHANNEL = "123456789012345678"


def test_run_posts_a_due_discord_digest_once(
    env: dict[str, str], feed_server: FeedServer, discord_api: FakeDiscord, tmp_path: Path
) -> None:
    feed_server.feed("/tpu.xml", rss("TPU Wire", TPU_NEWS))
    now = datetime.now(UTC)
    due = now - timedelta(minutes=1)
    slot = due.strftime("%H:%M")
    built = build(Settings.load())
    built.service.add_feed(feed_server.url("/tpu.xml"))
    built.service.set_channel("discord", CHANNEL, at=slot, tz="UTC", days="daily")
    built.store.set_meta(LAST_RUN + f"discord:{CHANNEL}", (now - timedelta(hours=1)).isoformat())
    asyncio.run(built.aclose())
    child_env = dict(os.environ) | {"DISCORD_TOKEN": "run-token", "BRIEFBOT_DISCORD_API_URL": discord_api.url}

    def run() -> None:
        done = subprocess.run(
            [sys.executable, "-m", "bot", "run", "--once", "--limit", "0"],  # start-up work, then exit
            input=b"",
            capture_output=True,
            cwd=tmp_path,
            env=child_env,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr.decode()
        assert "Traceback" not in done.stderr.decode()

    run()
    [sent] = discord_api.requests_to("create_message")
    assert sent.path == f"/channels/{CHANNEL}/messages" and sent.authorization == "Bot run-token"
    assert sent.body["allowed_mentions"] == {"parse": []} and sent.body["enforce_nonce"] is True
    assert sent.body["nonce"] == delivery_nonce(f"digest:discord:{CHANNEL}:{due:%Y-%m-%dT%H:%M}+00:00")
    run()
    assert len(discord_api.requests_to("create_message")) == 1
