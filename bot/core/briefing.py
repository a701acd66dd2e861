"""The briefing composer: stories in, a cited, platform-neutral ``Briefing`` out.

``Composer.compose``:

1. takes the stories seen since ``since`` that match the channel's topics and none of its
   mutes; a story already briefed (``previous``: story id -> fingerprint) is left out
   unless it gained facts since, and then comes back marked "Update:";
2. ranks them (``bot.core.ranking``) and keeps the best ``limit``;
3. summarises each story once (map): with a ``SummaryWriter`` (the LLM, ``bot.llm``) when
   one is configured, checked by ``bot.core.grounding``; a summary that fails is
   regenerated once with the failures named, then replaced by the extractive summary and
   marked; without a writer, or when it is unavailable (no key, endpoint down, token
   budget spent), the extractive summariser (``bot.core.summarize``) writes it;
4. composes (reduce) the top line, sections by topic, "why it matters" for the top
   stories, a deals table and one numbered source list; citations are renumbered into it.

Nothing a model writes reaches the briefing unchecked, and every link is a stored
article URL from the source list.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from bot.core.extract import Gazetteer, Money
from bot.core.grounding import CITATION, check_sentences
from bot.core.ranking import Ranked, RankWeights, rank_stories
from bot.core.records import SourceRef, StoryDeal, StoryRecord
from bot.core.summarize import SourceText, summarize

SECTION_ORDER = ("alliance", "investment", "chips", "datacenter", "cloud", "models", "policy", "earnings")
SECTION_TITLES = {
    "alliance": "Alliances",
    "investment": "Investments",
    "chips": "Chips",
    "datacenter": "Data centers and power",
    "cloud": "Cloud",
    "models": "Models and labs",
    "policy": "Policy",
    "earnings": "Earnings",
}
MAX_SOURCES_PER_STORY = 8


# ---- what the composer needs ---------------------------------------------------------------


class StoryReader(Protocol):
    """Stories and the text of their articles (the store implements both)."""

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
        """Stories matching the filters, with deals and sources."""
        ...

    def article_passages(self, article_id: int) -> list[str]:
        """An article's passages, in order."""
        ...


@dataclass(frozen=True)
class Written:
    """A writer's summary of one story: sentences with local ``[n]`` citations."""

    sentences: tuple[str, ...]
    why: str | None


class WriterUnavailable(Exception):
    """The writer cannot write now (no key, endpoint down, budget spent): ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SummaryWriter(Protocol):
    """Writes a story summary (implemented by the LLM layer)."""

    name: str  # shown in the footer, e.g. "gpt-4o-mini"

    def session(self) -> SummaryWriter:
        """A writer for one briefing, with its own per-briefing token budget. Briefings
        composed at once (a scheduled digest and a chat /brief) each get their own."""
        ...

    def top_line(self, period: str, stories: Sequence[tuple[int, str]]) -> str | None:
        """The editor's pass (reduce): one line over the stories' summaries, given as
        (story id, summary text) best first; None when it cannot. Raises WriterUnavailable."""
        ...

    def summarize(
        self, story: StoryRecord, sources: Sequence[SourceText], *, why: bool, problems: Sequence[str] = ()
    ) -> Written:
        """Summarise ``story`` from its numbered ``sources``; ``problems`` name what a
        previous attempt got wrong. Raises WriterUnavailable when it cannot write."""
        ...


class BriefingStore(Protocol):
    """What each channel was briefed (the store implements it)."""

    def last_briefing_at(self, channel: str) -> datetime | None:
        """When the channel's last briefing was composed."""
        ...

    def briefed_fingerprints(self, channel: str) -> dict[int, str]:
        """Story id -> fingerprint of what the channel was told about it."""
        ...

    def record_briefing(self, channel: str, briefing: Briefing, *, key: str | None = None) -> bool:
        """Remember a briefing and its stories' fingerprints; with a delivery ``key``, once
        (False when that key's briefing was remembered already)."""
        ...


class Clock(Protocol):
    def now(self) -> datetime: ...


# ---- the briefing --------------------------------------------------------------------------


@dataclass(frozen=True)
class BriefItem:
    """One story in a briefing: sentences and "why it matters" cite the briefing's sources."""

    story_id: int
    headline: str
    section: str
    sentences: tuple[str, ...]
    why: str | None
    update: bool
    score: float
    deals: tuple[StoryDeal, ...]
    written_by: str  # "extractive", or the writer's name
    note: str | None = None  # e.g. "extractive: the model's summary failed the checks"


@dataclass(frozen=True)
class DealRow:
    """A row of the briefing's deals table."""

    deal: StoryDeal
    story_id: int
    citations: tuple[int, ...]


@dataclass(frozen=True)
class Briefing:
    """A platform-neutral briefing; adapters render it, ``to_markdown`` for the terminal."""

    generated_at: datetime
    since: datetime | None
    top_line: str
    sections: tuple[tuple[str, tuple[BriefItem, ...]], ...]
    deals: tuple[DealRow, ...]
    sources: tuple[SourceRef, ...]
    mode: str  # "extractive", "llm" or "llm+extractive"
    footer: str
    fingerprints: dict[int, str] = field(default_factory=dict)  # what to remember as briefed

    @property
    def items(self) -> list[BriefItem]:
        return [item for _, items in self.sections for item in items]

    @property
    def empty(self) -> bool:
        return not self.sections

    def as_json(self) -> dict[str, object]:
        """The briefing as JSON data (``brief --json``)."""
        return {
            "generated_at": self.generated_at.isoformat(),
            "since": self.since.isoformat() if self.since else None,
            "top_line": self.top_line,
            "mode": self.mode,
            "footer": self.footer,
            "sections": [
                {
                    "topic": topic,
                    "title": SECTION_TITLES.get(topic, topic.title()),
                    "stories": [
                        {
                            "story_id": i.story_id,
                            "headline": i.headline,
                            "update": i.update,
                            "sentences": list(i.sentences),
                            "why_it_matters": i.why,
                            "score": round(i.score, 4),
                            "written_by": i.written_by,
                            "note": i.note,
                        }
                        for i in items
                    ],
                }
                for topic, items in self.sections
            ],
            "deals": [
                {"story_id": r.story_id, **r.deal.as_json(), "citations": list(r.citations)}
                for r in self.deals
            ],
            "sources": [{"n": n, **s.as_json()} for n, s in enumerate(self.sources, 1)],
        }

    def to_markdown(self) -> str:
        """The briefing as Markdown: links only from the numbered source list."""
        day = self.generated_at.strftime("%d %b %Y").lstrip("0")
        out = [f"# AI infrastructure briefing, {day}", ""]
        if self.empty:
            out += [self.top_line, "", f"_{self.footer}_"]
            return "\n".join(out)
        out += [f"**{self.top_line}**", ""]
        for topic, items in self.sections:
            out += [f"## {SECTION_TITLES.get(topic, topic.title())}", ""]
            for item in items:
                prefix = "Update: " if item.update else ""
                out += [f"### {prefix}{item.headline}", ""]
                out.append(" ".join(item.sentences))
                if item.why:
                    out += ["", f"*Why it matters:* {item.why}"]
                if item.note:
                    out += ["", f"_({item.note})_"]
                out.append("")
        if self.deals:
            out += ["## Deals", "", "| Date | Deal | Amount | Sources |", "|---|---|---|---|"]
            for row in self.deals:
                d = row.deal
                when = d.announced.strftime("%Y-%m-%d") if d.announced else "-"
                cites = "".join(f"[{n}]" for n in row.citations)
                amount = _md_cell(d.amount_text or "-")
                out.append(f"| {when} | {_md_cell(d.direction)} ({d.kind}) | {amount} | {cites} |")
            out.append("")
        out += ["## Sources", ""]
        for n, s in enumerate(self.sources, 1):
            when = s.published.strftime("%Y-%m-%d") if s.published else "undated"
            title = _md_cell(s.title or s.url or "untitled")
            out.append(
                f"[{n}] [{title}]({s.url}) — {s.outlet}, {when}"
                if s.url
                else f"[{n}] {title} — {s.outlet}, {when}"
            )
        out += ["", "---", f"_{self.footer}_"]
        return "\n".join(out)


_TOPIC_PRIORITY = ("earnings", "policy", "chips", "datacenter", "cloud", "models", "alliance", "investment")


def _section(story: StoryRecord) -> str:
    """A story's section: its main deal's kind when it has one (investment, else alliance),
    else its most specific topic (a keyword "invest" in an earnings report is not a deal)."""
    if story.deals:
        return "investment" if story.deals[0].kind in ("investment", "acquisition") else "alliance"
    return next(
        (t for t in _TOPIC_PRIORITY if t in story.topics), story.topics[0] if story.topics else "other"
    )


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def story_fingerprint(story: StoryRecord) -> str:
    """What a story knows that a reader was told: companies, chips, deals and amounts. A
    story briefed with one fingerprint comes back as "Update:" when it changes."""
    facts = {
        "companies": sorted(story.companies),
        "chips": sorted(story.chips),
        "deals": sorted(
            [
                sorted(d.parties),
                d.kind,
                d.amount.usd if d.amount else None,
                d.amount.usd_high if d.amount else None,
            ]
            for d in story.deals
        ),
    }
    return hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode()).hexdigest()[:16]


# ---- the composer --------------------------------------------------------------------------


@dataclass
class _Sources:
    refs: list[SourceRef] = field(default_factory=list)

    def number(self, ref: SourceRef) -> int:
        for i, s in enumerate(self.refs, 1):
            if s.article_id == ref.article_id:
                return i
        self.refs.append(ref)
        return len(self.refs)


def _renumber(text: str, local: Sequence[SourceRef], sources: _Sources) -> str:
    def swap(m: re.Match[str]) -> str:
        n = int(m.group(1))
        return f"[{sources.number(local[n - 1])}]" if 1 <= n <= len(local) else ""

    return CITATION.sub(swap, text)


@dataclass
class _Run:
    """One compose() call's writer session and why the model stopped writing, if it did."""

    writer: SummaryWriter | None
    unavailable: str | None = None


class Composer:
    """Composes briefings; see the module docstring. Safe to call from several threads."""

    def __init__(
        self,
        stories: StoryReader,
        gazetteer: Gazetteer,
        clock: Clock,
        *,
        writer: SummaryWriter | None = None,
        weights: RankWeights | None = None,
        why_for_top: int = 3,
    ) -> None:
        self.stories = stories
        self.gazetteer = gazetteer
        self.clock = clock
        self.writer = writer
        self.weights = weights
        self.why_for_top = why_for_top

    def compose(
        self,
        *,
        since: datetime | None,
        topics: Sequence[str] = (),
        mutes: Sequence[str] = (),
        previous: Mapping[int, str] | None = None,
        limit: int = 12,
        match: Callable[[StoryRecord], bool] | None = None,
    ) -> Briefing:
        """A briefing of the stories since ``since`` (see the module docstring).

        ``match``, when given, keeps only the stories it accepts (a personal digest's
        subscriptions), on top of ``topics`` and ``mutes``.
        """
        now = self.clock.now()
        previous = previous or {}
        # Per-call state only: compose() runs concurrently in chat and scheduler threads.
        run = _Run(self.writer.session()) if self.writer is not None else _Run(None, "no LLM configured")
        wanted = {t.lower() for t in topics}
        mute_patterns = [
            re.compile(rf"(?<!\w){re.escape(m.strip())}(?!\w)", re.I) for m in mutes if m.strip()
        ]
        chosen: list[tuple[StoryRecord, bool]] = []
        for story in self.stories.list_stories(since=since):
            if wanted and not wanted & {t.lower() for t in story.topics}:
                continue
            if match is not None and not match(story):
                continue
            haystack = " ".join([story.headline, *(s.title for s in story.sources), *story.entities])
            if any(p.search(haystack) for p in mute_patterns):
                continue
            known = previous.get(story.id)
            if known is not None and known == story_fingerprint(story):
                continue  # already briefed, nothing new
            chosen.append((story, known is not None))
        updates = {s.id for s, update in chosen if update}
        ranked = rank_stories([s for s, _ in chosen], now, self.weights)[: max(0, limit)]
        sources = _Sources()
        by_section: dict[str, list[BriefItem]] = {}
        deal_rows: list[DealRow] = []
        writers: set[str] = set()
        for position, r in enumerate(ranked):
            story = r.story
            local = list(story.sources[-MAX_SOURCES_PER_STORY:])
            texts = [
                SourceText(n, s.title, "\n".join(self.stories.article_passages(s.article_id)) or s.title)
                for n, s in enumerate(local, 1)
            ]
            want_why = position < self.why_for_top
            item_sentences, why, written_by, note = self._summarize(run, story, texts, want_why)
            writers.add(written_by)
            section = _section(story)
            by_section.setdefault(section, []).append(
                BriefItem(
                    story_id=story.id,
                    headline=story.headline,
                    section=section,
                    sentences=tuple(_renumber(s, local, sources) for s in item_sentences),
                    why=_renumber(why, local, sources) if why else None,
                    update=story.id in updates,
                    score=r.score,
                    deals=story.deals,
                    written_by=written_by,
                    note=note,
                )
            )
            for deal in story.deals:
                refs = [s for s in local if s.article_id in deal.article_ids][:2]
                deal_rows.append(DealRow(deal, story.id, tuple(sources.number(s) for s in refs)))
        order = {t: i for i, t in enumerate(SECTION_ORDER)}
        sections = tuple(
            (topic, tuple(items))
            for topic, items in sorted(by_section.items(), key=lambda kv: order.get(kv[0], 99))
        )
        mode = (
            "extractive"
            if writers <= {"extractive"}
            else ("llm" if "extractive" not in writers else "llm+extractive")
        )
        return Briefing(
            generated_at=now,
            since=since,
            top_line=self._edited_top_line(run, by_section, since) or self._top_line(ranked, sources, since),
            sections=sections,
            deals=tuple(deal_rows),
            sources=tuple(sources.refs),
            mode=mode,
            footer=self._footer(run, mode, writers, len(ranked), len(sources.refs)),
            fingerprints={r.story.id: story_fingerprint(r.story) for r in ranked},
        )

    # ---- internals ---------------------------------------------------------------------

    def _summarize(
        self, run: _Run, story: StoryRecord, texts: list[SourceText], want_why: bool
    ) -> tuple[list[str], str | None, str, str | None]:
        """(sentences with local citations, why it matters, who wrote it, note)."""
        note = None
        writer = run.writer
        if writer is not None and run.unavailable is None:
            problems: list[str] = []
            for _attempt in range(2):
                try:
                    written = writer.summarize(story, texts, why=want_why, problems=problems)
                except WriterUnavailable as exc:
                    run.unavailable = exc.reason
                    break
                lines = [*written.sentences, *([written.why] if written.why else [])]
                problems = (
                    check_sentences(lines, [t.text for t in texts], self.gazetteer)
                    if lines
                    else ["no sentences"]
                )
                if not problems:
                    return list(written.sentences), written.why, writer.name, None
            else:
                note = "extractive summary: the model's summary failed the grounding checks twice"
        count = 1 if len(texts) == 1 else 2 if len(texts) <= 3 else 3
        salient = [*story.companies, *story.chips, *(d.amount.text for d in story.deals if d.amount)]
        picked = summarize(texts, sentences=count, salient=salient)
        sentences = [f"{p.text} {''.join(f'[{n}]' for n in p.citations)}" for p in picked]
        if not sentences:
            sentences = [f"{story.headline} [1]"] if texts else [story.headline]
        why = None
        if want_why:
            extra = summarize(texts, sentences=1, salient=salient, cue=True, exclude=[p.text for p in picked])
            if extra:
                why = f"{extra[0].text} {''.join(f'[{n}]' for n in extra[0].citations)}"
        return sentences, why, "extractive", note

    def _edited_top_line(
        self, run: _Run, by_section: Mapping[str, list[BriefItem]], since: datetime | None
    ) -> str | None:
        """The model's top line over the written summaries, if it passes the checks: no
        company, chip, amount or number the summaries do not state, no link, one line."""
        if run.writer is None or run.unavailable is not None:
            return None
        items = sorted((i for group in by_section.values() for i in group), key=lambda i: -i.score)
        if not items:
            return None
        summaries = [(i.story_id, CITATION.sub("", " ".join([i.headline, *i.sentences]))) for i in items]
        period = f"the news since {since:%d %B %Y, %H:%M} UTC" if since else "the latest news"
        try:
            line = run.writer.top_line(period, summaries)
        except WriterUnavailable as exc:
            run.unavailable = exc.reason
            return None
        if not line or "\n" in line.strip() or len(line) > 400:
            return None
        problems = check_sentences(
            [line], [text for _, text in summaries], self.gazetteer, require_citation=False
        )
        return None if problems else " ".join(line.split())

    @staticmethod
    def _top_line(ranked: Sequence[Ranked], sources: _Sources, since: datetime | None) -> str:
        window = f" since {since:%d %b %H:%M} UTC" if since else ""
        if not ranked:
            return f"Nothing new{window} in the news briefbot follows."
        heads = [r.story.headline.rstrip(".") for r in ranked[:3]]
        more = f", and {len(ranked) - 3} more" if len(ranked) > 3 else ""
        return (
            f"{len(ranked)} {'story' if len(ranked) == 1 else 'stories'}{window}: "
            + "; ".join(heads)
            + more
            + "."
        )

    @staticmethod
    def _footer(run: _Run, mode: str, writers: set[str], stories: int, sources: int) -> str:
        if mode == "extractive":
            why = f" ({run.unavailable})" if run.unavailable else ""
            who = f"extractive summaries{why}"
        else:
            names = ", ".join(sorted(w for w in writers if w != "extractive"))
            who = f"summaries by {names}, checked against the sources"
            if mode == "llm+extractive":
                who += f"; some extractive ({run.unavailable or 'failed checks'})"
        return f"briefbot · {stories} stories from {sources} sources · {who}"


# ---- the outbox payload back into a Briefing ------------------------------------------


def _when(value: object) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def briefing_from_json(data: Mapping[str, Any]) -> Briefing:
    """A :class:`Briefing` back from :meth:`Briefing.as_json` (the outbox payload), for rendering."""
    sources = tuple(
        SourceRef(
            int(s.get("n", n)),
            s.get("url"),
            str(s.get("title") or ""),
            str(s.get("outlet") or ""),
            _when(s.get("published")),
        )
        for n, s in enumerate(data.get("sources") or [], 1)
    )
    sections: list[tuple[str, tuple[BriefItem, ...]]] = []
    for section in data.get("sections") or []:
        topic = str(section.get("topic") or "")
        items = tuple(
            BriefItem(
                story_id=int(s.get("story_id", 0)),
                headline=str(s.get("headline") or ""),
                section=topic,
                sentences=tuple(str(x) for x in s.get("sentences") or ()),
                why=s.get("why_it_matters"),
                update=bool(s.get("update")),
                score=float(s.get("score") or 0.0),
                deals=(),
                written_by=str(s.get("written_by") or ""),
                note=s.get("note"),
            )
            for s in section.get("stories") or []
        )
        sections.append((topic, items))
    deals = tuple(_deal_row(d) for d in data.get("deals") or [])
    return Briefing(
        generated_at=_when(data.get("generated_at")) or datetime.now(UTC),
        since=_when(data.get("since")),
        top_line=str(data.get("top_line") or ""),
        sections=tuple(sections),
        deals=deals,
        sources=sources,
        mode=str(data.get("mode") or ""),
        footer=str(data.get("footer") or ""),
    )


def _deal_row(d: Mapping[str, Any]) -> DealRow:
    amount = (
        Money(d.get("amount_usd"), str(d["amount"]), None, "USD", d.get("amount_usd_high"))
        if d.get("amount")
        else None
    )
    parties: Sequence[str] = d.get("parties") or ()
    deal = StoryDeal(
        parties=tuple(str(p) for p in parties),
        kind=d.get("kind") or "partnership",
        amount=amount,
        announced=_when(d.get("announced")),
        article_ids=(),
        support=int(d.get("support") or 0),
    )
    return DealRow(deal, int(d.get("story_id") or 0), tuple(int(n) for n in d.get("citations") or ()))
