"""One ingest pass: fetch the due feeds concurrently, parse what changed, store what is new."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from dataclasses import replace

from bot.core import feeds as policy
from bot.core.models import Feed, IngestReport
from bot.core.ports import BodyProcessor, Clock, FeedStore, Fetcher
from bot.errors import FeedError, FetchError

ProgressFn = Callable[[int, int], None]


class Ingestor:
    """Runs ingest passes over the feeds in a store."""

    def __init__(self, store: FeedStore, fetcher: Fetcher, processor: BodyProcessor, clock: Clock) -> None:
        self.store = store
        self.fetcher = fetcher
        self.processor = processor
        self.clock = clock
        self._unchanged: list[Feed] = []

    async def run(self, *, all_feeds: bool = False, progress: ProgressFn | None = None) -> IngestReport:
        """One pass over the due feeds (every enabled feed with ``all_feeds``)."""
        started = time.perf_counter()
        due = self.store.due_feeds(self.clock.now(), include_not_due=all_feeds)
        report = IngestReport(feeds=len(due))
        done = 0

        async def one(feed: Feed) -> None:
            nonlocal done
            await self._ingest_feed(feed, report)
            done += 1
            if progress is not None:
                progress(done, len(due))

        await asyncio.gather(*(one(feed) for feed in due))
        self._flush_unchanged()
        report.seconds = time.perf_counter() - started
        return report

    async def _ingest_feed(self, feed: Feed, report: IngestReport) -> None:
        try:
            result = await self.fetcher.fetch(feed.url, etag=feed.etag, last_modified=feed.last_modified)
        except FeedError as exc:
            retry_after = exc.retry_after if isinstance(exc, FetchError) else None
            self._fail(feed, report, str(exc), retry_after)
            return
        now = self.clock.now()
        if (
            result.moved_to
            and result.moved_to != feed.url
            and self.store.change_feed_url(feed.id, result.moved_to)
        ):
            feed.url = result.moved_to
        if result.body is None:
            report.not_modified += 1
            policy.record_success(feed, now)
            self._save_unchanged(feed)
            return
        digest = hashlib.sha256(result.body).hexdigest()
        if digest == feed.body_hash:
            # The server ignores conditional requests, but nothing changed: skip the parse.
            feed.etag, feed.last_modified = result.etag, result.last_modified
            report.not_modified += 1
            policy.record_success(feed, now)
            self._save_unchanged(feed)
            return
        headers = dict(result.headers)
        headers["content-location"] = result.url
        # The feed's new state travels with its entries and is written in the same
        # transaction; validators are kept only once the body is parsed and stored, so a
        # failure never turns into a 304 that hides entries we did not store.
        updated = replace(feed, etag=result.etag, last_modified=result.last_modified, body_hash=digest)
        policy.record_success(updated, now)
        try:
            new = await self.processor.process(
                updated, result.body, result.url, headers, now=now, backfill=feed.last_success is None
            )
        except FeedError as exc:
            self._fail(feed, report, str(exc), None)
            return
        except Exception as exc:  # a parser or worker crash on one feed must not end the pass
            first_line = (str(exc).splitlines() or [""])[0][:200]
            self._fail(feed, report, f"could not process the feed: {type(exc).__name__}: {first_line}", None)
            return
        report.fetched += 1
        report.new_articles += new

    def _save_unchanged(self, feed: Feed) -> None:
        """Queue the state of a feed that brought nothing new; written in batches.

        Losing these rows in a crash costs one extra conditional GET, nothing more.
        """
        self._unchanged.append(feed)
        if len(self._unchanged) >= 500:
            self._flush_unchanged()

    def _flush_unchanged(self) -> None:
        batch, self._unchanged = self._unchanged, []
        self.store.save_feed_states(batch)

    def _fail(self, feed: Feed, report: IngestReport, reason: str, retry_after: float | None) -> None:
        now = self.clock.now()
        report.failed += 1
        report.failures.append((feed.url, reason))
        disabled = policy.record_failure(feed, now, reason, retry_after)
        self.store.save_feed_state(feed)
        if disabled:
            self.store.add_event(
                "feed_disabled",
                f"feed {feed.url} disabled after 7 days of failures; last error: {reason}",
                now=now,
                feed_id=feed.id,
            )
