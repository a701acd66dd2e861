"""Quiet hours: when a person gets no alerts, in their own time zone, and what waits for them.

A person sets ``/quiet 22:00-07:00 Europe/Berlin`` (``/quiet off`` clears it); without a
setting of their own, the bot's default (``BRIEFBOT_QUIET_HOURS``, in UTC) applies. An
alert that falls in a person's quiet hours is **held**, not dropped: it waits in the
store until the quiet hours end, and the next alert pass after that delivers it (unless
it has gone stale, the person muted it meanwhile, or it was delivered some other way).
Times are wall-clock times in the zone, so a quiet night stays 22:00-07:00 across a
daylight-saving change.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from bot.core.subscriptions import parse_time, parse_zone, quoted
from bot.errors import UsageError

_RANGE = re.compile(r"^\s*(\S+?)\s*(?:-|–|to)\s*(\S+)\s*$", re.I)


@dataclass(frozen=True)
class QuietHours:
    """From ``start`` to ``end`` ("HH:MM", may span midnight) in the IANA zone ``zone``."""

    start: str
    end: str
    zone: str = "UTC"

    def contains(self, now: datetime) -> bool:
        """True when the instant ``now`` (aware) falls in these quiet hours."""
        moment = now.astimezone(ZoneInfo(self.zone)).strftime("%H:%M")
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end

    def ends_after(self, now: datetime) -> datetime:
        """The first end of the quiet hours after ``now``, in UTC (DST-safe)."""
        zone = ZoneInfo(self.zone)
        local = now.astimezone(zone)
        hour, minute = (int(p) for p in self.end.split(":"))
        for days in range(0, 3):
            day = (local + timedelta(days=days)).date()
            candidate = datetime.combine(day, time(hour, minute), tzinfo=zone)
            # a wall time skipped by a DST change maps forward; compare as instants
            if candidate.astimezone(UTC) > now.astimezone(UTC):
                return candidate.astimezone(UTC)
        raise AssertionError("an end time exists within two days")  # pragma: no cover

    def label(self) -> str:
        """ "22:00-07:00 Europe/Berlin"."""
        return f"{self.start}-{self.end} {self.zone}"


def parse_quiet(args: Sequence[str]) -> QuietHours:
    """ "22:00-07:00 [ZONE]" or "22:00 07:00 [ZONE]" -> QuietHours; else a UsageError."""
    words = [w for w in args if w.strip()]
    if not words:
        raise UsageError("write /quiet HH:MM-HH:MM [TIME ZONE], e.g. /quiet 22:00-07:00 Europe/Berlin")
    m = _RANGE.match(words[0])
    if m:
        start_text, end_text, rest = m.group(1), m.group(2), words[1:]
    elif len(words) >= 3 and words[1].lower() in {"to", "-", "–"}:
        start_text, end_text, rest = words[0], words[2], words[3:]
    elif len(words) >= 2:
        start_text, end_text, rest = words[0], words[1], words[2:]
    else:
        raise UsageError(f"bad quiet hours {quoted(words[0])}: write a start and an end, e.g. 22:00-07:00")
    start, end = parse_time(start_text), parse_time(end_text)
    if start == end:
        raise UsageError("quiet hours need different start and end times")
    zone = parse_zone(" ".join(rest)) if rest else "UTC"
    return QuietHours(start, end, zone)


@dataclass(frozen=True)
class HeldAlert:
    """An alert kept back by quiet hours: whose, about which story, and since when."""

    key: str
    platform: str
    user_id: str
    story_id: int
    matched_kind: str
    matched_value: str
    release_at: datetime
    held_at: datetime


class QuietStore(Protocol):
    """People's quiet hours and the alerts they hold back (the store implements it)."""

    def get_quiet_hours(self, platform: str, user_id: str) -> QuietHours | None:
        """The person's own quiet hours, or None."""
        ...

    def set_quiet_hours(self, platform: str, user_id: str, quiet: QuietHours | None, now: datetime) -> None:
        """Set (or with None clear) the person's quiet hours."""
        ...

    def hold_alert(self, alert: HeldAlert) -> bool:
        """Keep ``alert`` until its release time; False when it is already held."""
        ...

    def due_held_alerts(self, now: datetime) -> list[HeldAlert]:
        """Held alerts whose release time has come, oldest first."""
        ...

    def drop_held_alert(self, key: str) -> None:
        """Forget a held alert (delivered, stale or muted)."""
        ...
