"""serve_discord end to end over loopback: the real discord.py client logs in against the fake
REST API, connects to the fake gateway (HELLO, IDENTIFY -> READY, GUILD_CREATE, heartbeats),
syncs its commands for the guild, answers /brief from an INTERACTION_CREATE with a deferral
then follow-ups, and stops when ``stop`` is set; bad tokens and unreachable gateways are
one-line BriefbotErrors."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import replace

import pytest

from bot.errors import BriefbotError
from bot.runtime.discord import serve_discord
from bot.runtime.wiring import App
from tests.adapters.test_discord_render import assert_within_limits
from tests.support.discord_gateway import (
    APP_ID,
    CHANNEL_ID,
    GUILD_ID,
    TOKEN,
    FakeGateway,
    connected,
    guild_payload,
    interaction_payload,
    until,
)
from tests.support.discord_gateway import _restore_discord_globals as _restore_discord_globals
from tests.support.discord_gateway import app as app
from tests.support.discord_server import FakeDiscord
from tests.support.discord_server import discord_api as discord_api

COMMANDS = {
    "brief",
    "ask",
    "subscribe",
    "unsubscribe",
    "subscriptions",
    "deals",
    "stories",
    "feeds",
    "schedule",
    "briefbot",
    "quiet",
    "digest",
    "mute",
    "unmute",
}


def test_serve_discord_logs_in_syncs_answers_brief_and_stops(app: App, discord_api: FakeDiscord) -> None:
    async def flow() -> None:
        gateway = FakeGateway()
        discord_api.gateway_url = await gateway.start()
        stop = asyncio.Event()
        serving = asyncio.create_task(serve_discord(app, stop))
        try:
            await asyncio.wait_for(gateway.identified.wait(), 10)
            identify = gateway.ops(2)[0]["d"]
            assert identify["token"] == TOKEN
            [sync] = await until(lambda: discord_api.requests_to("sync_commands"), what="command sync")
            assert sync.path == f"/applications/{APP_ID}/guilds/{GUILD_ID}/commands"
            synced = {c["name"]: c for c in sync.body}
            assert set(synced) == COMMANDS
            for admin in ("feeds", "schedule"):
                assert int(synced[admin]["default_member_permissions"]) == 1 << 5  # Manage Server
            assert synced["brief"]["default_member_permissions"] is None
            for everyone in ("briefbot", "quiet", "digest", "mute", "unmute"):  # the layer decides
                assert synced[everyone]["default_member_permissions"] is None
            [text] = synced["briefbot"]["options"]
            assert (text["name"], text["type"], text.get("required", False)) == ("text", 3, False)
            what = next(o for o in synced["subscribe"]["options"] if o["name"] == "what")
            assert what["autocomplete"] is True
            graph = next(o for o in synced["deals"]["options"] if o["name"] == "graph")
            assert graph["type"] == 5  # boolean

            # heartbeats are acknowledged
            before = len(gateway.received)
            await gateway.request_heartbeat()
            beat = await gateway.wait_for_op(1, after=before)
            assert "d" in beat

            # /brief over the gateway: deferral (type 5) first, then the briefing by follow-up
            discord_api.interaction("itoken-brief", CHANNEL_ID)
            payload = interaction_payload(
                "brief",
                [{"name": "since", "type": 3, "value": "24h"}],
                interaction_id="401",
                token="itoken-brief",
            )
            await gateway.dispatch("INTERACTION_CREATE", payload)
            followups = await until(lambda: discord_api.requests_to("followup"), what="the follow-up")
            [callback] = discord_api.requests_to("interaction_callback")
            assert callback.path == "/interactions/401/itoken-brief/callback"
            assert callback.body["type"] == 5
            assert discord_api.requests.index(callback) < discord_api.requests.index(followups[0])
            first = followups[0].body
            assert first["allowed_mentions"] == {"parse": []}
            assert "AI infrastructure briefing" in first["embeds"][0]["title"]
            assert_within_limits([f.body["embeds"] for f in followups])
            text = str(first["embeds"])
            assert "Ironwood" in text and "https://ironwood-1.example/" in text

            stop.set()
            await asyncio.wait_for(serving, 10)
        finally:
            stop.set()
            if not serving.done():
                serving.cancel()
            await gateway.close()

    asyncio.run(flow())


def test_a_bad_token_is_one_line(app: App, discord_api: FakeDiscord) -> None:
    discord_api.fail("me", 401, code=0)
    with pytest.raises(BriefbotError) as err:
        asyncio.run(serve_discord(app, asyncio.Event()))
    assert "DISCORD_TOKEN" in str(err.value) and "\n" not in str(err.value)
    assert err.value.__cause__ is None and err.value.__suppress_context__


def test_an_unreachable_gateway_is_one_line(app: App, discord_api: FakeDiscord) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    discord_api.gateway_url = f"ws://127.0.0.1:{port}/"

    async def flow() -> None:
        await asyncio.wait_for(serve_discord(app, asyncio.Event(), ready_timeout=20), 30)

    with pytest.raises(BriefbotError) as err:
        asyncio.run(flow())
    assert "gateway" in str(err.value) and f"127.0.0.1:{port}" in str(err.value)
    assert "\n" not in str(err.value)


def test_an_unreachable_api_is_one_line(
    app: App, discord_api: FakeDiscord, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(
        app, "settings", replace(app.settings, discord_api_url=f"http://127.0.0.1:{port}/api/v10")
    )
    with pytest.raises(BriefbotError) as err:
        asyncio.run(serve_discord(app, asyncio.Event()))
    assert "cannot reach the Discord API" in str(err.value)


def test_a_gateway_refusing_the_intents_is_one_line(app: App, discord_api: FakeDiscord) -> None:
    async def flow() -> None:
        gateway = FakeGateway(close_on_identify=4014)
        discord_api.gateway_url = await gateway.start()
        try:
            await asyncio.wait_for(serve_discord(app, asyncio.Event(), ready_timeout=20), 30)
        finally:
            await gateway.close()

    with pytest.raises(BriefbotError) as err:
        asyncio.run(flow())
    message = str(err.value)
    assert "gateway" in message and "intent" in message.lower() and "\n" not in message


def test_a_reconnect_asked_for_while_starting_is_followed_not_fatal(
    app: App, discord_api: FakeDiscord
) -> None:
    """Discord may ask for a reconnect (op 7) before the client is ready: discord.py
    reconnects and identifies again, and briefbot keeps serving."""

    async def flow() -> list[dict[str, object]]:
        async with connected(app, discord_api, FakeGateway(reconnects=1)) as gateway:
            await until(lambda: len(gateway.ops(2)) == 2, what="the second IDENTIFY")
            discord_api.interaction("itoken-subs", CHANNEL_ID)
            payload = interaction_payload("subscriptions", token="itoken-subs", interaction_id="402")
            await gateway.dispatch("INTERACTION_CREATE", payload)
            followups = await until(lambda: discord_api.requests_to("followup"), what="the follow-up")
            return [f.body for f in followups]

    [answer] = asyncio.run(flow())
    assert "You follow nothing yet" in str(answer)


def test_stop_before_ready_returns_cleanly(app: App, discord_api: FakeDiscord) -> None:
    async def flow() -> None:
        gateway = FakeGateway()
        discord_api.gateway_url = await gateway.start()
        stop = asyncio.Event()
        stop.set()
        try:
            await asyncio.wait_for(serve_discord(app, stop), 10)
        finally:
            await gateway.close()

    asyncio.run(flow())


def test_a_guild_joined_later_gets_the_commands_once(app: App, discord_api: FakeDiscord) -> None:
    other = "300000000000000100"

    async def flow() -> list[str]:
        async with connected(app, discord_api) as gateway:
            await gateway.dispatch("GUILD_CREATE", guild_payload(other, channels=["300000000000000101"]))
            await until(lambda: len(discord_api.requests_to("sync_commands")) == 2, what="the second sync")
            await gateway.dispatch("GUILD_CREATE", guild_payload(other, channels=["300000000000000101"]))
            await asyncio.sleep(0.3)
            return [r.path for r in discord_api.requests_to("sync_commands")]

    paths = asyncio.run(flow())
    assert paths == [
        f"/applications/{APP_ID}/guilds/{GUILD_ID}/commands",
        f"/applications/{APP_ID}/guilds/{other}/commands",
    ]
