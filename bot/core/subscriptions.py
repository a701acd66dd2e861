"""Destinations and interests: channels with their digest schedule, subscriptions and mutes.

A **channel** is where a digest is posted (``slack:C123``, ``discord:987``, ``console:console``):
when (``at`` "HH:MM" in the IANA time zone ``tz``, on ``days``), and which topics it
covers (none: all). A **subscription** is one person's interest in a topic, a company, a
chip or a keyword (stored by its canonical name, so "AWS" and "Amazon" are one). A
**mute** leaves out stories mentioning a word, for a channel's digests
(``channel:<platform>:<id>``) or for one person (``user:<platform>:<id>``).

The parsers here turn what a user typed into the canonical stored form, or raise a
one-line :class:`~bot.errors.UsageError` naming the problem.
"""

from __future__ import annotations

import re
import unicodedata
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Literal, Protocol

from bot.errors import UsageError

PLATFORMS = ("slack", "discord", "console")
KINDS = ("topic", "company", "chip", "keyword")
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_AT = "09:00"
DEFAULT_TZ = "UTC"
DEFAULT_DAYS = "weekdays"
MAX_ID_CHARS = 100
MAX_WORD_CHARS = 60
PERSON_PREFIX = "user:"  # a channel id "user:<USER_ID>" is that person's personal digest

Kind = Literal["topic", "company", "chip", "keyword"]

_TIME = re.compile(r"^(\d{1,2})(?::(\d{2}))?\s*(am|pm)?$", re.I)
_ID = re.compile(r"^[A-Za-z0-9._\-]+$")
_WORD = re.compile(r"^[\w][\w .&+\-/']*$")
_DAY_ALIASES = {
    "monday": "mon",
    "tuesday": "tue",
    "tues": "tue",
    "wednesday": "wed",
    "thursday": "thu",
    "thur": "thu",
    "thurs": "thu",
    "friday": "fri",
    "saturday": "sat",
    "sunday": "sun",
}


@dataclass(frozen=True)
class Channel:
    """A digest destination and its schedule; ``topics`` empty means every topic."""

    platform: str
    channel_id: str
    at: str = DEFAULT_AT
    tz: str = DEFAULT_TZ
    days: str = DEFAULT_DAYS
    topics: tuple[str, ...] = ()
    enabled: bool = True
    created_at: datetime | None = None

    @property
    def key(self) -> str:
        """``platform:channel_id``, as typed on the command line."""
        return f"{self.platform}:{self.channel_id}"

    @property
    def scope(self) -> str:
        """The scope of the channel's mutes (a personal digest uses the person's)."""
        if self.person is not None:
            return user_scope(self.platform, self.person)
        return channel_scope(self.platform, self.channel_id)

    @property
    def person(self) -> str | None:
        """The user id when this is a person's digest (channel id ``user:<USER_ID>``), else None."""
        if self.channel_id.startswith(PERSON_PREFIX):
            return self.channel_id[len(PERSON_PREFIX) :]
        return None

    def schedule_text(self) -> str:
        """ "09:00 Europe/Paris, weekdays" """
        return f"{self.at} {self.tz}, {self.days}"

    def as_json(self) -> dict[str, object]:
        return {
            "channel": self.key,
            "platform": self.platform,
            "channel_id": self.channel_id,
            "at": self.at,
            "tz": self.tz,
            "days": self.days,
            "topics": list(self.topics),
            "enabled": self.enabled,
            "created_at": self.created_at.isoformat() if self.created_at else None,
        }


@dataclass(frozen=True)
class Subscription:
    """One person's interest: a topic, company or chip by canonical name, or a keyword."""

    platform: str
    user_id: str
    kind: str
    value: str
    created_at: datetime | None = None

    def label(self) -> str:
        """ "company Amazon", "keyword "liquid cooling"" """
        return f'keyword "{self.value}"' if self.kind == "keyword" else f"{self.kind} {self.value}"

    def as_json(self) -> dict[str, object]:
        return {
            "platform": self.platform,
            "user_id": self.user_id,
            "kind": self.kind,
            "value": self.value,
            "created_at": self.created_at.isoformat() if self.created_at else None,
        }


class ChannelStore(Protocol):
    """Channels, subscriptions and mutes (implemented by ``bot.store.channel_sql``)."""

    def save_channel(self, channel: Channel, now: datetime) -> bool:
        """Insert or replace the channel's settings; True when it was new."""
        ...

    def get_channel(self, platform: str, channel_id: str) -> Channel | None:
        """The channel, or None."""
        ...

    def list_channels(self) -> list[Channel]:
        """Every channel, by platform and id."""
        ...

    def remove_channel(self, platform: str, channel_id: str) -> bool:
        """Remove a channel and its mutes; False when there was none."""
        ...

    def add_subscription(self, subscription: Subscription, now: datetime) -> bool:
        """Add a subscription; False when the person already had it."""
        ...

    def remove_subscription(self, platform: str, user_id: str, kind: str, value: str) -> bool:
        """Remove a subscription; False when there was none."""
        ...

    def list_subscriptions(
        self, *, platform: str | None = None, user_id: str | None = None
    ) -> list[Subscription]:
        """Subscriptions, optionally one platform's or one person's, oldest first."""
        ...

    def add_mute(self, scope: str, word: str, now: datetime) -> bool:
        """Mute a word for a scope; False when it was already muted."""
        ...

    def remove_mute(self, scope: str, word: str) -> bool:
        """Unmute a word; False when it was not muted."""
        ...

    def list_mutes(self, scope: str) -> list[str]:
        """The scope's muted words, oldest first."""
        ...

    def get_thread_followups(self, platform: str, channel_id: str) -> bool | None:
        """The channel's own follow-up setting, or None when it has none."""
        ...

    def set_thread_followups(self, platform: str, channel_id: str, on: bool | None, now: datetime) -> None:
        """Set (True/False) or clear (None) the channel's follow-up setting."""
        ...


# ---- parsing what users type --------------------------------------------------------------


def parse_platform(text: str) -> str:
    """A platform name, lower-case; anything else is a UsageError."""
    name = text.strip().lower()
    if name not in PLATFORMS:
        raise UsageError(f"unknown platform {quoted(text)}; use one of {', '.join(PLATFORMS)}")
    return name


def parse_channel_id(text: str) -> str:
    """A platform's channel id (letters, digits, '.', '_', '-'); anything else is a UsageError."""
    value = text.strip()
    if not value:
        raise UsageError("the channel id is empty; write PLATFORM:ID, e.g. slack:C0123456")
    if len(value) > MAX_ID_CHARS or not _ID.match(value):
        raise UsageError(f"bad channel id {quoted(value)}: use letters, digits, '.', '_' or '-'")
    return value


def parse_destination(text: str) -> tuple[str, str]:
    """``PLATFORM:ID`` -> (platform, channel id), e.g. ``slack:C0123456``."""
    platform, sep, channel_id = text.strip().partition(":")
    if not sep:
        raise UsageError(
            f"{quoted(text)} is not PLATFORM:ID (e.g. slack:C0123456, discord:98765, console:console)"
        )
    return parse_platform(platform), parse_channel_id(channel_id)


def parse_time(text: str) -> str:
    """ "9:00", "09:30", "9", "7pm", "7:30 am" -> "HH:MM" (24-hour); else a UsageError."""
    m = _TIME.match(text.strip())
    if m:
        hour, minute = int(m.group(1)), int(m.group(2) or 0)
        half = (m.group(3) or "").lower()
        if half and 1 <= hour <= 12:
            hour = hour % 12 + (12 if half == "pm" else 0)
        elif half:
            hour = 99
        if hour < 24 and minute < 60 and (m.group(2) is not None or half):
            return f"{hour:02d}:{minute:02d}"
    raise UsageError(f"bad time {quoted(text)}: write HH:MM on a 24-hour clock, e.g. 09:00 or 17:30")


def parse_zone(text: str) -> str:
    """An IANA time zone name as the system spells it ("europe/paris" -> "Europe/Paris")."""
    name = text.strip()
    if name.upper() in {"UTC", "Z", "GMT"}:
        return "UTC"
    if _is_zone(name):
        return name
    folded = _zones_by_folded_name().get(name.casefold())
    if folded is not None:
        return folded
    raise UsageError(f"unknown time zone {quoted(text)}: use an IANA name such as Europe/Paris or UTC")


def parse_days(text: str) -> str:
    """ "weekdays", "daily" or a list of days ("mon,wed", "Monday Friday") in week order."""
    value = text.strip().lower()
    if value in {"weekdays", "weekday", "workdays", "mon-fri"}:
        return "weekdays"
    if value in {"daily", "everyday", "every day", "all"}:
        return "daily"
    parts = [p for p in re.split(r"[\s,;]+", value) if p]
    days: set[str] = set()
    for part in parts:
        day = _DAY_ALIASES.get(part, part)
        if day not in DAY_NAMES:
            raise UsageError(f"bad days {quoted(text)}: use weekdays, daily or days such as mon,wed,fri")
        days.add(day)
    if not days:
        raise UsageError("bad days '': use weekdays, daily or days such as mon,wed,fri")
    ordered = [d for d in DAY_NAMES if d in days]
    if len(ordered) == 7:
        return "daily"
    return ",".join(ordered)


def is_days(text: str) -> bool:
    """True when ``text`` reads as a days value (for commands whose arguments come in any order)."""
    try:
        parse_days(text)
    except UsageError:
        return False
    return True


def day_numbers(days: str) -> tuple[int, ...]:
    """The weekday numbers (Monday 0) a stored days value covers."""
    if days == "daily":
        return tuple(range(7))
    if days == "weekdays":
        return tuple(range(5))
    return tuple(DAY_NAMES.index(d) for d in days.split(","))


def clean_word(text: str, what: str = "keyword") -> str:
    """A keyword or muted word: lower-case, single spaces, letters and digits (with . & + - / ')."""
    value = " ".join(visible(text).split()).lower()
    if not value:
        raise UsageError(f"the {what} is empty")
    if len(value) > MAX_WORD_CHARS:
        raise UsageError(f"the {what} is too long ({len(value)} characters; at most {MAX_WORD_CHARS})")
    if len(value) < 2 or not _WORD.match(value):
        raise UsageError(
            f"bad {what} {quoted(value)}: use at least two letters or digits (spaces and . & + - / ' allowed)"
        )
    return value


def channel_scope(platform: str, channel_id: str) -> str:
    """The mute scope of a channel."""
    return f"channel:{platform}:{channel_id}"


def person_channel_id(user_id: str) -> str:
    """The channel id of a person's digest: ``user:<USER_ID>``."""
    return PERSON_PREFIX + user_id


def user_scope(platform: str, user_id: str) -> str:
    """The mute scope of one person."""
    return f"user:{platform}:{user_id}"


def split_list(values: Sequence[str] | str) -> list[str]:
    """ "a,b" or ["a", "b,c"] -> ["a", "b", "c"] (empty parts dropped)."""
    items = [values] if isinstance(values, str) else list(values)
    return [p.strip() for item in items for p in re.split(r"[,\s]+", item) if p.strip()]


def visible(text: str) -> str:
    """``text`` without control, format (zero-width) or other invisible characters."""
    return "".join(
        " " if ch.isspace() else ch for ch in text if ch.isspace() or unicodedata.category(ch)[0] != "C"
    )


def quoted(text: str, limit: int = 40) -> str:
    """User text for a message: invisible characters removed, one line, capped, repr-quoted."""
    value = " ".join(visible(text).split())
    if len(value) > limit:
        value = value[: limit - 1] + "…"
    return repr(value)


def _is_zone(name: str) -> bool:
    if not name or len(name) > 64 or name.startswith(("/", ".")) or ".." in name:
        return False
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


@lru_cache(maxsize=1)
def _zones_by_folded_name() -> dict[str, str]:
    return {z.casefold(): z for z in zoneinfo.available_timezones()}
