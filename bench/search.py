"""Passage search benchmark: 200,000 generated articles, about 3 passages each.

Articles are generated from ../shared/bench/feedfarm.py's word lists (imported by path),
mixed with a Zipf-distributed vocabulary of made-up words so term frequencies look like
prose rather than a 40-word loop. They are inserted straight into a fresh store (articles,
then passages through ``index_articles_in``, large transactions), on SQLite (a temporary
file) and PostgreSQL (a fresh schema, dropped afterwards). One story per three articles
with its companies and a topic is added too, so the filtered searches have something to
filter on.

Prints the index build time (inserting the passages, which maintains the FTS5 table or the
GIN index), the database size, and p50/p95/max latency of 200 questions, unfiltered and
with a date or company filter.

    .venv/bin/python bench/search.py [--n 200000] [--pg-url URL] [--no-sqlite] [--no-pg]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, create_engine, insert, text  # noqa: E402

from bot.core.passages import split_passages  # noqa: E402
from bot.core.search import SearchQuery  # noqa: E402
from bot.store import SqlStore, open_engine  # noqa: E402
from bot.store.schema import articles, feeds, stories, story_entities, story_members  # noqa: E402
from bot.store.search_sql import index_articles_in  # noqa: E402

FEEDFARM = ROOT.parent / "shared" / "bench" / "feedfarm.py"
START = datetime(2025, 1, 1, tzinfo=UTC)
DAYS = 365
TOPICS = ["funding", "partnerships", "chips", "datacenters", "models", "energy"]
QUESTIONS = [
    "how much did {a} invest in {b}",
    "which chips does {a} use",
    "what did {a} order from {b}",
    "who partners with {a}",
    "{a} {b} compute deal",
    "does {a} have a stake in {b}",
    "how is {chip} demand",
    "what is the alliance between {a} and {b}",
    "how many accelerators did {a} order",
    "{a} custom silicon and training costs",
    "who is buying {chip}",
    "is {a} expanding its alliance with {b}?",
    "did {a} sign a multiyear compute deal",
    "what do analysts say about {a} and {chip}",
]


def _farm() -> Any:
    spec = importlib.util.spec_from_file_location("feedfarm", FEEDFARM)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _vocabulary(r: random.Random, size: int = 30_000) -> tuple[list[str], list[float]]:
    """Made-up words and Zipf cumulative weights (s = 1.05)."""
    syllables = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"] + ["ar", "en", "is", "on", "ul"]
    words: list[str] = []
    seen: set[str] = set()
    while len(words) < size:
        w = "".join(r.choice(syllables) for _ in range(r.randint(2, 4)))
        if w not in seen:
            seen.add(w)
            words.append(w)
    cum, total = [], 0.0
    for rank in range(1, size + 1):
        total += 1 / rank**1.05
        cum.append(total)
    return words, cum


class Generator:
    """Deterministic synthetic articles."""

    def __init__(self, seed: int = 11) -> None:
        self.farm = _farm()
        self.r = random.Random(seed)
        self.vocab, self.cum = _vocabulary(self.r)

    def _sentence(self, lead: str = "") -> str:
        r = self.r
        k = r.randint(8, 22)
        made_up = r.choices(self.vocab, cum_weights=self.cum, k=k)
        words = [w if r.random() < 0.6 else r.choice(self.farm.FILLER).strip(".,") for w in made_up]
        body = " ".join(words)
        s = f"{lead} {body}" if lead else body
        return s[0].upper() + s[1:] + "."

    def _paragraph(self, sentences: int, lead: str = "") -> str:
        first = self._sentence(lead)
        return " ".join([first] + [self._sentence() for _ in range(sentences - 1)])

    def article(self, i: int, n: int) -> dict[str, Any]:
        farm, r = self.farm, self.r
        a, b = r.sample(farm.COMPANIES, 2)
        verb = r.choice(farm.VERBS)
        if "%d" in verb:
            verb = verb % r.randint(1, 60)
        chip = r.choice(farm.CHIPS)
        title = f"{a} {verb} {b} as {chip} demand grows"
        text = "\n\n".join(
            [
                f"{a} {verb} {b}. " + self._paragraph(r.randint(2, 4)),
                self._paragraph(r.randint(3, 6)),
                self._paragraph(r.randint(2, 4), lead=f"The deal involves {chip}, {a} said;"),
            ]
        )
        when = START + timedelta(seconds=DAYS * 86400 * i / n)
        return {
            "id": i + 1,
            "feed_id": i % 40 + 1,
            "dedupe_key": f"https://news{i % 40}.example/{i}",
            "url": f"https://news{i % 40}.example/{i}",
            "canonical_url": f"https://news{i % 40}.example/{i}",
            "title": title,
            "text": text,
            "summary": text[:200],
            "published": when if i % 10 else None,
            "fetched_at": when + timedelta(minutes=5),
            "backfill": False,
            "_companies": (a, b),
        }

    def questions(self, k: int) -> list[str]:
        farm, r = self.farm, random.Random(99)
        out = []
        for _ in range(k):
            a, b = r.sample(farm.COMPANIES, 2)
            out.append(r.choice(QUESTIONS).format(a=a, b=b, chip=r.choice(farm.CHIPS)))
        return out


def load(engine: Engine, gen: Generator, n: int, batch: int = 10_000) -> dict[str, float]:
    """Insert feeds, articles, stories and passages; returns timings in seconds."""
    timings = {"generate+split": 0.0, "articles": 0.0, "stories": 0.0, "passages": 0.0}
    with engine.begin() as conn:
        conn.execute(
            insert(feeds),
            [
                {
                    "id": f + 1,
                    "url": f"https://news{f}.example/feed",
                    "title": f"News {f}",
                    "status": "ok",
                    "enabled": True,
                    "error_count": 0,
                    "interval_seconds": 900,
                    "created_at": START,
                }
                for f in range(40)
            ],
        )
    passages_total = 0
    for begin in range(0, n, batch):
        t0 = time.perf_counter()
        rows = [gen.article(i, n) for i in range(begin, min(n, begin + batch))]
        items = [(row["id"], split_passages(row["title"], row["text"])) for row in rows]
        passages_total += sum(len(p) for _, p in items)
        t1 = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(insert(articles), [{k: v for k, v in row.items() if k[0] != "_"} for row in rows])
        t2 = time.perf_counter()
        story_rows, member_rows, entity_rows = [], [], []
        for start in range(0, len(rows), 3):
            group = rows[start : start + 3]
            sid = group[0]["id"]
            companies = sorted({c for row in group for c in row["_companies"]})
            topic = TOPICS[sid % len(TOPICS)]
            when = group[-1]["published"] or group[-1]["fetched_at"]
            story_rows.append(
                {
                    "id": sid,
                    "headline": group[0]["title"],
                    "first_seen": when,
                    "last_seen": when,
                    "seen_at": when,
                    "state": "new",
                    "created_at": when,
                    "updated_at": when,
                    "article_count": len(group),
                    "topics": [topic],
                    "companies": companies,
                    "chips": [],
                    "chip_roles": {},
                }
            )
            member_rows += [
                {
                    "article_id": row["id"],
                    "story_id": sid,
                    "position": k,
                    "facts": {},
                    "reason": "bench",
                    "analyzed_at": when,
                }
                for k, row in enumerate(group)
            ]
            entity_rows += [{"story_id": sid, "kind": "company", "name": c} for c in companies]
            entity_rows.append({"story_id": sid, "kind": "topic", "name": topic})
        with engine.begin() as conn:
            conn.execute(insert(stories), story_rows)
            conn.execute(insert(story_members), member_rows)
            conn.execute(insert(story_entities), entity_rows)
        t3 = time.perf_counter()
        with engine.begin() as conn:
            index_articles_in(conn, items)
        t4 = time.perf_counter()
        timings["generate+split"] += t1 - t0
        timings["articles"] += t2 - t1
        timings["stories"] += t3 - t2
        timings["passages"] += t4 - t3
        print(f"\r  loaded {min(n, begin + batch):,}/{n:,} articles", end="", flush=True)
    print()
    timings["passage_count"] = passages_total
    return timings


def latencies(store: SqlStore, queries: list[SearchQuery]) -> tuple[list[float], int]:
    """Milliseconds per search, and how many searches found nothing."""
    for q in queries[:10]:  # warm the cache
        store.search(q)
    out, empty = [], 0
    for q in queries:
        t0 = time.perf_counter()
        hits = store.search(q)
        out.append(1e3 * (time.perf_counter() - t0))
        empty += not hits
    return out, empty


def report(name: str, ms: list[float], empty: int) -> None:
    ms = sorted(ms)
    p95 = ms[min(len(ms) - 1, round(0.95 * len(ms)) - 1)]
    print(
        f"  {name:<32} p50 {statistics.median(ms):7.2f} ms   p95 {p95:7.2f} ms   "
        f"max {ms[-1]:7.2f} ms   ({len(ms)} questions, {empty} without hits)"
    )


def run(url: str, n: int, size_of: Any) -> None:
    gen = Generator()
    engine = open_engine(url)
    try:
        timings = load(engine, gen, n)
        print(
            f"  generate+split {timings['generate+split']:.1f} s, articles {timings['articles']:.1f} s, "
            f"stories {timings['stories']:.1f} s"
        )
        print(
            f"  index build: {int(timings['passage_count']):,} passages in {timings['passages']:.1f} s "
            f"({1e6 * timings['passages'] / timings['passage_count']:.0f} µs/passage, incl. full-text index)"
        )
        if engine.dialect.name == "postgresql":
            t0 = time.perf_counter()
            with engine.begin() as conn:  # what autovacuum does after a bulk load
                conn.exec_driver_sql("ANALYZE")
            print(f"  ANALYZE (as autovacuum would after a bulk load) {time.perf_counter() - t0:.1f} s")
        size_of(engine)
        store = SqlStore(engine)
        questions = gen.questions(200)
        report("questions", *latencies(store, [SearchQuery(q) for q in questions]))
        since = START + timedelta(days=DAYS - 30)
        report("same, last 30 days", *latencies(store, [SearchQuery(q, since=since) for q in questions]))
        companies = gen.farm.COMPANIES
        report(
            "same, company filter",
            *latencies(
                store,
                [SearchQuery(q, company=companies[i % len(companies)]) for i, q in enumerate(questions)],
            ),
        )
        sample = store.search(SearchQuery(questions[0]))[:1]
        if sample:
            h = sample[0]
            print(
                f"  e.g. {questions[0]!r} -> [{h.outlet}] {h.title} (passage {h.position}): {h.text[:90]}..."
            )
    finally:
        engine.dispose()


def sqlite_size(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        path = engine.url.database
        rows = conn.exec_driver_sql(
            "SELECT CASE WHEN name LIKE 'passages_fts%' THEN 'passages_fts (FTS5)' "
            "WHEN name LIKE '%passages%' THEN 'passages (+index)' "
            "WHEN name IN ('articles') OR name LIKE '%articles%' THEN 'articles (+indexes)' "
            "ELSE 'other' END AS part, sum(pgsize) FROM dbstat GROUP BY part ORDER BY 2 DESC"
        ).all()
    assert path
    print(
        f"  database size: {os.path.getsize(path) / 2**20:,.0f} MiB file; "
        + ", ".join(f"{part} {size / 2**20:,.0f} MiB" for part, size in rows)
    )


def pg_size(engine: Engine) -> None:
    with engine.connect() as conn:
        parts = {
            t: conn.execute(text("SELECT pg_total_relation_size(CAST(:t AS regclass))"), {"t": t}).scalar()
            for t in ("passages", "articles", "stories", "story_members", "story_entities")
        }
        gin = conn.execute(text("SELECT pg_relation_size('ix_passages_tsv')")).scalar()
    total = sum(v or 0 for v in parts.values())
    print(
        f"  database size: {total / 2**20:,.0f} MiB in these tables; "
        + ", ".join(f"{t} {(v or 0) / 2**20:,.0f} MiB" for t, v in parts.items())
        + f" (passages includes the GIN index, {(gin or 0) / 2**20:,.0f} MiB)"
    )


@contextmanager
def pg_schema(admin_url: str) -> Iterator[str | None]:
    """A fresh schema on the PostgreSQL at ``admin_url``, or None when it is unreachable."""
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    try:
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:
        print(f"PostgreSQL skipped: {admin_url} is not reachable ({str(exc).splitlines()[0]})")
        yield None
        return
    sep = "&" if "?" in admin_url else "?"
    try:
        yield f"{admin_url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200_000, help="articles to generate")
    ap.add_argument("--pg-url", default="postgresql+psycopg://127.0.0.1:5432/test")
    ap.add_argument("--no-sqlite", action="store_true")
    ap.add_argument("--no-pg", action="store_true")
    args = ap.parse_args()
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            print(f"SQLite, {args.n:,} articles")
            run(f"sqlite:///{tmp}/bench.db", args.n, sqlite_size)
    if not args.no_pg:
        with pg_schema(args.pg_url) as url:
            if url:
                print(f"PostgreSQL, {args.n:,} articles")
                run(url, args.n, pg_size)


if __name__ == "__main__":
    main()
