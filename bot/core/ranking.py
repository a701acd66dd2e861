"""Story importance: sources, deal size, entities, topics, decayed by age.

``score = (sources + deal + entities + topics) * recency``, each part explainable:

- sources: ``log2(1 + weighted distinct outlets)``; eight outlets are worth 3.2, one is 1;
- deal: ``0.6 * log10(1 + largest deal in USD / $100M)``; $4B gives 1.0, $100B gives 1.8;
- entities: 0.15 per tracked company or chip, at most 6 counted;
- topics: the best topic weight plus half the second best (alliances, investment and
  chips weigh most: briefbot follows the hardware and alliance race);
- recency: ``0.5 ** (age in hours / half_life)``, the age counted from the story's
  latest source to the newest story in view (or to now, if that is earlier), so an
  archive (``--since all``) still ranks by importance within each period.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from bot.core.records import StoryRecord

DEFAULT_TOPIC_WEIGHTS: Mapping[str, float] = {
    "alliance": 1.0,
    "investment": 1.0,
    "chips": 1.0,
    "datacenter": 0.8,
    "policy": 0.7,
    "cloud": 0.6,
    "earnings": 0.5,
    "models": 0.5,
}


@dataclass(frozen=True)
class RankWeights:
    """Tunable weights; outlets not in ``outlets`` weigh 1, topics not listed weigh 0.4."""

    outlets: Mapping[str, float] = field(default_factory=dict)
    topics: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_TOPIC_WEIGHTS))
    half_life_hours: float = 36.0
    other_topic: float = 0.4


@dataclass(frozen=True)
class Ranked:
    """A story with its score and the parts that make it up (``--explain``)."""

    story: StoryRecord
    score: float
    parts: dict[str, float]


def rank_story(story: StoryRecord, now: datetime, weights: RankWeights | None = None) -> Ranked:
    """Score one story at time ``now``."""
    w = weights or RankWeights()
    outlets = {s.outlet for s in story.sources}
    sources = math.log2(1 + sum(w.outlets.get(o, 1.0) for o in outlets))
    biggest = max(
        (max(d.amount.usd or 0.0, d.amount.usd_high or 0.0) for d in story.deals if d.amount), default=0.0
    )
    deal = 0.6 * math.log10(1 + biggest / 1e8)
    entities = 0.15 * min(len(story.companies) + len(story.chips), 6)
    topic_ws = sorted((w.topics.get(t, w.other_topic) for t in story.topics), reverse=True)
    topics = (topic_ws[0] if topic_ws else 0.0) + (0.5 * topic_ws[1] if len(topic_ws) > 1 else 0.0)
    age_hours = max(0.0, (now - story.when).total_seconds() / 3600)  # ``now``: see rank_stories
    recency = 0.5 ** (age_hours / w.half_life_hours)
    base = sources + deal + entities + topics
    parts = {
        "sources": round(sources, 3),
        "deal": round(deal, 3),
        "entities": round(entities, 3),
        "topics": round(topics, 3),
        "recency": round(recency, 4),
        "age_hours": round(age_hours, 1),
    }
    return Ranked(story, base * recency, parts)


def rank_stories(
    stories: list[StoryRecord], now: datetime, weights: RankWeights | None = None
) -> list[Ranked]:
    """Stories best first; ties go to the newer story. Ages count from the newest dated
    story in view (an undated story's age is from when it was stored, at least 0)."""
    dated = [s.last_seen for s in stories if s.last_seen is not None]
    if dated:
        now = min(now, max(dated))
    ranked = [rank_story(s, now, weights) for s in stories]
    ranked.sort(key=lambda r: (-r.score, -r.story.when.timestamp(), -r.story.id))
    return ranked
