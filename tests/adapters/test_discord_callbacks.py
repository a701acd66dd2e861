"""The command callbacks called directly with discord.py ``Interaction`` objects built from raw
INTERACTION_CREATE payloads (no gateway): the client is logged in against the fake REST API,
so the deferral and the follow-ups the callbacks send are recorded there."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import discord

from bot.adapters.discord.client import BriefbotClient
from bot.adapters.discord.personal import PersonalCommands
from bot.adapters.discord.slash import SlashCommands
from bot.core.subscriptions import Subscription, user_scope
from bot.runtime.wiring import App
from tests.adapters.test_discord_commands import EPHEMERAL, of_token
from tests.runtime.test_scheduler import START
from tests.support.discord_gateway import (
    CHANNEL_ID,
    TOKEN,
    USER_ID,
    interaction_payload,
)
from tests.support.discord_gateway import _restore_discord_globals as _restore_discord_globals
from tests.support.discord_gateway import app as app
from tests.support.discord_server import FakeDiscord
from tests.support.discord_server import discord_api as discord_api

T = TypeVar("T")
QUESTION = "how many chips do Ironwood pods scale to?"


def with_client(app: App, api: FakeDiscord, body: Callable[[BriefbotClient], Awaitable[T]]) -> T:
    """Run ``body`` with a BriefbotClient logged in (REST only) against ``api``."""

    async def flow() -> T:
        client = BriefbotClient(app.service, api_url=api.url)
        try:
            await client.login(TOKEN)
            return await body(client)
        finally:
            await client.close()

    return asyncio.run(flow())


def built(client: BriefbotClient, api: FakeDiscord, name: str, n: int, **kw: Any) -> discord.Interaction[Any]:
    """The Interaction discord.py makes of an INTERACTION_CREATE for ``/name``."""
    token = f"itoken-cb-{name}-{n}"
    api.interaction(token, CHANNEL_ID)
    payload = interaction_payload(name, interaction_id=str(900 + n), token=token, **kw)
    return discord.Interaction(data=payload, state=client._connection)  # type: ignore[arg-type]


def slash(client: BriefbotClient) -> SlashCommands:
    cog = client.get_cog("SlashCommands")
    assert isinstance(cog, SlashCommands)
    return cog


def test_ask_callback_defers_then_follows_up_with_the_answer(app: App, discord_api: FakeDiscord) -> None:
    async def body(client: BriefbotClient) -> None:
        cog = slash(client)
        await cog.ask.callback(cog, built(client, discord_api, "ask", 1), question=QUESTION)

    with_client(app, discord_api, body)
    [deferral] = of_token(discord_api, "interaction_callback", "itoken-cb-ask-1")
    [answer] = of_token(discord_api, "followup", "itoken-cb-ask-1")
    assert (
        deferral.body["type"] == 5
        and not int((deferral.body.get("data") or {}).get("flags") or 0) & EPHEMERAL
    )
    assert discord_api.requests.index(deferral) < discord_api.requests.index(answer)
    assert answer.body["allowed_mentions"] == {"parse": []}
    assert "9,216" in answer.body["embeds"][0]["description"]
    assert answer.body["components"]  # 👍/👎 and "Ask a follow-up"


def test_admin_callbacks_follow_the_members_manage_server(app: App, discord_api: FakeDiscord) -> None:
    async def body(client: BriefbotClient) -> None:
        cog = slash(client)
        member = built(client, discord_api, "schedule", 1)
        await cog.schedule.callback(cog, member, at="09:00", zone="UTC", days=None)
        manager = built(client, discord_api, "schedule", 2, permissions=(1 << 5) | (1 << 11))
        await cog.schedule.callback(cog, manager, at="09:00", zone="UTC", days=None)

    with_client(app, discord_api, body)
    [refused] = of_token(discord_api, "followup", "itoken-cb-schedule-1")
    [allowed] = of_token(discord_api, "followup", "itoken-cb-schedule-2")
    assert int(refused.body["flags"]) & EPHEMERAL and "for admins" in refused.body["content"]
    assert "09:00" in str(allowed.body["embeds"])
    channel = app.service.channel("discord", CHANNEL_ID)
    assert channel is not None and channel.at == "09:00"


def test_autocomplete_callbacks_offer_topics_companies_chips_and_what_you_follow(
    app: App, discord_api: FakeDiscord
) -> None:
    app.store.add_subscription(Subscription("discord", USER_ID, "company", "Nvidia"), START)
    app.service.mute(user_scope("discord", USER_ID), "nvidia gaming")

    async def body(client: BriefbotClient) -> dict[str, list[Any]]:
        cog = slash(client)
        personal = client.get_cog("PersonalCommands")
        assert isinstance(personal, PersonalCommands)
        asking = built(client, discord_api, "subscribe", 1)
        out = {typed: await cog._subscribe_what(asking, typed) for typed in ("chip", "Nvid", "Iron")}
        out["unsubscribe"] = await cog._unsubscribe_what(asking, "")
        out["unmute"] = await personal._unmute_word(asking, "gam")
        return out

    choices = with_client(app, discord_api, body)
    assert ("chips (topic)", "topic:chips") in [(c.name, c.value) for c in choices["chip"]]
    assert ("Nvidia (company)", "company:Nvidia") in [(c.name, c.value) for c in choices["Nvid"]]
    assert ("Ironwood (chip)", "chip:Ironwood") in [(c.name, c.value) for c in choices["Iron"]]
    assert [c.value for c in choices["unsubscribe"]] == ["company:Nvidia"]
    assert [c.value for c in choices["unmute"]] == ["nvidia gaming"]
