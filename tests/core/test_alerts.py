"""Breaking alerts on the real store (both backends): matching, mutes, quiet hours, cap, once per story."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.core.alerts import Alerter, alert_key
from bot.core.analysis import Analyzer
from bot.core.delivery import Outbox
from bot.core.extract import default_gazetteer, default_taxonomy
from bot.core.models import ParsedEntry
from bot.core.quiet import QuietHours, parse_quiet
from bot.core.subscriptions import Subscription, user_scope
from bot.store import SqlStore

DAY = datetime(2026, 11, 26, 12, tzinfo=UTC)

AMD = (
    "AMD and OpenAI announce strategic partnership to deploy 6 gigawatts of AMD GPUs",
    "AMD and OpenAI announced a multi-year agreement under which OpenAI will deploy 6 gigawatts "
    "of AMD Instinct GPUs, starting with 1 gigawatt of MI450 chips in the second half of 2026.",
)
INTEL = (
    "Intel ships Gaudi 3 to datacenter customers with liquid cooling",
    "Intel said Gaudi 3 accelerators are now shipping to datacenter customers in volume, with Dell and "
    "Supermicro systems available this quarter.",
)
OLD = (
    "Nvidia books record quarter on Blackwell demand",
    "Nvidia reported record data center revenue as Blackwell GPUs shipped to cloud providers.",
)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.value = now

    def now(self) -> datetime:
        return self.value


class Recording:
    def __init__(self) -> None:
        self.posts: list[tuple[str, str, dict[str, Any]]] = []

    def post(self, destination: str, payload: Mapping[str, Any], key: str) -> None:
        self.posts.append((destination, key, dict(payload)))

    def already_delivered(self, destination: str, key: str) -> bool:
        return False


def _entry(key: str, title: str, text: str) -> ParsedEntry:
    url = f"https://news.example/{key}"
    return ParsedEntry(
        item_id=key, url=url, canonical_url=url, title=title, text=text, summary=text[:80], published=DAY
    )


def _stories(store: SqlStore, clock: Clock) -> tuple[list[int], dict[str, int]]:
    """Two fresh stories and one from a feed's backfill; returns the analyzer's story ids and ids by name."""
    fresh, _ = store.add_feed("https://news.example/feed", topic=None, title="Example", now=DAY)
    first, _ = store.add_feed("https://other.example/feed", topic=None, title="Other", now=DAY)
    store.store_entries(fresh, [_entry("amd", *AMD), _entry("intel", *INTEL)], now=DAY, backfill=False)
    store.store_entries(first, [_entry("old", *OLD)], now=DAY, backfill=True)
    report = Analyzer(store, default_taxonomy(), default_gazetteer(), clock).run()
    by_name = {s.headline.split()[0]: s.id for s in store.list_stories()}
    return report.story_ids, by_name


def _subscribe(store: SqlStore, user: str, kind: str, value: str) -> None:
    store.add_subscription(Subscription("slack", user, kind, value), DAY)


def _alerter(store: SqlStore, clock: Clock, publisher: Recording, **kw: Any) -> Alerter:
    return Alerter(store, Outbox(store, publisher, clock, sleep=lambda s: None), clock, **kw)


def test_subscribers_get_one_alert_per_story_and_backfill_never(store: SqlStore) -> None:
    clock = Clock(DAY + timedelta(hours=1))
    ids, by_name = _stories(store, clock)
    assert len(ids) == 3
    _subscribe(store, "U1", "company", "AMD")
    _subscribe(store, "U1", "company", "OpenAI")  # two matches, one alert
    _subscribe(store, "U2", "keyword", "liquid cooling")
    _subscribe(store, "U3", "company", "Nvidia")  # only in the backfilled story
    _subscribe(store, "U4", "company", "Microsoft")  # in nothing
    publisher = Recording()
    report = _alerter(store, clock, publisher).run(ids)
    sent = sorted((dest, key) for dest, key, _ in publisher.posts)
    assert sent == [
        ("slack:U1", alert_key("slack", "U1", by_name["AMD"])),
        ("slack:U2", alert_key("slack", "U2", by_name["Intel"])),
    ]
    assert (report.stories, report.sent) == (2, 2)
    payload = next(p for d, _, p in publisher.posts if d == "slack:U1")
    assert payload["kind"] == "alert" and payload["story_id"] == by_name["AMD"]
    assert payload["text"].startswith("**Breaking:** AMD") and "company AMD" in payload["text"]

    again = _alerter(store, clock, publisher).run(ids)  # the same stories again: nothing new
    assert (again.sent, again.already) == (0, 2) and len(publisher.posts) == 2


def test_mutes_and_quiet_hours_hold_alerts_back(store: SqlStore) -> None:
    clock = Clock(datetime(2026, 11, 26, 23, 30, tzinfo=UTC))
    ids, _ = _stories(store, clock)
    _subscribe(store, "U1", "company", "AMD")
    _subscribe(store, "U2", "company", "Intel")
    store.add_mute(user_scope("slack", "U2"), "gaudi", DAY)
    publisher = Recording()
    quiet = _alerter(store, clock, publisher, quiet_hours=("22:00", "07:00")).run(ids)
    assert (quiet.sent, quiet.quiet, quiet.muted) == (0, 1, 1) and publisher.posts == []
    clock.value = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)
    morning = _alerter(store, clock, publisher, quiet_hours=("22:00", "07:00")).run(ids)
    assert (morning.sent, morning.muted) == (1, 1)
    assert [d for d, _, _ in publisher.posts] == ["slack:U1"]


def test_the_hourly_cap_per_person(store: SqlStore) -> None:
    clock = Clock(DAY + timedelta(hours=1))
    ids, _ = _stories(store, clock)
    _subscribe(store, "U1", "topic", "chips")
    _subscribe(store, "U1", "company", "AMD")
    _subscribe(store, "U1", "company", "Intel")
    publisher = Recording()
    report = _alerter(store, clock, publisher, per_hour=1).run(ids)
    assert (report.sent, report.capped) == (1, 1)
    clock.value += timedelta(hours=1, minutes=1)  # an hour later the cap has room again
    later = _alerter(store, clock, publisher, per_hour=1).run(ids)
    assert (later.sent, later.already) == (1, 1)
    assert len(publisher.posts) == 2


def test_an_alert_in_a_persons_quiet_hours_waits_in_their_zone_then_arrives(store: SqlStore) -> None:
    """U1 sleeps 22:00-07:00 in Berlin: at 22:30 there the alert is held (U2, who set
    nothing, gets it at once); at 07:00 Berlin it arrives without any new story."""
    clock = Clock(datetime(2026, 11, 26, 21, 30, tzinfo=UTC))  # 22:30 in Berlin
    ids, by_name = _stories(store, clock)
    _subscribe(store, "U1", "company", "AMD")
    _subscribe(store, "U2", "company", "AMD")
    store.set_quiet_hours("slack", "U1", parse_quiet(["22:00-07:00", "Europe/Berlin"]), DAY)
    publisher = Recording()
    alerter = _alerter(store, clock, publisher)
    night = alerter.run(ids)
    assert (night.sent, night.quiet) == (1, 1)
    assert [d for d, _, _ in publisher.posts] == ["slack:U2"]

    clock.value = datetime(2026, 11, 27, 5, 59, tzinfo=UTC)  # 06:59 in Berlin: still quiet
    assert alerter.release_held().released == 0 and len(publisher.posts) == 1
    clock.value = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)  # 07:00 in Berlin
    morning = alerter.release_held()
    assert (morning.released, morning.sent) == (1, 1)
    assert publisher.posts[-1][:2] == ("slack:U1", alert_key("slack", "U1", by_name["AMD"]))
    assert alerter.release_held().released == 0 and len(publisher.posts) == 2  # once only
    assert alerter.run(ids).sent == 0


def test_held_alerts_muted_meanwhile_or_too_old_are_dropped(store: SqlStore) -> None:
    clock = Clock(datetime(2026, 11, 26, 23, 0, tzinfo=UTC))
    ids, _ = _stories(store, clock)
    _subscribe(store, "U1", "company", "AMD")
    _subscribe(store, "U2", "company", "Intel")
    for user in ("U1", "U2"):
        store.set_quiet_hours("slack", user, QuietHours("22:00", "07:00", "UTC"), DAY)
    publisher = Recording()
    alerter = _alerter(store, clock, publisher)
    assert alerter.run(ids).quiet == 2
    store.add_mute(user_scope("slack", "U2"), "gaudi", DAY)  # U2 mutes it during the night
    clock.value = datetime(2026, 11, 28, 7, 0, tzinfo=UTC)  # the bot was down a day: U1's is stale
    report = alerter.release_held()
    assert (report.released, report.stale) == (0, 2) and publisher.posts == []
    assert store.due_held_alerts(clock.value) == []


def test_moving_quiet_hours_keeps_a_held_alert_waiting(store: SqlStore) -> None:
    clock = Clock(datetime(2026, 11, 26, 23, 0, tzinfo=UTC))
    ids, _ = _stories(store, clock)
    _subscribe(store, "U1", "company", "AMD")
    store.set_quiet_hours("slack", "U1", QuietHours("22:00", "07:00", "UTC"), DAY)
    publisher = Recording()
    alerter = _alerter(store, clock, publisher)
    assert alerter.run(ids).quiet == 1
    store.set_quiet_hours("slack", "U1", QuietHours("22:00", "09:00", "UTC"), DAY)  # sleeps in
    clock.value = datetime(2026, 11, 27, 7, 30, tzinfo=UTC)
    assert alerter.release_held().quiet == 1 and publisher.posts == []
    clock.value = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    assert alerter.release_held().released == 1 and len(publisher.posts) == 1


def test_the_default_quiet_hours_apply_to_people_without_their_own(store: SqlStore) -> None:
    clock = Clock(datetime(2026, 11, 26, 23, 30, tzinfo=UTC))
    ids, _ = _stories(store, clock)
    _subscribe(store, "U1", "company", "AMD")
    _subscribe(store, "U2", "company", "AMD")
    store.set_quiet_hours("slack", "U2", QuietHours("01:00", "02:00", "UTC"), DAY)  # a night owl
    publisher = Recording()
    report = _alerter(store, clock, publisher, quiet_hours=("22:00", "07:00")).run(ids)
    assert (report.sent, report.quiet) == (1, 1) and [d for d, _, _ in publisher.posts] == ["slack:U2"]
