"""The StoryStore half of SqlStore: stories, their members, entities and the deal ledger."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, exists, func, insert, or_, select, update

from bot.core.analysis import AnalysisBatch, Member, RestoredStory, StoryRow
from bot.core.extract import Money
from bot.core.models import Article
from bot.core.records import SourceRef, StoryDeal, StoryRecord
from bot.store.rows import article_from, chunks, outlet_name
from bot.store.schema import articles, deals, feeds, stories, story_entities, story_members


def _story_values(row: StoryRow) -> dict[str, Any]:
    return {
        "headline": row.headline,
        "first_seen": row.first_seen,
        "last_seen": row.last_seen,
        "seen_at": row.last_seen or row.updated_at,
        "state": row.state,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "topics": list(row.topics),
        "companies": list(row.companies),
        "chips": list(row.chips),
        "chip_roles": {k: list(v) for k, v in row.chip_roles.items()},
    }


def _deal_values(story_id: int, position: int, d: StoryDeal) -> dict[str, Any]:
    m = d.amount
    return {
        "story_id": story_id,
        "position": position,
        "kind": d.kind,
        "parties": list(d.parties),
        "amount_usd": m.usd if m else None,
        "amount_usd_high": m.usd_high if m else None,
        "amount_text": m.text if m else None,
        "qualifier": m.qualifier if m else None,
        "currency": m.currency if m else None,
        "announced": d.announced,
        "support": d.support,
        "article_ids": list(d.article_ids),
        "sentence": d.sentence,
    }


def _deal(m: Any) -> StoryDeal:
    amount = None
    if m["amount_text"] is not None:
        amount = Money(
            m["amount_usd"], m["amount_text"], m["qualifier"], m["currency"] or "USD", m["amount_usd_high"]
        )
    return StoryDeal(
        tuple(m["parties"]),
        m["kind"],
        amount,
        m["announced"],
        tuple(m["article_ids"]),
        m["support"],
        m["sentence"],
    )


class StorySql:
    """Mixin for SqlStore (which provides ``engine``): implements ``StoryStore``."""

    engine: Engine

    # -- analysis ----------------------------------------------------------------

    def articles_to_analyze(self, limit: int) -> list[Article]:
        """Articles without a story yet, by id; ``limit`` 0 means all."""
        query = (
            select(articles)
            .where(~exists().where(story_members.c.article_id == articles.c.id))
            .order_by(articles.c.id)
        )
        if limit:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [article_from(r._mapping) for r in conn.execute(query)]

    def next_story_id(self) -> int:
        """One more than the highest story id stored."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.max(stories.c.id))).scalar() or 0) + 1

    def stories_to_restore(self, since: datetime, limit: int) -> list[RestoredStory]:
        """The newest ``limit`` stories seen at or after ``since``, with members in join order."""
        query = (
            select(stories).where(stories.c.seen_at >= since).order_by(stories.c.seen_at.desc()).limit(limit)
        )
        with self.engine.connect() as conn:
            rows = [r._mapping for r in conn.execute(query)]
            members: dict[int, list[tuple[int, Member]]] = {}
            member_query = select(story_members, articles).join(
                articles, articles.c.id == story_members.c.article_id
            )
            for part in chunks([r["id"] for r in rows]):
                for r in conn.execute(member_query.where(story_members.c.story_id.in_(part))):
                    m = r._mapping
                    members.setdefault(m["story_id"], []).append(
                        (m["position"], Member(article_from(m), m["facts"]))
                    )
        return [
            RestoredStory(
                r["id"],
                r["state"],
                r["created_at"],
                r["updated_at"],
                tuple(m for _, m in sorted(members.get(r["id"], []), key=lambda pm: pm[0])),
            )
            for r in rows
        ]

    def save_analysis(self, batch: AnalysisBatch) -> None:
        """Members, stories and passages of one analyze chunk, in one transaction."""
        with self.engine.begin() as conn:
            ids = [s.id for s in batch.stories]
            existing: set[int] = set()
            for part in chunks(ids):
                existing |= {r[0] for r in conn.execute(select(stories.c.id).where(stories.c.id.in_(part)))}
                conn.execute(delete(story_entities).where(story_entities.c.story_id.in_(part)))
                conn.execute(delete(deals).where(deals.c.story_id.in_(part)))
            counts = self._member_counts(conn, batch)
            for s in batch.stories:
                values = _story_values(s) | {"article_count": counts.get(s.id, 0)}
                if s.id in existing:
                    conn.execute(update(stories).where(stories.c.id == s.id).values(**values))
                else:
                    conn.execute(insert(stories).values(id=s.id, **values))
            if batch.members:
                conn.execute(
                    insert(story_members),
                    [
                        {
                            "article_id": m.article_id,
                            "story_id": m.story_id,
                            "position": m.position,
                            "facts": m.facts,
                            "reason": m.reason,
                            "analyzed_at": m.analyzed_at,
                        }
                        for m in batch.members
                    ],
                )
            entity_rows = [
                {"story_id": s.id, "kind": kind, "name": name}
                for s in batch.stories
                for kind, names in (("topic", s.topics), ("company", s.companies), ("chip", s.chips))
                for name in names
            ]
            if entity_rows:
                conn.execute(insert(story_entities), entity_rows)
            deal_rows = [_deal_values(s.id, i, d) for s in batch.stories for i, d in enumerate(s.deals)]
            if deal_rows:
                conn.execute(insert(deals), deal_rows)
            if batch.passages:
                from bot.store.search_sql import index_articles_in  # search_sql imports this module

                index_articles_in(conn, batch.passages)

    @staticmethod
    def _member_counts(conn: Connection, batch: AnalysisBatch) -> dict[int, int]:
        ids = [s.id for s in batch.stories]
        counts: dict[int, int] = {}
        for part in chunks(ids):
            query = (
                select(story_members.c.story_id, func.count())
                .where(story_members.c.story_id.in_(part))
                .group_by(story_members.c.story_id)
            )
            counts.update({sid: int(n) for sid, n in conn.execute(query)})
        for m in batch.members:
            counts[m.story_id] = counts.get(m.story_id, 0) + 1
        return counts

    def reset_analysis(self) -> None:
        """Delete every story, membership, entity row and deal."""
        with self.engine.begin() as conn:
            for table in (deals, story_entities, story_members, stories):
                conn.execute(delete(table))

    def count_stories(self) -> int:
        """How many stories are stored."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(stories)).scalar() or 0)

    # -- reading -----------------------------------------------------------------

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
        """Stories seen at or after ``since`` (or updated with new facts since), matching
        every filter given, with deals and sources."""
        query = select(stories)
        if since is not None:
            # seen since then, or given new facts since then (an "updated" story is news
            # again even when its articles are older)
            query = query.where(
                or_(
                    stories.c.seen_at >= since,
                    and_(stories.c.state == "updated", stories.c.updated_at >= since),
                )
            )
        for kind, name in (("topic", topic), ("company", company), ("chip", chip)):
            if name is not None:
                query = query.where(
                    exists().where(
                        and_(
                            story_entities.c.story_id == stories.c.id,
                            story_entities.c.kind == kind,
                            func.lower(story_entities.c.name) == name.lower(),
                        )
                    )
                )
        if any_chip:
            query = query.where(
                exists().where(
                    and_(story_entities.c.story_id == stories.c.id, story_entities.c.kind == "chip")
                )
            )
        with self.engine.connect() as conn:
            rows: list[Any]
            if story_ids is not None:
                rows = []
                for part in chunks(list(story_ids)):
                    rows.extend(r._mapping for r in conn.execute(query.where(stories.c.id.in_(part))))
            else:
                rows = [r._mapping for r in conn.execute(query)]
            ids = [r["id"] for r in rows]
            story_deals = self._deals_for(conn, ids)
            sources = self._sources_for(conn, ids)
        return [
            StoryRecord(
                id=r["id"],
                headline=r["headline"],
                first_seen=r["first_seen"],
                last_seen=r["last_seen"],
                state=r["state"],
                created_at=r["created_at"],
                updated_at=r["updated_at"],
                topics=tuple(r["topics"]),
                companies=tuple(r["companies"]),
                chips=tuple(r["chips"]),
                deals=tuple(story_deals.get(r["id"], ())),
                sources=tuple(sources.get(r["id"], ())),
                chip_roles={k: tuple(v) for k, v in (r["chip_roles"] or {}).items()},
            )
            for r in rows
        ]

    def member_reasons(self, story_id: int) -> list[tuple[int, str]]:
        """(article id, why it joined) for each member of a story, in join order."""
        query = (
            select(story_members.c.article_id, story_members.c.reason)
            .where(story_members.c.story_id == story_id)
            .order_by(story_members.c.position)
        )
        with self.engine.connect() as conn:
            return [(int(a), str(r)) for a, r in conn.execute(query)]

    @staticmethod
    def _deals_for(conn: Connection, ids: list[int]) -> dict[int, list[StoryDeal]]:
        out: dict[int, list[tuple[int, StoryDeal]]] = {}
        for part in chunks(ids):
            for r in conn.execute(select(deals).where(deals.c.story_id.in_(part))):
                m = r._mapping
                out.setdefault(m["story_id"], []).append((m["position"], _deal(m)))
        return {sid: [d for _, d in sorted(items, key=lambda x: x[0])] for sid, items in out.items()}

    @staticmethod
    def _sources_for(conn: Connection, ids: list[int]) -> dict[int, list[SourceRef]]:
        query = (
            select(
                story_members.c.story_id,
                articles.c.id,
                articles.c.url,
                articles.c.title,
                articles.c.published,
                articles.c.fetched_at,
                feeds.c.title.label("feed_title"),
            )
            .join(articles, articles.c.id == story_members.c.article_id)
            .outerjoin(feeds, feeds.c.id == articles.c.feed_id)
        )
        out: dict[int, list[tuple[Any, SourceRef]]] = {}
        for part in chunks(ids):
            for r in conn.execute(query.where(story_members.c.story_id.in_(part))):
                m = r._mapping
                ref = SourceRef(
                    m["id"], m["url"], m["title"], outlet_name(m["feed_title"], m["url"]), m["published"]
                )
                out.setdefault(m["story_id"], []).append(((m["published"] or m["fetched_at"], m["id"]), ref))
        return {sid: [ref for _, ref in sorted(items, key=lambda x: x[0])] for sid, items in out.items()}

    def sources_by_id(self, article_ids: Sequence[int]) -> dict[int, SourceRef]:
        """Source references for the given article ids."""
        query = select(
            articles.c.id,
            articles.c.url,
            articles.c.title,
            articles.c.published,
            feeds.c.title.label("feed_title"),
        ).outerjoin(feeds, feeds.c.id == articles.c.feed_id)
        out: dict[int, SourceRef] = {}
        with self.engine.connect() as conn:
            for part in chunks(list(article_ids)):
                for r in conn.execute(query.where(articles.c.id.in_(part))):
                    m = r._mapping
                    out[m["id"]] = SourceRef(
                        m["id"], m["url"], m["title"], outlet_name(m["feed_title"], m["url"]), m["published"]
                    )
        return out
