"""The same articles give the same stories, whatever order their feeds answered in.

Feeds are fetched concurrently, so one pass stores its articles in a different order each
time; the real corpus (29 of its 59 reports are undated) is stored forwards into one
database and backwards into another, and both must group it into the same stories.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from bot.core.analysis import Analyzer
from bot.core.extract import default_gazetteer, default_taxonomy
from bot.core.models import ParsedEntry
from bot.store import SqlStore
from bot.store.db import open_engine
from tests.support.corpus import corpus_dir
from tests.support.evaluation import CorpusArticle, load_corpus

NOW = datetime(2026, 1, 5, 9, tzinfo=UTC)


class Clock:
    def now(self) -> datetime:
        return NOW


def stories_of(articles: list[CorpusArticle], path: Path) -> set[frozenset[str]]:
    """Store ``articles`` in this order (one feed per article), analyse, return the partition."""
    engine = open_engine(f"sqlite:///{path}")
    try:
        store = SqlStore(engine)
        for n, a in enumerate(articles):
            feed, _ = store.add_feed(f"https://feeds.example/{n}.xml", topic=None, title=a.outlet, now=NOW)
            entry = ParsedEntry(
                item_id=a.url,
                url=a.url,
                canonical_url=a.url,
                title=a.title,
                text=a.text,
                summary=a.text[:200],
                published=a.published,
            )
            store.store_entries(feed, [entry], now=NOW, backfill=False)
        Analyzer(store, default_taxonomy(), default_gazetteer(), Clock()).run()
        return {frozenset(src.url for src in story.sources) for story in store.list_stories()}
    finally:
        engine.dispose()


def test_stories_do_not_depend_on_the_order_articles_arrived_in(tmp_path: Path) -> None:
    articles = load_corpus(corpus_dir())
    assert sum(a.published is None for a in articles) > 10  # the case that made it order-dependent
    forwards = stories_of(articles, tmp_path / "forwards.db")
    backwards = stories_of(articles[::-1], tmp_path / "backwards.db")
    assert forwards == backwards
    assert sum(len(s) for s in forwards) == len(articles)
