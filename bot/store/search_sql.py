"""The SearchStore half of SqlStore: article passages and full-text search over them.

SQLite uses an FTS5 table ``passages_fts`` over ``passages`` (external content, Porter
stemming over unicode61 tokens, kept in sync by triggers) ranked with bm25. PostgreSQL
uses a generated ``tsv`` column (``to_tsvector('english', text)``) with a GIN index,
ranked with ``ts_rank_cd`` (every term) and ``ts_rank`` (any term).

A search first asks for passages holding every term of the question; when those give
fewer hits than asked for, passages holding any term fill the rest. Only terms from
``bot.core.search.query_terms`` (letters and digits) reach the full-text syntax, always
as bound parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Float,
    Integer,
    and_,
    bindparam,
    column,
    delete,
    exists,
    func,
    insert,
    literal_column,
    select,
    table,
    text,
)
from sqlalchemy.exc import OperationalError
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import BindParameter, ColumnElement

from bot.core.passages import split_passages
from bot.core.search import SearchHit, SearchQuery, query_terms
from bot.errors import StoreError
from bot.store.rows import chunks, outlet_name
from bot.store.schema import UTCDateTime, articles, feeds, passages, story_entities, story_members

__all__ = ["SearchSql", "create_search", "index_articles_in", "index_passages_in"]

_PER_ARTICLE = 2  # passages per article in one result list
_MAX_LIMIT = 100  # hits one search may return

# The full-text side of each backend, as Core table clauses (not part of the metadata).
_fts = table("passages_fts", column("rowid", Integer), column("passages_fts"))
_pg_passages = table(
    "passages", column("id", Integer), column("article_id", Integer), column("dated"), column("tsv")
)
_ENGLISH: ColumnElement[Any] = literal_column("'english'::regconfig")

_SQLITE_DDL = (
    "CREATE VIRTUAL TABLE passages_fts USING fts5("
    "text, content='passages', content_rowid='id', tokenize='porter unicode61')",
    "CREATE TRIGGER passages_fts_insert AFTER INSERT ON passages BEGIN "
    "INSERT INTO passages_fts(rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER passages_fts_delete AFTER DELETE ON passages BEGIN "
    "INSERT INTO passages_fts(passages_fts, rowid, text) VALUES ('delete', old.id, old.text); END",
    "CREATE TRIGGER passages_fts_update AFTER UPDATE ON passages BEGIN "
    "INSERT INTO passages_fts(passages_fts, rowid, text) VALUES ('delete', old.id, old.text); "
    "INSERT INTO passages_fts(rowid, text) VALUES (new.id, new.text); END",
    # what a filtered search reads per matching passage, without touching the wide rows
    "CREATE INDEX ix_passages_filter ON passages (id, article_id, dated)",
)
_PG_COLUMN = (
    "ALTER TABLE passages ADD COLUMN tsv tsvector "
    "GENERATED ALWAYS AS (to_tsvector('english'::regconfig, text)) STORED"
)
_PG_INDEXES = (
    "CREATE INDEX ix_passages_tsv ON passages USING gin (tsv)",
    # company and topic filters compare lower(name): without this index PostgreSQL has no
    # statistics for that expression, guesses 0.5% of rows and picks plans 5x slower
    "CREATE INDEX ix_story_entities_lower ON story_entities (kind, lower(name))",
)
# Each word's lexemes; the most common lexemes of ``tsv`` with the share of rows holding
# them (planner statistics, kept by ANALYZE / autovacuum); whether any passage holds a
# word (the materialised CTE makes the planner use the GIN index, then stop at one row).
_PG_LEXEMES = text(
    "SELECT w.word, tsvector_to_array(to_tsvector('english'::regconfig, w.word)) "
    "FROM unnest(CAST(:terms AS text[])) AS w(word)"
)
_PG_COMMON = text(
    "SELECT e.lexeme, e.share FROM pg_stats AS s, "
    "unnest(s.most_common_elems::text::text[], s.most_common_elem_freqs) AS e(lexeme, share) "
    "WHERE s.schemaname = current_schema() AND s.tablename = 'passages' AND s.attname = 'tsv' "
    "AND e.lexeme = ANY(CAST(:lexemes AS text[]))"
)
_PG_EXISTS = text(
    "WITH m AS MATERIALIZED (SELECT 1 FROM passages "
    "WHERE tsv @@ websearch_to_tsquery('english'::regconfig, :words)) "
    "SELECT EXISTS (SELECT 1 FROM m)"
)


def _require_fts5(conn: Connection) -> None:
    """Raise StoreError when the SQLite linked into this Python has no FTS5."""
    try:
        conn.exec_driver_sql("CREATE VIRTUAL TABLE temp.briefbot_fts5_probe USING fts5(x)")
        conn.exec_driver_sql("DROP TABLE temp.briefbot_fts5_probe")
    except OperationalError:
        version = conn.exec_driver_sql("SELECT sqlite_version()").scalar()
        raise StoreError(
            f"the SQLite library in this Python ({version}) has no FTS5 full-text search; "
            "use a Python whose SQLite has FTS5, or PostgreSQL"
        ) from None


def create_search(conn: Connection) -> None:
    """Migration 3: the passages table, its full-text index, and passages for every
    article already stored."""
    dialect = conn.dialect.name
    if dialect not in ("sqlite", "postgresql"):
        raise StoreError(f"full-text search needs SQLite or PostgreSQL, not {dialect}")
    if dialect == "sqlite":
        _require_fts5(conn)
    passages.create(conn)
    if dialect == "postgresql":
        conn.exec_driver_sql(_PG_COLUMN)
    last = 0
    while True:  # index what earlier versions stored, 1,000 articles at a time
        query = (
            select(articles.c.id, articles.c.title, articles.c.text)
            .where(articles.c.id > last)
            .order_by(articles.c.id)
            .limit(1000)
        )
        rows = conn.execute(query).all()
        if not rows:
            break
        index_articles_in(conn, [(r.id, split_passages(r.title, r.text)) for r in rows])
        last = rows[-1].id
    if dialect == "sqlite":
        for statement in _SQLITE_DDL:
            conn.exec_driver_sql(statement)
        conn.exec_driver_sql("INSERT INTO passages_fts(passages_fts) VALUES ('rebuild')")
    else:
        for statement in _PG_INDEXES:
            conn.exec_driver_sql(statement)


# ---- indexing ---------------------------------------------------------------------------


def index_passages_in(conn: Connection, article_id: int, texts: Sequence[str]) -> None:
    """Replace one article's passages inside the caller's transaction."""
    index_articles_in(conn, [(article_id, texts)])


def index_articles_in(conn: Connection, items: Sequence[tuple[int, Sequence[str]]]) -> None:
    """Replace the passages of many articles inside the caller's transaction.

    Idempotent: an article's old passages are deleted first. An article given twice
    keeps its last list; an empty list removes its passages; an id with no stored
    article is skipped.
    """
    latest = dict(items)
    ids = list(latest)
    dates: dict[int, Any] = {}
    date = func.coalesce(articles.c.published, articles.c.fetched_at)
    for part in chunks(ids):
        conn.execute(delete(passages).where(passages.c.article_id.in_(part)))
        dates.update(
            (i, d) for i, d in conn.execute(select(articles.c.id, date).where(articles.c.id.in_(part)))
        )
    rows = [
        {"article_id": article_id, "position": position, "dated": dates[article_id], "text": body}
        for article_id in ids
        if article_id in dates
        for position, body in enumerate(latest[article_id])
    ]
    for part in chunks(rows, 5000):
        conn.execute(insert(passages), list(part))


# ---- searching --------------------------------------------------------------------------

_ENTITY_FILTER = (
    "EXISTS (SELECT 1 FROM story_members JOIN story_entities "
    "ON story_entities.story_id = story_members.story_id "
    "WHERE story_members.article_id = passages.article_id "
    "AND story_entities.kind = '{kind}' AND lower(story_entities.name) = :{kind})"
)


def _fts_expression(terms: Sequence[str], every: bool) -> str:
    """An FTS5 query of quoted terms (letters and digits only, so nothing to escape)."""
    quoted = [f'"{t}"' for t in terms]
    return " ".join(quoted) if every else " OR ".join(quoted)


def _pg_tsquery(terms: Sequence[str], every: bool) -> ColumnElement[Any]:
    """A tsquery of the terms; websearch syntax never raises, and "or" is its only operator here."""
    return func.websearch_to_tsquery(_ENGLISH, " ".join(terms) if every else " or ".join(terms))


def _name(name: str | None) -> str | None:
    """A topic or company filter as compared: stripped, lower-case; None when blank."""
    return name.strip().lower() or None if name is not None else None


def _filtered(query: SearchQuery) -> bool:
    return any(v is not None for v in (query.since, query.until, query.topic, query.company))


Bounds = tuple[int | None, int | None]  # lowest and highest passage id a search may return


def _sqlite_candidates(
    query: SearchQuery, terms: list[str], every: bool, n: int, window: int, bounds: Bounds
) -> Any:
    """The best ``n`` of the newest ``window`` matching passages: ids and bm25 scores
    (lower is better).

    Written as SQL text for one reason: a filtered search must read each matching
    passage's article and date from the narrow ``ix_passages_filter`` index (INDEXED BY),
    not from the wide rows, which is several times faster on a large archive. Every
    value is a bound parameter; the text is assembled from constants only.
    """
    params: list[BindParameter[Any]] = [
        bindparam("match", _fts_expression(terms, every)),
        bindparam("window", window),
        bindparam("n", n),
    ]
    join, where = "", ["passages_fts MATCH :match"]
    for key, op, value in (("low", ">=", bounds[0]), ("high", "<=", bounds[1])):
        if value is not None:
            where.append(f"passages_fts.rowid {op} :{key}")
            params.append(bindparam(key, value))
    if _filtered(query):
        join = " JOIN passages INDEXED BY ix_passages_filter ON passages.id = passages_fts.rowid"
        if query.since is not None:
            where.append("passages.dated >= :since")
            params.append(bindparam("since", query.since, type_=UTCDateTime))
        if query.until is not None:
            where.append("passages.dated < :until")
            params.append(bindparam("until", query.until, type_=UTCDateTime))
        for kind, name in (("topic", query.topic), ("company", query.company)):
            if name is not None:
                where.append(_ENTITY_FILTER.format(kind=kind))
                params.append(bindparam(kind, name))
    sql = (
        "SELECT pid, score FROM ("
        "SELECT passages_fts.rowid AS pid, bm25(passages_fts) AS score "
        f"FROM passages_fts{join} WHERE {' AND '.join(where)} "
        "ORDER BY passages_fts.rowid DESC LIMIT :window"
        ") ORDER BY score, pid LIMIT :n"
    )
    return text(sql).bindparams(*params).columns(pid=Integer, score=Float).subquery("ranked")


def _pg_candidates(
    query: SearchQuery, terms: list[str], every: bool, n: int, window: int, bounds: Bounds
) -> Any:
    """The best ``n`` of the newest ``window`` matching passages: ids and ranks (higher is
    better): ts_rank_cd when every term must match, ts_rank (which rewards each distinct
    term) when any may."""
    tsquery = _pg_tsquery(terms, every)
    p = _pg_passages
    recent = select(p.c.id.label("pid"), p.c.tsv).where(p.c.tsv.op("@@")(tsquery))
    if bounds[0] is not None:
        recent = recent.where(p.c.id >= bounds[0])
    if bounds[1] is not None:
        recent = recent.where(p.c.id <= bounds[1])
    if query.since is not None:
        recent = recent.where(p.c.dated >= bindparam("since", query.since, type_=UTCDateTime))
    if query.until is not None:
        recent = recent.where(p.c.dated < bindparam("until", query.until, type_=UTCDateTime))
    for kind, name in (("topic", query.topic), ("company", query.company)):
        if name is not None:
            recent = recent.where(
                exists()
                .where(story_members.c.article_id == p.c.article_id)
                .where(
                    and_(
                        story_entities.c.story_id == story_members.c.story_id,
                        story_entities.c.kind == kind,
                        func.lower(story_entities.c.name) == name,
                    )
                )
            )
    sub = recent.order_by(p.c.id.desc()).limit(window).subquery("recent")
    rank = func.ts_rank_cd(sub.c.tsv, tsquery) if every else func.ts_rank(sub.c.tsv, tsquery)
    score = rank.label("score")
    return select(sub.c.pid, score).order_by(score.desc(), sub.c.pid).limit(n).subquery("ranked")


class SearchSql:
    """Mixin for SqlStore (which provides ``engine``): implements ``SearchStore``.

    Two limits keep a search fast on a large archive, where a question's words can match
    hundreds of thousands of passages and ranking costs time per match:

    - only the newest ``rank_window`` matching passages (by passage id, so by indexing
      order) are ranked; a question with rarer words matches fewer and is ranked in full;
    - once the archive holds ``common_min_passages`` passages, words found in more than
      ``common_fraction`` of the passages are left out of the query (always keeping the
      rarest word): they barely change the ranking (bm25 gives them almost no weight) but
      reading their long posting lists dominates the time. SQLite counts each word in the
      newest ``sample_passages`` passages; PostgreSQL reads the planner's statistics.
      Words found in no passage at all are left out too, so one unknown word does not
      turn the every-term pass into an any-term pass.

    A date filter that holds fewer than ``date_scan`` passages also bounds the passage
    ids searched (see ``_date_bounds``), so "this week" does not read a year of matches.
    """

    engine: Engine
    rank_window: int = 2_000
    common_min_passages: int = 20_000
    sample_passages: int = 20_000
    common_fraction: float = 0.2
    date_scan: int = 100_000

    def index_passages(self, article_id: int, passages: Sequence[str]) -> None:
        """Replace an article's passages in one transaction."""
        with self.engine.begin() as conn:
            index_passages_in(conn, article_id, passages)

    def index_articles(self, items: Sequence[tuple[int, Sequence[str]]]) -> None:
        """Replace the passages of many articles in one transaction."""
        with self.engine.begin() as conn:
            index_articles_in(conn, items)

    def passage_count(self) -> int:
        """How many passages are indexed."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(passages)).scalar() or 0)

    def article_passages(self, article_id: int) -> list[str]:
        """An article's passages, in order."""
        query = (
            select(passages.c.text).where(passages.c.article_id == article_id).order_by(passages.c.position)
        )
        with self.engine.connect() as conn:
            return [str(t) for t in conn.execute(query).scalars()]

    def search(self, query: SearchQuery) -> list[SearchHit]:
        """The best passages for ``query``, best first, at most two per article.

        Passages holding every term come first; when they are fewer than
        ``query.limit``, passages holding any term follow. An empty question, or one of
        stop words only, finds nothing. See the class docstring for the limits that keep
        a search fast on a large archive.
        """
        limit = min(query.limit, _MAX_LIMIT)
        terms = query_terms(query.text)
        if not terms or limit <= 0:
            return []
        query = replace(query, topic=_name(query.topic), company=_name(query.company))
        hits: list[SearchHit] = []
        seen: set[int] = set()
        per_article: dict[int, int] = {}
        try:
            with self.engine.connect() as conn:
                bounds = self._date_bounds(conn, query)
                if bounds is None:
                    return []  # no passage within the dates
                terms = self._informative(conn, terms)
                passes = (True, False) if len(terms) > 1 else (True,) if terms else ()
                for every in passes:
                    self._fill(conn, query, terms, every, limit, bounds, hits, seen, per_article)
                    if len(hits) >= limit:
                        break
        except OperationalError as exc:
            if "fts5" in str(exc.orig).lower():
                raise StoreError(f"full-text search is unavailable: {exc.orig}") from None
            raise
        return hits[:limit]

    def _date_bounds(self, conn: Connection, query: SearchQuery) -> Bounds | None:
        """The lowest and highest id of the passages within the query's dates, when at
        most ``date_scan`` passages are (None, None when more, or no dates given; None
        when no passage is). Passage ids grow with time, so a search for recent passages
        then reads only the newest part of each word's posting list."""
        conditions = []
        if query.since is not None:
            conditions.append(passages.c.dated >= query.since)
        if query.until is not None:
            conditions.append(passages.c.dated < query.until)
        if not conditions:
            return (None, None)
        within = select(passages.c.id).where(*conditions).limit(self.date_scan).subquery()
        low, high, count = conn.execute(
            select(func.min(within.c.id), func.max(within.c.id), func.count())
        ).one()
        if not count:
            return None
        return (None, None) if count >= self.date_scan else (int(low), int(high))

    def _informative(self, conn: Connection, terms: list[str]) -> list[str]:
        """``terms`` without words no passage holds, and, once the archive holds
        ``common_min_passages`` passages, without words in more than ``common_fraction``
        of the passages (keeping the rarest word); [] when no word is found anywhere."""
        if len(terms) < 2:
            return terms
        top = int(conn.execute(select(func.max(passages.c.id))).scalar() or 0)
        if top < self.common_min_passages:
            return terms
        if conn.dialect.name == "sqlite":
            shares = self._sqlite_shares(conn, terms, top)
        else:
            shares = self._pg_shares(conn, terms)
        if not shares:
            return []
        kept = [t for t, share in shares.items() if share <= self.common_fraction]
        return kept or [min(shares, key=lambda t: shares[t])]

    def _sqlite_shares(self, conn: Connection, terms: list[str], top: int) -> dict[str, float]:
        """The share of the newest ``sample_passages`` passages holding each term; terms in
        no passage at all are left out."""
        floor = top - self.sample_passages
        shares: dict[str, float] = {}
        for term in terms:
            match = _fts.c.passages_fts.op("MATCH")(_fts_expression([term], True))
            recent = select(_fts.c.rowid).where(match, _fts.c.rowid > floor).subquery()
            count = int(conn.execute(select(func.count()).select_from(recent)).scalar() or 0)
            if count or conn.execute(select(_fts.c.rowid).where(match).limit(1)).first() is not None:
                shares[term] = count / min(self.sample_passages, top)
        return shares

    @staticmethod
    def _pg_shares(conn: Connection, terms: list[str]) -> dict[str, float]:
        """The share of passages holding each term, from the planner's statistics on the
        ``tsv`` column (its most common lexemes; 0 for a rarer term or before the first
        ANALYZE); terms in no passage at all are left out."""
        lexemes: dict[str, list[str] | None] = {
            w: xs for w, xs in conn.execute(_PG_LEXEMES, {"terms": terms})
        }
        wanted = sorted({x for xs in lexemes.values() for x in xs or ()})
        freq = {str(e): float(f) for e, f in conn.execute(_PG_COMMON, {"lexemes": wanted})} if wanted else {}
        shares: dict[str, float] = {}
        for term in terms:
            share = max((freq.get(x, 0.0) for x in lexemes.get(term) or ()), default=0.0)
            if share or conn.execute(_PG_EXISTS, {"words": term}).scalar():
                shares[term] = share
        return shares

    def _fill(
        self,
        conn: Connection,
        query: SearchQuery,
        terms: list[str],
        every: bool,
        limit: int,
        bounds: Bounds,
        hits: list[SearchHit],
        seen: set[int],
        per_article: dict[int, int],
    ) -> None:
        """Append one pass's hits (every term, or any term) until ``limit`` is reached,
        reading more candidates while the per-article cap leaves too few."""
        sqlite = conn.dialect.name == "sqlite"
        build = _sqlite_candidates if sqlite else _pg_candidates
        window = max(self.rank_window, limit)
        n = min(max(3 * limit, 20), window)
        while True:
            ranked = build(query, terms, every, n, window, bounds)
            rows = conn.execute(_hydrate(ranked, best_first_ascending=sqlite)).all()
            for row in rows:  # on a second round, rows seen in the first are skipped
                m = row._mapping
                if m["passage_id"] in seen or per_article.get(m["article_id"], 0) >= _PER_ARTICLE:
                    continue
                seen.add(m["passage_id"])
                per_article[m["article_id"]] = per_article.get(m["article_id"], 0) + 1
                hits.append(_hit(m, -m["score"] if sqlite else m["score"]))
                if len(hits) >= limit:
                    return
            if len(rows) < n or n >= window:
                return
            n = min(4 * n, window)


def _hydrate(ranked: Any, *, best_first_ascending: bool) -> Select[Any]:
    """The ranked candidates with their passage, article, outlet and story, best first
    (lowest score first on SQLite, whose bm25 is negative, highest on PostgreSQL)."""
    order = ranked.c.score.asc() if best_first_ascending else ranked.c.score.desc()
    return (
        select(
            passages.c.id.label("passage_id"),
            passages.c.article_id,
            passages.c.position,
            passages.c.text,
            ranked.c.score,
            articles.c.title,
            articles.c.url,
            articles.c.published,
            feeds.c.title.label("feed_title"),
            story_members.c.story_id,
        )
        .select_from(ranked)
        .join(passages, passages.c.id == ranked.c.pid)
        .join(articles, articles.c.id == passages.c.article_id)
        .outerjoin(feeds, feeds.c.id == articles.c.feed_id)
        .outerjoin(story_members, story_members.c.article_id == passages.c.article_id)
        .order_by(order, passages.c.id)
    )


def _hit(m: Any, score: float) -> SearchHit:
    return SearchHit(
        article_id=m["article_id"],
        passage_id=m["passage_id"],
        position=m["position"],
        text=m["text"],
        score=float(score),
        title=m["title"],
        url=m["url"],
        outlet=outlet_name(m["feed_title"], m["url"]),
        published=m["published"],
        story_id=m["story_id"],
    )
