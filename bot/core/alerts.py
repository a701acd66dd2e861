"""Breaking alerts: a new or updated story goes to each person who follows something in it.

After each analysis, :meth:`Alerter.run` takes the stories the analyzer created or changed
(``AnalyzeReport.story_ids``), leaves out those made only of backfilled articles (a
feed's first fetch is searchable, never alerted), and matches each story's topics,
companies and chips (and keyword subscriptions against its headline and source titles)
to subscriptions. A person gets the alert by direct message unless the story mentions
one of their muted words or they already had ``per_hour`` alerts in the last hour. An
alert within the person's quiet hours (their own ``/quiet`` setting in their time zone,
else the bot's default) is held in the store and delivered by :meth:`Alerter.release_held`
on the first alert pass after the quiet hours end (see :mod:`bot.core.quiet`). People on a
platform with no running adapter (``platforms``) are left for when it runs. The outbox
key ``alert:<platform>:<user>:story:<id>`` makes it at most once per story per person,
across runs and restarts; an updated story does not alert again.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.core.delivery import Outbox
from bot.core.quiet import HeldAlert, QuietHours, QuietStore
from bot.core.records import StoryRecord
from bot.core.subscriptions import Subscription, user_scope

KIND = "alert"
HOLD_AT_MOST = timedelta(hours=24)  # a held alert older than this is stale: dropped, not sent


class AlertStore(QuietStore, Protocol):
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
    quiet: int = 0  # held until the person's quiet hours end
    capped: int = 0
    failed: int = 0
    released: int = 0  # held alerts delivered after quiet hours
    stale: int = 0  # held alerts dropped: too old, muted or gone
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
            "released": self.released,
            "stale": self.stale,
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
        self.default_quiet = QuietHours(*quiet_hours, "UTC") if quiet_hours else None
        self.per_hour = per_hour

    def run(self, story_ids: Sequence[int]) -> AlertReport:
        """Alert the subscribers of these new or updated stories."""
        report = AlertReport()
        ids = sorted(self.store.alertable_story_ids(story_ids))
        if not ids:
            return report
        stories = self.store.list_stories(story_ids=ids)
        report.stories = len(stories)
        people = _People(self)
        for story in sorted(stories, key=lambda s: s.id):
            for person, sub in self._subscribers(story).items():
                self._alert(story, person, sub, people, report)
        return report

    def release_held(self) -> AlertReport:
        """Deliver the alerts whose holder's quiet hours have ended (``released``); drop
        those that went stale, were muted since or were delivered otherwise (``stale``)."""
        report = AlertReport()
        now = self.clock.now()
        people = _People(self)
        for held in self.store.due_held_alerts(now):
            if self.platforms is not None and held.platform not in self.platforms:
                continue  # that adapter is not running: keep it for when it does
            person = (held.platform, held.user_id)
            stories = self.store.list_stories(story_ids=[held.story_id])
            if self.outbox.seen(held.key):
                self.store.drop_held_alert(held.key)
                report.already += 1
            elif not stories or now - held.held_at > HOLD_AT_MOST or people.mutes(person, stories[0]):
                self.store.drop_held_alert(held.key)
                report.stale += 1
            elif (quiet := people.quiet(person)) is not None and quiet.contains(now):
                self.store.drop_held_alert(held.key)  # the person moved their quiet hours: wait again
                self.store.hold_alert(replace(held, release_at=quiet.ends_after(now)))
                report.quiet += 1
            elif self._capped(held.platform, held.user_id, now):
                report.capped += 1  # stays held: the next pass tries again
            else:
                sub = Subscription(held.platform, held.user_id, held.matched_kind, held.matched_value)
                if self._send(stories[0], held.platform, held.user_id, sub, report):
                    report.released += 1
                self.store.drop_held_alert(held.key)
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
        person: tuple[str, str],
        sub: Subscription,
        people: _People,
        report: AlertReport,
    ) -> None:
        platform, user_id = person
        key = alert_key(platform, user_id, story.id)
        now = self.clock.now()
        quiet = people.quiet(person)
        if self.outbox.seen(key):
            report.already += 1
        elif people.mutes(person, story):
            report.muted += 1
        elif quiet is not None and quiet.contains(now):
            self.store.hold_alert(
                HeldAlert(key, platform, user_id, story.id, sub.kind, sub.value, quiet.ends_after(now), now)
            )
            report.quiet += 1
        elif self._capped(platform, user_id, now):
            report.capped += 1
        else:
            self._send(story, platform, user_id, sub, report)

    def _capped(self, platform: str, user_id: str, now: datetime) -> bool:
        destination = person_destination(platform, user_id)
        return self.store.count_deliveries_since(destination, KIND, now - timedelta(hours=1)) >= self.per_hour

    def _send(
        self, story: StoryRecord, platform: str, user_id: str, sub: Subscription, report: AlertReport
    ) -> bool:
        """Deliver one alert through the outbox; True when it reached the person now."""
        key = alert_key(platform, user_id, story.id)
        destination = person_destination(platform, user_id)
        outcome = self.outbox.deliver(key, destination, KIND, alert_payload(story, sub))
        if outcome in ("posted", "confirmed"):
            report.sent += 1
            report.keys.append(key)
            return True
        if outcome == "skipped":
            report.already += 1
        else:
            report.failed += 1
        return False


class _People:
    """Per-pass memo of each person's mutes and quiet hours (one lookup per person)."""

    def __init__(self, alerter: Alerter) -> None:
        self.alerter = alerter
        self._mutes: dict[tuple[str, str], list[re.Pattern[str]]] = {}
        self._quiet: dict[tuple[str, str], QuietHours | None] = {}

    def mutes(self, person: tuple[str, str], story: StoryRecord) -> bool:
        """True when the story mentions one of the person's muted words."""
        if person not in self._mutes:
            words = self.alerter.store.list_mutes(user_scope(*person))
            self._mutes[person] = [_pattern(w) for w in words if w.strip()]
        haystack = _haystack(story)
        return any(p.search(haystack) for p in self._mutes[person])

    def quiet(self, person: tuple[str, str]) -> QuietHours | None:
        """The person's own quiet hours, else the bot's default."""
        if person not in self._quiet:
            own = self.alerter.store.get_quiet_hours(*person)
            self._quiet[person] = own or self.alerter.default_quiet
        return self._quiet[person]
