"""Questions answered from the news: retrieval, the deal ledger, and an extractive answer.

``Asker.ask(question, thread)``:

1. **Standalone query.** A follow-up in a thread ("and which chips?") that names no
   company or chip carries over the companies and chips of the thread's previous
   question. With an ``AnswerWriter`` (the LLM) the model rewrites the question from the
   thread into a standalone one instead; a rewrite that is empty, absurdly long, holds a
   link or no word to search for is dropped for the carry-over.
2. **Time window** from the question's words: "today", "this week", "this month",
   "last month", "since March", "since 2024" (a bare "in 2019" stays a search word:
   later articles recall earlier events); "in April" puts April's articles first.
3. **Ledger and stories.** A question about deals or money that names companies is
   answered from the deal ledger too (with a total over the pair's investments when it
   asks "in total"); one naming a chip ("what's new on Trainium") lists its latest stories.
4. **Passages.** Full-text search over passages; a passage counts only when it names
   what the question names (companies, chips, and names the gazetteer does not know such
   as "Stargate": all of one or two, two of more) and holds enough of its other words.
   A question relating two names needs a sentence naming both; a "how much" question
   needs a figure. Otherwise, and without ledger lines, the answer says plainly that
   nothing was found.
5. **Extractive answer.** The sentences of the best passages that hold the most question
   words (and, for "how much" / "when" questions, an amount or a date) come first, each
   with its ``[n]`` citation into the source list.
6. **Written answer.** With an ``AnswerWriter``, and only when the gates above found
   evidence (a refusal never calls the model), the model gets the question, the ledger
   lines with their ``[n]`` marks and the best sentences of the relevant passages grouped
   by source number (not whole articles). Its sentences are checked in code
   (``bot.core.grounding``) against the whole texts of the sources they cite; a reply
   that fails is regenerated once with the failures named, then replaced by the
   extractive answer, as is a reply saying "not found" when the gates found evidence,
   or no reply (endpoint down, budget spent). The model's local citations are renumbered
   into the answer's source list, which lists only what it cites; ``mode`` is "llm".

The thread's turns are stored, so follow-ups keep context across restarts.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import NamedTuple, Protocol

from bot.core.briefing import WriterUnavailable
from bot.core.extract import Gazetteer, Taxonomy, find_money, split_sentences
from bot.core.grounding import CITATION, check_sentences
from bot.core.records import SourceRef, StoryDeal, StoryRecord
from bot.core.search import STOP_WORDS, SearchHit, SearchQuery, SearchStore, query_terms
from bot.core.semantic import rrf
from bot.core.summarize import SourceText
from bot.errors import BriefbotError, UsageError

__all__ = [
    "Answer",
    "AnswerWriter",
    "Asker",
    "Drafted",
    "LedgerSource",
    "PassageSearch",
    "ThreadStore",
    "Turn",
    "WriterUnavailable",
    "time_window",
]

MAX_QUESTION_CHARS = 2000
MAX_REWRITE_CHARS = 400  # a standalone query longer than this is not a rewrite of a question
EVIDENCE_SENTENCES = 8  # sentences the model gets, across the relevant passages
EVIDENCE_PER_SOURCE = 3


@dataclass(frozen=True)
class Turn:
    """One message of a thread: who said it, what, and the companies/chips it was about."""

    role: str  # "user" or "bot"
    text: str
    entities: tuple[str, ...]
    at: datetime


class ThreadStore(Protocol):
    """Conversation memory, keyed by the platform's thread id."""

    def thread_turns(self, thread_id: str, limit: int = 20) -> list[Turn]:
        """The thread's last ``limit`` turns, oldest first."""
        ...

    def add_turns(self, thread_id: str, turns: Sequence[Turn]) -> None:
        """Append turns to a thread."""
        ...


class PassageSearch(SearchStore, Protocol):
    """Passage search plus reading a whole article's passages."""

    def article_passages(self, article_id: int) -> list[str]:
        """The article's passages in order."""
        ...


class SemanticRanker(Protocol):
    """Passages ranked by embedding similarity to a question (``bot.llm.embeddings``)."""

    def ranked_hits(self, question: str, k: int = 20) -> list[SearchHit]:
        """The ``k`` passages closest to ``question``, best first; raises BriefbotError
        when the embeddings endpoint cannot answer."""
        ...


class LedgerSource(Protocol):
    """Stories with their deals (implemented by the story store)."""

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


@dataclass(frozen=True)
class Answer:
    """An answer with its ``[n]`` citations and the sources they point to."""

    question: str
    query: str  # the standalone query actually searched
    text: str
    found: bool
    sources: tuple[SourceRef, ...]
    mode: str  # "extractive" (no LLM) or "llm"
    entities: tuple[str, ...] = ()
    note: str | None = None  # why a configured model's answer was not used

    def as_json(self) -> dict[str, object]:
        return {
            "answer": self.text,
            "found": self.found,
            "sources": [s.as_json() for s in self.sources],
            "mode": self.mode,
            "query": self.query,
            "note": self.note,
        }


class Drafted(NamedTuple):
    """A writer's answer: whether the evidence answers the question, and its sentences,
    each ending with ``[n]`` marks in the numbering of the passages it was given."""

    found: bool
    sentences: tuple[str, ...]


class AnswerWriter(Protocol):
    """Writes answers and standalone follow-up queries (implemented by the LLM layer).

    Both methods raise :class:`~bot.core.briefing.WriterUnavailable` when the writer
    cannot write now (endpoint down, budget spent).
    """

    name: str  # e.g. "gpt-4o-mini"

    def answer(
        self,
        question: str,
        today: str,
        ledger_lines: Sequence[str],
        passages: Sequence[SourceText],
        problems: Sequence[str] = (),
    ) -> Drafted:
        """Answer ``question`` from the ledger lines (with their ``[n]`` marks) and the
        numbered passages (``number`` is n, ``title`` the title, outlet and date, ``text``
        the selected sentences); ``problems`` name what a previous attempt got wrong."""
        ...

    def rewrite(self, question: str, history: Sequence[Turn]) -> str:
        """``question``, a message in a thread whose earlier turns are ``history``
        (oldest first), as one standalone question."""
        ...


# ---- question analysis -------------------------------------------------------------------

_FOLLOW_UP = re.compile(r"^\s*(?:and|also|what about|how about|so|then|plus|same for)\b", re.I)
_DEAL_INTENT = re.compile(
    r"\b(?:deals?|invest\w*|put\s+into|stake|funding|partner\w*|alliance|agreements?|contracts?|"
    r"acquir\w*|bought|buy|supply|suppl\w*|how\s+much|total)\b",
    re.I,
)
_MONEY_Q = re.compile(
    r"\b(?:cost|costs|price|priced|pay|paid|spend|spent|revenue|worth|valuation|valued|invest\w*|"
    r"how\s+much\s+(?:money|cash|capital))\b",
    re.I,
)
_TOTAL = re.compile(r"\b(?:in\s+total|total|altogether|combined|so\s+far|overall)\b", re.I)
_AMOUNT_Q = re.compile(
    r"\b(?:how\s+much|how\s+many|worth|value|valuation|price|cost|size|revenue|faster|bigger|larger)\b", re.I
)
_WHEN_Q = re.compile(r"\b(?:when|what\s+date|which\s+year|timeline|schedule)\b", re.I)
_NUMBERISH = re.compile(
    r"\$\s?\d|\d+(?:[.,]\d+)?\s*(?:%|percent|billion|million|bn|gw|mw|gigawatts?|megawatts?)\b|\b\d{2,}\b",
    re.I,
)
_DATEISH = re.compile(
    r"\b(?:20\d\d|(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\s+\d|"
    r"(?:first|second|third|fourth)\s+(?:half|quarter)|[12]h\s*20\d\d|q[1-4])\b",
    re.I,
)
_MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTHS = {m: i for i, m in enumerate(_MONTH_NAMES, start=1)}


def time_window(question: str, now: datetime) -> tuple[datetime | None, datetime | None]:
    """(since, until) named by the question's words, or (None, None)."""
    q = question.lower()
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if re.search(r"\btoday\b", q):
        return day, None
    if re.search(r"\byesterday\b", q):
        return day - timedelta(days=1), day
    if re.search(r"\bthis week\b", q):
        return day - timedelta(days=day.weekday()), None
    if re.search(r"\b(?:past|last) (?:7 days|week)\b", q):
        return now - timedelta(days=7), None
    if re.search(r"\bthis month\b", q):
        return day.replace(day=1), None
    if re.search(r"\b(?:past|last) (?:30 days|month)\b", q):
        return now - timedelta(days=30), None
    if re.search(r"\bthis year\b", q):
        return day.replace(month=1, day=1), None
    m = re.search(r"\bsince (jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\b", q)
    if m:
        month = _MONTHS[m.group(1)]
        year = now.year if month <= now.month else now.year - 1
        return datetime(year, month, 1, tzinfo=UTC), None
    m = re.search(r"\bsince (20[0-4]\d)\b", q)
    if m:
        return datetime(int(m.group(1)), 1, 1, tzinfo=UTC), None
    # "in 2019" is not a filter: articles of 2023 recall what happened in 2019; the year
    # stays a search word instead
    return None, None


def _stem(word: str) -> str:
    """A crude stem for matching question words to sentence words ("invests" ~ "investing")."""
    w = word.lower()
    for suffix in ("ments", "ment", "ings", "ing", "ies", "ed", "es", "s"):
        if len(w) - len(suffix) >= 4 and w.endswith(suffix):
            return w[: -len(suffix)]
    return w


def _stems(text: str) -> set[str]:
    return {_stem(w) for w in re.findall(r"[^\W_]+", text.lower()) if len(w) > 1}


# ---- the asker ---------------------------------------------------------------------------


@dataclass
class _Cited:
    sources: list[SourceRef] = field(default_factory=list)

    def cite(self, ref: SourceRef) -> int:
        for i, s in enumerate(self.sources, 1):
            if s.article_id == ref.article_id:
                return i
        self.sources.append(ref)
        return len(self.sources)


class Clock(Protocol):
    def now(self) -> datetime: ...


class Asker:
    """Answers questions; see the module docstring."""

    def __init__(
        self,
        search: PassageSearch,
        ledger: LedgerSource,
        threads: ThreadStore,
        taxonomy: Taxonomy,
        gazetteer: Gazetteer,
        clock: Clock,
        *,
        writer: AnswerWriter | None = None,
        semantic: SemanticRanker | None = None,
        max_sentences: int = 4,
        min_coverage: float = 0.5,
    ) -> None:
        self.search = search
        self.ledger = ledger
        self.threads = threads
        self.taxonomy = taxonomy
        self.gazetteer = gazetteer
        self.clock = clock
        self.writer = writer
        self.semantic = semantic
        self.max_sentences = max_sentences
        self.min_coverage = min_coverage
        self._known = {c.name for c in gazetteer.companies} | {c.name for c in gazetteer.chips}

    def ask(self, question: str, thread: str | None = None) -> Answer:
        """Answer ``question``; a follow-up in ``thread`` keeps the thread's context."""
        text = " ".join(question.split())[:MAX_QUESTION_CHARS]
        if not query_terms(text):
            raise UsageError("ask needs a question with at least one word to look for")
        history = self.threads.thread_turns(thread) if thread else []
        companies, chips = self._entities(text)
        query = text
        carried: list[str] = []
        standalone, unavailable = self._rewrite(text, history)
        if standalone is not None:
            # the model's standalone question is searched and analysed (time window, kind)
            query = standalone
            companies, chips = self._entities(query)
        elif history and not (companies or chips):
            previous = next((t for t in reversed(history) if t.role == "user"), None)
            if previous is not None and self._turn_entities(previous):
                carried = list(self._turn_entities(previous))
                query = f"{text} {' '.join(carried)}"
                companies, chips = self._entities(query)
        elif history and _FOLLOW_UP.match(text):
            previous = next((t for t in reversed(history) if t.role == "user"), None)
            if previous is not None:
                extra = [e for e in self._turn_entities(previous) if e not in companies and e not in chips]
                if extra:
                    query = f"{text} {' '.join(extra)}"
                    companies, chips = self._entities(query)
        answer = self._answer(standalone or text, query, companies, chips, unavailable=unavailable)
        if standalone is not None:
            answer = replace(answer, question=text)
        if thread:
            now = self.clock.now()
            self.threads.add_turns(
                thread,
                [
                    Turn("user", text, answer.entities, now),
                    Turn("bot", answer.text, answer.entities, now),
                ],
            )
        return answer

    # ---- internals ---------------------------------------------------------------------

    def _rewrite(self, text: str, history: Sequence[Turn]) -> tuple[str | None, str | None]:
        """(the writer's standalone form of a follow-up, or None when there is no writer, no
        earlier question or the rewrite fails the checks; why the writer is unavailable)."""
        if self.writer is None or not any(t.role == "user" for t in history):
            return None, None
        try:
            raw = self.writer.rewrite(text, history)
        except WriterUnavailable as exc:
            return None, exc.reason  # not asked again for the answer
        query = " ".join(raw.split())
        if (
            not query
            or len(query) > MAX_REWRITE_CHARS
            or _LINKISH.search(query) is not None
            or not query_terms(query)
        ):
            return None, None
        return query, None

    def _turn_entities(self, turn: Turn) -> tuple[str, ...]:
        """The companies and chips of an earlier turn: stored with it, else found in its text
        (a chat adapter's turns seeded from the platform's thread carry none)."""
        if turn.entities:
            return turn.entities
        companies, chips = self._entities(turn.text)
        return tuple(companies + chips)

    def _entities(self, text: str) -> tuple[list[str], list[str]]:
        companies = list(dict.fromkeys(n for _, _, n in self.gazetteer.company_matcher.find_spans(text)))
        chips = list(dict.fromkeys(n for _, _, n in self.gazetteer.chip_matcher.find_spans(text)))
        return companies, chips

    def _answer(
        self,
        question: str,
        query: str,
        companies: list[str],
        chips: list[str],
        *,
        unavailable: str | None = None,
    ) -> Answer:
        now = self.clock.now()
        since, until = time_window(question, now)
        cited = _Cited()
        lines: list[str] = []
        entities = tuple(companies + chips)
        kind = _QuestionKind(question)
        if companies and _DEAL_INTENT.search(question):
            lines += self._ledger_lines(question, companies, since, until, cited, amounts_only=kind.amount)
        if chips and not companies and re.search(r"\b(?:new|latest|news|update|happen\w*)\b", question, re.I):
            lines += self._chip_lines(chips, since, cited)
        names = list(dict.fromkeys([*entities, *self._proper_nouns(query, entities)]))
        chosen, evidence = self._passage_sentences(question, query, names, kind, since, until)
        if not lines and not chosen:
            subject = ", ".join(names) or " ".join(query_terms(query)[:6])
            window = " in that period" if since or until else ""
            return Answer(
                question,
                query,
                f"I found nothing about {subject}{window} in the news I follow.",
                False,
                (),
                "extractive",
                entities,
            )
        sentences = [f"{c.sentence} [{cited.cite(_ref(c.hit))}]" for c in chosen]
        body = "\n".join(lines + sentences)
        extractive = Answer(question, query, body, True, tuple(cited.sources), "extractive", entities)
        if self.writer is None:
            return extractive
        if unavailable is not None:
            return replace(extractive, note=f"extractive answer: {unavailable}")
        return self._written(extractive, query, now, lines, cited, evidence)

    def _written(
        self,
        extractive: Answer,
        question: str,
        now: datetime,
        lines: list[str],
        cited: _Cited,
        evidence: list[_Candidate],
    ) -> Answer:
        """The writer's answer when it passes the grounding checks (one regeneration with
        the failures named), else ``extractive`` with a note saying why."""
        assert self.writer is not None
        local = _Cited(list(cited.sources))  # the ledger's numbers, then the evidence's
        picked: dict[int, list[str]] = {}
        for c in evidence:
            picked.setdefault(local.cite(_ref(c.hit)), []).append(c.sentence)
        passages: list[SourceText] = []
        ground: list[str] = []
        for n, ref in enumerate(local.sources, 1):
            whole = "\n".join(self.search.article_passages(ref.article_id))
            header = _header(ref)
            chosen = picked.get(n) or self._lead(ref, whole)
            passages.append(SourceText(n, header, " ".join(chosen)))
            # what the checks read: the whole article, and the ledger lines built from it
            # (an "In total:" line belongs to every source of the ledger)
            from_ledger = [
                CITATION.sub("", line).strip()
                for line in lines
                if f"[{n}]" in line or (line.startswith("In total:") and any(f"[{n}]" in x for x in lines))
            ]
            ground.append("\n".join([header, whole or ref.title, *from_ledger]))
        today = f"{now.day} {now:%B %Y}"
        problems: list[str] = []
        for _attempt in range(2):
            try:
                drafted = self.writer.answer(question, today, lines, passages, problems=problems)
            except WriterUnavailable as exc:
                return replace(extractive, note=f"extractive answer: {exc.reason}")
            if not drafted.found:
                return replace(
                    extractive, note="extractive answer: the model found no answer in the passages found"
                )
            sentences = [s.strip() for s in drafted.sentences if s.strip()]
            problems = self._check_answer(sentences, ground)
            if not problems:
                final = _Cited()
                text = " ".join(_renumber(s, local.sources, final) for s in sentences)
                return replace(extractive, text=text, sources=tuple(final.sources), mode="llm")
        return replace(
            extractive, note="extractive answer: the model's answer failed the grounding checks twice"
        )

    def _check_answer(self, sentences: Sequence[str], ground: Sequence[str]) -> list[str]:
        """Problems with a written answer: the grounding checks against the whole texts of
        the sources it cites, and only a sentence saying what they do not say uncited."""
        if not sentences:
            return ["the answer has no sentences"]
        cited = {int(n) for s in sentences for n in CITATION.findall(s)}
        texts = [text if n in cited else "" for n, text in enumerate(ground, 1)]
        problems = []
        if not cited & set(range(1, len(ground) + 1)):
            problems.append("the answer cites no source")
        problems += check_sentences(sentences, texts, self.gazetteer, require_citation=False)
        for i, sentence in enumerate(sentences, 1):
            if not CITATION.search(sentence) and not _SAYS_MISSING.search(sentence):
                problems.append(
                    f"sentence {i} cites no source; only a sentence saying what the sources "
                    "do not say may go without one"
                )
        return problems

    def _lead(self, ref: SourceRef, whole: str) -> list[str]:
        """The first two sentences of an article after its title (for a source that only
        the ledger cites)."""
        title = ref.title.strip().rstrip(".").lower()
        sentences = [
            s.strip()
            for s in split_sentences(whole.replace("\n", " "))
            if s.strip() and not (title and s.strip().lower().startswith(title))
        ]
        return sentences[:2] or [ref.title]

    def _proper_nouns(self, text: str, known: Sequence[str]) -> list[str]:
        """Names in the question the gazetteer does not know ("Stargate", "Scale AI"): runs of
        capitalised words (or words with an inner capital, "xAI"), not the first word of the
        question, without digits, stop words, months, or a lone acronym like "AI"."""
        known_words = {w.lower() for k in known for w in k.split()}
        names: list[str] = []
        run: list[str] = []

        def flush() -> None:
            if run and not (len(run) == 1 and run[0].isupper() and len(run[0]) <= 3):
                names.append(" ".join(run))
            run.clear()

        previous_end = -1
        for m in _NAME.finditer(text):
            word = m.group()
            lowered = word.lower()
            skip = (
                m.start() == 0
                or _PERIOD_CODE.match(word) is not None
                or (any(c.isdigit() for c in word) and not _PRODUCT_CODE.match(word))
                or lowered in STOP_WORDS
                or lowered in known_words
                or lowered in _MONTH_WORDS
                or self.gazetteer.company_matcher.lookup(word) is not None
                or self.gazetteer.chip_matcher.lookup(word) is not None
            )
            if skip or (run and text[previous_end : m.start()].strip()):
                flush()
            if not skip:
                run.append(word)
            previous_end = m.end()
        flush()
        return names

    def _ledger_lines(
        self,
        question: str,
        companies: list[str],
        since: datetime | None,
        until: datetime | None,
        cited: _Cited,
        *,
        amounts_only: bool = False,
    ) -> list[str]:
        wanted = set(companies)
        rows: list[tuple[datetime, StoryDeal, StoryRecord]] = []
        for story in self.ledger.list_stories(since=since, company=companies[0]):
            for deal in story.deals:
                parties = set(deal.parties)
                if not (wanted <= parties if len(wanted) > 1 else wanted & parties):
                    continue
                if amounts_only and deal.amount is None:
                    continue
                when = deal.announced or story.when
                if until is not None and when >= until:
                    continue
                rows.append((when, deal, story))
        if not rows:
            return []
        rows.sort(key=lambda r: r[0])
        lines = []
        for when, deal, story in rows[-8:]:
            by_id = {s.article_id: s for s in story.sources}
            refs = [by_id[a] for a in deal.article_ids if a in by_id][:2]
            marks = "".join(f"[{cited.cite(r)}]" for r in refs)
            lines.append(f"- {when.day} {when:%B %Y}: {deal.describe()} {marks}".rstrip())
        if _TOTAL.search(question):
            lines += _totals([r[1] for r in rows])
        return ["From the deal ledger:", *lines]

    def _chip_lines(self, chips: list[str], since: datetime | None, cited: _Cited) -> list[str]:
        lines = []
        for chip in chips[:2]:
            stories = sorted(
                self.ledger.list_stories(since=since, chip=chip), key=lambda s: s.when, reverse=True
            )
            for story in stories[:3]:
                roles = ", ".join(story.chip_roles.get(chip, ())) or "mention"
                mark = f"[{cited.cite(story.sources[-1])}]" if story.sources else ""
                day = f"{story.when.day} {story.when:%B %Y}"
                lines.append(f"- {day} {chip} ({roles}): {story.headline} {mark}".rstrip())
        return [f"Latest on {', '.join(chips[:2])}:", *lines] if lines else []

    def _present(self, text: str, names: Sequence[str]) -> set[str]:
        """Which of ``names`` (canonical gazetteer names or plain words) ``text`` names."""
        found = {n for _, _, n in self.gazetteer.company_matcher.find_spans(text)}
        found |= {n for _, _, n in self.gazetteer.chip_matcher.find_spans(text)}
        lowered = text.lower()
        return {
            n
            for n in names
            if n in found or re.search(rf"(?<!\w){re.escape(n.lower())}(?:e?s)?(?!\w)", lowered) is not None
        }

    def _retrieve(self, query: str, since: datetime | None, until: datetime | None) -> list[SearchHit]:
        """Full-text hits, fused with semantic hits (reciprocal rank fusion) when an
        embeddings model is configured; at most two passages per article."""
        hits = self.search.search(SearchQuery(query, since=since, until=until, limit=20))
        if self.semantic is None:
            return hits
        try:
            related = self.semantic.ranked_hits(query, 20)
        except BriefbotError:
            return hits  # the embeddings endpoint is down: full-text search alone
        related = [
            h
            for h in related
            if (since is None or (h.published is not None and h.published >= since))
            and (until is None or (h.published is not None and h.published < until))
        ]
        by_id = {h.passage_id: h for h in [*related, *hits]}
        fused: list[SearchHit] = []
        per_article: dict[int, int] = {}
        for pid in rrf([[h.passage_id for h in hits], [h.passage_id for h in related]]):
            hit = by_id[pid]
            if per_article.get(hit.article_id, 0) < 2:
                per_article[hit.article_id] = per_article.get(hit.article_id, 0) + 1
                fused.append(hit)
        return fused[:20]

    def _passage_sentences(
        self,
        question: str,
        query: str,
        names: list[str],
        kind: _QuestionKind,
        since: datetime | None,
        until: datetime | None,
    ) -> tuple[list[_Candidate], list[_Candidate]]:
        """The sentences of the extractive answer, best first, and the evidence for a
        writer (those sentences, then the next best, a few per source); both empty when
        the relevance gates find nothing that answers."""
        hits = self._retrieve(query, since, until)
        month = _month_named(question)
        if month is not None:  # "announced in April": that month's articles first
            hits.sort(key=lambda h: not (h.published is not None and h.published.month == month))
        terms = {_stem(t) for t in query_terms(query)}
        name_stems = {_stem(w) for n in names for w in re.findall(r"[^\W_]+", n.lower())}
        content = terms - name_stems
        articles: dict[int, str] = {}
        relevant = [h for h in hits if self._relevant(h, names, content, articles)]
        candidates: list[_Candidate] = []
        read: set[int] = set()
        for rank, hit in enumerate(relevant[:8]):
            title = hit.title.strip().rstrip(".").lower()
            # the matching passage first; the rest of a relevant article, read once, after it
            pieces = [(hit.text, 0.0)]
            if hit.article_id not in read:
                read.add(hit.article_id)
                pieces += [(p, 0.5) for p in self.search.article_passages(hit.article_id) if p != hit.text]
            for piece, penalty in pieces:
                for sentence in split_sentences(piece.replace("\n", " ")):
                    sentence = sentence.strip()
                    if len(sentence) < 25 or (title and sentence.lower().startswith(title)):
                        continue  # the headline is not an answer
                    present = len(self._present(sentence, names))
                    score = (
                        len(terms & _stems(sentence))
                        + 1.5 * present
                        + kind.bonus(sentence, self.gazetteer, names)
                    )
                    score -= 0.15 * rank + penalty  # the search's order breaks ties
                    candidates.append(_Candidate(score, rank, sentence, hit, present, piece))
        candidates.sort(key=lambda c: (-c.score, c.rank))
        if len(names) >= 2 and not any(c.present >= 2 for c in candidates):
            return [], []  # nothing relates the names the question relates ("did Apple invest in xAI?")
        chosen: list[_Candidate] = []
        per_article: dict[int, int] = {}
        seen_text: set[str] = set()
        for c in candidates:
            if c.score <= 0 or len(chosen) >= self.max_sentences:
                break
            key = re.sub(r"\W+", "", c.sentence.lower())[:80]  # the same quote, however punctuated
            if key in seen_text or per_article.get(c.hit.article_id, 0) >= 2:
                continue
            seen_text.add(key)
            per_article[c.hit.article_id] = per_article.get(c.hit.article_id, 0) + 1
            chosen.append(c)
        if kind.amount and not any(kind.answers_amount(c.sentence, c.piece) for c in chosen):
            # a "how much" question is answered by a figure: the best sentence holding one
            # replaces the weakest choice; with none, the question is not answered
            figure = next(
                (c for c in candidates if c.score > 0 and kind.answers_amount(c.sentence, c.piece)), None
            )
            if figure is None:
                return [], []
            chosen = [*chosen[: self.max_sentences - 1], figure]
        return chosen, self._evidence(chosen, candidates)

    @staticmethod
    def _evidence(chosen: list[_Candidate], candidates: list[_Candidate]) -> list[_Candidate]:
        """What a writer reads: the extractive answer's sentences, then the next best
        candidates (at most ``EVIDENCE_PER_SOURCE`` a source, no repeats)."""
        evidence: list[_Candidate] = []
        per_article: dict[int, int] = {}
        seen: set[str] = set()
        for c in [*chosen, *candidates]:
            if len(evidence) >= max(EVIDENCE_SENTENCES, len(chosen)):
                break
            if c.score <= 0:  # never one of the chosen: they all score above zero
                break
            key = re.sub(r"\W+", "", c.sentence.lower())[:80]
            if key in seen or per_article.get(c.hit.article_id, 0) >= EVIDENCE_PER_SOURCE:
                continue
            seen.add(key)
            per_article[c.hit.article_id] = per_article.get(c.hit.article_id, 0) + 1
            evidence.append(c)
        return evidence

    def _relevant(
        self, hit: SearchHit, names: list[str], content: set[str], articles: dict[int, str]
    ) -> bool:
        """A passage answers only if it names one of the question's names, its article names
        what the question names (all of one or two names, two of more) and, unless that is
        two names, the passage holds enough of the question's other words."""
        text = f"{hit.title} {hit.text}"
        if names:
            if not self._present(text, names):
                return False
            whole = articles.get(hit.article_id)
            if whole is None:
                whole = articles[hit.article_id] = " ".join(
                    [hit.title, *self.search.article_passages(hit.article_id)]
                )
            present = self._present(whole, names)
            if len(present) < min(len(names), 2):
                return False
            if len(present) >= 2 or any(n not in self._known for n in present):
                # two names the question relates, or a name the gazetteer does not know
                # ("Stargate"): specific enough; the other words may be paraphrased
                return True
            return len(content) <= 2 or len(content & _stems(text)) / len(content) >= self.min_coverage / 2
        if not content:
            return False
        return len(content & _stems(text)) / len(content) >= self.min_coverage


def _ref(hit: SearchHit) -> SourceRef:
    return SourceRef(hit.article_id, hit.url, hit.title, hit.outlet, hit.published)


def _header(ref: SourceRef) -> str:
    """A source's first line for the model: title, outlet and date ("6 October 2025")."""
    when = f"{ref.published.day} {ref.published:%B %Y}" if ref.published else "undated"
    return f"{ref.title} — {ref.outlet}, {when}"


def _renumber(sentence: str, local: Sequence[SourceRef], final: _Cited) -> str:
    """``sentence`` with its local ``[n]`` marks turned into numbers of ``final``'s list
    (each source once per sentence)."""
    seen: set[int] = set()

    def swap(m: re.Match[str]) -> str:
        n = int(m.group(1))
        if not 1 <= n <= len(local):
            return ""
        number = final.cite(local[n - 1])
        if number in seen:
            return ""
        seen.add(number)
        return f"[{number}]"

    text = CITATION.sub(swap, sentence)
    return re.sub(r"\s+(?=\[\d)", " ", text).strip()


_LINKISH = re.compile(  # as bot.core.grounding reads a link or a bare domain
    r"(?:https?://|www\.)\S+|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|net|org|io|ai|co|example|news|dev|app|xyz)\b",
    re.I,
)
_SAYS_MISSING = re.compile(r"\b(?:not|no|none|neither|nor|unclear|unknown|without)\b|n't\b", re.I)
_NAME = re.compile(r"\b(?:[A-Z][\w-]*|[a-z]+[A-Z][\w-]*|[A-Za-z]+\d+[A-Za-z\d-]*)")
_PERIOD_TEXT = re.compile(
    r"\b(?:q[1-4]|fy\s?\d{2,4}|(?:first|second|third|fourth)[- ](?:fiscal[- ])?quarter|"
    r"fiscal\s+(?:year|20\d\d))\b",
    re.I,
)
_PLACE = re.compile(
    r"\b(?:at|in)\s+(?:its\s+|the\s+)?(?:annual\s+)?[A-Z][\w'’]+(?:\s+[A-Z0-9][\w'’]*){0,3}\b|"
    r"\b(?:conference|summit|keynote|event|expo)\b"
)
_VAGUE_MONEY = re.compile(
    r"\b(?:tens|hundreds) of (?:billions|millions)\b|\b(?:billions|millions) of dollars\b", re.I
)
_PRODUCT_CODE = re.compile(r"^[A-Za-z]+\d+[A-Za-z\d-]*$")  # "Trn3", "EC2", "MI450"
_PERIOD_CODE = re.compile(r"^(?:q[1-4]|fy\d{2,4}|[12]h|h[12]|cy\d{2,4})$", re.I)  # "Q3", "FY2026"
_MONTH_WORDS = {
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    *_MONTH_NAMES,
    "sept",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
}
_WHICH_CHIPS = re.compile(
    r"\b(?:which|what)\s+(?:\w+\s+)?(?:chips?|gpus?|accelerators?|processors?|tpus?|silicon)\b", re.I
)
_WHO = re.compile(
    r"\b(?:who|which\s+(?:\w+\s+)?(?:compan\w*|partners?|firms?|chipmakers?|investors?|customers?|backers?))\b|"
    r"\bpartners\b",
    re.I,
)
_AMOUNTISH = re.compile(
    r"\$\s?\d|\d(?:[\d.,]*)\s*(?:%|percent|billion|million|bn|gw|mw|gigawatts?|megawatts?|x\b|times\b|"
    r"tb|gb|pb|petaflops?|exaflops?|tflops?|chips?|gpus?|tpus?)|\b(?:one|two|three|four|five|six|seven|eight|nine|"
    r"ten|twice|double)\b",
    re.I,
)


def _month_named(question: str) -> int | None:
    m = re.search(
        r"\b(?:in|during|since)\s+(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\b", question, re.I
    )
    return _MONTHS[m.group(1).lower()] if m else None


@dataclass(frozen=True)
class _Candidate:
    """A sentence that may answer: its score, the search rank of its article, how many of
    the question's names it holds, and the passage it comes from."""

    score: float
    rank: int
    sentence: str
    hit: SearchHit
    present: int
    piece: str


class _QuestionKind:
    """What the question asks for: an amount, a date, chips, companies."""

    def __init__(self, question: str) -> None:
        self.amount = bool(_AMOUNT_Q.search(question))
        self.money = bool(_MONEY_Q.search(question))
        self.period = bool(_PERIOD_TEXT.search(question))
        self.when = bool(_WHEN_Q.search(question))
        self.chips = bool(_WHICH_CHIPS.search(question))
        self.who = bool(_WHO.search(question))
        self.where = bool(re.search(r"\bwhere\b", question, re.I))

    def covers_period(self, text: str) -> bool:
        """For a question about a quarter or fiscal year ("Q3 2025"), the text names one."""
        return not self.period or _PERIOD_TEXT.search(text) is not None

    def answers_amount(self, sentence: str, passage: str = "") -> bool:
        """The sentence holds the figure asked for; "revenue for Q3" needs its passage to
        be about a quarter."""
        if not self.has_amount(sentence):
            return False
        return not (self.money and self.period) or self.covers_period(f"{sentence} {passage}")

    def has_amount(self, sentence: str) -> bool:
        """The sentence holds the kind of figure asked for: money for a money question."""
        if self.money:
            return bool(find_money(sentence) or _VAGUE_MONEY.search(sentence))
        return bool(find_money(sentence) or _AMOUNTISH.search(sentence))

    def bonus(self, sentence: str, gazetteer: Gazetteer, names: Sequence[str]) -> float:
        """Extra score for a sentence holding the kind of thing asked for."""
        bonus = 0.0
        if self.amount and self.has_amount(sentence):
            bonus += 2.0
        if self.when and _DATEISH.search(sentence):
            bonus += 2.0
        if self.chips and {n for _, _, n in gazetteer.chip_matcher.find_spans(sentence)} - set(names):
            bonus += 2.0
        if self.who and {n for _, _, n in gazetteer.company_matcher.find_spans(sentence)} - set(names):
            bonus += 1.5
        if self.where and _PLACE.search(sentence):
            bonus += 2.0
        return bonus


def _totals(deals: list[StoryDeal]) -> list[str]:
    """One line per (investors, recipient) with two or more dollar investments: their sum."""
    pairs: dict[tuple[str, ...], list[StoryDeal]] = {}
    for d in deals:
        if d.kind == "investment" and d.amount is not None and d.amount.usd is not None:
            pairs.setdefault(d.parties, []).append(d)
    lines = []
    for parties, items in pairs.items():
        if len(items) < 2:
            continue
        total = sum((d.amount.usd_high or d.amount.usd or 0.0) for d in items if d.amount)
        hedged = any(d.amount and d.amount.qualifier for d in items)
        amount = f"${total / 1e9:g} billion" if total >= 1e9 else f"${total / 1e6:g} million"
        who = ", ".join(parties[:-1])
        hedge = "up to " if hedged else ""
        lines.append(f"In total: {who} -> {parties[-1]}: {hedge}{amount} across {len(items)} investments.")
    return lines
