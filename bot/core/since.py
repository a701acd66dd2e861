"""Parsing the ``--since`` argument: "24h", "7d", "2w", "90m", "2025-11-01", "all"."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from bot.errors import UsageError

_RELATIVE = re.compile(r"^(\d+)\s*([mhdw])$", re.I)
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, now: datetime) -> datetime | None:
    """The start of the window, or None for "all"; a bad value is a one-line UsageError."""
    value = text.strip().lower()
    if value in {"all", "0", ""}:
        return None
    m = _RELATIVE.match(value)
    if m:
        return now - timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    try:
        day = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(
            f"--since {text!r} is not a duration (24h, 7d, 2w), a date (2025-11-01) or 'all'"
        ) from None
    return day.replace(tzinfo=UTC) if day.tzinfo is None else day.astimezone(UTC)
