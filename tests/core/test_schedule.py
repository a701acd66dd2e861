"""Digest slots: wall-clock times in each channel's zone, across DST changes, and missed slots."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.core.schedule import due_digests, next_digest, slot_label
from bot.core.subscriptions import Channel


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_weekdays_at_nine_in_berlin_skip_the_weekend() -> None:
    berlin = Channel("slack", "C1", at="09:00", tz="Europe/Berlin", days="weekdays")
    friday_after = utc(2026, 11, 27, 8, 0, 1)  # Friday 09:00:01 CET
    assert next_digest(berlin, utc(2026, 11, 27, 7)) == utc(2026, 11, 27, 8)
    assert next_digest(berlin, utc(2026, 11, 27, 8)) == utc(2026, 11, 30, 8)  # strictly after
    assert next_digest(berlin, friday_after) == utc(2026, 11, 30, 8)  # Monday


def test_chosen_days_and_daily() -> None:
    monwed = Channel("slack", "C1", at="17:30", tz="UTC", days="mon,wed")
    assert next_digest(monwed, utc(2026, 11, 24, 18)) == utc(2026, 11, 25, 17, 30)  # Tue -> Wed
    assert next_digest(monwed, utc(2026, 11, 25, 18)) == utc(2026, 11, 30, 17, 30)  # Wed -> Mon
    daily = Channel("slack", "C1", at="06:00", tz="UTC", days="daily")
    assert next_digest(daily, utc(2026, 11, 28, 7)) == utc(2026, 11, 29, 6)  # Saturday -> Sunday


def test_berlin_keeps_wall_time_across_spring_forward_and_fall_back() -> None:
    berlin = Channel("slack", "C1", at="09:00", tz="Europe/Berlin", days="daily")
    # 2026-03-29: clocks go 02:00 CET -> 03:00 CEST
    assert next_digest(berlin, utc(2026, 3, 28, 9)) == utc(2026, 3, 29, 7)  # 09:00 CEST
    assert next_digest(berlin, utc(2026, 3, 27, 9)) == utc(2026, 3, 28, 8)  # 09:00 CET
    # 2026-10-25: clocks go 03:00 CEST -> 02:00 CET
    assert next_digest(berlin, utc(2026, 10, 24, 8)) == utc(2026, 10, 25, 8)  # 09:00 CET
    assert next_digest(berlin, utc(2026, 10, 23, 8)) == utc(2026, 10, 24, 7)  # 09:00 CEST


def test_a_skipped_wall_time_posts_when_the_clocks_jump_and_a_repeated_one_once() -> None:
    night = Channel("slack", "C1", at="02:30", tz="Europe/Berlin", days="daily")
    spring = next_digest(night, utc(2026, 3, 28, 12))
    assert spring == utc(2026, 3, 29, 1, 30)  # 03:30 CEST: 02:30 does not exist that night
    assert slot_label(night, spring) == "2026-03-29T03:30+02:00"
    first = next_digest(night, utc(2026, 10, 24, 12))
    assert first == utc(2026, 10, 25, 0, 30)  # 02:30 CEST, the first of the two 02:30s
    assert next_digest(night, first) == utc(2026, 10, 26, 1, 30)  # not 02:30 CET an hour later


def test_new_york_across_its_dst_changes() -> None:
    ny = Channel("slack", "C1", at="08:00", tz="America/New_York", days="weekdays")
    # 2026-03-08 (Sunday) spring forward; Friday 6th is EST, Monday 9th is EDT
    assert next_digest(ny, utc(2026, 3, 6, 14)) == utc(2026, 3, 9, 12)
    assert next_digest(ny, utc(2026, 3, 5, 14)) == utc(2026, 3, 6, 13)
    # 2026-11-01 (Sunday) fall back; Monday 2nd is EST again
    assert next_digest(ny, utc(2026, 10, 30, 13)) == utc(2026, 11, 2, 13)
    assert slot_label(ny, utc(2026, 11, 2, 13)) == "2026-11-02T08:00-05:00"


def test_the_same_instant_is_different_local_slots_per_zone() -> None:
    tokyo = Channel("slack", "C1", at="09:00", tz="Asia/Tokyo", days="daily")
    paris = Channel("slack", "C2", at="09:00", tz="Europe/Paris", days="daily")
    after = utc(2026, 11, 26, 0, 30)
    assert next_digest(tokyo, after) == utc(2026, 11, 27, 0)
    assert next_digest(paris, after) == utc(2026, 11, 26, 8)


def test_naive_instants_are_refused() -> None:
    with pytest.raises(ValueError):
        next_digest(Channel("slack", "C1"), datetime(2026, 11, 26, 9))


def test_due_digests_on_time_and_not_twice() -> None:
    berlin = Channel("slack", "C1", at="09:00", tz="Europe/Berlin", days="daily")
    plan = due_digests([berlin], utc(2026, 11, 26, 7, 59), utc(2026, 11, 26, 8, 0, 5))
    assert plan.due == [(berlin, utc(2026, 11, 26, 8))] and plan.skipped == []
    again = due_digests([berlin], utc(2026, 11, 26, 8, 0, 5), utc(2026, 11, 26, 8, 1))
    assert again.due == [] and again.skipped == []


def test_a_missed_slot_is_posted_late_once_if_young_enough() -> None:
    berlin = Channel("slack", "C1", at="09:00", tz="Europe/Berlin", days="daily")
    down = utc(2026, 11, 26, 6)
    late = due_digests([berlin], down, utc(2026, 11, 26, 10, 30))  # 2.5 h late, max 3 h
    assert late.due == [(berlin, utc(2026, 11, 26, 8))]
    too_late = due_digests([berlin], down, utc(2026, 11, 26, 11, 30), max_late=timedelta(hours=3))
    assert too_late.due == [] and too_late.skipped == [(berlin, utc(2026, 11, 26, 8))]


def test_after_days_down_only_the_newest_young_slot_is_posted() -> None:
    ny = Channel("slack", "C1", at="08:00", tz="America/New_York", days="daily")
    plan = due_digests([ny], utc(2026, 11, 20, 0), utc(2026, 11, 26, 14))  # 09:00 EST: an hour late
    assert plan.due == [(ny, utc(2026, 11, 26, 13))]
    assert [s for _, s in plan.skipped] == [utc(2026, 11, d, 13) for d in range(20, 26)]


def test_per_channel_last_runs_and_disabled_channels() -> None:
    created = utc(2026, 11, 26, 7)
    a = Channel("slack", "A", at="09:00", tz="UTC", days="daily", created_at=created)
    b = Channel("slack", "B", at="09:00", tz="UTC", days="daily", created_at=created)
    off = Channel("slack", "X", at="09:00", tz="UTC", days="daily", created_at=created, enabled=False)
    now = utc(2026, 11, 26, 9, 5)
    plan = due_digests([a, b, off], {"slack:B": utc(2026, 11, 26, 9, 1)}, now)
    assert plan.due == [(a, utc(2026, 11, 26, 9))]  # A from its creation; B already ran; X is off
