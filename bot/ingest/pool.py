"""Parsing off the event loop: a process pool sized to the machine's cores."""

from __future__ import annotations

import asyncio
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

from bot.core.models import ParsedFeed
from bot.ingest.parse import parse_feed


def _warm() -> None:
    """Run in each worker once so the first real parse pays no import cost."""


class ParserPool:
    """Parses feed bodies in worker processes (or inline with ``workers=1``).

    The pool starts lazily, on the first body, so a pass in which every feed answered
    304 never pays for starting processes.
    """

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)
        self._executor: ProcessPoolExecutor | None = None

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            # forkserver: workers are forked from a clean process that has already imported
            # the parser, not from this one with its threads, sockets and database handles.
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(["bot.ingest.parse"])
            self._executor = ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx)
        return self._executor

    async def parse(self, body: bytes, url: str, headers: dict[str, str]) -> ParsedFeed:
        """Parse ``body`` fetched from ``url``; raises ParseError."""
        if self.workers == 1:
            return parse_feed(body, url, headers)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool(), parse_feed, body, url, headers)

    def close(self) -> None:
        """Stop the worker processes."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
