"""The Analyzer with a DealRefiner: only articles with deal candidates are sent, the refined
facts are stored, and a refiner that becomes unavailable is not called again that run."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.core.analysis import (
    AnalysisBatch,
    Analyzer,
    RefinerUnavailable,
    RestoredStory,
)
from bot.core.extract import DealCandidate, Extraction, Gazetteer, Money, Taxonomy
from bot.core.models import Article

DAY = datetime(2025, 10, 6, 12, tzinfo=UTC)


class Clock:
    def now(self) -> datetime:
        return DAY


class MemoryStore:
    """Just what Analyzer.run needs."""

    def __init__(self, articles: list[Article]) -> None:
        self.pending = articles
        self.batches: list[AnalysisBatch] = []

    def articles_to_analyze(self, limit: int) -> list[Article]:
        pending, self.pending = self.pending, []
        return pending

    def next_story_id(self) -> int:
        return 1

    def stories_to_restore(self, since: datetime, limit: int) -> list[RestoredStory]:
        return []

    def save_analysis(self, batch: AnalysisBatch) -> None:
        self.batches.append(batch)

    def facts(self) -> dict[int, Any]:
        return {m.article_id: m.facts for b in self.batches for m in b.members}


def article(n: int, title: str, text: str) -> Article:
    when = DAY + timedelta(days=n)
    return Article(n, 1, f"https://x.example/{n}", None, title, text, "", when, when, False)


ARTICLES = [
    article(1, "Nvidia to back OpenAI", "Nvidia will invest in OpenAI, which was valued at $500 billion."),
    article(2, "Intel ships Gaudi 3", "Intel said Gaudi 3 accelerators are now shipping in volume."),
    article(3, "Amazon to invest up to $4 billion in Anthropic", "Amazon will invest in Anthropic."),
    article(4, "Oracle and OpenAI sign pact", "Oracle and OpenAI signed a partnership on cloud capacity."),
]


class Refiner:
    """Scripted: a corrected deal, the rule-based deals kept, or unavailable."""

    def __init__(self, *, fail_from: int | None = None, keep: set[int] | None = None) -> None:
        self.seen: list[int] = []
        self.fail_from = fail_from
        self.keep = keep or set()

    def refine(self, a: Article, extraction: Extraction) -> Extraction:
        self.seen.append(a.id)
        assert extraction.deals, "articles without deal candidates are never sent"
        if self.fail_from is not None and a.id >= self.fail_from:
            raise RefinerUnavailable("model unavailable: answered 500")
        if a.id in self.keep:
            return extraction
        first = extraction.deals[0]
        fixed = DealCandidate(first.parties, "supply", Money(1e9, "$1 billion", None, "USD"), first.sentence)
        return dataclasses.replace(extraction, deals=(fixed,))


def test_the_refined_deals_are_stored_and_articles_without_candidates_cost_nothing(
    taxonomy: Taxonomy, gazetteer: Gazetteer
) -> None:
    store = MemoryStore(list(ARTICLES))
    refiner = Refiner(keep={4})
    report = Analyzer(store, taxonomy, gazetteer, Clock(), refiner=refiner).run()
    assert refiner.seen == [1, 3, 4]  # article 2 has no deal candidate
    assert report.deals_refined == 2 and report.refiner_note is None  # 4 kept its rule-based deals
    facts = store.facts()
    assert [d["kind"] for d in facts[1]["deals"]] == ["supply"]
    assert facts[1]["deals"][0]["amount"]["text"] == "$1 billion"
    assert facts[4]["deals"][0]["kind"] == "partnership"
    stored = {s.id: s for b in store.batches for s in b.stories}
    assert any(d.kind == "supply" and d.amount for s in stored.values() for d in s.deals)
    assert report.as_json()["deals_refined"] == 2


def test_an_unavailable_refiner_is_not_called_again_that_run(
    taxonomy: Taxonomy, gazetteer: Gazetteer
) -> None:
    store = MemoryStore(list(ARTICLES))
    refiner = Refiner(fail_from=3)
    analyzer = Analyzer(store, taxonomy, gazetteer, Clock(), refiner=refiner)
    report = analyzer.run()
    assert refiner.seen == [1, 3]  # not article 4
    assert report.deals_refined == 1
    assert report.refiner_note == "model unavailable: answered 500"
    assert store.facts()[3]["deals"][0]["kind"] == "investment"  # rule-based kept
    assert report.as_json()["refiner_note"] == "model unavailable: answered 500"
    # the next run tries again
    store.pending = [article(5, "Oracle and OpenAI expand pact", "Oracle and OpenAI signed a partnership.")]
    refiner.fail_from = None
    again = analyzer.run()
    assert refiner.seen[-1] == 5 and again.deals_refined == 1 and again.refiner_note is None


def test_without_a_refiner_nothing_changes(taxonomy: Taxonomy, gazetteer: Gazetteer) -> None:
    store = MemoryStore(list(ARTICLES))
    report = Analyzer(store, taxonomy, gazetteer, Clock()).run()
    assert report.deals_refined == 0 and report.refiner_note is None
    assert store.facts()[1]["deals"][0]["amount"]["text"] == "$500 billion"
