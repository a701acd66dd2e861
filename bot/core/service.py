"""The one API that the command line, the scheduler and the chat adapters call."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.core.models import Feed, IngestReport
from bot.core.ports import Clock, FeedStore
from bot.errors import BriefbotError, NotFoundError

ProgressFn = Callable[[int, int], None]


class IngestRunner(Protocol):
    """Runs one ingest pass (implemented by ``bot.ingest.pipeline.Ingestor``)."""

    async def run(self, *, all_feeds: bool = False, progress: ProgressFn | None = None) -> IngestReport:
        """Fetch, parse and store; returns the pass's report."""
        ...


@dataclass(frozen=True)
class FeedSpec:
    """A feed to add: its URL and optional title and topic (from the CLI or OPML)."""

    url: str
    title: str | None = None
    topic: str | None = None


@dataclass
class ImportResult:
    """What ``add_feeds`` did with each feed of an import."""

    added: list[Feed]
    existing: list[Feed]
    refused: list[tuple[str, str]]


class Service:
    """Feed management and ingestion; later issues add stories, briefings and questions."""

    def __init__(
        self, store: FeedStore, ingestor: IngestRunner, check_url: Callable[[str], str], clock: Clock
    ) -> None:
        self.store = store
        self.ingestor = ingestor
        self.check_url = check_url
        self.clock = clock

    def add_feed(self, url: str, *, topic: str | None = None, title: str | None = None) -> tuple[Feed, bool]:
        """Add a feed after the SSRF guard accepts its URL; returns (feed, created)."""
        safe = self.check_url(url.strip())
        return self.store.add_feed(safe, topic=topic, title=title, now=self.clock.now())

    def add_feeds(self, specs: Sequence[FeedSpec]) -> ImportResult:
        """Add many feeds; a refused URL is reported and the rest still added."""
        result = ImportResult(added=[], existing=[], refused=[])
        for spec in specs:
            try:
                feed, created = self.add_feed(spec.url, topic=spec.topic, title=spec.title)
            except BriefbotError as exc:
                result.refused.append((spec.url, str(exc)))
                continue
            (result.added if created else result.existing).append(feed)
        return result

    def remove_feed(self, url: str) -> None:
        """Remove a feed; its stored articles stay searchable."""
        if not self.store.remove_feed(url.strip()):
            raise NotFoundError(f"no feed with URL {url.strip()!r}; see `briefbot feeds list`")

    def list_feeds(self) -> list[Feed]:
        """Every feed with its fetch state."""
        return self.store.list_feeds()

    async def ingest(self, *, all_feeds: bool = False, progress: ProgressFn | None = None) -> IngestReport:
        """One ingest pass over the due feeds, or all enabled feeds."""
        return await self.ingestor.run(all_feeds=all_feeds, progress=progress)
