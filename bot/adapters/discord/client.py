"""The discord.py client of briefbot (skeleton: construction, REST base URL, gateway address).

:class:`BriefbotClient` is a ``discord.ext.commands.Bot`` (a ``discord.Client`` with cogs)
whose default ``allowed_mentions`` is ``AllowedMentions.none()``, so nothing it sends can
ping unless a send says otherwise. The service comes in through the constructor and the
cogs from an explicit list of factories (``factory(client) -> Cog``, :data:`COGS`: the slash
commands of :mod:`~bot.adapters.discord.slash`, the catch-all ``/briefbot`` and people's own
settings of :mod:`~bot.adapters.discord.personal`, and the message questions of
:mod:`~bot.adapters.discord.questions`), added in :meth:`BriefbotClient.setup_hook`, which
also registers the persistent buttons (:mod:`~bot.adapters.discord.views`: the 👍/👎 and
subscribe ``DynamicItem`` s and the "Ask a follow-up" view, ``timeout=None``), so clicks on
messages posted before a restart still work. The command layer
(:class:`~bot.core.commands.CommandLayer`), the Asker's thread memory and the feedback
recorder (``SqlStore.record_feedback``) hang off the client for the cogs.

Application commands are synced per guild when the guild becomes available (the guilds of
READY, as their GUILD_CREATE arrives) or the bot joins one: ``tree.copy_global_to(guild)``
then ``tree.sync(guild=...)``, once per guild per process. A command's unexpected error is
logged and answered with one ephemeral line; no traceback reaches anyone. Every channel
seen over the gateway is remembered with its guild (:mod:`~bot.adapters.discord.guilds`), so
the publisher can tell a guild's admins when one of its channels is gone.

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
from typing import Any

import discord
import yarl
from discord import app_commands
from discord.ext import commands
from discord.gateway import DiscordWebSocket
from discord.http import Route

from bot.adapters.discord import guilds
from bot.adapters.discord.personal import PersonalCommands
from bot.adapters.discord.questions import Questions
from bot.adapters.discord.slash import SlashCommands
from bot.adapters.discord.views import FollowUpView, SubscribeButton, VoteButton, log_failure, tell
from bot.adapters.ports import Commands, FeedbackRecorder, ThreadMemory
from bot.core.commands import CommandLayer
from bot.core.service import Service

log = logging.getLogger(__name__)

CogFactory = Callable[["BriefbotClient"], commands.Cog]
COGS: tuple[CogFactory, ...] = (SlashCommands, PersonalCommands, Questions)  # one per feature, in load order


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
        admins: Sequence[str] = (),
        commands_layer: Commands | None = None,
        threads: ThreadMemory | None = None,
        feedback: FeedbackRecorder | None = None,
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
        self.command_layer: Commands = commands_layer or CommandLayer(service, admins)
        asker = getattr(service, "asker", None)
        self.threads: ThreadMemory | None = threads or getattr(asker, "threads", None)
        self.feedback = feedback
        self.synced_guilds: set[int] = set()
        self.tree.on_error = self.on_app_command_error  # type: ignore[method-assign]

    async def process_commands(self, message: discord.Message, /) -> None:
        """No prefix commands: messages are the ``Questions`` cog's (a mention is a question,
        not an unknown command to log)."""

    async def login(self, token: str) -> None:
        """Log in over REST, at ``api_url`` when one is set."""
        if self.api_url:
            Route.BASE = self.api_url
        await super().login(token)

    async def setup_hook(self) -> None:
        """After login, before connecting: the gateway address, the cogs, the persistent buttons."""
        await self.use_api_gateway()
        for factory in self.cog_factories:
            await self.add_cog(factory(self))
        self.add_dynamic_items(VoteButton, SubscribeButton)
        self.add_view(FollowUpView())

    async def sync_guild(self, guild: discord.abc.Snowflake) -> bool:
        """Register the application commands in ``guild`` (once per process); False when
        Discord refused (logged: the bot keeps running without them there)."""
        if guild.id in self.synced_guilds:
            return True
        self.tree.copy_global_to(guild=guild)
        try:
            synced = await self.tree.sync(guild=guild)
        except discord.HTTPException as exc:
            log.warning("commands not synced in guild %s: %s", guild.id, exc)
            return False
        self.synced_guilds.add(guild.id)
        log.info("synced %d commands in guild %s", len(synced), guild.id)
        return True

    async def on_guild_available(self, guild: discord.Guild) -> None:
        """A guild of READY (or back from an outage): remember its channels, sync commands."""
        guilds.remember_guild(guild)
        await self.sync_guild(guild)

    async def on_guild_join(self, guild: discord.Guild) -> None:
        """The bot was added to a guild: remember its channels, sync commands."""
        guilds.remember_guild(guild)
        await self.sync_guild(guild)

    async def on_guild_channel_create(self, channel: discord.abc.GuildChannel) -> None:
        guilds.remember(channel.id, channel.guild.id)

    async def on_app_command_error(
        self, interaction: discord.Interaction[Any], error: app_commands.AppCommandError
    ) -> None:
        """Log an application command's failure (a Discord refusal in one line, a bug with its
        traceback); the person gets one ephemeral line."""
        log_failure(f"command /{getattr(interaction.command, 'name', '?')}", error)
        try:
            await tell(interaction, "That command failed on our side; the error is logged.")
        except discord.HTTPException as exc:
            log.warning("could not report the failure of interaction %s: %s", interaction.id, exc)

    async def on_error(self, event_method: str, /, *args: Any, **kwargs: Any) -> None:
        """An event handler's failure: logged with its traceback, never sent to anyone."""
        log.exception("discord event %s failed", event_method)

    async def use_api_gateway(self) -> str | None:
        """With ``api_url``, set discord.py's gateway address from that API's
        ``GET /gateway/bot`` and return it; without, leave Discord's own (None)."""
        if not self.api_url:
            return None
        _, url, _ = await self.http.get_bot_gateway()
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)
        log.info("discord gateway from %s: %s", self.api_url, url)
        return url
