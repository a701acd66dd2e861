"""The story-intelligence evaluation on ../shared/corpus/articles, through the real pipeline.

The 59 labelled articles are served as RSS feeds (one per outlet, titled with the outlet's
name, undated articles without a pubDate) by the local feed server, added and ingested
with the ``briefbot`` CLI (which analyses them), and read back with ``briefbot stories
--json``. Then:

- clustering: pairwise and B-cubed precision/recall/F1 against manifest.json's clusters;
- extraction: per-field micro precision/recall/F1 of topics, companies and chips against
  the hand-written labels in ``bench/corpus_labels.toml`` (facts as stored by analysis);
- deals: for each labelled deal cluster, the story holding most of its articles, and in it
  the deal closest to the gold parties: parties right (same set) and amount exact (same
  USD value) where the gold states one.

``make eval`` prints it (bench/evaluate.py); tests/test_evaluation.py asserts the targets.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tomllib
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from sqlalchemy import create_engine, select

from bot.cli import main
from bot.core.evaluate import Scores, bcubed, pairwise_scores
from bot.store.schema import articles as articles_table
from bot.store.schema import story_members
from tests.support.feedserver import FeedServer

REPO = Path(__file__).resolve().parents[2]
LABELS = REPO / "bench" / "corpus_labels.toml"


@dataclass(frozen=True)
class CorpusArticle:
    id: str
    cluster: str
    outlet: str
    url: str
    title: str
    published: datetime | None
    text: str


@dataclass
class FieldScore:
    """Micro-averaged set precision/recall over the labelled articles, plus exact matches."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    exact: int = 0
    n: int = 0
    misses: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def add(self, article: str, predicted: set[str], gold: set[str]) -> None:
        self.n += 1
        self.tp += len(predicted & gold)
        self.fp += len(predicted - gold)
        self.fn += len(gold - predicted)
        if predicted == gold:
            self.exact += 1
        else:
            extra, missing = sorted(predicted - gold), sorted(gold - predicted)
            self.misses.append(f"{article}: +{extra} -{missing}")


@dataclass
class DealCheck:
    cluster: str
    primary: bool  # the matching deal is the story's first (most reported) deal
    gold_parties: tuple[str, ...]
    gold_amount: float | None
    found_parties: tuple[str, ...] | None
    found_amount: float | None
    found_text: str | None

    @property
    def parties_right(self) -> bool:
        return self.found_parties is not None and set(self.found_parties) == set(self.gold_parties)

    @property
    def amount_right(self) -> bool | None:
        """None when the gold states no amount."""
        if self.gold_amount is None:
            return None
        return (
            self.found_amount is not None
            and abs(self.found_amount - self.gold_amount) < 1e-6 * self.gold_amount
        )


@dataclass
class EvalResult:
    articles: int
    stories: int
    pairwise: Scores
    bcubed: Scores
    fields: dict[str, FieldScore]
    deals: list[DealCheck]
    split: list[str]  # gold clusters spread over several stories
    merged: list[str]  # stories holding articles of several gold clusters

    @property
    def deal_parties_rate(self) -> float:
        return sum(d.parties_right for d in self.deals) / len(self.deals) if self.deals else 0.0

    @property
    def amounts(self) -> tuple[int, int]:
        """(exact, stated) over deal clusters whose gold states an amount."""
        stated = [d for d in self.deals if d.amount_right is not None]
        return sum(bool(d.amount_right) for d in stated), len(stated)

    def report(self) -> str:
        """The evaluation as text, for ``make eval``."""
        lines = [
            f"corpus: {self.articles} articles -> {self.stories} stories",
            f"clustering pairwise: precision {self.pairwise.precision:.3f}  "
            f"recall {self.pairwise.recall:.3f}  F1 {self.pairwise.f1:.3f}"
            "   (targets: precision >= 0.95, F1 >= 0.90)",
            f"clustering B-cubed:  precision {self.bcubed.precision:.3f}  recall {self.bcubed.recall:.3f}  "
            f"F1 {self.bcubed.f1:.3f}",
        ]
        lines += [f"  split: {s}" for s in self.split] + [f"  merged: {m}" for m in self.merged]
        for name, f in self.fields.items():
            lines.append(
                f"{name:<9} precision {f.precision:.3f}  recall {f.recall:.3f}  F1 {f.f1:.3f}  "
                f"exact {f.exact}/{f.n} articles"
            )
            lines += [f"  {m}" for m in f.misses]
        exact, stated = self.amounts
        right = sum(d.parties_right for d in self.deals)
        lines.append(
            f"deals: parties right for {right}/{len(self.deals)} deal clusters "
            f"({100 * self.deal_parties_rate:.0f}%, target >= 90%); "
            f"amounts exact {exact}/{stated} where stated"
        )
        primary = sum(d.primary and d.parties_right for d in self.deals)
        lines.append(
            f"  the right deal is its story's first (most reported) deal in {primary}/{len(self.deals)}"
        )
        for d in self.deals:
            mark = "ok " if d.parties_right and d.amount_right in (None, True) else "BAD"
            lines.append(
                f"  {mark} {d.cluster}: gold {list(d.gold_parties)} {d.gold_amount or '-'}; "
                f"found {list(d.found_parties) if d.found_parties else None} {d.found_text or '-'}"
            )
        return "\n".join(lines)


def load_corpus(corpus: Path) -> list[CorpusArticle]:
    """The labelled articles of ``corpus/manifest.json``, read in place."""
    manifest = json.loads((corpus / "manifest.json").read_text(encoding="utf-8"))
    out = []
    for entry in manifest["articles"]:
        data = json.loads((corpus / entry["file"]).read_text(encoding="utf-8"))
        day = data.get("published")
        published = datetime.fromisoformat(day).replace(tzinfo=UTC, hour=12) if day else None
        out.append(
            CorpusArticle(
                entry["id"],
                entry["cluster"],
                data["outlet"],
                data["url"],
                data.get("title") or "",
                published,
                data["text"],
            )
        )
    return out


def _rss(outlet: str, items: list[CorpusArticle]) -> bytes:
    parts = [
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{escape(outlet)}</title>'
    ]
    for a in items:
        date = f"<pubDate>{format_datetime(a.published)}</pubDate>" if a.published else ""
        paragraphs = "".join(f"<p>{escape(p)}</p>" for p in a.text.split("\n") if p.strip())
        parts.append(
            f"<item><guid isPermaLink='false'>corpus-{a.id}</guid><title>{escape(a.title)}</title>"
            f"<link>{escape(a.url)}</link>{date}<description>{escape(paragraphs)}</description></item>"
        )
    parts.append("</channel></rss>")
    return "".join(parts).encode()


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _cli(*args: str) -> None:
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(list(args))
    if code != 0:
        raise RuntimeError(f"briefbot {' '.join(args)} exited {code}")


def ingest_corpus(corpus_articles: list[CorpusArticle], server: FeedServer, env: dict[str, str]) -> None:
    """Serve the articles as one feed per outlet and run ``feeds add`` + ``ingest`` on them."""
    by_outlet: dict[str, list[CorpusArticle]] = defaultdict(list)
    for a in corpus_articles:
        by_outlet[a.outlet].append(a)
    with _environment(env):
        for n, (outlet, items) in enumerate(sorted(by_outlet.items())):
            path = f"/outlet-{n}.xml"
            server.feed(path, _rss(outlet, items), etag=True)
            _cli("feeds", "add", server.url(path))
        _cli("ingest", "--json")


def _stories_json(env: dict[str, str]) -> list[dict[str, Any]]:
    buf = io.StringIO()
    with _environment(env), contextlib.redirect_stdout(buf):
        code = main(["stories", "--since", "all", "--limit", "0", "--json"])
    if code != 0:
        raise RuntimeError(f"briefbot stories exited {code}")
    result: list[dict[str, Any]] = json.loads(buf.getvalue())
    return result


def _facts_by_url(database_url: str) -> dict[str, dict[str, Any]]:
    engine = create_engine(database_url)
    try:
        query = select(articles_table.c.url, story_members.c.facts).join(
            story_members, story_members.c.article_id == articles_table.c.id
        )
        with engine.connect() as conn:
            return {str(url): facts for url, facts in conn.execute(query)}
    finally:
        engine.dispose()


def evaluate(corpus: Path, server: FeedServer, env: dict[str, str], database_url: str) -> EvalResult:
    """Ingest the corpus through the CLI into the database of ``env`` and score the result."""
    corpus_articles = load_corpus(corpus)
    ingest_corpus(corpus_articles, server, env)
    stories = _stories_json(env)
    by_url = {a.url: a for a in corpus_articles}
    story_of: dict[str, int] = {}
    deals_of: dict[int, list[dict[str, Any]]] = {}
    for s in stories:
        deals_of[s["id"]] = s["deals"]
        for src in s["sources"]:
            if src["url"] in by_url:
                story_of[by_url[src["url"]].id] = s["id"]
    gold = {a.id: a.cluster for a in corpus_articles}
    predicted = {aid: story_of.get(aid, f"missing-{aid}") for aid in gold}

    members: dict[str, set[str]] = defaultdict(set)
    for aid, cluster in gold.items():
        members[cluster].add(str(predicted[aid]))
    split = [f"{c} -> stories {sorted(s)}" for c, s in sorted(members.items()) if len(s) > 1]
    holders: dict[str, set[str]] = defaultdict(set)
    for aid, sid in predicted.items():
        holders[str(sid)].add(gold[aid])
    merged = [f"story {s} <- {sorted(c)}" for s, c in sorted(holders.items()) if len(c) > 1]

    labels = tomllib.loads(LABELS.read_text(encoding="utf-8"))
    facts = _facts_by_url(database_url)
    fields = {"topics": FieldScore(), "companies": FieldScore(), "chips": FieldScore()}
    for aid, label in sorted(labels.get("articles", {}).items()):
        got = facts.get(next(a.url for a in corpus_articles if a.id == aid), {})
        fields["topics"].add(aid, set(got.get("topics", [])), set(label.get("topics", [])))
        fields["companies"].add(aid, set(got.get("companies", [])), set(label.get("companies", [])))
        fields["chips"].add(aid, {c["name"] for c in got.get("chips", [])}, set(label.get("chips", [])))

    checks = []
    for cluster, gold_deal in sorted(labels.get("deals", {}).items()):
        ids = [aid for aid, c in gold.items() if c == cluster]
        votes = Counter(predicted[aid] for aid in ids)
        story_id = votes.most_common(1)[0][0]
        candidates = deals_of.get(story_id, []) if isinstance(story_id, int) else []
        parties = set(gold_deal["parties"])

        def closeness(d: dict[str, Any], parties: set[str] = parties) -> tuple[float, int]:
            found = set(d["parties"])
            return (len(found & parties) / len(found | parties), d["support"])

        best = max(candidates, key=closeness, default=None)
        checks.append(
            DealCheck(
                cluster,
                best is not None and candidates.index(best) == 0,
                tuple(gold_deal["parties"]),
                gold_deal.get("amount_usd"),
                tuple(best["parties"]) if best else None,
                best["amount_usd"] if best else None,
                best["amount"] if best else None,
            )
        )
    return EvalResult(
        articles=len(gold),
        stories=len(set(predicted.values())),
        pairwise=pairwise_scores(predicted, gold),
        bcubed=bcubed(predicted, gold),
        fields=fields,
        deals=checks,
        split=split,
        merged=merged,
    )


# ---- question answering (issue #5) -----------------------------------------------------

QUESTIONS = REPO / "bench" / "corpus_questions.toml"


@dataclass
class QuestionCheck:
    q: str
    expected: list[str]
    clusters: list[str]  # clusters of the answer's sources, in citation order
    facts_ok: bool
    found: bool
    answer: str

    @property
    def recall_at_5(self) -> float:
        top = set(self.clusters[:5])
        return len(top & set(self.expected)) / len(self.expected)

    @property
    def reciprocal_rank(self) -> float:
        for rank, cluster in enumerate(self.clusters, 1):
            if cluster in self.expected:
                return 1 / rank
        return 0.0


@dataclass
class QAResult:
    answerable: list[QuestionCheck]
    unanswerable: list[tuple[str, bool, str]]  # (question, found, answer)

    @property
    def recall_at_5(self) -> float:
        return sum(c.recall_at_5 for c in self.answerable) / len(self.answerable)

    @property
    def mrr(self) -> float:
        return sum(c.reciprocal_rank for c in self.answerable) / len(self.answerable)

    @property
    def facts_rate(self) -> float:
        return sum(c.facts_ok for c in self.answerable) / len(self.answerable)

    @property
    def refusal_rate(self) -> float:
        return sum(not found for _, found, _ in self.unanswerable) / len(self.unanswerable)

    def report(self, verbose: bool = True) -> str:
        lines = [
            f"questions: {len(self.answerable)} answerable, {len(self.unanswerable)} unanswerable"
            " (extractive mode)",
            f"  recall@5 of expected stories {self.recall_at_5:.3f} (target >= 0.9); MRR {self.mrr:.3f}",
            f"  answers holding the key facts {self.facts_rate:.3f} (target >= 0.8)",
            f"  unanswerable questions refused {self.refusal_rate:.3f} (target >= 0.9)",
        ]
        if verbose:
            for c in self.answerable:
                if c.recall_at_5 < 1 or not c.facts_ok:
                    first = c.answer.splitlines()[0][:120] if c.answer else ""
                    facts = "ok" if c.facts_ok else "MISSING"
                    lines.append(f"  miss: {c.q!r} recall@5 {c.recall_at_5:.2f} facts {facts}: {first}")
            for q, found, answer in self.unanswerable:
                if found:
                    lines.append(f"  answered, should refuse: {q!r}: {answer.splitlines()[0][:120]}")
        return "\n".join(lines)


def _ask_json(env: dict[str, str], question: str) -> dict[str, Any]:
    buf = io.StringIO()
    with _environment(env), contextlib.redirect_stdout(buf):
        code = main(["ask", question, "--json"])
    if code != 0:
        raise RuntimeError(f"briefbot ask {question!r} exited {code}")
    result: dict[str, Any] = json.loads(buf.getvalue())
    return result


def evaluate_questions(corpus: Path, env: dict[str, str]) -> QAResult:
    """Ask every question of ``bench/corpus_questions.toml`` through ``briefbot ask --json``
    against a database the corpus was already ingested into (see :func:`evaluate`)."""
    by_url = {a.url: a.cluster for a in load_corpus(corpus)}
    spec = tomllib.loads(QUESTIONS.read_text(encoding="utf-8"))
    checks = []
    for item in spec["question"]:
        out = _ask_json(env, item["q"])
        text = out["answer"].lower()
        facts_ok = all(any(f.lower() in text for f in group) for group in item["facts"])
        clusters = [by_url.get(s["url"], "?") for s in out["sources"]]
        checks.append(
            QuestionCheck(item["q"], item["expected"], clusters, facts_ok, out["found"], out["answer"])
        )
    refusals = []
    for item in spec.get("unanswerable", []):
        out = _ask_json(env, item["q"])
        refusals.append((item["q"], bool(out["found"]), out["answer"]))
    return QAResult(checks, refusals)
