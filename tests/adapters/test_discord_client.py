"""The discord.py client skeleton: no mentions by default, the service and an explicit cog
list from the constructor, REST and the gateway address from BRIEFBOT_DISCORD_API_URL
(against the fake Discord REST API; no gateway connection)."""

from __future__ import annotations

import asyncio
from typing import cast

import pytest
from discord.ext import commands
from discord.gateway import DiscordWebSocket
from discord.http import Route

from bot.adapters.discord.client import BriefbotClient
from bot.core.service import Service
from tests.support.discord_server import FakeDiscord
from tests.support.discord_server import discord_api as discord_api

SERVICE = cast(Service, object())


class _Probe(commands.Cog):
    """A cog that remembers the client it was made for."""

    def __init__(self, client: BriefbotClient) -> None:
        self.client = client


@pytest.fixture(autouse=True)
def _restore_discord_globals(monkeypatch: pytest.MonkeyPatch) -> None:
    """Route.BASE and DEFAULT_GATEWAY are process-wide: put them back after each test."""
    monkeypatch.setattr(Route, "BASE", Route.BASE)
    monkeypatch.setattr(DiscordWebSocket, "DEFAULT_GATEWAY", DiscordWebSocket.DEFAULT_GATEWAY)


def test_the_client_mentions_no_one_and_keeps_the_service() -> None:
    async def build() -> BriefbotClient:
        return BriefbotClient(SERVICE, cogs=(_Probe,))

    client = asyncio.run(build())
    mentions = client.allowed_mentions
    assert mentions is not None
    assert (mentions.everyone, mentions.users, mentions.roles, mentions.replied_user) == (False,) * 4
    assert dict(mentions.to_dict()) == {"parse": []}
    assert client.service is SERVICE and client.cog_factories == (_Probe,)
    assert client.intents.message_content and client.intents.guilds and not client.intents.members


def test_login_uses_the_configured_api_and_its_gateway(discord_api: FakeDiscord) -> None:
    discord_api.gateway_url = "ws://127.0.0.1:1/fake-gateway"

    async def flow() -> commands.Cog | None:
        client = BriefbotClient(SERVICE, api_url=discord_api.url + "/", cogs=(_Probe,))
        try:
            await client.login("bot-token")
            return client.get_cog("_Probe")
        finally:
            await client.close()

    cog = asyncio.run(flow())
    [me] = discord_api.requests_to("me")
    assert me.authorization == "Bot bot-token"
    assert discord_api.requests_to("gateway_bot")
    assert str(DiscordWebSocket.DEFAULT_GATEWAY) == "ws://127.0.0.1:1/fake-gateway"
    assert isinstance(cog, _Probe) and isinstance(cog.client, BriefbotClient)


def test_without_an_api_url_discords_own_gateway_is_kept() -> None:
    async def flow() -> str | None:
        client = BriefbotClient(SERVICE)
        try:
            return await client.use_api_gateway()
        finally:
            await client.close()

    before = DiscordWebSocket.DEFAULT_GATEWAY
    assert asyncio.run(flow()) is None
    assert before == DiscordWebSocket.DEFAULT_GATEWAY and Route.BASE == "https://discord.com/api/v10"
