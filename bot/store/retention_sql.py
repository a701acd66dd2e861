"""The retention half of SqlStore: dropping old articles, stories and model calls, and vacuum.

The daily housekeeping job (``bot.runtime.scheduler``) calls :meth:`RetentionSql.prune`
with ``now - BRIEFBOT_RETENTION_DAYS``, then :meth:`RetentionSql.vacuum`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, Engine, delete, exists, func, select
from sqlalchemy.exc import OperationalError

from bot.store.schema import articles, llm_calls, stories, story_members

log = logging.getLogger(__name__)

RETENTION_CHUNK = 1000  # articles deleted per transaction
# The tables that grow with the archive: what PostgreSQL's VACUUM (ANALYZE) is run on.
BIG_TABLES = (
    "articles",
    "feed_items",
    "passages",
    "passage_vectors",
    "story_members",
    "stories",
    "story_entities",
    "deals",
    "llm_calls",
)


class RetentionSql:
    """Mixin for SqlStore (which provides ``engine``): retention and vacuum."""

    engine: Engine

    def prune(self, before: datetime) -> dict[str, int]:
        """Drop what is older than ``before``; counts by kind (articles, stories, llm_calls)."""
        article_count, story_count = self._delete_old_articles(before)
        return {
            "articles": article_count,
            "stories": story_count,
            "llm_calls": self.delete_old_llm_calls(before),
        }

    def delete_old_articles(self, before: datetime) -> int:
        """Delete the articles dated (published, else fetched) before ``before``; returns how many.

        An article of a story seen at or after ``before`` is kept, as are all that story's
        members. Feed items, passages (and their full-text rows and vectors) and story
        memberships go with their article by cascade; stories left without members go too,
        with their entities, deals and briefed marks. Works in transactions of
        :data:`RETENTION_CHUNK` articles, so other writers wait for one chunk at most.
        """
        return self._delete_old_articles(before)[0]

    def _delete_old_articles(self, before: datetime) -> tuple[int, int]:
        dated = func.coalesce(articles.c.published, articles.c.fetched_at)
        recent_story = (
            exists()
            .where(story_members.c.article_id == articles.c.id)
            .where(stories.c.id == story_members.c.story_id)
            .where(stories.c.seen_at >= before)
        )
        deleted_articles = deleted_stories = 0
        last_id = 0
        while True:
            query = (
                select(articles.c.id)
                .where(articles.c.id > last_id, dated < before, ~recent_story)
                .order_by(articles.c.id)
                .limit(RETENTION_CHUNK)
            )
            with self.engine.begin() as conn:
                ids = list(conn.execute(query).scalars())
                if not ids:
                    break
                story_ids = list(
                    conn.execute(
                        select(story_members.c.story_id).where(story_members.c.article_id.in_(ids)).distinct()
                    ).scalars()
                )
                conn.execute(delete(articles).where(articles.c.id.in_(ids)))
                deleted_stories += _delete_empty_stories(conn, story_ids)
            deleted_articles += len(ids)
            last_id = ids[-1]
        return deleted_articles, deleted_stories

    def delete_old_llm_calls(self, before: datetime) -> int:
        """Delete the model call log rows before ``before`` (the response cache stays)."""
        with self.engine.begin() as conn:
            return int(conn.execute(delete(llm_calls).where(llm_calls.c.at < before)).rowcount or 0)

    def vacuum(self) -> None:
        """Give freed space back and refresh planner statistics; a failure is logged, not raised.

        SQLite: ``PRAGMA optimize`` and ``VACUUM`` (which waits for, and may give up on,
        other writers). PostgreSQL: ``VACUUM (ANALYZE)`` of the tables that grow.
        """
        sqlite = self.engine.dialect.name == "sqlite"
        statements = (
            ["PRAGMA optimize", "VACUUM"] if sqlite else [f"VACUUM (ANALYZE) {t}" for t in BIG_TABLES]
        )
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for statement in statements:
                try:
                    conn.exec_driver_sql(statement)
                except OperationalError as exc:
                    reason = str(exc.orig or exc).strip().splitlines()[0]
                    log.warning("%s failed: %s", statement, reason)


def _delete_empty_stories(conn: Connection, story_ids: Sequence[int]) -> int:
    """Delete those of ``story_ids`` that have no member left (cascading to their rows)."""
    if not story_ids:
        return 0
    empty = ~exists().where(story_members.c.story_id == stories.c.id)
    result = conn.execute(delete(stories).where(stories.c.id.in_(story_ids), empty))
    return int(result.rowcount or 0)
