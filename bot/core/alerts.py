"""Breaking alerts: a new or updated story goes to each person who follows something in it.

After each analysis, :meth:`Alerter.run` takes the stories the analyzer created or changed
(``AnalyzeReport.story_ids``), leaves out those made only of backfilled articles (a
feed's first fetch is searchable, never alerted), and matches each story's topics,
companies and chips (and keyword subscriptions against its headline and source titles)
to subscriptions. A person gets the alert by direct message unless the story mentions
one of their muted words, it is within the quiet hours (UTC), or they already had
``per_hour`` alerts in the last hour; people on a platform with no running adapter
(``platforms``) are left for when it runs. The outbox key ``alert:<platform>:<user>:story:<id>``
makes it at most once per story per person, across runs and restarts; an updated story
does not alert again.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.core.delivery import Outbox
from bot.core.records import StoryRecord
from bot.core.subscriptions import Subscription, user_scope

KIND = "alert"


class AlertStore(Protocol):
    """What alerting reads (the store implements it)."""

    def list_stories(self, *, story_ids: Sequence[int] | None = None) -> list[StoryRecord]:
        """The stories with these ids."""
        ...

    def alertable_story_ids(self, story_ids: Sequence[int]) -> set[int]:
        """The stories among ``story_ids`` with at least one article that is not backfill."""
        ...

    def subscriptions_matching(self, interests: Iterable[tuple[str, str]]) -> list[Subscription]:
        """Subscriptions to any of the (kind, value) pairs, plus every keyword subscription."""
        ...

    def list_mutes(self, scope: str) -> list[str]:
        """The scope's muted words."""
        ...

    def count_deliveries_since(self, destination: str, kind: str, since: datetime) -> int:
        """How many ``kind`` deliveries to ``destination`` were claimed since ``since``."""
        ...


class Clock(Protocol):
    def now(self) -> datetime: ...


@dataclass
class AlertReport:
    """What one alerting pass did (counts of person-story pairs)."""

    stories: int = 0
    sent: int = 0
    already: int = 0
    muted: int = 0
    quiet: int = 0
    capped: int = 0
    failed: int = 0
    keys: list[str] = field(default_factory=list)  # outbox keys posted in this pass

    def as_json(self) -> dict[str, int]:
        return {
            "stories": self.stories,
            "sent": self.sent,
            "already": self.already,
            "muted": self.muted,
            "quiet": self.quiet,
            "capped": self.capped,
            "failed": self.failed,
        }


def person_destination(platform: str, user_id: str) -> str:
    """Where a person's alerts go: ``slack:U1`` (Slack tells users from channels by their
    ids), ``discord:user:<id>`` (a Discord user id looks like a channel id)."""
    return f"discord:user:{user_id}" if platform == "discord" else f"{platform}:{user_id}"


def interest_filter(subscriptions: Sequence[Subscription]) -> Callable[[StoryRecord], bool] | None:
    """What a person's digest keeps: a story with a subscribed topic, or naming a subscribed
    company, chip or keyword (in its headline, source titles or entities); None (every
    story) when the person follows nothing."""
    if not subscriptions:
        return None
    wanted = {(s.kind, s.value) for s in subscriptions if s.kind != "keyword"}
    words = [_pattern(s.value) for s in subscriptions if s.kind == "keyword" and s.value.strip()]

    def match(story: StoryRecord) -> bool:
        interests = {("topic", t) for t in story.topics}
        interests |= {("company", c) for c in story.companies} | {("chip", c) for c in story.chips}
        if wanted & interests:
            return True
        haystack = _haystack(story)
        return any(p.search(haystack) for p in words)

    return match


def alert_key(platform: str, user_id: str, story_id: int) -> str:
    """The outbox key of one person's alert about one story."""
    return f"alert:{platform}:{user_id}:story:{story_id}"


def in_quiet_hours(now: datetime, quiet: tuple[str, str] | None) -> bool:
    """True when ``now`` (UTC) falls in ``(start, end)`` "HH:MM" (which may span midnight)."""
    if quiet is None:
        return False
    start, end = quiet
    moment = now.strftime("%H:%M")
    if start < end:
        return start <= moment < end
    return moment >= start or moment < end


def _pattern(word: str) -> re.Pattern[str]:
    return re.compile(rf"(?<!\w){re.escape(word.strip())}(?!\w)", re.I)


def _haystack(story: StoryRecord) -> str:
    return " ".join([story.headline, *(s.title for s in story.sources), *story.entities])


def alert_payload(story: StoryRecord, matched: Subscription) -> dict[str, Any]:
    """The platform-neutral alert: a Markdown text and the story's data."""
    sources = [s for s in story.sources if s.url][:5]
    lines = [f"**Breaking:** {story.headline}", f"_You follow {matched.label()}._"]
    lines += [f"[{n}] [{s.title or s.url}]({s.url}) — {s.outlet}" for n, s in enumerate(sources, 1)]
    return {
        "kind": KIND,
        "text": "\n".join(lines),
        "story_id": story.id,
        "headline": story.headline,
        "matched": {"kind": matched.kind, "value": matched.value},
        "sources": [s.as_json() for s in sources],
    }


class Alerter:
    """Sends breaking alerts through the outbox; see the module docstring."""

    def __init__(
        self,
        store: AlertStore,
        outbox: Outbox,
        clock: Clock,
        *,
        quiet_hours: tuple[str, str] | None = None,
        per_hour: int = 5,
        platforms: Iterable[str] | None = None,
    ) -> None:
        self.store = store
        self.platforms = None if platforms is None else frozenset(platforms)  # None: every platform
        self.outbox = outbox
        self.clock = clock
        self.quiet_hours = quiet_hours
        self.per_hour = per_hour

    def run(self, story_ids: Sequence[int]) -> AlertReport:
        """Alert the subscribers of these new or updated stories."""
        report = AlertReport()
        ids = sorted(self.store.alertable_story_ids(story_ids))
        if not ids:
            return report
        stories = self.store.list_stories(story_ids=ids)
        report.stories = len(stories)
        mutes: dict[str, list[re.Pattern[str]]] = {}
        for story in sorted(stories, key=lambda s: s.id):
            for person, sub in self._subscribers(story).items():
                platform, user_id = person
                scope = user_scope(platform, user_id)
                if scope not in mutes:
                    mutes[scope] = [_pattern(w) for w in self.store.list_mutes(scope) if w.strip()]
                self._alert(story, platform, user_id, sub, mutes[scope], report)
        return report

    def _subscribers(self, story: StoryRecord) -> dict[tuple[str, str], Subscription]:
        """Each person following something in the story, with the first thing they follow."""
        interests = [("topic", t) for t in story.topics]
        interests += [("company", c) for c in story.companies]
        interests += [("chip", c) for c in story.chips]
        wanted = set(interests)
        haystack = _haystack(story)
        found: dict[tuple[str, str], Subscription] = {}
        for sub in self.store.subscriptions_matching(interests):
            if sub.kind == "keyword":
                if not _pattern(sub.value).search(haystack):
                    continue
            elif (sub.kind, sub.value) not in wanted:
                continue
            if self.platforms is None or sub.platform in self.platforms:
                found.setdefault((sub.platform, sub.user_id), sub)
        return found

    def _alert(
        self,
        story: StoryRecord,
        platform: str,
        user_id: str,
        sub: Subscription,
        muted: Sequence[re.Pattern[str]],
        report: AlertReport,
    ) -> None:
        key = alert_key(platform, user_id, story.id)
        destination = person_destination(platform, user_id)
        now = self.clock.now()
        if self.outbox.seen(key):
            report.already += 1
        elif any(p.search(_haystack(story)) for p in muted):
            report.muted += 1
        elif in_quiet_hours(now, self.quiet_hours):
            report.quiet += 1
        elif self.store.count_deliveries_since(destination, KIND, now - timedelta(hours=1)) >= self.per_hour:
            report.capped += 1
        else:
            outcome = self.outbox.deliver(key, destination, KIND, alert_payload(story, sub))
            if outcome in ("posted", "confirmed"):
                report.sent += 1
                report.keys.append(key)
            elif outcome == "skipped":
                report.already += 1
            else:
                report.failed += 1
