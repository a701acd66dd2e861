"""The discord.py client of briefbot (skeleton: construction, REST base URL, gateway address).

:class:`BriefbotClient` is a ``discord.ext.commands.Bot`` (a ``discord.Client`` with cogs)
whose default ``allowed_mentions`` is ``AllowedMentions.none()``, so nothing it sends can
ping unless a send says otherwise. The service comes in through the constructor and the
cogs from an explicit list of factories (``factory(client) -> Cog``), added in
:meth:`BriefbotClient.setup_hook`; no cog exists yet (the application commands, threads and
buttons are later slices of #8).

With ``api_url`` (``BRIEFBOT_DISCORD_API_URL``) the REST calls go to that base URL: discord.py
builds every URL from the class attribute ``discord.http.Route.BASE``, which :meth:`login`
sets (process-wide: one client per process). The gateway address then comes from that
API's ``GET /gateway/bot`` as well, because a plain discord.py ``Client`` dials Discord's
hard-coded ``DiscordWebSocket.DEFAULT_GATEWAY``: :meth:`setup_hook`, which discord.py runs
after logging in and before connecting, sets it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import discord
import yarl
from discord.ext import commands
from discord.gateway import DiscordWebSocket
from discord.http import Route

from bot.core.service import Service

log = logging.getLogger(__name__)

CogFactory = Callable[["BriefbotClient"], commands.Cog]
COGS: tuple[CogFactory, ...] = ()  # one per feature, in load order (none yet)


def default_intents() -> discord.Intents:
    """Guilds and guild and DM messages with their content (mentions and thread follow-ups)."""
    intents = discord.Intents.none()
    intents.guilds = True
    intents.guild_messages = True
    intents.dm_messages = True
    intents.message_content = True
    return intents


class BriefbotClient(commands.Bot):
    """briefbot on Discord: the service, an explicit cog list, no mentions by default."""

    def __init__(
        self,
        service: Service,
        *,
        api_url: str | None = None,
        cogs: Sequence[CogFactory] = COGS,
        intents: discord.Intents | None = None,
    ) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents or default_intents(),
            allowed_mentions=discord.AllowedMentions.none(),
            help_command=None,
        )
        self.service = service
        self.api_url = api_url.rstrip("/") if api_url else None
        self.cog_factories = tuple(cogs)

    async def login(self, token: str) -> None:
        """Log in over REST, at ``api_url`` when one is set."""
        if self.api_url:
            Route.BASE = self.api_url
        await super().login(token)

    async def setup_hook(self) -> None:
        """After login, before connecting: the gateway address, then the cogs."""
        await self.use_api_gateway()
        for factory in self.cog_factories:
            await self.add_cog(factory(self))

    async def use_api_gateway(self) -> str | None:
        """With ``api_url``, set discord.py's gateway address from that API's
        ``GET /gateway/bot`` and return it; without, leave Discord's own (None)."""
        if not self.api_url:
            return None
        _, url, _ = await self.http.get_bot_gateway()
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)
        log.info("discord gateway from %s: %s", self.api_url, url)
        return url
