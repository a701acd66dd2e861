"""The VectorStore half of SqlStore: one float32 vector per passage and embeddings model."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, Engine, and_, delete, insert, literal, select, union_all

from bot.core.search import SearchHit
from bot.store.schema import metadata, passage_vectors, passages


def create_vectors(conn: Connection) -> None:
    """Migration 8: the passage_vectors table."""
    metadata.create_all(conn, tables=[passage_vectors])


class VectorSql:
    """Mixin for SqlStore (which provides ``engine``): implements ``VectorStore``."""

    engine: Engine

    def passages_without_vectors(self, model: str, limit: int) -> list[tuple[int, str]]:
        """(passage id, text) of passages with no vector for ``model``, newest first."""
        missing = (
            select(passages.c.id, passages.c.text)
            .outerjoin(
                passage_vectors,
                and_(passage_vectors.c.passage_id == passages.c.id, passage_vectors.c.model == model),
            )
            .where(passage_vectors.c.passage_id.is_(None))
            .order_by(passages.c.id.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [(int(pid), str(text)) for pid, text in conn.execute(missing)]

    def save_vectors(self, model: str, items: Sequence[tuple[int, bytes]]) -> None:
        """Store vectors (replacing any for the same passage and model), in one transaction."""
        if not items:
            return
        with self.engine.begin() as conn:
            ids = [pid for pid, _ in items]
            conn.execute(
                delete(passage_vectors).where(
                    passage_vectors.c.model == model, passage_vectors.c.passage_id.in_(ids)
                )
            )
            conn.execute(
                insert(passage_vectors),
                [{"passage_id": pid, "model": model, "vector": data} for pid, data in items],
            )

    def load_vectors(self, model: str, after_id: int, limit: int) -> list[tuple[int, bytes]]:
        """Vectors of passages with id > ``after_id``, oldest first."""
        query = (
            select(passage_vectors.c.passage_id, passage_vectors.c.vector)
            .where(passage_vectors.c.model == model, passage_vectors.c.passage_id > after_id)
            .order_by(passage_vectors.c.passage_id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [(int(pid), bytes(data)) for pid, data in conn.execute(query)]

    def hits_for_passages(self, ranked: Sequence[tuple[int, float]]) -> list[SearchHit]:
        """Search hits for (passage id, score) pairs, in the given order (missing ids skipped)."""
        from bot.store.search_sql import _hit, _hydrate  # search_sql imports the store modules

        if not ranked:
            return []
        rows = union_all(
            *(select(literal(pid).label("pid"), literal(score).label("score")) for pid, score in ranked)
        )
        order = {pid: i for i, (pid, _) in enumerate(ranked)}
        with self.engine.connect() as conn:
            found = [r._mapping for r in conn.execute(_hydrate(rows.subquery(), best_first_ascending=False))]
        found.sort(key=lambda m: order[m["passage_id"]])
        return [_hit(m, float(m["score"])) for m in found]
