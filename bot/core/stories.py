"""Incremental story clustering: pure, in-memory, deterministic.

Each article added to a :class:`StoryClusterer` either joins an existing story or starts a
new one. The evidence, computed against a handful of candidate stories only:

- **text**: near-duplicate similarity, a MinHash estimate of the Jaccard similarity of
  word 3-shingles of title + lead (first ``lead_chars`` characters). The signature uses
  one-permutation hashing (one keyed BLAKE2b hash per shingle, binned, with rotation
  densification), so it costs one hash per shingle. LSH banding of the signature finds
  near-duplicate candidates in constant time.
- **words**: TF-IDF cosine between the article's content words and the story's pooled
  words (IDF from the articles seen so far); catches differently worded reports.
- **entities**: Jaccard of companies + chips, article vs story.
- **time**: the gap in days between the article's date and the story's [first, last]
  seen dates (0 inside); unknown on either side means text and entity evidence only.
- **figures**: distinct large money amounts or power figures that the story never saw
  (and vice versa) count against a merge ("$8B total" vs "$4B", "6 GW" vs "10 GW").
- **years**: a four-digit year named in an undated article's text that is before the
  story's first year counts against it.

Candidates come from the LSH buckets and from a per-entity list of the most recent stories
naming that entity (capped), so the cost per article does not grow with the number of
stories. The best-scoring acceptable candidate wins; ties go to the older story.
"""

from __future__ import annotations

import math
import operator
import re
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from hashlib import blake2b

from bot.core.extract import Extraction

_WORD = re.compile(r"[a-z0-9]+(?:[.'][a-z0-9]+)*")
_YEAR = re.compile(r"\b(20[0-4][0-9])\b")
_STOP_WORDS = """a an the and or but of to in on for with at by from as is are was were be been being
it its this that these those has have had will would can could may might should not no than then so such
into over about after before up down out more most also just new said says say he she they we you i our
their his her them who which what when where while how all any some per via ai"""
_STOP = frozenset(_STOP_WORDS.split())
_MASK64 = (1 << 64) - 1


@dataclass(frozen=True)
class ClusterInput:
    """One article to cluster: its id, title, text, date (aware, or None) and extraction."""

    article_id: str
    title: str
    text: str
    published: datetime | None
    extraction: Extraction


@dataclass(frozen=True)
class Scores:
    """The evidence for one (article, story) pair, as ``--explain`` shows it."""

    story_id: int
    text: float  # MinHash Jaccard estimate of title+lead shingles (best member)
    words: float  # TF-IDF cosine of content words vs the story's pool
    entities: float  # Jaccard of companies + chips
    gap_days: float | None  # None when either side has no date
    figure_conflict: bool
    year_conflict: bool
    score: float
    accepted: bool
    reason: str


@dataclass(frozen=True)
class Assignment:
    """Where an article went: ``story_id``, whether it started it, and why."""

    article_id: str
    story_id: int
    new_story: bool
    reason: str
    best: Scores | None  # the chosen story's scores, or the best rejected one for a new story
    candidates: tuple[Scores, ...] = ()


@dataclass
class Story:
    """A story's state: members, dates, headline and merged extraction facts."""

    id: int
    headline: str
    first_seen: datetime | None
    last_seen: datetime | None
    member_ids: list[str] = field(default_factory=list)
    topics: set[str] = field(default_factory=set)
    companies: set[str] = field(default_factory=set)
    chips: set[str] = field(default_factory=set)
    headline_date: datetime | None = None
    # internal evidence
    signatures: deque[tuple[int, ...]] = field(default_factory=lambda: deque(maxlen=4))
    words: Counter[str] = field(default_factory=Counter)
    money: set[float] = field(default_factory=set)
    power: set[float] = field(default_factory=set)
    years: set[int] = field(default_factory=set)

    @property
    def entities(self) -> set[str]:
        return self.companies | self.chips


@dataclass(frozen=True)
class ClusterConfig:
    """Thresholds. Defaults are tuned on the shared corpus (see tests/core/test_stories.py)."""

    num_perm: int = 32
    bands: int = 8  # rows per band = num_perm // bands
    shingle: int = 3
    lead_chars: int = 600
    seed: int = 20240925
    window_days: float = 4.0  # dated article vs dated story: normal merge window
    dup_window_days: float = 30.0  # near-duplicate text may merge across this gap
    long_window_days: float = 21.0  # strong word+entity evidence may stretch to this gap
    dup_text: float = 0.5  # MinHash Jaccard that alone means "same story"
    min_entities: float = 0.3
    min_score: float = 0.2  # combined score needed inside the window
    min_score_undated: float = 0.24  # combined score needed when a date is missing
    min_score_long: float = 0.3  # combined score needed between window and long window
    max_candidates: int = 12  # stories scored per article
    per_entity_recent: int = 32  # recent stories kept per entity for candidate lookup
    max_story_words: int = 400  # pooled words kept per story
    min_money_usd: float = 1e8  # smaller amounts are not distinctive figures


class _Features:
    __slots__ = ("entities", "money", "power", "signature", "terms", "years")

    def __init__(
        self,
        signature: tuple[int, ...],
        terms: frozenset[str],
        entities: frozenset[str],
        money: frozenset[float],
        power: frozenset[float],
        years: frozenset[int],
    ) -> None:
        self.signature = signature
        self.terms = terms
        self.entities = entities
        self.money = money
        self.power = power
        self.years = years


def _round_sig(x: float) -> float:
    """Round to two significant figures, so "$4 billion" and "$4.0B" compare equal."""
    if x <= 0:
        return 0.0
    return float(f"{x:.2g}")


def _days(a: datetime, b: datetime) -> float:
    return abs((a - b).total_seconds()) / 86400.0


def _jaccard_f(a: frozenset[float] | set[float], b: frozenset[float] | set[float]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def _jaccard(a: Iterable[str], b: Iterable[str]) -> float:
    sa, sb = set(a), set(b)
    if not sa or not sb:
        return 0.0
    return len(sa & sb) / len(sa | sb)


class StoryClusterer:
    """Adds articles one at a time; see the module docstring for the method."""

    def __init__(self, config: ClusterConfig | None = None) -> None:
        self.config = config or ClusterConfig()
        c = self.config
        if c.num_perm % c.bands:
            raise ValueError("num_perm must be a multiple of bands")
        self._rows = c.num_perm // c.bands
        self._key = c.seed.to_bytes(8, "big")
        self.stories: dict[int, Story] = {}
        self.assignments: dict[str, int] = {}
        self._buckets: dict[tuple[int, bytes], list[int]] = {}
        self._by_entity: dict[str, deque[int]] = {}
        self._df: Counter[str] = Counter()
        self._docs = 0
        # IDF values are cached and refreshed when the document count grows by 5%.
        self._idf_cache: dict[str, float] = {}
        self._epoch = 0
        self._epoch_docs = 0
        self._norms: dict[int, tuple[tuple[int, int], float]] = {}

    # ---- features ----------------------------------------------------------------------

    def _hash(self, s: str) -> int:
        return int.from_bytes(blake2b(s.encode(), digest_size=8, key=self._key).digest(), "big")

    def _signature(self, text: str) -> tuple[int, ...]:
        c = self.config
        words = _WORD.findall(text.lower())
        k = c.shingle
        shingles = {" ".join(words[i : i + k]) for i in range(max(1, len(words) - k + 1))} if words else set()
        n = c.num_perm
        bins = [_MASK64] * n
        for sh in shingles:
            h = self._hash(sh)
            b = h % n
            v = h >> 6
            if v < bins[b]:
                bins[b] = v
        if all(v == _MASK64 for v in bins):
            return tuple(bins)
        # rotation densification: an empty bin borrows the next filled bin's value
        out = list(bins)
        for i in range(n):
            if out[i] == _MASK64:
                j, step = i, 0
                while bins[j] == _MASK64:
                    j = (j + 1) % n
                    step += 1
                out[i] = (bins[j] + step * 0x9E3779B97F4A7C15) & _MASK64
        return tuple(out)

    def _features(self, item: ClusterInput) -> _Features:
        c = self.config
        title = item.title.strip()
        lead = item.text[: c.lead_chars]
        sig = self._signature(f"{title} {lead}")
        body = f"{title} {title} {item.text[:3000]}".lower()
        terms = frozenset(w for w in _WORD.findall(body) if w not in _STOP and len(w) > 1 and not w.isdigit())
        ex = item.extraction
        money = frozenset(
            _round_sig(m.usd) for m in ex.money if m.usd is not None and m.usd >= c.min_money_usd
        ) | frozenset(
            _round_sig(m.usd_high)
            for m in ex.money
            if m.usd_high is not None and m.usd_high >= c.min_money_usd
        )
        power = frozenset(_round_sig(p.watts) for p in ex.power if p.watts >= 1e8)
        years = frozenset(int(y) for y in _YEAR.findall(item.text))
        return _Features(sig, terms, frozenset(ex.companies | ex.chip_names), money, power, years)

    # ---- scoring -----------------------------------------------------------------------

    def _idf(self, term: str) -> float:
        w = self._idf_cache.get(term)
        if w is None:
            w = math.log((self._docs + 1) / (self._df.get(term, 0) + 1)) + 1.0
            self._idf_cache[term] = w
        return w

    def _story_norm(self, story: Story) -> float:
        stamp = (len(story.member_ids), self._epoch)
        cached = self._norms.get(story.id)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        n = len(story.member_ids)
        s2 = 0.0
        for t, s in story.words.items():
            w = self._idf(t) * (s / n)
            s2 += w * w
        norm = math.sqrt(s2)
        self._norms[story.id] = (stamp, norm)
        return norm

    def _weights(self, terms: frozenset[str]) -> tuple[list[tuple[str, float]], float]:
        """The article's (term, idf squared) pairs and its vector norm."""
        pairs = [(t, self._idf(t) ** 2) for t in terms]
        return pairs, math.sqrt(sum(w for _, w in pairs))

    def _cosine(self, weights: tuple[list[tuple[str, float]], float], story: Story) -> float:
        pairs, anorm = weights
        if anorm == 0 or not story.words:
            return 0.0
        get = story.words.get
        dot = sum(w * get(t, 0) for t, w in pairs) / len(story.member_ids)
        norm = self._story_norm(story)
        return dot / (anorm * norm) if norm else 0.0

    @staticmethod
    def _text_sim(sig: tuple[int, ...], story: Story) -> float:
        if not sig or sig[0] == _MASK64:
            return 0.0
        best = max((sum(map(operator.eq, sig, other)) for other in story.signatures), default=0)
        return best / len(sig)

    def _gap(self, when: datetime | None, story: Story) -> float | None:
        if when is None or story.first_seen is None or story.last_seen is None:
            return None
        if story.first_seen <= when <= story.last_seen:
            return 0.0
        return min(_days(when, story.first_seen), _days(when, story.last_seen))

    def _score(
        self,
        f: _Features,
        weights: tuple[list[tuple[str, float]], float],
        when: datetime | None,
        story: Story,
    ) -> Scores:
        c = self.config
        text = self._text_sim(f.signature, story)
        ents = _jaccard(f.entities, story.entities)
        gap = self._gap(when, story)
        if text < c.dup_text and f.entities and story.entities and ents < c.min_entities:
            return Scores(
                story.id,
                text,
                0.0,
                ents,
                gap,
                False,
                False,
                0.35 * ents + 0.2 * text,
                False,
                "entities differ",
            )
        words = self._cosine(weights, story)
        fig = bool(
            (f.money and story.money and not (f.money & story.money))
            or (f.power and story.power and not (f.power & story.power))
        )
        figs = _jaccard_f(f.money | f.power, story.money | story.power)
        year_conflict = False
        if when is None and f.years and story.first_seen is not None:
            # an undated article that names only years before the story cannot report it
            year_conflict = max(f.years) < story.first_seen.year - 1
        score = 0.4 * words + 0.35 * ents + 0.15 * text + 0.1 * figs
        if fig:
            score -= 0.15
        if year_conflict:
            score -= 0.3
        # decisions
        if text >= c.dup_text and (gap is None or gap <= c.dup_window_days) and not year_conflict:
            return Scores(
                story.id,
                text,
                words,
                ents,
                gap,
                fig,
                year_conflict,
                max(score, text),
                True,
                "near-duplicate text",
            )
        if f.entities and story.entities and ents < c.min_entities:
            return Scores(
                story.id, text, words, ents, gap, fig, year_conflict, score, False, "entities differ"
            )
        if gap is None:
            ok = score >= c.min_score_undated
            why = "undated: text+entities" if ok else "undated: evidence too weak"
        elif gap <= c.window_days:
            ok = score >= c.min_score
            why = "within time window" if ok else "within window but evidence too weak"
        elif gap <= c.long_window_days:
            ok = score >= c.min_score_long
            why = "strong evidence beyond window" if ok else "outside time window"
        else:
            ok, why = False, "outside time window"
        return Scores(story.id, text, words, ents, gap, fig, year_conflict, score, ok, why)

    # ---- adding ------------------------------------------------------------------------

    def _bands(self, sig: tuple[int, ...]) -> list[tuple[int, bytes]]:
        r = self._rows
        out = []
        for b in range(self.config.bands):
            part = sig[b * r : (b + 1) * r]
            if all(v == _MASK64 for v in part):
                continue
            out.append((b, b"".join(v.to_bytes(8, "big") for v in part)))
        return out

    def _candidates(self, f: _Features, bands: list[tuple[int, bytes]], when: datetime | None) -> list[int]:
        """Stories sharing an LSH band (weight 2 each) or an entity (1 each), best first, capped.

        A dated article skips dated stories further away than ``dup_window_days``.
        """
        c = self.config
        votes: Counter[int] = Counter()
        for key in bands:
            for sid in self._buckets.get(key, ())[-16:]:
                votes[sid] += 2
        for e in sorted(f.entities):
            for sid in self._by_entity.get(e, ()):
                votes[sid] += 1
        out = []
        for sid, _ in sorted(votes.items(), key=lambda kv: (-kv[1], -kv[0])):
            gap = self._gap(when, self.stories[sid])
            if gap is not None and gap > c.dup_window_days:
                continue
            out.append(sid)
            if len(out) >= c.max_candidates:
                break
        return sorted(out)

    def add(self, item: ClusterInput) -> Assignment:
        """Assign one article to a story (joining or starting one) and return why."""
        if item.article_id in self.assignments:
            sid = self.assignments[item.article_id]
            return Assignment(item.article_id, sid, False, "already assigned", None)
        f = self._features(item)
        bands = self._bands(f.signature)
        weights = self._weights(f.terms)
        scored = [
            self._score(f, weights, item.published, self.stories[sid])
            for sid in self._candidates(f, bands, item.published)
        ]
        accepted = [s for s in scored if s.accepted]
        best: Scores | None
        if accepted:
            best = max(accepted, key=lambda s: (s.score, -s.story_id))
            story = self.stories[best.story_id]
            new = False
            reason = best.reason
        else:
            best = max(scored, key=lambda s: (s.score, -s.story_id)) if scored else None
            sid = len(self.stories) + 1
            story = Story(sid, item.title.strip() or item.text[:80].strip(), None, None)
            self.stories[sid] = story
            new = True
            reason = "no candidate story" if best is None else f"new story (best: {best.reason})"
        self._join(story, item, f, bands)
        return Assignment(item.article_id, story.id, new, reason, best, tuple(scored))

    def _join(self, story: Story, item: ClusterInput, f: _Features, bands: list[tuple[int, bytes]]) -> None:
        c = self.config
        when = item.published
        story.member_ids.append(item.article_id)
        self.assignments[item.article_id] = story.id
        if when is not None:
            if story.first_seen is None or when < story.first_seen:
                story.first_seen = when
            if story.last_seen is None or when > story.last_seen:
                story.last_seen = when
            title = item.title.strip()
            if title and (story.headline_date is None or when < story.headline_date):
                story.headline, story.headline_date = title, when
        ex = item.extraction
        story.topics |= ex.topics
        story.companies |= ex.companies
        story.chips |= ex.chip_names
        story.money |= f.money
        story.power |= f.power
        story.years |= f.years
        story.signatures.append(f.signature)
        story.words.update(f.terms)
        if len(story.words) > 2 * c.max_story_words:
            story.words = Counter(dict(story.words.most_common(c.max_story_words)))
        self._docs += 1
        self._df.update(f.terms)
        if self._docs > self._epoch_docs * 1.05 + 20:
            self._epoch += 1
            self._epoch_docs = self._docs
            self._idf_cache.clear()
        for key in bands:
            bucket = self._buckets.setdefault(key, [])
            if not bucket or bucket[-1] != story.id:
                bucket.append(story.id)
                if len(bucket) > 64:
                    del bucket[:32]
        for e in f.entities:
            recent = self._by_entity.setdefault(e, deque(maxlen=c.per_entity_recent))
            if story.id in recent:
                recent.remove(story.id)
            recent.append(story.id)
