"""The catch-all ``/briefbot`` and people's own settings: a cog over the shared command layer.

- ``/briefbot text:COMMAND ...`` runs any command of the layer (``mute nvidia``,
  ``quiet 22:00-07:00 Europe/Berlin``, ``digest me 08:00 Europe/Berlin``, ``help``);
  with no text it is ``/help``. Briefings, answers, stories and deals are answered in the
  channel, everything else privately.
- ``/quiet`` (hours, zone; ``off`` clears them), ``/digest`` (your own digest by direct
  message: at, zone, days, or ``off``; admins: ``topics`` of this channel's digest),
  ``/mute`` and ``/unmute`` (a word, for you; admins: ``channel:true`` for the channel).

None of these has ``default_permissions``: everyone may use them, and the command layer
decides what needs an admin (its ``is_platform_admin`` is the member's Manage Server, as
for ``/feeds``), so ``/briefbot feeds add URL`` is refused to a member as ``/feeds`` is.
"""

from __future__ import annotations

import asyncio
from typing import Any

import discord
from discord import app_commands

from bot.adapters.discord.slash import CommandCog, option_arg, quoted_option
from bot.adapters.discord.views import tell
from bot.core.commands import CATCH_ALL, parse
from bot.core.subscriptions import user_scope
from bot.errors import UsageError

PUBLIC = frozenset({"brief", "ask", "stories", "deals"})  # answered in the channel
MAX_TEXT = 1000  # characters of /briefbot's text option


def is_public(text: str) -> bool:
    """Whether ``/briefbot text``'s reply belongs in the channel (a briefing, an answer,
    stories or deals) rather than to the person alone; anything unparsable is private."""
    try:
        return parse(f"{CATCH_ALL} {text}").name in PUBLIC
    except UsageError:
        return False


def digest_text(at: str | None, zone: str | None, days: str | None, topics: str | None) -> str:
    """The command layer's text of ``/digest``: ``digest topics ...`` with ``topics`` (only),
    else the person's own ``digest me [at zone days]``."""
    if topics is not None and option_arg(topics):
        if at or zone or days:
            raise UsageError("/digest: give topics (this channel's digest) or a time (yours), not both")
        return f"digest topics {option_arg(topics)}"
    if not option_arg(at):
        return "digest me"
    return f"digest me {option_arg(at)} {option_arg(zone)} {option_arg(days)}".strip()


class PersonalCommands(CommandCog):
    """``/briefbot`` and ``/quiet``, ``/digest``, ``/mute``, ``/unmute``."""

    @app_commands.command(
        name="briefbot", description="Any briefbot command, e.g. mute nvidia (empty: the list)"
    )
    @app_commands.describe(
        text="a command and its arguments, e.g. mute nvidia or quiet 22:00-07:00 Europe/Berlin"
    )
    async def briefbot(self, interaction: discord.Interaction[Any], text: str | None = None) -> None:
        line = " ".join((text or "").split())[:MAX_TEXT]
        await self.run(interaction, f"{CATCH_ALL} {line}", private=not is_public(line), admin=True)

    @app_commands.command(
        name="quiet", description="No alerts in these hours; they arrive when the hours end"
    )
    @app_commands.describe(
        hours="HH:MM-HH:MM, e.g. 22:00-07:00, or off", zone="an IANA time zone, e.g. Europe/Berlin"
    )
    async def quiet(
        self, interaction: discord.Interaction[Any], hours: str | None = None, zone: str | None = None
    ) -> None:
        await self.run(interaction, f"quiet {option_arg(hours)} {option_arg(zone)}", private=True)

    @app_commands.command(
        name="digest", description="Your own digest by direct message (admins: this channel's topics)"
    )
    @app_commands.describe(
        at="HH:MM, or off",
        zone="an IANA time zone, e.g. Europe/Berlin",
        days="weekdays, daily or mon,wed",
        topics="admins: the topics of this channel's digest, a,b or all",
    )
    async def digest(
        self,
        interaction: discord.Interaction[Any],
        at: str | None = None,
        zone: str | None = None,
        days: str | None = None,
        topics: str | None = None,
    ) -> None:
        try:
            text = digest_text(at, zone, days, topics)
        except UsageError as exc:
            await tell(interaction, str(exc))
            return
        await self.run(interaction, text, private=True, admin=True)

    @app_commands.command(name="mute", description="Leave out stories mentioning a word")
    @app_commands.describe(word="the word or name", channel="admins: mute it for the whole channel")
    async def mute(self, interaction: discord.Interaction[Any], word: str, channel: bool = False) -> None:
        await self.run(interaction, _mute_text("mute", word, channel), private=True, admin=True)

    @app_commands.command(name="unmute", description="Stop muting a word")
    @app_commands.describe(word="a muted word", channel="admins: unmute it for the whole channel")
    async def unmute(self, interaction: discord.Interaction[Any], word: str, channel: bool = False) -> None:
        await self.run(interaction, _mute_text("unmute", word, channel), private=True, admin=True)

    @unmute.autocomplete("word")
    async def _unmute_word(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        scope = user_scope("discord", str(interaction.user.id))
        words = await asyncio.to_thread(self.client.service.mutes, scope)
        needle = current.casefold().strip()
        hits = [w for w in words if needle in w.casefold()][:25]
        return [app_commands.Choice(name=w[:100], value=w[:100]) for w in hits]


def _mute_text(command: str, word: str, channel: bool) -> str:
    """``mute "word"`` or ``mute channel "word"``: the word quoted, so "channel" is a word too."""
    return f"{command} {'channel ' if channel else ''}{quoted_option(word)}"
