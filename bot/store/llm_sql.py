"""The LlmStore half of SqlStore: the model call log (usage, budgets) and the response cache."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Engine, case, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from bot.llm import EMBEDDINGS_PROMPT, LlmCall, UsageRow
from bot.store.schema import llm_cache, llm_calls, metadata


def create_llm(conn: Connection) -> None:
    """Migration 5: the llm_calls log and the llm_cache table."""
    metadata.create_all(conn, tables=[llm_calls, llm_cache])


class LlmSql:
    """Mixin for SqlStore (which provides ``engine``): implements ``bot.llm.LlmStore``."""

    engine: Engine

    # -- call log --------------------------------------------------------------

    def log_llm_call(self, call: LlmCall) -> None:
        """Append one model call to the log."""
        with self.engine.begin() as conn:
            conn.execute(
                insert(llm_calls).values(
                    at=call.at,
                    prompt=call.prompt[:100],
                    version=call.version[:50],
                    model=call.model[:200],
                    input_tokens=call.input_tokens,
                    output_tokens=call.output_tokens,
                    duration_ms=call.duration_ms,
                    cache_hit=call.cache_hit,
                    attempts=call.attempts,
                    status=call.status,
                )
            )

    def list_llm_calls(self, since: datetime | None = None) -> list[LlmCall]:
        """Logged calls at or after ``since`` (all with None), oldest first."""
        query = select(llm_calls).order_by(llm_calls.c.id)
        if since is not None:
            query = query.where(llm_calls.c.at >= since)
        with self.engine.connect() as conn:
            rows = [r._mapping for r in conn.execute(query)]
        return [
            LlmCall(
                at=r["at"],
                prompt=r["prompt"],
                version=r["version"],
                model=r["model"],
                input_tokens=r["input_tokens"],
                output_tokens=r["output_tokens"],
                duration_ms=r["duration_ms"],
                cache_hit=bool(r["cache_hit"]),
                status=r["status"],
                attempts=r["attempts"],
            )
            for r in rows
        ]

    def tokens_used_since(self, since: datetime) -> int:
        """Chat tokens (input + output, embeddings excluded) logged at or after ``since``."""
        query = select(
            func.coalesce(func.sum(llm_calls.c.input_tokens + llm_calls.c.output_tokens), 0)
        ).where(llm_calls.c.at >= since, llm_calls.c.prompt != EMBEDDINGS_PROMPT)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar() or 0)

    def llm_usage(self, since: datetime | None = None) -> list[UsageRow]:
        """Calls, cache hits and tokens per UTC day at or after ``since``, oldest day first."""
        day = func.date(llm_calls.c.at)
        embedding = llm_calls.c.prompt == EMBEDDINGS_PROMPT

        def chat(column: Any) -> Any:
            return func.sum(case((embedding, 0), else_=column))

        query = select(
            day.label("day"),
            func.count().label("calls"),
            func.sum(case((llm_calls.c.cache_hit, 1), else_=0)).label("cache_hits"),
            chat(llm_calls.c.input_tokens).label("input_tokens"),
            chat(llm_calls.c.output_tokens).label("output_tokens"),
            func.sum(case((embedding, llm_calls.c.input_tokens), else_=0)).label("embedding_tokens"),
        ).group_by(day)
        if since is not None:
            query = query.where(llm_calls.c.at >= since)
        with self.engine.connect() as conn:
            rows = [r._mapping for r in conn.execute(query)]
        usage = [
            UsageRow(
                day=_as_date(r["day"]),
                calls=int(r["calls"]),
                cache_hits=int(r["cache_hits"] or 0),
                input_tokens=int(r["input_tokens"] or 0),
                output_tokens=int(r["output_tokens"] or 0),
                embedding_tokens=int(r["embedding_tokens"] or 0),
            )
            for r in rows
        ]
        return sorted(usage, key=lambda u: u.day)

    # -- response cache --------------------------------------------------------

    def cache_get(self, key: str) -> dict[str, Any] | None:
        """The cached reply for ``key``, or None."""
        with self.engine.connect() as conn:
            data = conn.execute(select(llm_cache.c.data).where(llm_cache.c.key == key)).scalar()
        return data if isinstance(data, dict) else None

    def cache_put(
        self, key: str, model: str, prompt: str, version: str, data: dict[str, Any], *, now: datetime
    ) -> None:
        """Store a validated reply under ``key``, replacing any older one."""
        values = {"model": model, "prompt": prompt, "version": version, "data": data, "created_at": now}
        try:
            with self.engine.begin() as conn:
                if conn.execute(update(llm_cache).where(llm_cache.c.key == key).values(**values)).rowcount:
                    return
                conn.execute(insert(llm_cache).values(key=key, **values))
        except IntegrityError:
            pass  # stored concurrently by another instance: the same request gave a valid reply


def _as_date(value: Any) -> date:
    """``date(at)`` comes back as a string on SQLite and a date on PostgreSQL."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])
