"""The delivery and alert settings: digest max lateness, quiet hours, alerts per hour."""

from __future__ import annotations

import pytest

from bot.config import Settings
from bot.errors import ConfigError


def test_defaults() -> None:
    s = Settings.load({})
    assert (s.digest_max_late, s.quiet_hours, s.alerts_per_hour) == (3 * 3600, None, 5)


@pytest.mark.parametrize(
    ("raw", "seconds"), [("3h", 10800), ("90m", 5400), ("1d", 86400), ("45s", 45), ("600", 600), ("0", 0)]
)
def test_max_late_durations(raw: str, seconds: int) -> None:
    assert Settings.load({"BRIEFBOT_DIGEST_MAX_LATE": raw}).digest_max_late == seconds


def test_quiet_hours_and_cap() -> None:
    s = Settings.load({"BRIEFBOT_QUIET_HOURS": " 22:00 - 07:00 ", "BRIEFBOT_ALERTS_PER_HOUR": "2"})
    assert (s.quiet_hours, s.alerts_per_hour) == (("22:00", "07:00"), 2)
    assert Settings.load({"BRIEFBOT_QUIET_HOURS": ""}).quiet_hours is None


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("BRIEFBOT_DIGEST_MAX_LATE", "soon"),
        ("BRIEFBOT_DIGEST_MAX_LATE", "-1h"),
        ("BRIEFBOT_QUIET_HOURS", "22-7"),
        ("BRIEFBOT_QUIET_HOURS", "22:00-22:00"),
        ("BRIEFBOT_QUIET_HOURS", "25:00-07:00"),
        ("BRIEFBOT_ALERTS_PER_HOUR", "0"),
    ],
)
def test_bad_values_name_the_setting(name: str, raw: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.load({name: raw})
