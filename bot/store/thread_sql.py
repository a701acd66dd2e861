"""The ThreadStore half of SqlStore: conversation turns keyed by the platform's thread id."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, Engine, insert, select

from bot.core.ask import Turn
from bot.store.schema import metadata, thread_turns


def create_threads(conn: Connection) -> None:
    """Migration 4: the thread_turns table."""
    metadata.create_all(conn, tables=[thread_turns])


class ThreadSql:
    """Mixin for SqlStore (which provides ``engine``): implements ``ThreadStore``."""

    engine: Engine

    def thread_turns(self, thread_id: str, limit: int = 20) -> list[Turn]:
        """The thread's last ``limit`` turns, oldest first."""
        query = (
            select(thread_turns)
            .where(thread_turns.c.thread_id == thread_id)
            .order_by(thread_turns.c.id.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            rows = [r._mapping for r in conn.execute(query)]
        return [Turn(r["role"], r["text"], tuple(r["entities"]), r["at"]) for r in reversed(rows)]

    def add_turns(self, thread_id: str, turns: Sequence[Turn]) -> None:
        """Append turns to a thread, in one transaction."""
        if not turns:
            return
        with self.engine.begin() as conn:
            conn.execute(
                insert(thread_turns),
                [
                    {
                        "thread_id": thread_id,
                        "role": t.role,
                        "text": t.text,
                        "entities": list(t.entities),
                        "at": t.at,
                    }
                    for t in turns
                ],
            )
