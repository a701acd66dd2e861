"""A person's digest by direct message: due once on a frozen clock, their subscriptions minus mutes."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Collection, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.adapters.console_publisher import ConsolePublisher
from bot.config import Settings
from bot.core.delivery import POSTED, PermanentError
from bot.core.models import ParsedEntry
from bot.core.subscriptions import Subscription
from bot.runtime.scheduler import BotScheduler, Publishers
from bot.runtime.slack import SlackHome
from bot.runtime.wiring import App, build
from tests.cli.test_console import TPU_NEWS

START = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)  # 08:00 in Berlin
DUE = datetime(2026, 11, 26, 8, 0, 30, tzinfo=UTC)  # 09:00:30 in Berlin
KEY = "digest:console:user:{}:2026-11-26T09:00+01:00"
HEADER = "# AI infrastructure briefing"
GAUDI = "Intel ships Gaudi 3 to datacenter customers"
BLACKWELL = "Nvidia sells Blackwell racks to Microsoft"
COOLING = "Operator adds liquid cooling to its Texas campus"
OTHERS = [
    ("gaudi", GAUDI, "Intel said Gaudi 3 accelerators are now shipping to datacenter customers in volume."),
    ("blackwell", BLACKWELL, "Nvidia will sell Blackwell GPU racks to Microsoft for its new Wisconsin site."),
    ("cooling", COOLING, "The operator said liquid cooling loops now serve every hall at the Texas campus."),
]


class FrozenClock:
    def __init__(self, now: datetime) -> None:
        self.value = now

    def now(self) -> datetime:
        return self.value


@pytest.fixture
def app(env: dict[str, str]) -> Iterator[tuple[App, FrozenClock]]:
    clock = FrozenClock(START)
    built = build(Settings.load(), clock=clock)  # type: ignore[arg-type]
    feed, _ = built.store.add_feed("https://news.example/feed", topic=None, title="Wire", now=START)
    news = [(key, title, text) for key, title, text, _ in TPU_NEWS] + OTHERS
    items = [
        ParsedEntry(
            item_id=key, url=f"https://{key}.example/", canonical_url=f"https://{key}.example/",
            title=title, text=text, summary=text[:80], published=START - timedelta(hours=2),
        )
        for key, title, text in news
    ]  # fmt: skip
    built.store.store_entries(feed, items, now=START, backfill=False)
    built.service.analyze()
    for user in ("U1", "U2"):
        built.service.set_personal_digest("console", user, at="09:00", tz="Europe/Berlin", days="daily")
    yield built, clock
    asyncio.run(built.aclose())


def _jobs(app: App, out: io.StringIO) -> BotScheduler:
    return BotScheduler(app, Publishers({"console": ConsolePublisher(out)}))


def test_a_personal_digest_is_posted_once_to_the_person_with_their_stories_minus_mutes(
    app: tuple[App, FrozenClock],
) -> None:
    built, clock = app
    for kind, value in (("chip", "Ironwood"), ("company", "Nvidia"), ("keyword", "liquid cooling")):
        built.store.add_subscription(Subscription("console", "U1", kind, value), START)
    built.service.mute("user:console:U1", "Microsoft")  # leaves out the Nvidia story
    out = io.StringIO()
    jobs = _jobs(built, out)
    assert jobs.run_digests(["console:user:U1"]) == {}  # 08:00 Berlin: not yet
    clock.value = DUE
    key = KEY.format("U1")
    assert jobs.run_digests(["console:user:U1"]) == {key: "posted"}
    assert jobs.run_digests(["console:user:U1"]) == {}
    asyncio.run(jobs.digest_job("console:user:U1"))  # the cron job firing again changes nothing
    text = out.getvalue()
    assert text.count(HEADER) == 1
    assert "Ironwood" in text and COOLING in text
    assert GAUDI not in text and BLACKWELL not in text
    row = built.store.get_delivery(key)
    assert row is not None and row.state == POSTED and row.destination == "console:U1"
    assert [d.destination for d in built.store.list_deliveries()] == ["console:U1"]


def test_a_person_who_follows_nothing_gets_every_story(app: tuple[App, FrozenClock]) -> None:
    built, clock = app
    clock.value = DUE
    out = io.StringIO()
    assert _jobs(built, out).run_digests(["console:user:U2"]) == {KEY.format("U2"): "posted"}
    text = out.getvalue()
    assert text.count(HEADER) == 1
    assert all(headline in text for headline in (GAUDI, BLACKWELL, COOLING)) and "Ironwood" in text
    assert built.store.get_delivery(KEY.format("U2")).destination == "console:U2"  # type: ignore[union-attr]


class GonePublisher:
    def post(self, destination: str, payload: Mapping[str, Any], key: str) -> None:
        raise PermanentError("user not found")

    def already_delivered(self, destination: str, key: str) -> bool:
        return False


def test_a_direct_message_failing_for_good_turns_that_personal_digest_off(
    app: tuple[App, FrozenClock],
) -> None:
    built, clock = app
    clock.value = DUE
    jobs = BotScheduler(built, Publishers({"console": GonePublisher()}))
    assert jobs.run_digests(["console:user:U1"]) == {KEY.format("U1"): "failed"}
    mine, other = (
        built.service.personal_digest("console", "U1"),
        built.service.personal_digest("console", "U2"),
    )
    assert mine is not None and not mine.enabled
    assert other is not None and other.enabled


class Briefings:
    def recent_briefings(
        self, prefix: str = "", limit: int = 5, channels: Collection[str] | None = None
    ) -> list[tuple[str, datetime, str]]:
        rows = [("slack:user:U7", START, "U7's own digest"), ("slack:C1", START, "the channel's")]
        return [r for r in rows if channels is None or r[0] in channels]


def test_the_slack_home_tab_leaves_out_other_peoples_digests(app: tuple[App, FrozenClock]) -> None:
    built, _ = app
    built.service.set_channel("slack", "C1", at="09:00")
    built.service.set_personal_digest("slack", "U7", at="08:00")
    home = SlackHome(built.service, Briefings())
    for_u1 = home.home("U1", member_of=lambda channels: set(channels))  # U1 is in C1
    assert [c for c, _ in for_u1.channels] == ["C1"]
    assert [b[0] for b in for_u1.briefings] == ["C1"]
    for_u7 = home.home("U7", member_of=lambda channels: set())  # U7 is in no channel
    assert [c for c, _ in for_u7.channels] == ["user:U7"]
    assert [b[0] for b in for_u7.briefings] == ["user:U7"]
