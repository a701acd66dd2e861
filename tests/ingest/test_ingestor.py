"""The Ingestor with the real store and fetcher, and processors that fail in ways parsers can."""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import UTC, datetime

from bot.core.models import Feed
from bot.ingest.fetch import HttpFetcher
from bot.ingest.pipeline import Ingestor
from bot.ingest.process import InlineProcessor
from bot.runtime.workers import PoolProcessor
from bot.store import SqlStore
from tests.support.feeds import numbered, rss
from tests.support.feedserver import FeedServer


class Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class CrashingOn(InlineProcessor):
    """Parses and stores like the real thing, but blows up on one URL as a buggy parser would."""

    def __init__(self, store: SqlStore, bad_url: str) -> None:
        super().__init__(store)
        self.bad_url = bad_url

    async def process(self, feed: Feed, body: bytes, url: str, headers: dict[str, str], **kw):  # type: ignore[no-untyped-def]
        if url == self.bad_url:
            raise RecursionError("maximum recursion depth exceeded\nwith more lines")
        return await super().process(feed, body, url, headers, **kw)


def run_pass(store: SqlStore, processor: object) -> object:
    async def go() -> object:
        fetcher = HttpFetcher(allow_private=True)
        try:
            return await Ingestor(store, fetcher, processor, Clock()).run(all_feeds=True)  # type: ignore[arg-type]
        finally:
            await fetcher.aclose()

    return asyncio.run(go())


def test_a_crash_on_one_feed_fails_that_feed_only(store: SqlStore, feed_server: FeedServer) -> None:
    feed_server.feed("/ok", rss(numbered("ok", 3)))
    feed_server.feed("/bad", rss(numbered("bad", 3)))
    for path in ("/ok", "/bad"):
        store.add_feed(feed_server.url(path), topic=None, title=None, now=Clock().now())
    report = run_pass(store, CrashingOn(store, feed_server.url("/bad")))
    assert report.new_articles == 3 and report.failed == 1  # type: ignore[attr-defined]
    bad = store.get_feed(feed_server.url("/bad"))
    assert bad is not None and bad.status.value == "failing"
    assert bad.last_error == "could not process the feed: RecursionError: maximum recursion depth exceeded"
    assert bad.etag is None and bad.body_hash is None  # nothing recorded that would hide its items


def test_a_killed_worker_is_replaced(store: SqlStore, db_url: str, feed_server: FeedServer) -> None:
    feed_server.feed("/a", rss(numbered("a", 2)))
    store.add_feed(feed_server.url("/a"), topic=None, title=None, now=Clock().now())
    processor = PoolProcessor(db_url, 2)
    try:
        pool = processor._pool()
        pool.submit(int).result()  # the workers are running now
        for pid in list(pool._processes):
            os.kill(pid, signal.SIGKILL)
        report = run_pass(store, processor)
        assert report.new_articles == 2 and report.failed == 0  # type: ignore[attr-defined]
    finally:
        processor.close()
