"""Incremental story clustering: pure, in-memory, deterministic.

Each article added to a :class:`StoryClusterer` either joins an existing story or starts a
new one. The evidence, computed against a handful of candidate stories only:

- **text**: near-duplicate similarity, a MinHash estimate of the Jaccard similarity of
  word 3-shingles of title + lead (first ``lead_chars`` characters). The signature uses
  one-permutation hashing: each word is hashed once (keyed BLAKE2b, cached), a shingle's
  hash is a multiply-add of its words' hashes, binned, with rotation densification. LSH
  banding of the signature finds near-duplicate candidates in constant time.
- **words**: TF-IDF similarity between the article's content words (title and first 3,000
  characters; numbers of three or more digits count, "9,216" as "9216") and the story's
  pooled words: the IDF-weighted share of the article's words in the pool, weighted by how
  many members use each, times ``sqrt(article words / pool size)``. IDF comes from the
  articles seen so far. Catches differently worded reports.
- **title**: IDF-weighted Dice overlap of the title's content words with the titles of the
  story's latest members; headlines of one event share their rare words.
- **entities**: Jaccard of companies + chips, article vs story.
- **deal**: the article and the story name the same deal, two companies in one sentence
  with a deal word and the same dollar amount ("Amazon ... OpenAI ... $38 billion").
- **time**: the gap in days between the article's date and the story's [first, last]
  seen dates (0 inside); unknown on either side means text and entity evidence only.
- **date hints**: an undated article that names a calendar date ("Sept. 25") falling in
  the story's dates, or a weekday ("on Monday") that does or does not fall in a story's
  dates of less than a week, gains or loses a little.
- **figures**: the share of the article's large money amounts and power figures that the
  story knows counts for a merge; figures on both sides with none in common count against
  it ("$8B total" vs "$4B", "6 GW" vs "10 GW").
- **years**: a four-digit year named in an undated article's text that is before the
  story's first year counts against it ("since 2023" and "founded in 2021" do not count).

Candidates come from the LSH buckets and from a per-entity list of the most recent stories
naming that entity (capped), so the cost per article does not grow with the number of
stories. The best-scoring acceptable candidate wins; ties go to the older story.

Restoring: :meth:`StoryClusterer.restore` rebuilds a story from its members without
scoring them. Every piece of state is either local to a story (built from its members in
order) or a pure function of the set of stories and their members (document frequencies;
the capped indexes keep the top entries by a key fixed when an entry is written), so
restoring stories and then adding an article gives the same result as having added the
stories' members in the first place.
"""

from __future__ import annotations

import math
import re
from collections import Counter, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from hashlib import blake2b
from itertools import combinations

from bot.core.extract import Extraction

_WORD = re.compile(r"[a-z0-9]+(?:[.'][a-z0-9]+)*")
_YEAR = re.compile(r"\b20[0-4][0-9]\b")
# words before a year that make it the start of a period up to now, or a founding date
_YEAR_SINCE = re.compile(r"(?:\bsince|\bfounded\s+in)\s+$", re.IGNORECASE)
_WEEKDAY = re.compile(r"\b(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)\b")
_WEEKDAYS = {
    d: i for i, d in enumerate(("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"))
}
_MONTHS = {
    "jan": 1,
    "feb": 2,
    "mar": 3,
    "apr": 4,
    "may": 5,
    "jun": 6,
    "jul": 7,
    "aug": 8,
    "sep": 9,
    "oct": 10,
    "nov": 11,
    "dec": 12,
}
_DATE = re.compile(
    r"\b(Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
    r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?\s+([0-3]?[0-9])(?:st|nd|rd|th)?"
    r"(?![0-9])(?:,?\s+(20[0-4][0-9])\b)?"
)
_STOP_WORDS = """a an the and or but of to in on for with at by from as is are was were be been being
it its this that these those has have had will would can could may might should not no than then so such
into over about after before up down out more most also just new said says say he she they we you i our
their his her them who which what when where while how all any some per via ai"""
_STOP = frozenset(_STOP_WORDS.split())
_MASK64 = (1 << 64) - 1
_MASK32 = (1 << 32) - 1
# odd 64-bit multipliers for combining the three word hashes of a shingle
_MUL = (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9)


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
    words: float  # TF-IDF similarity of content words vs the story's pool
    entities: float  # Jaccard of companies + chips
    gap_days: float | None  # None when either side has no date
    figure_conflict: bool  # both sides have figures, none in common
    year_conflict: bool  # undated article names only years before the story's
    score: float
    accepted: bool
    reason: str
    title: float = 0.0  # IDF-weighted Dice of title words (best of the story's latest titles)
    deal: bool = False  # a shared deal: two companies and the same dollar amount
    date_hint: str = ""  # undated article: "date named", "weekday matches", "weekday differs"


@dataclass(frozen=True)
class Assignment:
    """Where an article went: ``story_id``, whether it started it, and why (``candidates``:
    the scores of every story considered)."""

    article_id: str
    story_id: int
    new_story: bool
    reason: str
    best: Scores | None  # the chosen story's scores, or the best rejected one for a new story
    candidates: tuple[Scores, ...] = ()


_DealKey = tuple[str, str, float]


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
    # MinHash signatures of the latest members, as sets of ``value * num_perm + position``
    signatures: deque[frozenset[int]] = field(default_factory=lambda: deque(maxlen=4))
    titles: deque[frozenset[str]] = field(default_factory=lambda: deque(maxlen=4))
    words: Counter[str] = field(default_factory=Counter)
    words_sq: int = 0  # sum of squared counts in ``words``
    money: set[float] = field(default_factory=set)
    power: set[float] = field(default_factory=set)
    deals: set[_DealKey] = field(default_factory=set)

    @property
    def entities(self) -> set[str]:
        """Companies and chips named by any member."""
        return self.companies | self.chips


@dataclass(frozen=True)
class ClusterConfig:
    """Thresholds and weights. Defaults are tuned on the shared corpus (see
    tests/core/test_stories.py)."""

    num_perm: int = 32
    bands: int = 8  # rows per band = num_perm // bands
    shingle: int = 3
    lead_chars: int = 600
    seed: int = 20240925
    window_days: float = 4.0  # dated article vs dated story: normal merge window
    dup_window_days: float = 30.0  # near-duplicate text may merge across this gap
    long_window_days: float = 21.0  # strong word+entity evidence may stretch to this gap
    dup_text: float = 0.5  # MinHash Jaccard that alone means "same story"
    min_entities: float = 0.3  # below: no merge, unless near-duplicate text or a shared deal
    min_score: float = 0.2  # combined score needed inside the window
    min_score_undated: float = 0.24  # combined score needed when a date is missing
    min_score_long: float = 0.3  # combined score needed between window and long window
    # the combined score: weighted sum of the evidence, plus bonuses, minus penalties
    w_words: float = 0.4
    w_entities: float = 0.35
    w_text: float = 0.15
    w_figures: float = 0.1  # share of the article's figures the story knows
    w_title: float = 0.1
    deal_bonus: float = 0.1  # same deal (parties and amount) on both sides
    date_bonus: float = 0.1  # undated article names a date inside the story's dates
    weekday_bonus: float = 0.0  # undated article names a weekday inside the story's dates
    weekday_penalty: float = 0.1  # ... or only weekdays outside them
    figure_penalty: float = 0.15  # the story and the article have figures, none in common
    year_penalty: float = 0.3  # undated article names only years before the story's
    max_candidates: int = 12  # stories scored per article
    per_entity_recent: int = 32  # recent stories kept per entity for candidate lookup
    per_bucket_recent: int = 16  # recent stories kept per LSH bucket
    max_story_words: int = 400  # pooled words kept per story
    min_money_usd: float = 1e8  # smaller amounts are not distinctive figures


class _Features:
    __slots__ = (
        "dates",
        "deals",
        "entities",
        "money",
        "power",
        "signature",
        "sigset",
        "terms",
        "title",
        "weekdays",
        "years",
    )

    def __init__(
        self,
        signature: tuple[int, ...],
        sigset: frozenset[int],
        terms: tuple[str, ...],
        title: tuple[str, ...],
        entities: frozenset[str],
        money: frozenset[float],
        power: frozenset[float],
        years: frozenset[int],
        deals: frozenset[_DealKey],
        weekdays: frozenset[int],
        dates: frozenset[tuple[int, int, int | None]],
    ) -> None:
        self.signature = signature
        self.sigset = sigset
        self.terms = terms
        self.title = title
        self.entities = entities
        self.money = money
        self.power = power
        self.years = years
        self.deals = deals
        self.weekdays = weekdays
        self.dates = dates


def _round_sig(x: float) -> float:
    """Round to two significant figures, so "$4 billion" and "$4.0B" compare equal."""
    if x <= 0:
        return 0.0
    return float(f"{x:.2g}")


def _days(a: datetime, b: datetime) -> float:
    return abs((a - b).total_seconds()) / 86400.0


def _jaccard(a: frozenset[str], b: set[str]) -> float:
    if not a or not b:
        return 0.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


# a word, or a number with thousands separators ("9,216")
_TERM = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})+(?![0-9])|[a-z0-9]+(?:[.'][a-z0-9]+)*")


def _content_words(text: str) -> set[str]:
    """Lower-case words that are not stop words, single characters or numbers below 100;
    "9,216" is "9216"."""
    words = {w for w in _TERM.findall(text.lower()) if len(w) > 1 and w not in _STOP}
    odd = [w for w in words if "," in w or (len(w) == 2 and w.isdigit())]
    if odd:
        words.difference_update(odd)
        words.update(w.replace(",", "") for w in odd if "," in w)
    return words


def _index_key(story: Story) -> int:
    """Rank of a story in the capped indexes: latest date first, then newest id."""
    when = story.last_seen
    stamp = int(when.timestamp()) + (1 << 40) if when is not None else 0
    return (stamp << 32) | story.id


def _top_insert(entries: list[int], key: int, cap: int) -> None:
    """Write ``key`` (its low 32 bits are a story id) into a list that keeps the ``cap``
    largest keys; an existing entry of that story is replaced. The kept set does not
    depend on the order of writes: an entry leaves only for ``cap`` larger ones, and keys
    of a story only grow."""
    sid = key & _MASK32
    for i, k in enumerate(entries):
        if k & _MASK32 == sid:
            if key > k:
                entries[i] = key
            return
    entries.append(key)
    if len(entries) > cap:
        entries.remove(min(entries))


class StoryClusterer:
    """Adds articles one at a time; see the module docstring for the method.

    New stories get ids from a counter starting at ``first_id``; :meth:`restore` moves it
    past every restored id.
    """

    def __init__(self, config: ClusterConfig | None = None, *, first_id: int = 1) -> None:
        self.config = config or ClusterConfig()
        c = self.config
        if c.num_perm % c.bands:
            raise ValueError("num_perm must be a multiple of bands")
        if not 1 <= first_id <= _MASK32:
            raise ValueError(f"first_id {first_id} is not in 1..2**32-1")
        self._rows = c.num_perm // c.bands
        self._key = c.seed.to_bytes(8, "big")
        # odd multipliers combining the word hashes of a shingle
        self._muls = _MUL[: c.shingle] + tuple(
            int.from_bytes(blake2b(j.to_bytes(4, "big"), digest_size=8, key=self._key).digest(), "big") | 1
            for j in range(3, c.shingle)
        )
        self.stories: dict[int, Story] = {}
        self.assignments: dict[str, int] = {}
        self._next_id = first_id
        self._buckets: dict[tuple[int, bytes], list[int]] = {}
        self._by_entity: dict[str, list[int]] = {}
        self._df: Counter[str] = Counter()
        self._docs = 0
        self._logs: list[float] = [0.0]  # log(k + 1) by k
        self._word_hashes: dict[str, int] = {}

    # ---- features ----------------------------------------------------------------------

    def _word_hash(self, word: str) -> int:
        h = self._word_hashes.get(word)
        if h is None:
            h = int.from_bytes(blake2b(word.encode(), digest_size=8, key=self._key).digest(), "big")
            if len(self._word_hashes) >= 1 << 18:
                self._word_hashes.clear()
            self._word_hashes[word] = h
        return h

    def _signature(self, text: str) -> tuple[int, ...]:
        c = self.config
        n = c.num_perm
        words = _WORD.findall(text.lower())
        if not words:
            return (_MASK64,) * n
        hs = [self._word_hash(w) for w in words]
        if c.shingle == 3 and len(hs) >= 3:
            m0, m1, m2 = self._muls
            hashes = {
                (a * m0 + b * m1 + d * m2) & _MASK64 for a, b, d in zip(hs, hs[1:], hs[2:], strict=False)
            }
        else:  # other shingle sizes; a text shorter than a shingle is one shingle
            k = min(c.shingle, len(hs))
            muls = self._muls[:k]
            hashes = {
                sum(h * m for h, m in zip(hs[i : i + k], muls, strict=True)) & _MASK64
                for i in range(len(hs) - k + 1)
            }
        bins = [_MASK64] * n
        for h in hashes:
            b = (h >> 40) % n
            if h < bins[b]:
                bins[b] = h
        if _MASK64 not in bins:
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
        body = item.text[:3000]
        # sorted, so that sums and the story's word pool do not depend on string hashing
        terms = tuple(sorted(_content_words(f"{title} {body}")))
        title_terms = tuple(sorted(_content_words(title)))
        ex = item.extraction
        money = frozenset(
            _round_sig(m.usd) for m in ex.money if m.usd is not None and m.usd >= c.min_money_usd
        ) | frozenset(
            _round_sig(m.usd_high)
            for m in ex.money
            if m.usd_high is not None and m.usd_high >= c.min_money_usd
        )
        # "more than a gigawatt" is an order of magnitude, not a figure that identifies a deal
        power = frozenset(
            _round_sig(p.watts) for p in ex.power if p.watts >= 1e8 and not p.text[:2].lower().startswith("a")
        )
        deals: set[_DealKey] = set()
        for d in ex.deals:
            usd = d.amount.usd if d.amount is not None else None
            if usd is None or usd < c.min_money_usd:
                continue
            amount = _round_sig(usd)
            for a, b in combinations(sorted(set(d.parties)), 2):
                deals.add((a, b, amount))
        weekdays: frozenset[int] = frozenset()
        dates: frozenset[tuple[int, int, int | None]] = frozenset()
        years: frozenset[int] = frozenset()
        if item.published is None:
            text = item.text
            years = frozenset(
                int(m.group())
                for m in _YEAR.finditer(text)
                if not _YEAR_SINCE.search(text, max(0, m.start() - 16), m.start())
            )
            weekdays = frozenset(_WEEKDAYS[m] for m in _WEEKDAY.findall(body))
            dates = frozenset(
                (_MONTHS[mon[:3].lower()], int(day), int(year) if year else None)
                for mon, day, year in _DATE.findall(body)
                if 1 <= int(day) <= 31
            )
        return _Features(
            sig,
            frozenset(v * c.num_perm + i for i, v in enumerate(sig)) if sig[0] != _MASK64 else frozenset(),
            terms,
            title_terms,
            frozenset(ex.companies | ex.chip_names),
            money,
            power,
            years,
            frozenset(deals),
            weekdays,
            dates,
        )

    # ---- scoring -----------------------------------------------------------------------

    def _idf_base(self) -> float:
        """``log(docs + 1) + 1``: an idf is this minus ``log(df + 1)``."""
        return math.log(self._docs + 1) + 1.0

    def _weights(self, terms: Iterable[str]) -> dict[str, float]:
        """Squared IDF of each term, from the document frequencies now (never cached across
        articles, so that it depends on the stories' members only, not on their order)."""
        base = self._idf_base()
        logs = self._logs
        while len(logs) <= self._docs:
            logs.append(math.log(len(logs) + 1))
        get = self._df.get
        return {t: (base - logs[get(t, 0)]) ** 2 for t in terms}

    def _words_sim(self, weights: dict[str, float], total: float, story: Story) -> float:
        """IDF-weighted share of the article's words in the story's pool (weighted by how
        many members use each), times ``sqrt(article words / story pool size)``: 1.0 for a
        story of one identical article, lower for larger or different pools."""
        if not total or not story.words_sq:
            return 0.0
        get = story.words.get
        dot = 0.0
        for t, w in weights.items():
            cnt = get(t)
            if cnt:
                dot += w * cnt
        return min(1.0, dot * math.sqrt(len(weights) / story.words_sq) / total)

    @staticmethod
    def _title_sim(
        weights: dict[str, float], total: float, story: Story, memo: dict[frozenset[str], float]
    ) -> float:
        """Overlap of the article's title words with each of the story's latest titles, the
        best one: the IDF-weighted share of the article's title words found in that title
        (``weights``: squared idf, ``total`` their sum), times the Dice factor of the word
        counts ``2|a| / (|a| + |b|)``. 1.0 for the same title. ``memo`` holds the values
        for titles already seen while placing this article."""
        if not total or not story.titles:
            return 0.0
        best = 0.0
        for other in story.titles:
            value = memo.get(other)
            if value is None:
                value = 0.0
                keys = weights.keys()
                if not keys.isdisjoint(other):
                    n = len(weights)
                    shared = math.fsum(map(weights.__getitem__, keys & other))  # exact in any order
                    value = 2 * n * shared / (total * (n + len(other)))
                memo[other] = value
            if value > best:
                best = value
        return best

    def _text_sim(self, sigset: frozenset[int], story: Story) -> float:
        """The share of signature positions equal to those of the story's closest member."""
        if not sigset or not story.signatures:
            return 0.0
        return max(map(len, map(sigset.intersection, story.signatures))) / self.config.num_perm

    def _gap(self, when: datetime | None, story: Story) -> float | None:
        if when is None or story.first_seen is None or story.last_seen is None:
            return None
        if story.first_seen <= when <= story.last_seen:
            return 0.0
        return min(_days(when, story.first_seen), _days(when, story.last_seen))

    @staticmethod
    def _date_hint(f: _Features, story: Story) -> str:
        """How an undated article's named dates or weekdays fit a dated story's dates."""
        if story.first_seen is None or story.last_seen is None or not (f.dates or f.weekdays):
            return ""
        first = story.first_seen.date()
        last = story.last_seen.date()
        if f.dates and (last - first).days <= 31:
            lo, hi = first - timedelta(days=3), last + timedelta(days=1)
            for month, day, year in f.dates:
                for y in (year,) if year else {lo.year, hi.year}:
                    try:
                        d = date(y, month, day)
                    except ValueError:
                        continue
                    if lo <= d <= hi:
                        return "date named"
        if f.weekdays:
            lo = first - timedelta(days=2)
            span = (last - lo).days + 1
            if span < 7:
                days = {(lo + timedelta(days=i)).weekday() for i in range(span)}
                return "weekday matches" if f.weekdays & days else "weekday differs"
        return ""

    def _score(
        self,
        f: _Features,
        weights: dict[str, float],
        total: float,
        title_weights: dict[str, float],
        title_total: float,
        title_memo: dict[frozenset[str], float],
        when: datetime | None,
        story: Story,
    ) -> Scores:
        c = self.config
        text = self._text_sim(f.sigset, story)
        ents = _jaccard(f.entities, story.entities)
        gap = self._gap(when, story)
        deal = bool(f.deals and not f.deals.isdisjoint(story.deals))
        title = self._title_sim(title_weights, title_total, story, title_memo)
        differ = bool(f.entities and story.entities and ents < c.min_entities)
        if differ and text < c.dup_text and not deal:
            quick = c.w_entities * ents + c.w_text * text + c.w_title * title
            return Scores(
                story.id, text, 0.0, ents, gap, False, False, quick, False, "entities differ", title
            )
        words = self._words_sim(weights, total, story)
        fig = bool(
            (f.money and story.money and not (f.money & story.money))
            or (f.power and story.power and not (f.power & story.power))
        )
        mine = f.money | f.power
        figs = len(mine & (story.money | story.power)) / len(mine) if mine else 0.0
        year_conflict = False
        hint = ""
        if when is None:
            if f.years and story.first_seen is not None:
                # an undated article that names only years before the story cannot report it
                year_conflict = max(f.years) < story.first_seen.year - 1
            hint = self._date_hint(f, story)
        score = c.w_words * words + c.w_entities * ents + c.w_text * text + c.w_figures * figs
        score += c.w_title * title
        if deal:
            score += c.deal_bonus
        if hint == "date named":
            score += c.date_bonus
        elif hint == "weekday matches":
            score += c.weekday_bonus
        elif hint == "weekday differs":
            score -= c.weekday_penalty
        if fig:
            score -= c.figure_penalty
        if year_conflict:
            score -= c.year_penalty

        def result(ok: bool, why: str, value: float = score) -> Scores:
            return Scores(
                story.id, text, words, ents, gap, fig, year_conflict, value, ok, why, title, deal, hint
            )

        # decisions
        if text >= c.dup_text and (gap is None or gap <= c.dup_window_days) and not year_conflict:
            return result(True, "near-duplicate text", max(score, text))
        if differ and not deal:
            return result(False, "entities differ")
        if gap is None:
            ok = score >= c.min_score_undated
            return result(ok, "undated: text+entities" if ok else "undated: evidence too weak")
        if gap <= c.window_days:
            ok = score >= c.min_score
            return result(ok, "within time window" if ok else "within window but evidence too weak")
        if gap <= c.long_window_days:
            ok = score >= c.min_score_long
            return result(ok, "strong evidence beyond window" if ok else "outside time window")
        return result(False, "outside time window")

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
        votes: dict[int, int] = {}
        get = votes.get
        for key in bands:
            for k in self._buckets.get(key, ()):
                sid = k & _MASK32
                votes[sid] = get(sid, 0) + 2
        for e in f.entities:
            for k in self._by_entity.get(e, ()):
                sid = k & _MASK32
                votes[sid] = get(sid, 0) + 1
        # most votes first, then the newest story
        ranked = sorted([(v << 32) | sid for sid, v in votes.items()], reverse=True)
        if when is None:
            return sorted(k & _MASK32 for k in ranked[: c.max_candidates])
        out = []
        stories = self.stories
        for k in ranked:
            sid = k & _MASK32
            gap = self._gap(when, stories[sid])
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
        total = sum(weights.values())
        title_weights = {t: weights[t] for t in f.title}
        title_total = sum(title_weights.values())
        memo: dict[frozenset[str], float] = {}
        when = item.published
        stories = self.stories
        scored = [
            self._score(f, weights, total, title_weights, title_total, memo, when, stories[sid])
            for sid in self._candidates(f, bands, when)
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
            story = self._new_story(self._next_id, item)
            new = True
            reason = "no candidate story" if best is None else f"new story (best: {best.reason})"
        self._join(story, item, f, bands)
        return Assignment(item.article_id, story.id, new, reason, best, tuple(scored))

    def restore(self, story_id: int, members: Sequence[ClusterInput]) -> Story:
        """Rebuild story ``story_id`` from its member articles, in the given order, without
        scoring them: the story, the indexes, the document frequencies and the assignments
        end as if the members had been added and had joined this story. New stories then
        get ids above ``story_id``.

        Raises ``ValueError`` for an id already in use, no members, or a member already
        assigned.
        """
        if story_id in self.stories:
            raise ValueError(f"story {story_id} already exists")
        if not 1 <= story_id <= _MASK32:
            raise ValueError(f"story id {story_id} is not in 1..2**32-1")
        if not members:
            raise ValueError(f"story {story_id} has no members")
        ids = [m.article_id for m in members]
        if len(set(ids)) != len(ids) or any(i in self.assignments for i in ids):
            raise ValueError(f"story {story_id}: a member is repeated or already assigned")
        story = self._new_story(story_id, members[0])
        for item in members:
            f = self._features(item)
            self._join(story, item, f, self._bands(f.signature))
        return story

    def _new_story(self, sid: int, item: ClusterInput) -> Story:
        story = Story(sid, item.title.strip() or item.text[:80].strip(), None, None)
        self.stories[sid] = story
        self._next_id = max(self._next_id, sid + 1)
        return story

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
        story.deals |= f.deals
        story.signatures.append(f.sigset)
        story.titles.append(frozenset(f.title))
        words = story.words
        sq = story.words_sq
        for t in f.terms:
            n = words[t]
            words[t] = n + 1
            sq += 2 * n + 1
        story.words_sq = sq
        if len(words) > 2 * c.max_story_words:
            story.words = Counter(dict(words.most_common(c.max_story_words)))
            story.words_sq = sum(n * n for n in story.words.values())
        self._docs += 1
        self._df.update(f.terms)
        key = _index_key(story)
        for band in bands:
            _top_insert(self._buckets.setdefault(band, []), key, c.per_bucket_recent)
        for e in f.entities:
            _top_insert(self._by_entity.setdefault(e, []), key, c.per_entity_recent)
