"""Build every part of briefbot from Settings; tests pass stand-ins for any part."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from importlib import resources

from bot.config import Settings
from bot.core.analysis import Analyzer, DealRefiner
from bot.core.ask import Asker
from bot.core.briefing import Composer
from bot.core.extract import extended_gazetteer, extended_taxonomy
from bot.core.service import Service
from bot.ingest.fetch import HttpFetcher
from bot.ingest.guard import check_url
from bot.ingest.opml import parse_opml
from bot.ingest.pipeline import Ingestor
from bot.ingest.process import InlineProcessor
from bot.runtime.workers import PoolProcessor
from bot.store import SqlStore, open_engine
from bot.store.locks import analysis_lock

DEFAULT_FEEDS_LOADED = "default_feeds_loaded"


class SystemClock:
    """The real clock, in UTC."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        return datetime.now(UTC)


@dataclass
class App:
    """Everything a command needs; ``close()`` releases processes and connections."""

    settings: Settings
    store: SqlStore
    service: Service
    fetcher: HttpFetcher
    processor: InlineProcessor | PoolProcessor

    async def aclose(self) -> None:
        """Close network connections and worker processes."""
        await self.fetcher.aclose()
        self.processor.close()
        self.store.engine.dispose()


def build(settings: Settings, *, clock: SystemClock | None = None) -> App:
    """Open the database (migrating it) and wire the service."""
    clock = clock or SystemClock()
    engine = open_engine(settings.database_url)
    store = SqlStore(engine, default_interval=settings.feed_interval)
    store.follow_feed_interval(settings.feed_interval)  # BRIEFBOT_FEED_INTERVAL changed: feeds follow
    fetcher = HttpFetcher(
        allow_private=settings.allow_private_feeds,
        max_bytes=settings.max_feed_bytes,
        concurrency=settings.fetch_concurrency,
        per_host=settings.fetch_per_host,
    )
    processor: InlineProcessor | PoolProcessor = (
        PoolProcessor(settings.database_url, settings.parse_workers)
        if settings.parse_workers > 1
        else InlineProcessor(store)
    )
    ingestor = Ingestor(store, fetcher, processor, clock)
    taxonomy = extended_taxonomy(settings.taxonomy_file)
    gazetteer = extended_gazetteer(settings.gazetteer_file)
    writer = None
    refiner: DealRefiner | None = None
    answer_writer = None
    embedder = None
    if settings.llm_configured:
        from bot.llm.answers import LLMAnswerWriter  # the openai SDK loads only when a model is configured
        from bot.llm.client import LLMClient
        from bot.llm.deals import LLMDealRefiner
        from bot.llm.writer import LLMSummaryWriter

        client = LLMClient(settings, store, clock)  # one client: briefings, answers and deals
        writer = LLMSummaryWriter(client, tokens_per_briefing=settings.llm_tokens_per_briefing)
        answer_writer = LLMAnswerWriter(client)
        refiner = LLMDealRefiner(client, gazetteer)  # the same client: one endpoint mode, one budget
        if settings.embeddings_model:
            from bot.llm.embeddings import Embedder

            embedder = Embedder(client, store, settings.embeddings_model, window=settings.semantic_window)
    analyzer = Analyzer(store, taxonomy, gazetteer, clock, refiner=refiner, embedder=embedder)
    asker = Asker(store, store, store, taxonomy, gazetteer, clock, writer=answer_writer, semantic=embedder)
    composer = Composer(store, gazetteer, clock, writer=writer)
    service = Service(
        store,
        ingestor,
        partial(check_url, allow_private=settings.allow_private_feeds),
        clock,
        analyzer,
        asker,
        composer,
        store,  # briefings
        store,  # channels, subscriptions and mutes
        analysis_lock=partial(analysis_lock, engine),
        quiet=store,  # people's quiet hours
    )
    if settings.load_default_feeds and store.get_meta(DEFAULT_FEEDS_LOADED) is None:
        load_default_feeds(service)
        store.set_meta(DEFAULT_FEEDS_LOADED, clock.now().isoformat())
    return App(settings=settings, store=store, service=service, fetcher=fetcher, processor=processor)


def load_default_feeds(service: Service) -> int:
    """Add briefbot's curated starting list of sources; returns how many were added."""
    data = resources.files("bot.data").joinpath("default_feeds.opml").read_bytes()
    return len(service.add_feeds(parse_opml(data)).added)
