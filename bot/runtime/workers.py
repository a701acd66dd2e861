"""Worker processes that parse feed bodies and store their entries, on every core.

Parsing is CPU-bound (feedparser) and so is preparing thousands of rows; doing both in
worker processes keeps the event loop free for HTTP and uses both cores. Each worker
opens its own database engine once. SQLite in WAL mode lets one worker write while the
others parse; PostgreSQL takes concurrent writers.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime

from bot.core.models import Feed
from bot.ingest.process import ingest_body
from bot.store import SqlStore, open_engine

_worker_store: SqlStore | None = None


def _init_worker(database_url: str) -> None:
    global _worker_store
    _worker_store = SqlStore(open_engine(database_url, run_migrations=False))


def _process_in_worker(
    feed: Feed, body: bytes, url: str, headers: dict[str, str], now: datetime, backfill: bool
) -> int:
    assert _worker_store is not None, "worker used before its initializer ran"
    return ingest_body(_worker_store, feed, body, url, headers, now=now, backfill=backfill)


class PoolProcessor:
    """A lazily started process pool; a pass in which every feed answers 304 starts none."""

    def __init__(self, database_url: str, workers: int) -> None:
        self.database_url = database_url
        self.workers = max(1, workers)
        self._executor: ProcessPoolExecutor | None = None

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            # fork on Linux: a worker is ready in milliseconds with everything imported
            # (forkserver and spawn re-import the world, over a second on two cores). The
            # child never touches the parent's connections: bot.store.db disposes every
            # inherited engine without closing it, in an after-fork hook.
            ctx = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
            self._executor = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=ctx,
                initializer=_init_worker,
                initargs=(self.database_url,),
            )
        return self._executor

    async def process(
        self, feed: Feed, body: bytes, url: str, headers: dict[str, str], *, now: datetime, backfill: bool
    ) -> int:
        """Parse and store in a worker; see :func:`bot.ingest.process.ingest_body`."""
        loop = asyncio.get_running_loop()
        pool = self._pool()
        try:
            return await loop.run_in_executor(
                pool, _process_in_worker, feed, body, url, headers, now, backfill
            )
        except BrokenProcessPool:
            # A worker died (killed, out of memory): start a fresh pool and try once more.
            if self._executor is pool:
                self._executor = None
            return await loop.run_in_executor(
                self._pool(), _process_in_worker, feed, body, url, headers, now, backfill
            )

    def close(self) -> None:
        """Stop the workers."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
