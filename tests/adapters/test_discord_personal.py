"""The catch-all ``/briefbot`` and the native ``/quiet``, ``/digest``, ``/mute``, ``/unmute``
over the fake gateway, through the real command layer and store: each deferred before its
follow-up, settings stored for the person, admin commands refused without Manage Server."""

from __future__ import annotations

import asyncio
from typing import Any

from bot.adapters.discord.client import BriefbotClient
from bot.adapters.discord.personal import digest_text, is_public
from bot.core.commands import DealGraph, Reply
from bot.core.records import DealRecord, StoryDeal
from bot.core.subscriptions import channel_scope, user_scope
from bot.errors import UsageError
from bot.runtime.wiring import App
from tests.adapters.test_discord_commands import (
    EPHEMERAL,
    ScriptedCommands,
    command,
    of_token,
    run_command,
)
from tests.support.discord_gateway import (
    CHANNEL_ID,
    EVERYONE_PERMISSIONS,
    MANAGE_GUILD,
    TOKEN,
    USER_ID,
    FakeGateway,
    connected,
    until,
)
from tests.support.discord_gateway import _restore_discord_globals as _restore_discord_globals
from tests.support.discord_gateway import app as app
from tests.support.discord_server import FakeDiscord, Request
from tests.support.discord_server import discord_api as discord_api


def text_of(request: Request) -> str:
    """A follow-up's words: its content and its embeds' descriptions and titles."""
    body = request.body
    parts = [str(body.get("content") or "")]
    parts += [str(e.get("description") or "") + str(e.get("title") or "") for e in body.get("embeds") or []]
    return "\n".join(parts)


def run_all(app: App, api: FakeDiscord, payloads: list[dict[str, Any]]) -> list[list[Request]]:
    """Dispatch each interaction in turn over one connection; their follow-ups."""

    async def flow() -> list[list[Request]]:
        async with connected(app, api) as gateway:
            return [await run_command(api, gateway, p) for p in payloads]

    return asyncio.run(flow())


def deferred_privately(api: FakeDiscord, payload: dict[str, Any]) -> bool:
    [deferral] = of_token(api, "interaction_callback", payload["token"])
    return bool(int((deferral.body.get("data") or {}).get("flags") or 0) & EPHEMERAL)


def test_briefbot_mute_stores_the_persons_mute(app: App, discord_api: FakeDiscord) -> None:
    payload = command(discord_api, "briefbot", {"text": "mute nvidia"})
    [[reply]] = run_all(app, discord_api, [payload])
    assert "Muted" in text_of(reply) and int(reply.body["flags"]) & EPHEMERAL
    assert deferred_privately(discord_api, payload)
    assert app.service.mutes(user_scope("discord", USER_ID)) == ["nvidia"]


def test_briefbot_alone_and_help_list_the_commands(app: App, discord_api: FakeDiscord) -> None:
    alone = command(discord_api, "briefbot")
    helped = command(discord_api, "briefbot", {"text": "help"}, n=2)
    [[first], [second]] = run_all(app, discord_api, [alone, helped])
    for reply in (first, second):
        listed = text_of(reply)
        assert "/subscribe" in listed and "/quiet" in listed and "/briefbot" in listed
        assert int(reply.body["flags"]) & EPHEMERAL


def test_briefbot_quiet_and_digest_me(app: App, discord_api: FakeDiscord) -> None:
    quiet = command(discord_api, "briefbot", {"text": "quiet 22:00-07:00 Europe/Berlin"})
    digest = command(discord_api, "briefbot", {"text": "digest me 08:00 Europe/Berlin"}, n=2)
    run_all(app, discord_api, [quiet, digest])
    hours = app.service.quiet_hours("discord", USER_ID)
    assert hours is not None and hours.label() == "22:00-07:00 Europe/Berlin"
    personal = app.service.personal_digest("discord", USER_ID)
    assert personal is not None and (personal.at, personal.tz) == ("08:00", "Europe/Berlin")


def test_briefbot_admin_commands_need_manage_server(app: App, discord_api: FakeDiscord) -> None:
    member = command(discord_api, "briefbot", {"text": "feeds add https://news.example/feed.xml"})
    channel_mute = command(discord_api, "briefbot", {"text": "mute channel nvidia"}, n=2)
    manager = command(
        discord_api,
        "briefbot",
        {"text": "mute channel nvidia"},
        n=3,
        permissions=EVERYONE_PERMISSIONS | MANAGE_GUILD,
    )
    feeds = [f.url for f in app.service.list_feeds()]
    [[refused], [refused_mute], [allowed]] = run_all(app, discord_api, [member, channel_mute, manager])
    assert "for admins" in text_of(refused) and "\n" not in refused.body["content"]
    assert [f.url for f in app.service.list_feeds()] == feeds
    assert "for admins" in text_of(refused_mute)
    assert "in this channel" in text_of(allowed)
    assert app.service.mutes(channel_scope("discord", CHANNEL_ID)) == ["nvidia"]


def test_native_quiet_digest_mute_unmute(app: App, discord_api: FakeDiscord) -> None:
    payloads = [
        command(discord_api, "quiet", {"hours": "23:00-06:30", "zone": "Asia/Tokyo"}),
        command(discord_api, "digest", {"at": "07:30", "zone": "Europe/Paris", "days": "weekdays"}, n=2),
        command(discord_api, "mute", {"word": "liquid cooling"}, n=3),
        command(discord_api, "mute", {"word": "nvidia"}, n=4),
        command(discord_api, "unmute", {"word": "nvidia"}, n=5),
        command(discord_api, "digest", {"topics": "chips"}, n=6),
    ]
    replies = run_all(app, discord_api, payloads)
    assert all(deferred_privately(discord_api, p) for p in payloads)
    hours = app.service.quiet_hours("discord", USER_ID)
    assert hours is not None and hours.label() == "23:00-06:30 Asia/Tokyo"
    personal = app.service.personal_digest("discord", USER_ID)
    assert personal is not None and (personal.at, personal.tz) == ("07:30", "Europe/Paris")
    assert app.service.mutes(user_scope("discord", USER_ID)) == ["liquid cooling"]
    assert "Unmuted" in text_of(replies[4][0])
    assert "for admins" in text_of(replies[5][0])  # a channel's digest topics: Manage Server
    assert app.service.channel("discord", CHANNEL_ID) is None


def test_briefbot_stories_is_answered_in_the_channel(app: App, discord_api: FakeDiscord) -> None:
    payload = command(discord_api, "briefbot", {"text": "stories all"})
    [[reply]] = run_all(app, discord_api, [payload])
    assert not deferred_privately(discord_api, payload)
    assert not int(reply.body.get("flags") or 0) & EPHEMERAL


def test_what_is_public_and_how_digest_options_read() -> None:
    assert is_public("brief chips") and is_public("ask who?") and is_public("/stories")
    assert not is_public("mute nvidia") and not is_public("") and not is_public("frobnicate")
    assert digest_text(None, None, None, None) == "digest me"
    assert digest_text("08:00", "Europe/Berlin", None, None) == "digest me 08:00 Europe/Berlin"
    assert digest_text("off", None, None, "") == "digest me off"
    assert digest_text(None, None, None, "chips, power") == "digest topics chips, power"
    try:
        digest_text("08:00", None, None, "chips")
    except UsageError as exc:
        assert "not both" in str(exc)
    else:
        raise AssertionError("topics with a time should be refused")


def test_briefbot_deals_graph_attaches_the_png(app: App, discord_api: FakeDiscord) -> None:
    """A reply carrying the command layer's deal graph (``/briefbot deals graph``) gets the
    picture attached after its caption."""
    deal = StoryDeal(("Amazon", "Anthropic"), "investment", None, None, (1,), 1)
    graph = DealGraph((DealRecord(1, "Amazon invests in Anthropic", deal, ()),), "Who deals with whom")
    layer = ScriptedCommands(Reply("The deal graph: 1 deal.", graph=graph))
    payload = command(discord_api, "briefbot", {"text": "deals graph"})

    async def flow() -> list[Request]:
        gateway = FakeGateway()
        discord_api.gateway_url = await gateway.start()
        client = BriefbotClient(app.service, api_url=discord_api.url, commands_layer=layer)
        try:
            await client.login(TOKEN)
            connecting = asyncio.create_task(client.connect())
            await until(lambda: discord_api.requests_to("sync_commands"), what="sync")
            await gateway.dispatch("INTERACTION_CREATE", payload)
            found = await until(
                lambda: [
                    r for r in of_token(discord_api, "followup", payload["token"]) if r.body.get("_files")
                ],
                timeout=30,
                what="the graph",
            )
            await client.close()
            await asyncio.wait_for(connecting, 10)
            return found
        finally:
            await gateway.close()

    [attached] = asyncio.run(flow())
    assert layer.calls[0][1] == "briefbot deals graph"
    [png] = attached.body["_files"]
    assert png["filename"] == "deals.png" and png["data"].startswith(b"\x89PNG")
    caption = of_token(discord_api, "followup", payload["token"])[0]
    assert "The deal graph: 1 deal." in text_of(caption)
