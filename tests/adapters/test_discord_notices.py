"""A digest channel that fails for good: the outbox fails the row and disables the channel, and
the Discord publisher tells the guild's admins once (a DM to the owner, else the system
channel), finding the guild through the API or, for a deleted channel, the gateway's cache.
Digests also carry the buttons the gateway client answers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bot.adapters.discord import guilds
from bot.adapters.discord.components import vote_id
from bot.adapters.discord.publisher import DiscordPublisher
from bot.core.delivery import FAILED, Outbox, PermanentError
from bot.runtime.wiring import App
from tests.adapters.test_discord_publisher import digest, hostile_briefing
from tests.support.discord_gateway import CHANNEL_ID, GUILD_ID, OWNER_ID, SYSTEM_CHANNEL_ID
from tests.support.discord_gateway import app as app
from tests.support.discord_server import FakeDiscord, Request
from tests.support.discord_server import discord_api as discord_api

KEY = f"digest:discord:{CHANNEL_ID}:2026-11-26T09:00+01:00"
DEST = f"discord:{CHANNEL_ID}"


class Clock:
    def now(self) -> datetime:
        return datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


def notices(api: FakeDiscord) -> list[Request]:
    return [r for r in api.requests_to("create_message") if "cannot post" in str(r.body.get("content"))]


def test_missing_permissions_disable_the_channel_and_dm_the_owner_once(
    app: App, discord_api: FakeDiscord
) -> None:
    app.service.set_channel("discord", CHANNEL_ID, at="09:00", tz="UTC")
    publisher = DiscordPublisher("t", discord_api.url)
    outbox = Outbox(
        app.store, publisher, Clock(), disable=app.service.disable_destination, sleep=lambda s: None
    )
    discord_api.fail("create_message", 403, code=50013)
    assert outbox.deliver(KEY, DEST, "digest", digest(hostile_briefing())) == "failed"
    discord_api.fail("create_message", 403, code=50013)
    assert outbox.deliver(KEY + "b", DEST, "digest", digest(hostile_briefing())) == "failed"

    channel = app.service.channel("discord", CHANNEL_ID)
    assert channel is not None and not channel.enabled
    row = app.store.get_delivery(KEY)
    assert row is not None and row.state == FAILED
    [dm] = discord_api.requests_to("create_dm")
    assert dm.body == {"recipient_id": OWNER_ID}
    [notice] = notices(discord_api)  # once, though two deliveries failed
    assert notice.path == f"/channels/{discord_api.dm_channels[OWNER_ID]}/messages"
    assert notice.body["allowed_mentions"] == {"parse": []} and notice.body["enforce_nonce"] is True
    assert CHANNEL_ID in notice.body["content"] and "Missing Permissions" in notice.body["content"]
    assert "\n" not in notice.body["content"]


def test_a_deleted_channel_is_reported_through_the_gateways_cache_in_the_system_channel(
    discord_api: FakeDiscord, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone = "300000000000000777"
    discord_api.add_guild(GUILD_ID, OWNER_ID, [SYSTEM_CHANNEL_ID], system_channel_id=SYSTEM_CHANNEL_ID)
    guilds.remember(int(gone), int(GUILD_ID))  # what the gateway client saw before the deletion
    discord_api.fail("create_message", 404, code=10003)
    discord_api.fail("create_dm", 403, code=50007)  # the owner takes no DMs
    publisher = DiscordPublisher("t", discord_api.url)
    with pytest.raises(PermanentError):
        publisher.post(f"discord:{gone}", {"text": "hello"}, "k1")
    [notice] = notices(discord_api)
    assert notice.path == f"/channels/{SYSTEM_CHANNEL_ID}/messages"
    assert gone in notice.body["content"] and "Unknown Channel" in notice.body["content"]


def test_no_guild_known_means_no_notice_and_still_the_permanent_error(discord_api: FakeDiscord) -> None:
    discord_api.fail("create_message", 404, code=10003)
    publisher = DiscordPublisher("t", discord_api.url, guild_of=lambda channel: None)
    with pytest.raises(PermanentError):
        publisher.post("discord:300000000000000888", {"text": "hello"}, "k2")
    assert not notices(discord_api) and not discord_api.requests_to("get_guild")


def test_a_persons_dm_failing_tells_no_guild(discord_api: FakeDiscord) -> None:
    discord_api.fail("create_dm", 403, code=50007)
    publisher = DiscordPublisher("t", discord_api.url)
    with pytest.raises(PermanentError):
        publisher.post("discord:user:300000000000000010", {"text": "hello"}, "k3")
    assert not discord_api.requests_to("get_channel") and not notices(discord_api)


def test_a_digest_carries_vote_and_subscribe_buttons(discord_api: FakeDiscord) -> None:
    publisher = DiscordPublisher("t", discord_api.url)
    publisher.post(DEST, digest(hostile_briefing()), KEY)
    last: dict[str, Any] = discord_api.requests_to("create_message")[-1].body
    ids = [c["custom_id"] for row in last["components"] for c in row["components"]]
    assert ids[:2] == [vote_id("up", KEY), vote_id("down", KEY)]
    assert "briefbot:sub:chips" in ids
