"""Which guild each channel belongs to, as seen over the gateway (in memory, per process).

The REST publisher runs without the gateway client; when a digest channel turns out to be
gone (404), Discord no longer says which guild it was in. The client records every guild
channel it sees here (:func:`remember_guild`), and the publisher asks :func:`guild_of`
before giving up on telling the guild's admins.
"""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
_guild_of: dict[int, int] = {}


def remember(channel_id: int, guild_id: int) -> None:
    """Record that ``channel_id`` is in ``guild_id``."""
    with _lock:
        _guild_of[int(channel_id)] = int(guild_id)


def remember_guild(guild: Any) -> None:
    """Record every channel and thread of a discord.py ``Guild``."""
    for channel in [*getattr(guild, "channels", ()), *getattr(guild, "threads", ())]:
        remember(channel.id, guild.id)


def guild_of(channel_id: str) -> str | None:
    """The guild of a channel seen over the gateway, or None."""
    try:
        key = int(channel_id)
    except ValueError:
        return None
    with _lock:
        found = _guild_of.get(key)
    return str(found) if found is not None else None
