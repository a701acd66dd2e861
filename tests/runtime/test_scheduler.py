"""The jobs of `briefbot run`: console digests posted exactly once, driven with a frozen clock."""

from __future__ import annotations

import asyncio
import io
import itertools
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.console_publisher import ConsolePublisher
from bot.config import Settings
from bot.core.delivery import POSTED
from bot.core.models import ParsedEntry
from bot.core.quiet import QuietHours
from bot.core.subscriptions import Subscription
from bot.runtime.scheduler import FEED_TICK, LAST_RUN, BotScheduler, Publishers, feeds_trigger
from bot.runtime.slack import slack_publisher
from bot.runtime.wiring import App, build
from tests.cli.test_console import TPU_NEWS
from tests.cli.test_story_commands import rss
from tests.support.cli import run_cli
from tests.support.feedserver import FeedServer
from tests.support.slack_server import FakeSlack
from tests.support.slack_server import slack_api as slack_api

START = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)  # 08:00 in Berlin
DUE = datetime(2026, 11, 26, 8, 0, 30, tzinfo=UTC)  # 09:00:30 in Berlin
KEY = "digest:console:console:2026-11-26T09:00+01:00"
HEADER = "# AI infrastructure briefing"


class FrozenClock:
    def __init__(self, now: datetime) -> None:
        self.value = now

    def now(self) -> datetime:
        return self.value


class Crash(BaseException):
    """The process dying between claim and post."""


class CrashingPublisher:
    def post(self, destination: str, payload: Mapping[str, Any], key: str) -> None:
        raise Crash()

    def already_delivered(self, destination: str, key: str) -> bool:
        return False


@pytest.fixture
def app(env: dict[str, str]) -> Iterator[tuple[App, FrozenClock]]:
    clock = FrozenClock(START)
    built = build(Settings.load(), clock=clock)  # type: ignore[arg-type]
    feed, _ = built.store.add_feed("https://news.example/feed", topic=None, title="TPU Wire", now=START)
    items = [
        ParsedEntry(
            item_id=key, url=f"https://{key}.example/", canonical_url=f"https://{key}.example/",
            title=title, text=text, summary=text[:80], published=START - timedelta(hours=2),
        )
        for key, title, text, _ in TPU_NEWS
    ]  # fmt: skip
    built.store.store_entries(feed, items, now=START, backfill=False)
    built.service.analyze()
    built.service.set_channel("console", "console", at="09:00", tz="Europe/Berlin", days="daily")
    yield built, clock
    asyncio.run(built.aclose())


def _jobs(app: App, out: io.StringIO) -> BotScheduler:
    return BotScheduler(app, Publishers({"console": ConsolePublisher(out)}))


def test_a_due_console_digest_is_posted_exactly_once(app: tuple[App, FrozenClock]) -> None:
    built, clock = app
    out = io.StringIO()
    jobs = _jobs(built, out)
    assert jobs.run_digests() == {}  # 08:00 Berlin: not yet
    clock.value = DUE
    assert jobs.run_digests() == {KEY: "posted"}
    assert jobs.run_digests() == {}
    asyncio.run(jobs.digest_job("console:console"))  # the cron job firing again changes nothing
    asyncio.run(_jobs(built, out).startup())  # nor does a restart
    assert out.getvalue().count(HEADER) == 1 and "Ironwood" in out.getvalue()
    row = built.store.get_delivery(KEY)
    assert row is not None and row.state == POSTED and row.destination == "console:console"
    assert row.payload["kind"] == "digest" and row.payload["briefing"]["sections"]


def test_a_crash_between_claim_and_post_posts_the_digest_once_after_restart(
    app: tuple[App, FrozenClock],
) -> None:
    built, clock = app
    clock.value = DUE
    crashing = BotScheduler(built, Publishers({"console": CrashingPublisher()}))
    with pytest.raises(Crash):
        crashing.run_digests()
    out = io.StringIO()
    restarted = _jobs(built, out)
    asyncio.run(restarted.startup())
    assert restarted.run_digests() == {}
    assert out.getvalue().count(HEADER) == 1


def test_a_digest_missed_too_long_ago_is_skipped_and_recorded(
    app: tuple[App, FrozenClock], caplog: pytest.LogCaptureFixture
) -> None:
    built, clock = app
    clock.value = DUE + timedelta(hours=3, minutes=1)
    out = io.StringIO()
    assert _jobs(built, out).run_digests() == {KEY: "missed"}
    assert out.getvalue() == ""
    assert [e.kind for e in built.store.list_events()] == ["digest_skipped"]
    assert "digest for console:console at 2026-11-26T09:00+01:00 missed" in caplog.text


def test_alerts_reach_console_subscribers_once(app: tuple[App, FrozenClock]) -> None:
    built, _ = app
    built.store.add_subscription(Subscription("console", "local", "chip", "Ironwood"), START)
    built.store.add_subscription(Subscription("slack", "U1", "chip", "Ironwood"), START)  # no Slack here
    ids = [s.id for s in built.store.list_stories()]
    out = io.StringIO()
    jobs = _jobs(built, out)
    assert jobs.alerts(ids).sent == 1
    assert jobs.alerts(ids).sent == 0
    assert out.getvalue().count("**Breaking:**") == 1
    assert [d.destination for d in built.store.list_deliveries()] == ["console:local"]


def test_an_alert_held_by_quiet_hours_arrives_with_a_later_pass(app: tuple[App, FrozenClock]) -> None:
    """The feed job's alert pass at 08:00 Berlin holds the alert of someone asleep until
    08:30 there; a later pass with no new story delivers it, once."""
    built, clock = app
    built.store.add_subscription(Subscription("console", "local", "chip", "Ironwood"), START)
    built.service.set_quiet_hours("console", "local", QuietHours("22:00", "08:30", "Europe/Berlin"))
    ids = [s.id for s in built.store.list_stories()]
    out = io.StringIO()
    jobs = _jobs(built, out)
    held = jobs.alerts(ids)
    assert (held.sent, held.quiet) == (0, 1) and out.getvalue() == ""
    clock.value = START + timedelta(minutes=30)  # 08:30 in Berlin
    later = jobs.alerts([])
    assert (later.sent, later.released) == (1, 1)
    assert jobs.alerts([]).sent == 0 and jobs.alerts(ids).sent == 0
    assert out.getvalue().count("**Breaking:**") == 1


def test_jobs_are_rebuilt_with_stable_ids_in_each_channels_zone(app: tuple[App, FrozenClock]) -> None:
    built, _ = app
    built.service.set_channel("console", "ny", at="08:00", tz="America/New_York", days="weekdays")
    built.service.set_channel("slack", "C1")  # no Slack adapter in this run: no job

    async def scenario() -> dict[str, datetime]:
        jobs = _jobs(built, io.StringIO())
        jobs.start()
        jobs.start()  # rebuilding replaces, never duplicates
        built.service.remove_channel("console", "ny")
        assert jobs.sync_digest_jobs() == ["digest:console:console"]
        built.service.set_channel("console", "ny", at="08:00", tz="America/New_York", days="weekdays")
        jobs.sync_digest_jobs()
        runs = {job.id: job.next_run_time for job in jobs.scheduler.get_jobs()}
        jobs.shutdown()
        return runs

    runs = asyncio.run(scenario())
    assert sorted(runs) == ["digest:console:console", "digest:console:ny", "feeds", "housekeeping"]
    berlin, ny = runs["digest:console:console"], runs["digest:console:ny"]
    assert (berlin.hour, berlin.minute, str(berlin.tzinfo)) == (9, 0, "Europe/Berlin")
    assert (ny.hour, ny.minute, str(ny.tzinfo)) == (8, 0, "America/New_York") and ny.weekday() < 5


def test_a_piped_run_posts_the_due_console_digest_once_and_exits(
    env: dict[str, str], feed_server: FeedServer, tmp_path: Path
) -> None:
    feed_server.feed("/tpu.xml", rss("TPU Wire", TPU_NEWS))
    now = datetime.now(UTC)
    slot = (now - timedelta(minutes=1)).strftime("%H:%M")
    built = build(Settings.load())
    built.service.add_feed(feed_server.url("/tpu.xml"))
    built.service.set_channel("console", "console", at=slot, tz="UTC", days="daily")
    built.store.set_meta(LAST_RUN + "console:console", (now - timedelta(hours=1)).isoformat())
    asyncio.run(built.aclose())

    def run() -> str:
        done = subprocess.run(
            [sys.executable, "-m", "bot", "run", "--limit", "0"],
            input=b"subscriptions\n",
            capture_output=True,
            cwd=tmp_path,
            env=dict(os.environ),
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr.decode()
        assert "Traceback" not in done.stderr.decode()
        return done.stdout.decode()

    first = run()
    assert first.count(HEADER) == 1 and "Ironwood" in first
    assert first.index(HEADER) < first.index("You follow nothing")  # before the console starts
    second = run()
    assert HEADER not in second


def test_the_feed_job_alerts_on_new_stories_but_not_on_backfill(
    env: dict[str, str], feed_server: FeedServer
) -> None:
    feed_server.feed("/tpu.xml", rss("TPU Wire", TPU_NEWS[:1]))
    clock = FrozenClock(datetime.now(UTC))
    built = build(Settings.load(), clock=clock)  # type: ignore[arg-type]
    try:
        built.service.add_feed(feed_server.url("/tpu.xml"))
        built.service.subscribe("console", "local", "Anthropic")
        out = io.StringIO()
        jobs = _jobs(built, out)
        asyncio.run(jobs.poll_job())  # the feed's first fetch is backfill: searchable, never alerted
        assert len(built.store.list_stories()) == 1 and "**Breaking:**" not in out.getvalue()
        feed_server.feed("/tpu.xml", rss("TPU Wire", TPU_NEWS))
        clock.value += timedelta(seconds=built.settings.feed_interval + 61)  # its interval and jitter
        asyncio.run(jobs.poll_job())
        asyncio.run(jobs.poll_job())
        assert out.getvalue().count("**Breaking:**") == 1 and "company Anthropic" in out.getvalue()
    finally:
        asyncio.run(built.aclose())


def test_each_feed_is_fetched_at_its_own_next_fetch_time(
    env: dict[str, str], feed_server: FeedServer
) -> None:
    """Over 55 simulated minutes of the feed job's firings: a healthy feed is fetched every 15
    minutes (plus its jitter), a failing one after 5, 10 and 20 minutes of backoff, each
    within a tick of its time, not at the next 15-minute pass."""
    feed_server.feed("/ok.xml", rss("TPU Wire", TPU_NEWS[:1]))
    feed_server.status("/down.xml", 503)
    start = datetime.now(UTC)
    clock = FrozenClock(start)
    built = build(Settings.load(), clock=clock)  # type: ignore[arg-type]
    try:
        paths = ("/ok.xml", "/down.xml")
        for path in paths:
            built.service.add_feed(feed_server.url(path))
        jobs = _jobs(built, io.StringIO())
        trigger = feeds_trigger(built.settings.feed_interval)
        fetched: dict[str, list[datetime]] = {path: [] for path in paths}
        fire = trigger.get_next_fire_time(None, start)
        while fire is not None and fire < start + timedelta(minutes=55):
            clock.value = fire
            before = {path: len(feed_server.requests_for(path)) for path in paths}
            asyncio.run(jobs.poll_job())
            for path in paths:
                if len(feed_server.requests_for(path)) > before[path]:
                    fetched[path].append(fire)
            fire = trigger.get_next_fire_time(fire, fire)
    finally:
        asyncio.run(built.aclose())

    def gaps(path: str) -> list[float]:
        times = fetched[path]
        return [(later - earlier).total_seconds() / 60 for earlier, later in itertools.pairwise(times)]

    tick = FEED_TICK / 60 + 0.2  # minutes: a firing and its jitter
    ok, down = gaps("/ok.xml"), gaps("/down.xml")
    assert len(ok) == 3 and all(15 <= gap <= 16 + tick for gap in ok), ok
    assert len(down) == 3, down
    for gap, backoff in zip(down, (5, 10, 20), strict=True):
        assert backoff <= gap <= backoff + tick, down


def test_a_digest_is_remembered_only_once_delivered(app: tuple[App, FrozenClock]) -> None:
    built, clock = app
    clock.value = DUE
    with pytest.raises(Crash):
        BotScheduler(built, Publishers({"console": CrashingPublisher()})).run_digests()
    assert built.store.last_briefing_at("console:console") is None  # claimed, not posted: not briefed
    out = io.StringIO()
    asyncio.run(_jobs(built, out).startup())
    assert out.getvalue().count(HEADER) == 1
    clock.value = DUE + timedelta(days=1)
    assert _jobs(built, out).run_digests() == {"digest:console:console:2026-11-27T09:00+01:00": "empty"}


AMD_NEWS = (
    "amd-deal",
    "OpenAI taps AMD for 6GW of Instinct chips in multi-year deal",
    "OpenAI agreed to deploy 6 gigawatts of AMD Instinct GPUs over several years, the first gigawatt "
    "of MI450 arriving in late 2026. The deal gives OpenAI a warrant for up to 160 million AMD shares.",
)


class Platform:
    """A chat platform that keeps what it was sent (like Slack's message metadata): the process
    may die right after the platform took a post (``crash_after``) or before (``crash_before``)."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, str]] = []  # (key, text)
        self.crash_before = self.crash_after = False

    def post(self, destination: str, payload: Mapping[str, Any], key: str) -> None:
        if self.crash_before:
            raise Crash()
        self.posts.append((key, str(payload["text"])))
        if self.crash_after:
            raise Crash()

    def already_delivered(self, destination: str, key: str) -> bool:
        return any(k == key for k, _ in self.posts)


@pytest.mark.parametrize("crash", ["before the post", "after the platform took it"])
def test_a_digest_settled_at_restart_is_remembered_so_the_next_does_not_repeat_it(
    app: tuple[App, FrozenClock], crash: str
) -> None:
    """Day 1 is posted; day 2's digest is claimed and the process dies (before the post, or
    after the platform took it but before the outbox marked it); the restart settles it from
    the stored payload; day 3, with nothing new, must not tell day 2's story again."""
    built, clock = app
    platform = Platform()
    clock.value = DUE
    assert BotScheduler(built, Publishers({"console": platform})).run_digests() == {KEY: "posted"}
    clock.value = DUE + timedelta(hours=20)
    feed = built.store.due_feeds(clock.value, include_not_due=True)[0]
    key, title, text = AMD_NEWS
    entry = ParsedEntry(
        item_id=key, url=f"https://{key}.example/", canonical_url=f"https://{key}.example/",
        title=title, text=text, summary=text[:80], published=clock.value - timedelta(hours=1),
    )  # fmt: skip
    built.store.store_entries(feed, [entry], now=clock.value, backfill=False)
    built.service.analyze()
    clock.value = DUE + timedelta(days=1)
    platform.crash_before, platform.crash_after = crash == "before the post", crash != "before the post"
    with pytest.raises(Crash):
        BotScheduler(built, Publishers({"console": platform})).run_digests()
    platform.crash_before = platform.crash_after = False
    restarted = BotScheduler(built, Publishers({"console": platform}))
    asyncio.run(restarted.startup())  # posts or confirms the payload claimed before the crash
    clock.value = DUE + timedelta(days=2)
    assert restarted.run_digests() == {"digest:console:console:2026-11-28T09:00+01:00": "empty"}
    texts = [text for _, text in platform.posts]
    assert len(texts) == 2 and "Ironwood" in texts[0] and f"### {title}" in texts[1]


def test_feeds_follow_a_changed_feed_interval(
    env: dict[str, str],
    feed_server: FeedServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A feed added on the default interval follows BRIEFBOT_FEED_INTERVAL when it changes later."""
    feed_server.feed("/tpu.xml", rss("TPU Wire", TPU_NEWS))
    assert run_cli(capsys, "feeds", "add", feed_server.url("/tpu.xml")).code == 0
    monkeypatch.setenv("BRIEFBOT_FEED_INTERVAL", "3600")
    before = datetime.now(UTC)
    assert run_cli(capsys, "ingest", "--no-analyze").code == 0
    (feed,) = run_cli(capsys, "feeds", "list", "--json").json()
    assert datetime.fromisoformat(feed["next_fetch"]) >= before + timedelta(hours=1)
    assert run_cli(capsys, "ingest", "--json").json()["feeds"] == 0  # not due after 15 minutes' worth


def test_a_channel_gone_for_good_is_turned_off_an_admin_is_told_once_and_it_can_come_back(
    env: dict[str, str],
    slack_api: FakeSlack,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Slack says channel_not_found for a channel's digest: that channel's digests stop (not
    the others'), the admin named in BRIEFBOT_ADMINS gets one direct message saying what and
    how to fix it (not one per failure), and `briefbot channels add` turns it back on."""
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    monkeypatch.setenv("BRIEFBOT_SLACK_API_URL", slack_api.url)
    monkeypatch.setenv("BRIEFBOT_ADMINS", "slack:UADMIN, discord:123")
    clock = FrozenClock(START)
    built = build(Settings.load(), clock=clock)  # type: ignore[arg-type]
    try:
        feed, _ = built.store.add_feed("https://news.example/feed", topic=None, title="TPU Wire", now=START)
        items = [
            ParsedEntry(
                item_id=key, url=f"https://{key}.example/", canonical_url=f"https://{key}.example/",
                title=title, text=text, summary=text[:80], published=START - timedelta(hours=2),
            )
            for key, title, text, _ in TPU_NEWS
        ]  # fmt: skip
        built.store.store_entries(feed, items, now=START, backfill=False)
        built.service.analyze()
        for channel in ("C1", "C2"):  # C1 is gone
            built.service.set_channel("slack", channel, at="09:00", tz="Europe/Berlin", days="daily")
        slack_api.fail("chat.postMessage", "channel_not_found")  # the first post: C1's digest
        jobs = BotScheduler(built, Publishers({"slack": slack_publisher(built.settings)}))
        clock.value = DUE
        outcomes = jobs.run_digests()
        assert [outcomes[k] for k in sorted(outcomes)] == ["failed", "posted"]  # C1, C2
        assert [c.enabled for c in built.service.list_channels()] == [False, True]
        notices = slack_api.messages.get("DADMIN", [])
        assert len(notices) == 1, notices  # and nothing for the Discord admin: no Discord here
        assert "slack:C1" in notices[0]["text"] and "channel_not_found" in notices[0]["text"]
        assert "briefbot channels add slack:C1" in notices[0]["text"]
        slack_api.fail("chat.postMessage", "channel_not_found")
        another = jobs.outbox.deliver("digest:slack:C1:again", "slack:C1", "digest", {"text": "x"})
        assert another == "failed" and len(slack_api.messages.get("DADMIN", [])) == 1  # once a day
        clock.value = DUE + timedelta(days=1)
        assert list(jobs.run_digests()) == ["digest:slack:C2:2026-11-27T09:00+01:00"]  # C1 is off
    finally:
        asyncio.run(built.aclose())
    added = run_cli(capsys, "channels", "add", "slack:C1")
    assert added.code == 0 and "(disabled)" not in added.out
    listed = run_cli(capsys, "channels", "list").out.splitlines()
    assert listed == [
        "slack:C1  09:00 Europe/Berlin, daily; all topics",
        "slack:C2  09:00 Europe/Berlin, daily; all topics",
    ]
