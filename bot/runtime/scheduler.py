"""The jobs of ``briefbot run``, on APScheduler 3's AsyncIOScheduler.

Jobs are rebuilt from the database at start, with stable ids and ``replace_existing``:

- ``feeds``: every minute (:data:`FEED_TICK`, or ``BRIEFBOT_FEED_INTERVAL`` when shorter,
  with a few seconds of jitter) an ingest pass over the feeds that are due by their own
  ``next_fetch`` (each feed's interval, default ``BRIEFBOT_FEED_INTERVAL``, plus its jitter,
  or its backoff after failures: see :mod:`bot.core.feeds`), analysis, breaking alerts for
  the new or updated stories and the held alerts whose quiet hours ended, and a refresh of
  the digest jobs (channels added, changed or removed in the meantime); a tick with no
  feed due fetches nothing;
- ``digest:<platform>:<id>``: one cron job per enabled channel, at its HH:MM on its days
  in its own time zone; it composes the channel's briefing since its last one and posts it
  through the outbox under the key ``digest:<platform>:<id>:<local slot>``; the briefing is
  remembered for the channel ("Update:", the next window) only once it is delivered, by
  whichever path delivers it (now, or at a restart from the payload the outbox stored),
  once per key;
- ``housekeeping``: daily, settles deliveries left claimed, deletes what is older than
  ``BRIEFBOT_RETENTION_DAYS`` (articles outside recent stories, emptied stories, model
  call log rows) and Slack event ids older than a day, and vacuums the database.

At start (:meth:`BotScheduler.startup`) claimed-but-unconfirmed deliveries are resolved
and digests missed while briefbot was down are posted late once (or skipped, and recorded
as an event, when older than ``BRIEFBOT_DIGEST_MAX_LATE``). Digests and alerts go only to
platforms with a publisher (today the console); the job functions can be called directly
with a frozen clock.

With a :class:`~bot.runtime.leader.Leader`, the jobs and the start-up work run only while
this instance holds the scheduler lock; a standby instance tries to take it every
``BRIEFBOT_LEADER_RETRY`` seconds (job ``leader``) and, once it has it, does the start-up
work and adds the jobs. The leader checks its lock on the same beat and removes its jobs
when it lost it.

Test hooks (``tests/runtime/test_instances.py``): with ``BRIEFBOT_TEST_CRASH_AFTER_CLAIM=1``
in the environment the process kills itself with SIGKILL on its first post, after the outbox
claimed the delivery and before the publisher sees it; with ``BRIEFBOT_TEST_PUBLISH_LOG=PATH``
every post a publisher accepted appends a line ``KEY DESTINATION PID`` to ``PATH``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.core.alerts import Alerter, AlertReport, interest_filter, person_destination
from bot.core.analysis import AnalyzeReport
from bot.core.briefing import Briefing, briefing_from_json
from bot.core.commands import admin_users
from bot.core.delivery import (
    NOTICE,
    Delivery,
    Outbox,
    Outcome,
    Payload,
    Publisher,
    TransientError,
    failure_notice,
)
from bot.core.schedule import due_digests, slot_label
from bot.core.subscriptions import Channel, day_numbers
from bot.errors import BriefbotError
from bot.runtime.leader import Leader
from bot.runtime.wiring import App
from bot.store.slack_sql import EVENT_TTL as SLACK_EVENT_TTL

log = logging.getLogger(__name__)

DIGEST = "digest"
LAST_RUN = "digest_last_run:"  # meta key prefix, then the channel key
FEEDS_JOB = "feeds"
HOUSEKEEPING_JOB = "housekeeping"
LEADER_JOB = "leader"
CRASH_AFTER_CLAIM = "BRIEFBOT_TEST_CRASH_AFTER_CLAIM"  # test hooks, see the module docstring
PUBLISH_LOG = "BRIEFBOT_TEST_PUBLISH_LOG"
DIGEST_LIMIT = 12
FEED_TICK = 60  # seconds between looks for due feeds: each is fetched within a minute of its time
SETTLED_AFTER = timedelta(hours=1)  # housekeeping leaves younger claims to the job posting them


class Publishers:
    """Routes each destination to the publisher of its platform (``slack:C1`` -> Slack)."""

    def __init__(self, by_platform: Mapping[str, Publisher]) -> None:
        self.by_platform = dict(by_platform)

    @property
    def platforms(self) -> set[str]:
        return set(self.by_platform)

    def _for(self, destination: str) -> Publisher:
        publisher = self.by_platform.get(destination.partition(":")[0])
        if publisher is None:  # not running now (no token set): leave the row for a run that has it
            raise TransientError(f"no adapter posts to {destination} in this run")
        return publisher

    def post(self, destination: str, payload: Payload, key: str) -> None:
        publisher = self._for(destination)
        if os.environ.get(CRASH_AFTER_CLAIM) == "1":  # test hook: die between claim and post
            os.kill(os.getpid(), signal.SIGKILL)
        publisher.post(destination, payload, key)
        if log_path := os.environ.get(PUBLISH_LOG):  # test hook: a record of every accepted post
            with open(log_path, "a", encoding="utf-8") as record:
                record.write(f"{key} {destination} {os.getpid()}\n")

    def already_delivered(self, destination: str, key: str) -> bool:
        return self._for(destination).already_delivered(destination, key)


def feeds_trigger(feed_interval: int) -> IntervalTrigger:
    """When the feed job looks for due feeds: every :data:`FEED_TICK` seconds (or the feed
    interval when shorter), a few seconds later at random (instances started together spread)."""
    tick = min(FEED_TICK, feed_interval)
    return IntervalTrigger(seconds=tick, jitter=max(1, tick // 10))


def digest_key(channel: Channel, slot: datetime) -> str:
    """``digest:slack:C1:2026-11-26T09:00+01:00``"""
    return f"{DIGEST}:{channel.key}:{slot_label(channel, slot)}"


def digest_destination(channel: Channel) -> str:
    """Where a channel's digest goes: the channel, or a person's direct messages
    (``person_destination``) for a personal digest (channel id ``user:<USER_ID>``)."""
    person = channel.person
    return channel.key if person is None else person_destination(channel.platform, person)


class BotScheduler:
    """The bot's jobs and what they do; :meth:`start` puts them on an AsyncIOScheduler."""

    def __init__(
        self,
        app: App,
        publishers: Publishers,
        *,
        scheduler: AsyncIOScheduler | None = None,
        leader: Leader | None = None,
    ) -> None:
        self.app = app
        self.leader = leader
        self.service = app.service
        self.clock = app.service.clock
        self.publishers = publishers
        settings = app.settings
        self.max_late = timedelta(seconds=settings.digest_max_late)
        self.outbox = Outbox(
            app.store,
            publishers,
            self.clock,
            disable=self.service.disable_destination,
            on_delivered=self._remember_digest,
            on_failed=self._tell_admins,
        )
        self.alerter = Alerter(
            app.store,
            self.outbox,
            self.clock,
            quiet_hours=settings.quiet_hours,
            per_hour=settings.alerts_per_hour,
            platforms=publishers.platforms,
        )
        self.scheduler = scheduler or AsyncIOScheduler(timezone="UTC")

    # ---- the scheduler ---------------------------------------------------------------

    @property
    def leading(self) -> bool:
        """True when this instance runs the jobs (it holds the lock, or there is no lock)."""
        return self.leader is None or self.leader.held

    def start(self) -> None:
        """Add the jobs (stable ids, replacing any of the same id) and start the scheduler if stopped.

        With a leader lock, the ``leader`` job is added too, and the other jobs only while leading.
        """
        if self.leader is not None:
            self.scheduler.add_job(
                self.leader_job,
                IntervalTrigger(seconds=self.app.settings.leader_retry),
                id=LEADER_JOB,
                replace_existing=True,
                coalesce=True,
                max_instances=1,
            )
        if self.leading:
            self._add_jobs()
        if not self.scheduler.running:
            self.scheduler.start()

    def _add_jobs(self) -> None:
        self.scheduler.add_job(
            self.poll_job,
            feeds_trigger(self.app.settings.feed_interval),
            id=FEEDS_JOB,
            replace_existing=True,
            coalesce=True,
            max_instances=1,
        )
        self.scheduler.add_job(
            self.housekeeping_job,
            CronTrigger(hour=4, minute=15, timezone="UTC"),
            id=HOUSEKEEPING_JOB,
            replace_existing=True,
            coalesce=True,
        )
        self.sync_digest_jobs()

    def _remove_jobs(self) -> None:
        for job in self.scheduler.get_jobs():
            if job.id != LEADER_JOB:
                job.remove()

    def shutdown(self) -> None:
        """Stop the scheduler without waiting for running jobs (a piped run must end)."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def sync_digest_jobs(self) -> list[str]:
        """One cron job per enabled channel with a publisher; jobs of gone channels removed."""
        wanted: dict[str, Channel] = {
            f"{DIGEST}:{c.key}": c
            for c in self.service.list_channels()
            if c.enabled and c.platform in self.publishers.platforms
        }
        for job in self.scheduler.get_jobs():
            if job.id.startswith(DIGEST + ":") and job.id not in wanted:
                job.remove()
        for job_id, channel in wanted.items():
            hour, minute = (int(p) for p in channel.at.split(":"))
            self.scheduler.add_job(
                self.digest_job,
                CronTrigger(
                    hour=hour,
                    minute=minute,
                    day_of_week=",".join(str(d) for d in day_numbers(channel.days)),
                    timezone=zoneinfo.ZoneInfo(channel.tz),
                ),
                args=[channel.key],
                id=job_id,
                replace_existing=True,
                coalesce=True,
                misfire_grace_time=max(1, int(self.max_late.total_seconds())),
            )
        return sorted(wanted)

    # ---- jobs ------------------------------------------------------------------------

    async def leader_job(self) -> None:
        """Every ``BRIEFBOT_LEADER_RETRY`` seconds: take over the jobs when the lock is free, or
        drop them when the lock was lost."""
        if self.leader is None:
            return
        try:
            if self.leader.held:
                if not await asyncio.to_thread(self.leader.check):
                    log.warning("lost the scheduler lock: this instance stops running the jobs")
                    self._remove_jobs()
                return
            if not await asyncio.to_thread(self.leader.try_acquire):
                return
            log.info("took the scheduler lock: this instance now runs the jobs")
            try:
                await self.startup()
            except Exception:  # the jobs still start: housekeeping settles what is left
                log.exception("start-up work after taking over failed")
            self._add_jobs()
        except Exception:
            log.exception("taking over the jobs failed")

    async def startup(self, analysis: AnalyzeReport | None = None) -> None:
        """Settle unconfirmed deliveries, post missed digests, alert on the first pass's stories.

        Does nothing on an instance that does not hold the scheduler lock."""
        if not self.leading:
            return
        counts = await asyncio.to_thread(self.outbox.resolve_unconfirmed)
        if counts:
            log.info("unconfirmed deliveries resolved: %s", counts)
        await asyncio.to_thread(self.run_digests)
        if analysis is not None:
            await asyncio.to_thread(self.alerter.run, analysis.story_ids)

    async def poll_job(self) -> None:
        """Ingest the due feeds, analyse, alert, refresh the digest jobs; errors are logged."""
        try:
            await self.service.ingest()
            analysis = await asyncio.to_thread(self.service.analyze)
            await asyncio.to_thread(self.alerts, analysis.story_ids)
            self.sync_digest_jobs()
        except BriefbotError as exc:
            log.warning("feed polling failed: %s", exc)
        except Exception:
            log.exception("feed polling failed")

    async def digest_job(self, channel_key: str) -> None:
        """A channel's cron job: post its due digest."""
        try:
            await asyncio.to_thread(self.run_digests, [channel_key])
        except Exception:
            log.exception("digest for %s failed", channel_key)

    async def housekeeping_job(self) -> None:
        """Daily: settle deliveries left claimed for over an hour, then :meth:`housekeeping`."""
        try:
            await asyncio.to_thread(self.outbox.resolve_unconfirmed, SETTLED_AFTER)
        except Exception:
            log.exception("housekeeping: settling deliveries failed")
        await asyncio.to_thread(self.housekeeping)

    # ---- the work (synchronous; the jobs run it in a thread) --------------------------

    def housekeeping(self) -> dict[str, int]:
        """Retention (``BRIEFBOT_RETENTION_DAYS``; 0 keeps everything), Slack event ids older
        than a day, then vacuum.

        Returns what was deleted by kind and logs it in one line; errors are logged, not raised.
        """
        counts: dict[str, int] = {}
        days = self.app.settings.retention_days
        if days:
            try:
                counts = self.app.store.prune(self.clock.now() - timedelta(days=days))
            except Exception:
                log.exception("housekeeping: retention failed")
        try:  # Slack event ids: kept a day (Slack retries for about an hour)
            if forgotten := self.app.store.delete_old_slack_events(self.clock.now() - SLACK_EVENT_TTL):
                counts["slack_events"] = forgotten
        except Exception:
            log.exception("housekeeping: forgetting old slack events failed")
        started = time.monotonic()
        try:
            self.app.store.vacuum()
        except Exception:
            log.exception("housekeeping: vacuum failed")
        log.info(
            "housekeeping: deleted %s; vacuum took %.1fs",
            ", ".join(f"{n} {kind}" for kind, n in counts.items()) or "nothing",
            time.monotonic() - started,
        )
        return counts

    def alerts(self, story_ids: Iterable[int]) -> AlertReport:
        """Breaking alerts for these new or updated stories, then the alerts held by quiet
        hours that have ended (their counts added to the report)."""
        report = self.alerter.run(list(story_ids))
        held = self.alerter.release_held()
        report.sent += held.sent
        report.keys += held.keys
        report.released, report.stale = held.released, held.stale
        report.capped += held.capped
        report.failed += held.failed
        if report.sent or report.capped or report.failed or report.quiet or report.stale:
            log.info("alerts: %s", report.as_json())
        return report

    def run_digests(self, keys: Iterable[str] | None = None) -> dict[str, Outcome | str]:
        """Post every due digest (of the channels ``keys``, else all); returns outcome by outbox key.

        A channel's window starts at its last run (else its creation); a due slot already in
        the outbox is not composed again; an empty briefing is not posted.
        """
        now = self.clock.now()
        wanted = set(keys) if keys is not None else None
        channels = [
            c
            for c in self.service.list_channels()
            if c.platform in self.publishers.platforms and (wanted is None or c.key in wanted)
        ]
        last_runs = {
            c.key: datetime.fromisoformat(value)
            for c in channels
            if (value := self.app.store.get_meta(LAST_RUN + c.key)) is not None
        }
        plan = due_digests(channels, last_runs, now, max_late=self.max_late)
        outcomes: dict[str, Outcome | str] = {}
        for channel, slot in plan.skipped:
            key = digest_key(channel, slot)
            if not self.outbox.seen(key):
                message = (
                    f"digest for {channel.key} at {slot_label(channel, slot)} missed "
                    f"(briefbot was not running; posted late only within {self.max_late})"
                )
                self.app.store.add_event("digest_skipped", message, now=now)
                log.warning("%s", message)
                outcomes[key] = "missed"
        for channel, slot in plan.due:
            key = digest_key(channel, slot)
            outcomes[key] = self._digest(channel, slot, key)
        for channel in channels:
            self.app.store.set_meta(LAST_RUN + channel.key, now.isoformat())
        return outcomes

    def _digest(self, channel: Channel, slot: datetime, key: str) -> Outcome | str:
        destination = digest_destination(channel)
        if self.outbox.seen(key):  # claimed before: settle it, never compose twice
            return self.outbox.deliver(key, destination, DIGEST, {})
        person = channel.person
        briefing = self.service.brief(
            since=slot - timedelta(days=1),
            topics=channel.topics,
            mutes=self.service.mutes(channel.scope),
            channel=channel.key,
            since_last=True,
            limit=DIGEST_LIMIT,
            record=False,  # remembered below once delivered: a crash before that recomposes it
            match=None
            if person is None
            else interest_filter(self.service.subscriptions(channel.platform, person)),
        )
        if briefing.empty:
            log.info("digest for %s at %s: nothing new", channel.key, slot_label(channel, slot))
            return "empty"
        outcome = self.outbox.deliver(key, destination, DIGEST, digest_payload(channel, briefing))
        if outcome == "pending":  # the outbox will post it: the next digest must not repeat it
            self.service.briefings.record_briefing(channel.key, briefing, key=key)
        return outcome  # posted or confirmed: remembered by _remember_digest

    def _tell_admins(self, row: Delivery, error: str) -> None:
        """The outbox's ``on_failed``: a direct message to each admin named in ``BRIEFBOT_ADMINS``
        on the failed destination's platform, at most once a day per destination."""
        platform = row.destination.partition(":")[0]
        if platform not in self.publishers.platforms:
            return
        day = self.clock.now().date().isoformat()
        for user in admin_users(self.app.settings.admins, platform):
            target = person_destination(platform, user)
            if target == row.destination:
                continue  # the admin's own direct messages are what failed
            key = f"{NOTICE}:{target}:{row.destination}:{day}"
            self.outbox.deliver(key, target, NOTICE, failure_notice(row, error))

    def _remember_digest(self, row: Delivery) -> None:
        """The outbox's ``on_delivered``: remember a delivered digest's briefing for its channel,
        once per key (a digest posted at restart from its stored payload too)."""
        if row.kind != DIGEST:
            return
        remembered = delivered_briefing(row.payload)
        if remembered is not None:
            self.service.briefings.record_briefing(*remembered, key=row.key)


def digest_payload(channel: Channel, briefing: Briefing) -> dict[str, Any]:
    """A digest as the outbox stores it: Markdown for every adapter, the briefing's data
    for richer ones, and what :func:`delivered_briefing` needs to remember it."""
    return {
        "kind": DIGEST,
        "text": briefing.to_markdown(),
        "briefing": briefing.as_json(),
        "channel": channel.key,
        "fingerprints": {str(sid): fp for sid, fp in briefing.fingerprints.items()},
    }


def delivered_briefing(payload: Payload) -> tuple[str, Briefing] | None:
    """(channel key, briefing with its stories' fingerprints) back from a digest payload;
    None for a payload without them (claimed by an older briefbot)."""
    channel, data = payload.get("channel"), payload.get("briefing")
    if not isinstance(channel, str) or not isinstance(data, Mapping):
        return None
    fingerprints = payload.get("fingerprints") or {}
    briefing = briefing_from_json(data)
    return channel, replace(briefing, fingerprints={int(k): str(v) for k, v in fingerprints.items()})
