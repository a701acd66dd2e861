"""When each channel's digest is due: wall-clock slots in the channel's own time zone.

A channel posts at ``at`` (HH:MM) in its IANA zone ``tz`` on ``days``. :func:`next_digest`
gives the first slot after an instant, in UTC. Across a DST change the wall time is
kept: 09:00 Europe/Berlin is 08:00 UTC in winter and 07:00 UTC in summer. A time the
clocks skip (02:30 on the spring-forward night) is posted when the clocks jump, at the
same distance past the gap (03:30 local, what the wall clock would say without the jump);
a time that occurs twice (02:30 on the fall-back night) is posted once, at its first
occurrence.

:func:`due_digests` turns a window ``(last_run, now]`` into the slots to post now: a slot
missed during downtime is posted late once if it is younger than ``max_late``; older
ones, and every slot but the newest of a channel, are skipped and reported.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

from bot.core.subscriptions import Channel, day_numbers

DEFAULT_MAX_LATE = timedelta(hours=3)
_MAX_SLOTS = 1000  # slots looked at per channel and window (a year of daily digests and more)


def next_digest(channel: Channel, after: datetime) -> datetime:
    """The channel's first digest slot strictly after ``after`` (timezone-aware), in UTC."""
    if after.tzinfo is None:
        raise ValueError("next_digest needs a timezone-aware datetime")
    zone = zoneinfo.ZoneInfo(channel.tz)
    hour, minute = (int(p) for p in channel.at.split(":"))
    days = set(day_numbers(channel.days))
    start = after.astimezone(zone).date()
    for offset in range(9):  # today and the next eight days cover every days value
        day = start + timedelta(days=offset)
        if day.weekday() not in days:
            continue
        slot = datetime.combine(day, time(hour, minute), tzinfo=zone).astimezone(UTC)
        if slot > after:
            return slot
    raise AssertionError(f"no digest day in {channel.days!r}")  # pragma: no cover - days is never empty


def slot_label(channel: Channel, slot: datetime) -> str:
    """A slot as the channel's local time with its offset, e.g. ``2026-11-26T09:00+01:00`` (outbox keys)."""
    return slot.astimezone(zoneinfo.ZoneInfo(channel.tz)).isoformat(timespec="minutes")


@dataclass
class DigestPlan:
    """What :func:`due_digests` found: slots to post now, and missed slots skipped."""

    due: list[tuple[Channel, datetime]] = field(default_factory=list)
    skipped: list[tuple[Channel, datetime]] = field(default_factory=list)


def due_digests(
    channels: Sequence[Channel],
    last_run: datetime | Mapping[str, datetime],
    now: datetime,
    *,
    max_late: timedelta = DEFAULT_MAX_LATE,
) -> DigestPlan:
    """The (channel, slot) pairs to post at ``now`` for slots in ``(last_run, now]``.

    ``last_run`` is one instant for every channel or a mapping by channel key (a channel
    missing from it starts at its ``created_at``, else at ``now``). Per enabled channel,
    the newest slot in the window is due if ``now - slot <= max_late``; every other slot
    in the window is skipped.
    """
    plan = DigestPlan()
    for channel in channels:
        if not channel.enabled:
            continue
        if isinstance(last_run, datetime):
            start = last_run
        else:
            start = last_run.get(channel.key) or channel.created_at or now
        slots: list[datetime] = []
        slot = next_digest(channel, start)
        while slot <= now and len(slots) < _MAX_SLOTS:
            slots.append(slot)
            slot = next_digest(channel, slot)
        if not slots:
            continue
        newest = slots[-1]
        plan.skipped += [(channel, s) for s in slots[:-1]]
        if now - newest <= max_late:
            plan.due.append((channel, newest))
        else:
            plan.skipped.append((channel, newest))
    return plan
