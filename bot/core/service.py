"""The one API that the command line, the scheduler and the chat adapters call."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Protocol

from bot.core.analysis import Analyzer, AnalyzeReport
from bot.core.ask import Answer, Asker
from bot.core.briefing import Briefing, BriefingStore, Composer
from bot.core.delivery import disable_channel
from bot.core.models import Feed, IngestReport
from bot.core.ports import Clock, FeedStore
from bot.core.quiet import QuietHours, QuietStore
from bot.core.ranking import Ranked, RankWeights, rank_stories
from bot.core.records import ChipRecord, ChipStory, DealRecord, StoryRecord
from bot.core.subscriptions import (
    KINDS,
    Channel,
    ChannelStore,
    Subscription,
    clean_word,
    parse_channel_id,
    parse_days,
    parse_platform,
    parse_time,
    parse_zone,
    person_channel_id,
    quoted,
)
from bot.errors import BriefbotError, NotFoundError, UsageError

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
    """Feeds, ingestion, analysis and the story views; later issues add briefings and questions."""

    def __init__(
        self,
        store: FeedStore,
        ingestor: IngestRunner,
        check_url: Callable[[str], str],
        clock: Clock,
        analyzer: Analyzer,
        asker: Asker,
        composer: Composer,
        briefings: BriefingStore,
        channels: ChannelStore,
        *,
        rank_weights: RankWeights | None = None,
        analysis_lock: Callable[[], AbstractContextManager[None]] = nullcontext,
        quiet: QuietStore | None = None,
    ) -> None:
        self.store = store
        self.ingestor = ingestor
        self.check_url = check_url
        self.clock = clock
        self.analyzer = analyzer
        self.asker = asker
        self.composer = composer
        self.briefings = briefings
        self.channels = channels
        self.rank_weights = rank_weights or RankWeights()
        self.analysis_lock = analysis_lock  # one analyser per database (story ids are allocated)
        self.quiet = quiet

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

    # ---- briefings -------------------------------------------------------------------

    def brief(
        self,
        *,
        since: datetime | None,
        topics: Sequence[str] = (),
        mutes: Sequence[str] = (),
        channel: str | None = None,
        since_last: bool = False,
        limit: int = 12,
        record: bool = True,
        match: Callable[[StoryRecord], bool] | None = None,
    ) -> Briefing:
        """Compose a briefing of the stories since ``since`` (what the scheduler posts).

        With a ``channel`` the briefing is remembered: stories the channel was already told
        about come back only as "Update:" when they gained facts, and with ``since_last``
        the window starts at the channel's last briefing (or ``since`` for its first).
        With ``record`` False the caller remembers it (``briefings.record_briefing``) once
        it is delivered (the scheduler, so a crash before posting loses nothing).
        ``match`` keeps only the stories it accepts (a personal digest's subscriptions).
        """
        previous: Mapping[int, str] | None = None
        if channel is not None:
            previous = self.briefings.briefed_fingerprints(channel)
            if since_last:
                since = self.briefings.last_briefing_at(channel) or since
        briefing = self.composer.compose(
            since=since,
            topics=[self.topic(t) for t in topics],
            mutes=mutes,
            previous=previous,
            limit=limit,
            match=match,
        )
        if channel is not None and record and not briefing.empty:
            self.briefings.record_briefing(channel, briefing)
        return briefing

    # ---- channels, subscriptions and mutes -------------------------------------------

    def set_channel(
        self,
        platform: str,
        channel_id: str,
        *,
        at: str | None = None,
        tz: str | None = None,
        days: str | None = None,
        topics: Sequence[str] | None = None,
    ) -> tuple[Channel, bool]:
        """Add a digest channel, or change the given settings of an existing one.

        Each value is checked (time, IANA zone, days, topics by the taxonomy) and a bad one
        is a one-line UsageError naming it; returns (channel, created). A channel turned off
        by a delivery failure is turned back on (an admin set it up again).
        """
        key = (parse_platform(platform), parse_channel_id(channel_id))
        current = self.channels.get_channel(*key) or Channel(*key)
        channel = replace(
            current,
            at=parse_time(at) if at is not None else current.at,
            tz=parse_zone(tz) if tz is not None else current.tz,
            days=parse_days(days) if days is not None else current.days,
            topics=tuple(dict.fromkeys(self.topic(t) for t in topics))
            if topics is not None
            else current.topics,
            enabled=True,
        )
        created = self.channels.save_channel(channel, self.clock.now())
        return self.channels.get_channel(*key) or channel, created

    def set_personal_digest(
        self, platform: str, user_id: str, *, at: str, tz: str | None = None, days: str | None = None
    ) -> Channel:
        """Turn on (or change) a person's digest by direct message: a channel ``user:<USER_ID>``.

        Its stories are the person's subscriptions (all stories when none) minus their mutes;
        a bad time, zone or days value is a one-line UsageError.
        """
        key = (parse_platform(platform), person_channel_id(parse_channel_id(user_id)))
        current = self.channels.get_channel(*key) or Channel(*key)
        channel = replace(
            current,
            at=parse_time(at),
            tz=parse_zone(tz) if tz is not None else current.tz,
            days=parse_days(days) if days is not None else current.days,
            enabled=True,
        )
        self.channels.save_channel(channel, self.clock.now())
        return self.channels.get_channel(*key) or channel

    def personal_digest(self, platform: str, user_id: str) -> Channel | None:
        """A person's digest, or None when it is off."""
        return self.channels.get_channel(parse_platform(platform), person_channel_id(user_id))

    def remove_personal_digest(self, platform: str, user_id: str) -> bool:
        """Turn a person's digest off; False when it was not on."""
        return self.channels.remove_channel(parse_platform(platform), person_channel_id(user_id))

    def disable_destination(self, destination: str) -> bool:
        """Stop digests to ``platform:id`` after a permanent delivery failure; True when one was on."""
        return disable_channel(self.channels, destination, self.clock.now())

    def channel(self, platform: str, channel_id: str) -> Channel | None:
        """A digest channel, or None when it has none."""
        return self.channels.get_channel(parse_platform(platform), channel_id.strip())

    def list_channels(self) -> list[Channel]:
        """Every digest channel with its schedule."""
        return self.channels.list_channels()

    def thread_followups(self, platform: str, channel_id: str) -> bool | None:
        """Whether replies in the bot's threads in this channel are answered without a
        mention, by the channel's own setting; None when it has none (the default applies)."""
        return self.channels.get_thread_followups(parse_platform(platform), channel_id.strip())

    def set_thread_followups(self, platform: str, channel_id: str, on: bool | None) -> None:
        """Set the channel's follow-up setting (None: back to the default)."""
        key = (parse_platform(platform), parse_channel_id(channel_id))
        self.channels.set_thread_followups(*key, on, self.clock.now())

    def remove_channel(self, platform: str, channel_id: str) -> None:
        """Stop a channel's digests (its mutes go too); NotFoundError when it has none."""
        key = (parse_platform(platform), channel_id.strip())
        if not self.channels.remove_channel(*key):
            raise NotFoundError(f"no channel {key[0]}:{key[1]}; see `briefbot channels list`")

    def interest(self, what: str, kind: str | None = None) -> tuple[str, str]:
        """What a person wants to follow as (kind, canonical value).

        With ``kind`` the name must be one of that kind ("AWS" as a company is Amazon);
        without, it is tried as a topic, a company, then a chip. A keyword is any word.
        """
        name = " ".join(what.split())
        if kind is not None and kind not in KINDS:
            raise UsageError(f"unknown kind {kind!r}; use one of {', '.join(KINDS)}")
        if kind == "keyword":
            return "keyword", clean_word(name)
        if not name:
            raise UsageError("say what to follow: a topic, a company, a chip or keyword WORD")
        lookups: dict[str, Callable[[str], str]] = {
            "topic": self.topic,
            "company": self.company,
            "chip": self.chip,
        }
        if kind is not None:
            return kind, lookups[kind](name)
        for candidate, lookup in lookups.items():
            try:
                return candidate, lookup(name)
            except UsageError:
                continue
        try:
            hint = f'; to follow it as a word: subscribe keyword "{clean_word(name)}"'
        except UsageError:
            hint = ""
        raise UsageError(f"{quoted(name)} is not a topic, company or chip I know{hint}")

    def subscribe(
        self, platform: str, user_id: str, what: str, kind: str | None = None
    ) -> tuple[Subscription, bool]:
        """Follow a topic, company, chip or keyword; returns (subscription, created)."""
        found_kind, value = self.interest(what, kind)
        sub = Subscription(parse_platform(platform), user_id, found_kind, value)
        return sub, self.channels.add_subscription(sub, self.clock.now())

    def unsubscribe(self, platform: str, user_id: str, what: str, kind: str | None = None) -> Subscription:
        """Stop following something; NotFoundError when the person did not follow it."""
        mine = self.subscriptions(platform, user_id)
        wanted: list[tuple[str, str]] = []
        try:
            wanted.append(self.interest(what, kind))
        except UsageError:
            if kind not in (None, "keyword"):
                raise
        if kind is None:
            folded = " ".join(what.split()).casefold()
            wanted += [(s.kind, s.value) for s in mine if s.value.casefold() == folded]
        for sub in mine:
            if (sub.kind, sub.value) in wanted:
                self.channels.remove_subscription(sub.platform, sub.user_id, sub.kind, sub.value)
                return sub
        raise NotFoundError("you do not follow that; see /subscriptions")

    def subscriptions(self, platform: str, user_id: str) -> list[Subscription]:
        """One person's subscriptions, oldest first."""
        return self.channels.list_subscriptions(platform=parse_platform(platform), user_id=user_id)

    def mute(self, scope: str, word: str) -> tuple[str, bool]:
        """Leave out stories mentioning ``word`` for a scope; returns (word, created)."""
        clean = clean_word(word, "muted word")
        return clean, self.channels.add_mute(scope, clean, self.clock.now())

    def unmute(self, scope: str, word: str) -> str:
        """Stop muting a word; NotFoundError when it was not muted."""
        clean = clean_word(word, "muted word")
        if not self.channels.remove_mute(scope, clean):
            raise NotFoundError(f"{clean!r} is not muted here")
        return clean

    def mutes(self, scope: str) -> list[str]:
        """A scope's muted words."""
        return self.channels.list_mutes(scope)

    def quiet_hours(self, platform: str, user_id: str) -> QuietHours | None:
        """A person's own quiet hours (no alerts then), or None."""
        return self._quiet_store().get_quiet_hours(platform, user_id)

    def set_quiet_hours(self, platform: str, user_id: str, quiet: QuietHours | None) -> None:
        """Set a person's quiet hours, or clear them with None."""
        self._quiet_store().set_quiet_hours(platform, user_id, quiet, self.clock.now())

    def _quiet_store(self) -> QuietStore:
        if self.quiet is None:
            raise BriefbotError("quiet hours are not available here")
        return self.quiet

    # ---- questions -------------------------------------------------------------------

    def ask(self, question: str, thread: str | None = None) -> Answer:
        """Answer a question from the news, with citations; ``thread`` keeps follow-up context."""
        return self.asker.ask(question, thread)

    # ---- stories ---------------------------------------------------------------------

    def analyze(self, *, rebuild: bool = False, progress: ProgressFn | None = None) -> AnalyzeReport:
        """Extract and cluster every article not analysed yet (all of them with ``rebuild``).

        Waits while another analyser (a thread, ``briefbot analyze``, another instance)
        works on the same database."""
        with self.analysis_lock():
            if rebuild:
                return self.analyzer.rebuild(progress=progress)
            return self.analyzer.run(progress=progress)

    def topic(self, name: str) -> str:
        """A topic name as the taxonomy spells it; an unknown one is a UsageError listing them."""
        names = self.analyzer.taxonomy.topic_names()
        for known in names:
            if known.lower() == name.strip().lower():
                return known
        raise UsageError(f"unknown topic {name!r}; topics are: {', '.join(names)}")

    def company(self, name: str) -> str:
        """A company's canonical name from any alias ("AWS" -> "Amazon"), or a UsageError."""
        found = self.analyzer.gazetteer.company_matcher.lookup(name)
        if found is None:
            raise UsageError(f"unknown company {name!r}; add it to the gazetteer to track it")
        return found

    def chip(self, name: str) -> str:
        """A chip's canonical name from any alias ("TPU v7" -> "Ironwood"), or a UsageError."""
        found = self.analyzer.gazetteer.chip_matcher.lookup(name)
        if found is None:
            raise UsageError(f"unknown chip {name!r}; add it to the gazetteer to track it")
        return found

    def known_names(self) -> list[tuple[str, str]]:
        """Every (kind, canonical name) a person can follow by name: the taxonomy's topics,
        then the gazetteer's companies and chips (for autocomplete)."""
        gazetteer = self.analyzer.gazetteer
        names = [("topic", t) for t in self.analyzer.taxonomy.topic_names()]
        names += [("company", c.name) for c in gazetteer.companies]
        return names + [("chip", c.name) for c in gazetteer.chips]

    def stories(
        self, *, since: datetime | None, topic: str | None = None, company: str | None = None, limit: int = 20
    ) -> list[Ranked]:
        """Stories seen since ``since``, most important first; ``limit`` 0 means all."""
        records = self.analyzer.store.list_stories(
            since=since,
            topic=self.topic(topic) if topic else None,
            company=self.company(company) if company else None,
        )
        ranked = rank_stories(records, self.clock.now(), self.rank_weights)
        return ranked[:limit] if limit > 0 else ranked

    def story(self, story_id: int) -> StoryRecord:
        """One story by id, or NotFoundError."""
        found = self.analyzer.store.list_stories(story_ids=[story_id])
        if not found:
            raise NotFoundError(f"no story {story_id}; see `briefbot stories`")
        return found[0]

    def deals(self, *, company: str | None = None, since: datetime | None = None) -> list[DealRecord]:
        """The deal ledger: every story's deals, newest first, optionally one company's."""
        name = self.company(company) if company else None
        out: list[DealRecord] = []
        for story in self.analyzer.store.list_stories(since=since, company=name):
            by_id = {s.article_id: s for s in story.sources}
            for deal in story.deals:
                if name is not None and name not in deal.parties:
                    continue
                refs = tuple(by_id[a] for a in deal.article_ids if a in by_id)
                out.append(DealRecord(story.id, story.headline, deal, refs))
        out.sort(key=lambda r: (r.deal.announced or _story_when(r), r.story_id), reverse=True)
        return out

    def chips(self, *, vendor: str | None = None) -> list[ChipRecord]:
        """The chip tracker: each mentioned chip with its stories, newest first."""
        gazetteer = self.analyzer.gazetteer
        vendor_name = self.company(vendor) if vendor else None
        known = {c.name: c for c in gazetteer.chips}
        by_chip: dict[str, list[ChipStory]] = {}
        for story in self.analyzer.store.list_stories(any_chip=True):
            for chip in story.chips:
                by_chip.setdefault(chip, []).append(
                    ChipStory(
                        story.id, story.headline, story.when, story.chip_roles.get(chip, ()), story.sources
                    )
                )
        records = []
        for name, items in by_chip.items():
            spec = known.get(name)
            if spec is None or (vendor_name is not None and spec.vendor != vendor_name):
                continue
            items.sort(key=lambda c: (c.when, c.story_id), reverse=True)
            records.append(
                ChipRecord(
                    name=name,
                    vendor=spec.vendor,
                    family=spec.family,
                    generation=spec.generation,
                    first_mention=min(c.when for c in items),
                    latest_mention=max(c.when for c in items),
                    stories=tuple(items),
                )
            )
        records.sort(key=lambda r: (r.vendor, r.family, r.latest_mention), reverse=False)
        return records


def _story_when(record: DealRecord) -> datetime:
    dates = [s.published for s in record.sources if s.published]
    return max(dates) if dates else datetime.min.replace(tzinfo=UTC)
