"""Wiring for Discord: the outbox's publisher of ``discord:`` destinations.

With ``DISCORD_TOKEN`` set, ``briefbot run`` posts digests and alerts for ``discord:``
destinations through :class:`DiscordPublisher` on ``BRIEFBOT_DISCORD_API_URL``. The
discord.py client (gateway, application commands) is later work of #8.
"""

from __future__ import annotations

from bot.adapters.discord.publisher import DiscordPublisher
from bot.config import Settings

PLATFORM = "discord"


def discord_publisher(settings: Settings) -> DiscordPublisher | None:
    """The publisher of ``discord:`` destinations, or None when no token is set."""
    if not settings.discord_token:
        return None
    return DiscordPublisher(settings.discord_token, settings.discord_api_url)
