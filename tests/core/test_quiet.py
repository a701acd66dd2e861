"""Quiet hours: parsing, membership in the person's zone, and their end across DST changes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.core.quiet import QuietHours, parse_quiet
from bot.errors import UsageError


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    "words",
    [
        ["22:00-07:00", "Europe/Berlin"],
        ["22:00", "07:00", "europe/berlin"],
        ["10pm", "to", "7am", "Europe/Berlin"],
    ],
)
def test_quiet_hours_are_written_several_ways(words: list[str]) -> None:
    assert parse_quiet(words) == QuietHours("22:00", "07:00", "Europe/Berlin")


def test_quiet_hours_default_to_utc_and_bad_input_names_the_problem() -> None:
    assert parse_quiet(["12:00-14:00"]) == QuietHours("12:00", "14:00", "UTC")
    with pytest.raises(UsageError, match="bad time '25:00'"):
        parse_quiet(["22:00-25:00"])
    with pytest.raises(UsageError, match="unknown time zone 'Mars/Olympus'"):
        parse_quiet(["22:00-07:00", "Mars/Olympus"])
    with pytest.raises(UsageError, match="different start and end"):
        parse_quiet(["07:00-07:00"])
    with pytest.raises(UsageError, match="write /quiet HH:MM-HH:MM"):
        parse_quiet([])


def test_membership_is_in_the_persons_zone_and_may_span_midnight() -> None:
    night = QuietHours("22:00", "07:00", "America/New_York")
    assert night.contains(utc(2026, 11, 27, 3, 0))  # 22:00 in New York
    assert night.contains(utc(2026, 11, 27, 11, 59))  # 06:59
    assert not night.contains(utc(2026, 11, 27, 12, 0))  # 07:00
    assert not night.contains(utc(2026, 11, 27, 2, 59))  # 21:59
    lunch = QuietHours("12:00", "14:00", "UTC")
    assert lunch.contains(utc(2026, 11, 27, 13, 0)) and not lunch.contains(utc(2026, 11, 27, 14, 0))


def test_the_end_of_a_quiet_night_follows_the_clocks_across_dst() -> None:
    night = QuietHours("22:00", "07:00", "Europe/Berlin")
    # Berlin springs forward on 29 March 2026: 07:00 that morning is 05:00 UTC, not 06:00
    assert night.ends_after(utc(2026, 3, 28, 21, 30)) == utc(2026, 3, 29, 5, 0)
    # and falls back on 25 October 2026: 07:00 is 06:00 UTC
    assert night.ends_after(utc(2026, 10, 24, 21, 30)) == utc(2026, 10, 25, 6, 0)
    # asked at 03:00 local, the end is the same morning
    assert night.ends_after(utc(2026, 11, 27, 2, 0)) == utc(2026, 11, 27, 6, 0)
