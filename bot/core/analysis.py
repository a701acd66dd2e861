"""The analyze step: stored articles in, stories with their facts and deals out.

Runs after each ingest pass (and on demand with ``briefbot analyze``), never inside the
fetch hot path. One run:

1. takes the articles no analysis has seen yet, oldest first;
2. rebuilds the clusterer with the stories that such articles could still join (the
   stories seen within the clusterer's near-duplicate window before the oldest of them),
   from their members' stored facts, so no article is extracted twice;
3. extracts each article's facts and adds it to the clusterer. With a
   :class:`DealRefiner` (the model, when one is configured), an article whose rules found
   at least one deal candidate first has its deals refined, and the refined facts are
   what is clustered and stored; articles without candidates cost nothing. When the
   refiner raises :class:`RefinerUnavailable` (endpoint down, budget spent) the run stops
   calling it and keeps the rule-based deals;
4. saves, per chunk of articles and in one transaction each, the members with their
   facts and the reason they joined, every touched story with its merged topics,
   entities, deals and chip roles, and the articles' passages for full-text search.
   A story that was already stored and gains a new company, chip or deal (or a deal
   gains an amount) becomes ``updated``.

An interrupted run loses nothing: articles without a saved membership are picked up by
the next run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.core.chips import chip_roles
from bot.core.deals import Report, merge_deals
from bot.core.extract import Extraction, Gazetteer, Taxonomy, extract
from bot.core.facts import facts_from_json, facts_to_json
from bot.core.models import Article
from bot.core.passages import split_passages
from bot.core.ports import Clock
from bot.core.records import StoryDeal, StoryRecord
from bot.core.stories import ClusterConfig, ClusterInput, Story, StoryClusterer
from bot.errors import BriefbotError

ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class Member:
    """A stored story member: the article and its saved facts (JSON data)."""

    article: Article
    facts: dict[str, Any]


@dataclass(frozen=True)
class RestoredStory:
    """A stored story as the analyzer needs it to continue clustering."""

    id: int
    state: str
    created_at: datetime
    updated_at: datetime
    members: tuple[Member, ...]


@dataclass(frozen=True)
class MemberRow:
    """An article's membership to save: its story, facts and why it joined."""

    article_id: int
    story_id: int
    position: int  # the order it joined its story, for restoring the story exactly
    facts: dict[str, Any]
    reason: str
    analyzed_at: datetime


@dataclass(frozen=True)
class StoryRow:
    """A story's state to save (insert or replace)."""

    id: int
    headline: str
    first_seen: datetime | None
    last_seen: datetime | None
    state: str
    created_at: datetime
    updated_at: datetime
    topics: tuple[str, ...]
    companies: tuple[str, ...]
    chips: tuple[str, ...]
    chip_roles: dict[str, tuple[str, ...]]
    deals: tuple[StoryDeal, ...]


@dataclass(frozen=True)
class AnalysisBatch:
    """What one chunk of an analyze run writes, in one transaction: memberships, stories,
    and each article's passages for full-text search."""

    members: list[MemberRow]
    stories: list[StoryRow]
    passages: list[tuple[int, list[str]]] = field(default_factory=list)


class StoryStore(Protocol):
    """The storage the analyze step and the story commands need."""

    def articles_to_analyze(self, limit: int) -> list[Article]:
        """Articles without a story yet, oldest first (by date, then id)."""
        ...

    def next_story_id(self) -> int:
        """One more than the highest story id ever stored."""
        ...

    def stories_to_restore(self, since: datetime, limit: int) -> list[RestoredStory]:
        """Stories whose latest article is at or after ``since``, newest ``limit`` of them."""
        ...

    def save_analysis(self, batch: AnalysisBatch) -> None:
        """Write members and stories in one transaction."""
        ...

    def reset_analysis(self) -> None:
        """Forget every story and membership (``analyze --rebuild``)."""
        ...

    def list_stories(
        self,
        *,
        since: datetime | None = None,
        topic: str | None = None,
        company: str | None = None,
        chip: str | None = None,
        any_chip: bool = False,
        story_ids: Sequence[int] | None = None,
    ) -> list[StoryRecord]:
        """Stories whose latest article is at or after ``since`` and that match every filter
        given (a topic, company or chip they name; any chip; ids), with sources and deals."""
        ...

    def member_reasons(self, story_id: int) -> list[tuple[int, str]]:
        """(article id, why it joined) for each member of a story, in join order."""
        ...


class RefinerUnavailable(Exception):
    """The deal refiner cannot work now (endpoint down, budget spent): ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DealRefiner(Protocol):
    """Refines an article's rule-based deal candidates (the LLM layer implements it)."""

    def refine(self, article: Article, extraction: Extraction) -> Extraction:
        """``extraction`` with refined ``deals`` and everything else unchanged; ``extraction``
        itself when it keeps the rule-based deals (the model's reply was unusable, say).
        Raises :class:`RefinerUnavailable` when it cannot refine anything now."""
        ...


class PassageEmbedder(Protocol):
    """Gives passages without a vector one (``bot.llm.embeddings.Embedder``)."""

    def embed_new(self, limit: int = 10_000) -> int:
        """Embed up to ``limit`` passages that have no vector; returns how many. Raises
        BriefbotError when the embeddings endpoint cannot answer."""
        ...


@dataclass
class AnalyzeReport:
    """What an analyze run did.

    ``deals_refined`` counts the articles whose deals the refiner returned refined;
    ``refiner_note`` says why the refiner stopped, when it did.
    """

    analyzed: int = 0
    new_stories: int = 0
    updated_stories: int = 0
    joined: int = 0
    seconds: float = 0.0
    story_ids: list[int] = field(default_factory=list)
    deals_refined: int = 0
    refiner_note: str | None = None
    passages_embedded: int = 0
    embeddings_note: str | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "analyzed": self.analyzed,
            "new_stories": self.new_stories,
            "updated_stories": self.updated_stories,
            "joined_existing": self.joined,
            "deals_refined": self.deals_refined,
            "refiner_note": self.refiner_note,
            "passages_embedded": self.passages_embedded,
            "embeddings_note": self.embeddings_note,
            "seconds": round(self.seconds, 3),
        }


@dataclass
class _Tracked:
    """A story in this run: its members' reports, chip roles and saved state."""

    reports: list[Report]
    roles: list[dict[str, list[str]]]
    existed: bool  # stored before this run
    state: str = "new"
    created_at: datetime | None = None  # None until first saved
    updated_at: datetime | None = None
    before: tuple[frozenset[str], frozenset[tuple[Any, ...]]] | None = None


def _fingerprint(
    story: Story, deals: Sequence[StoryDeal]
) -> tuple[frozenset[str], frozenset[tuple[Any, ...]]]:
    """The facts whose change makes a story ``updated``: entities and deals with amounts."""
    return (
        frozenset(story.companies | story.chips),
        frozenset(
            (
                frozenset(d.parties),
                d.kind,
                d.amount.usd if d.amount else None,
                d.amount.usd_high if d.amount else None,
            )
            for d in deals
        ),
    )


def _date(article: Article) -> datetime | None:
    return article.published


def analysis_order(article: Article) -> tuple[datetime, int, str]:
    """The order articles join stories in: by date, the fullest report first, then URL.

    Clustering is incremental, so the order decides close calls. Articles of one pass are
    stored in whatever order their feeds answered; sorting them by date (an undated one
    by the hour it was fetched), then longest text first, then canonical URL (never by id
    or fetch instant) gives the same stories however the fetches raced, and a story
    starts from its most complete account, which the shorter reports then join.
    """
    when = article.published or article.fetched_at.replace(minute=0, second=0, microsecond=0)
    return (when, -len(article.text), article.canonical_url or article.url or "")


class Analyzer:
    """Extracts and clusters newly stored articles; see the module docstring."""

    def __init__(
        self,
        store: StoryStore,
        taxonomy: Taxonomy,
        gazetteer: Gazetteer,
        clock: Clock,
        *,
        config: ClusterConfig | None = None,
        chunk: int = 500,
        restore_limit: int = 5000,
        refiner: DealRefiner | None = None,
        embedder: PassageEmbedder | None = None,
    ) -> None:
        self.store = store
        self.taxonomy = taxonomy
        self.gazetteer = gazetteer
        self.clock = clock
        self.config = config or ClusterConfig()
        self.chunk = chunk
        self.restore_limit = restore_limit
        self.refiner = refiner
        self.embedder = embedder

    def run(self, *, progress: ProgressFn | None = None) -> AnalyzeReport:
        """Analyse every article not analysed yet."""
        started = time.perf_counter()
        report = AnalyzeReport()
        pending = self.store.articles_to_analyze(limit=0)
        if pending:
            pending.sort(key=analysis_order)
            clusterer, tracked = self._restore(pending)
            total = len(pending)
            for begin in range(0, total, self.chunk):
                part = pending[begin : begin + self.chunk]
                self._analyse_chunk(part, clusterer, tracked, report)
                if progress:
                    progress(min(begin + self.chunk, total), total)
        if self.embedder is not None:
            try:
                report.passages_embedded = self.embedder.embed_new()
            except BriefbotError as exc:  # the passages wait for the next run
                report.embeddings_note = str(exc)
        report.seconds = time.perf_counter() - started
        return report

    def rebuild(self, *, progress: ProgressFn | None = None) -> AnalyzeReport:
        """Forget all stories and analyse every stored article again (after editing the
        taxonomy or gazetteer, or upgrading briefbot)."""
        self.store.reset_analysis()
        return self.run(progress=progress)

    # ---- internals ---------------------------------------------------------------------

    def _restore(self, pending: list[Article]) -> tuple[StoryClusterer, dict[int, _Tracked]]:
        oldest = min(a.published or a.fetched_at for a in pending)
        since = oldest - timedelta(days=self.config.dup_window_days)
        restored = self.store.stories_to_restore(since, self.restore_limit)
        clusterer = StoryClusterer(self.config, first_id=self.store.next_story_id())
        tracked: dict[int, _Tracked] = {}
        for story in sorted(restored, key=lambda s: s.id):
            inputs, reports, roles = [], [], []
            for m in story.members:
                ex = facts_from_json(m.facts)
                a = m.article
                inputs.append(ClusterInput(str(a.id), a.title, a.text, _date(a), ex))
                reports.append(Report(a.id, _date(a), ex))
                roles.append({k: list(v) for k, v in m.facts.get("chip_roles", {}).items()})
            clusterer.restore(story.id, inputs)
            tracked[story.id] = _Tracked(
                reports, roles, True, story.state, story.created_at, story.updated_at
            )
        return clusterer, tracked

    def _analyse_chunk(
        self,
        articles: list[Article],
        clusterer: StoryClusterer,
        tracked: dict[int, _Tracked],
        report: AnalyzeReport,
    ) -> None:
        now = self.clock.now()
        members: list[MemberRow] = []
        passages: list[tuple[int, list[str]]] = []
        touched: dict[int, None] = {}
        for article in articles:
            passages.append((article.id, split_passages(article.title, article.text)))
            ex = self._refine(
                article, extract(article.title, article.text, self.taxonomy, self.gazetteer), report
            )
            roles = chip_roles(article.title, article.text, self.gazetteer)
            assignment = clusterer.add(
                ClusterInput(str(article.id), article.title, article.text, _date(article), ex)
            )
            sid = assignment.story_id
            entry = tracked.get(sid)
            if entry is None:
                entry = tracked[sid] = _Tracked([], [], existed=False)
            elif entry.existed and entry.before is None:
                entry.before = _fingerprint(
                    self._story_before(clusterer, sid, entry), merge_deals(entry.reports)
                )
            entry.reports.append(Report(article.id, _date(article), ex))
            entry.roles.append(roles)
            facts = facts_to_json(ex) | {"chip_roles": roles}
            position = len(clusterer.stories[sid].member_ids) - 1
            members.append(MemberRow(article.id, sid, position, facts, assignment.reason, now))
            touched[sid] = None
            report.analyzed += 1
            if not assignment.new_story:
                report.joined += 1
        stories = [self._story_row(clusterer.stories[sid], tracked[sid], now, report) for sid in touched]
        self.store.save_analysis(AnalysisBatch(members, stories, passages))

    def _refine(self, article: Article, ex: Extraction, report: AnalyzeReport) -> Extraction:
        """The article's facts with refined deals, when a refiner is on and the rules found any."""
        if self.refiner is None or not ex.deals or report.refiner_note is not None:
            return ex
        try:
            refined = self.refiner.refine(article, ex)
        except RefinerUnavailable as exc:
            report.refiner_note = exc.reason or "unavailable"  # off for the rest of this run
            return ex
        if refined is not ex:
            report.deals_refined += 1
        return refined

    @staticmethod
    def _story_before(clusterer: StoryClusterer, sid: int, entry: _Tracked) -> Story:
        """The story's entities before this run's articles joined, from its stored members."""
        story = Story(sid, "", None, None)
        for r in entry.reports:
            story.companies |= r.extraction.companies
            story.chips |= r.extraction.chip_names
        return story

    def _story_row(self, story: Story, entry: _Tracked, now: datetime, report: AnalyzeReport) -> StoryRow:
        deals = tuple(merge_deals(entry.reports))
        if not entry.existed:
            if entry.created_at is None:
                entry.created_at = entry.updated_at = now
                report.new_stories += 1
                report.story_ids.append(story.id)
        elif entry.before is not None and _fingerprint(story, deals) != entry.before:
            if story.id not in report.story_ids:
                report.updated_stories += 1
                report.story_ids.append(story.id)
            entry.state, entry.updated_at = "updated", now
            entry.before = _fingerprint(story, deals)
        created = entry.created_at or now
        updated = entry.updated_at or now
        state = entry.state
        merged_roles: dict[str, set[str]] = {}
        for roles in entry.roles:
            for chip, rs in roles.items():
                merged_roles.setdefault(chip, set()).update(rs)
        return StoryRow(
            id=story.id,
            headline=story.headline,
            first_seen=story.first_seen,
            last_seen=story.last_seen,
            state=state,
            created_at=created,
            updated_at=updated,
            topics=tuple(sorted(story.topics)),
            companies=tuple(sorted(story.companies)),
            chips=tuple(sorted(story.chips)),
            chip_roles={c: tuple(sorted(r)) for c, r in sorted(merged_roles.items())},
            deals=deals,
        )
