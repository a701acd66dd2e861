"""Prometheus metrics and health facts, read from the database on each request.

Nothing is counted in process: every number comes from the tables (feeds, articles,
stories, ``llm_calls``, ``deliveries``), so any instance of briefbot can serve
``/metrics`` and ``briefbot doctor`` reads the same facts. SQLAlchemy Core only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, inspect, select

from bot.core.delivery import CLAIMED, FAILED, POSTED
from bot.core.models import FeedStatus
from bot.store import schema
from bot.store.migrations import MIGRATIONS

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATEST_SCHEMA = MIGRATIONS[-1][0]


def _escape(value: str) -> str:
    """A label value as the text format wants it: backslash, quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class _Writer:
    """Collects metric families in the Prometheus text exposition format (0.0.4)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(
        self, name: str, kind: str, help_text: str, samples: Iterable[tuple[dict[str, str], float]]
    ) -> None:
        """One metric with its HELP and TYPE lines and one line per sample."""
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            label_text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
            number = (
                repr(float(value)) if isinstance(value, float) and not value.is_integer() else str(int(value))
            )
            self.lines.append(f"{name}{{{label_text}}} {number}" if label_text else f"{name} {number}")

    def text(self) -> str:
        """The whole exposition, ending in a newline."""
        return "\n".join(self.lines) + "\n"


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def job_lag_seconds(engine: Engine, now: datetime) -> float:
    """Seconds the oldest overdue enabled feed has waited past its ``next_fetch``; 0 when none."""
    feeds = schema.feeds
    with engine.connect() as conn:
        oldest = conn.execute(
            select(func.min(feeds.c.next_fetch)).where(
                feeds.c.enabled.is_(True),
                feeds.c.status != FeedStatus.DISABLED.value,
                feeds.c.next_fetch.is_not(None),
                feeds.c.next_fetch <= now,
            )
        ).scalar()
    if oldest is None:
        return 0.0
    return max(0.0, (now - _aware(oldest)).total_seconds())


def render_metrics(engine: Engine, now: datetime | None = None) -> str:
    """Every briefbot metric as Prometheus text, computed from the database now."""
    now = now or datetime.now(UTC)
    feeds, articles, calls, deliveries = schema.feeds, schema.articles, schema.llm_calls, schema.deliveries
    day_ago = now - timedelta(hours=24)
    with engine.connect() as conn:
        by_status = {status.value: 0 for status in FeedStatus}
        for status, count in conn.execute(select(feeds.c.status, func.count()).group_by(feeds.c.status)):
            by_status[str(status)] = int(count)
        failures = conn.execute(select(func.coalesce(func.sum(feeds.c.error_count), 0))).scalar() or 0
        fetched_24h = conn.execute(
            select(func.count()).select_from(feeds).where(feeds.c.last_fetch >= day_ago)
        ).scalar()
        article_count = conn.execute(select(func.count()).select_from(articles)).scalar()
        new_24h = conn.execute(
            select(func.count()).select_from(articles).where(articles.c.fetched_at >= day_ago)
        ).scalar()
        story_count = conn.execute(select(func.count()).select_from(schema.stories)).scalar()
        call_rows = conn.execute(select(calls.c.status, func.count()).group_by(calls.c.status)).all()
        tokens = conn.execute(
            select(
                func.coalesce(func.sum(calls.c.input_tokens), 0),
                func.coalesce(func.sum(calls.c.output_tokens), 0),
            )
        ).one()
        by_state = {CLAIMED: 0, POSTED: 0, FAILED: 0}
        for state, count in conn.execute(
            select(deliveries.c.state, func.count()).group_by(deliveries.c.state)
        ):
            by_state[str(state)] = int(count)
    lag = job_lag_seconds(engine, now)

    out = _Writer()
    out.family(
        "briefbot_feeds",
        "gauge",
        "Feeds by health status.",
        (({"status": s}, n) for s, n in by_status.items()),
    )
    out.family(
        "briefbot_feed_failures_total",
        "gauge",  # consecutive failures: back to 0 when a feed recovers
        "Consecutive fetch failures, summed over all feeds.",
        [({}, failures)],
    )
    out.family(
        "briefbot_feeds_fetched_24h", "gauge", "Feeds fetched in the last 24 hours.", [({}, fetched_24h or 0)]
    )
    out.family("briefbot_articles_total", "counter", "Articles stored.", [({}, article_count or 0)])
    out.family(
        "briefbot_articles_new_24h", "gauge", "Articles fetched in the last 24 hours.", [({}, new_24h or 0)]
    )
    out.family("briefbot_stories_total", "counter", "Stories clustered.", [({}, story_count or 0)])
    out.family(
        "briefbot_llm_calls_total",
        "counter",
        "Language model calls by logged status.",
        [({"status": str(status)}, count) for status, count in call_rows] or [({"status": "ok"}, 0)],
    )
    out.family(
        "briefbot_llm_tokens_total",
        "counter",
        "Language model tokens as reported by the endpoint.",
        [({"direction": "input"}, tokens[0] or 0), ({"direction": "output"}, tokens[1] or 0)],
    )
    out.family(
        "briefbot_deliveries_total",
        "gauge",  # rows move from claimed to posted or failed
        "Outbox deliveries by state.",
        (({"state": s}, n) for s, n in by_state.items()),
    )
    out.family(
        "briefbot_job_lag_seconds",
        "gauge",
        "Seconds the most overdue feed has waited past its next fetch (0 when none is overdue).",
        [({}, round(lag, 3))],
    )
    return out.text()


# ---- facts for `briefbot doctor` ---------------------------------------------------------


def schema_version(engine: Engine) -> int | None:
    """The database's schema version, or None when briefbot never created its tables there."""
    if not inspect(engine).has_table(schema.schema_version.name):
        return None
    with engine.connect() as conn:
        return int(conn.execute(select(func.max(schema.schema_version.c.version))).scalar() or 0)


@dataclass(frozen=True)
class FeedProblem:
    """A feed that is failing or disabled, with its last error."""

    name: str
    status: str
    error_count: int
    last_error: str | None


def feed_problems(engine: Engine) -> tuple[int, list[FeedProblem]]:
    """How many feeds there are, and those failing or disabled (most errors first)."""
    feeds = schema.feeds
    with engine.connect() as conn:
        total = int(conn.execute(select(func.count()).select_from(feeds)).scalar() or 0)
        rows = conn.execute(
            select(feeds.c.title, feeds.c.url, feeds.c.status, feeds.c.error_count, feeds.c.last_error)
            .where(feeds.c.status.in_([FeedStatus.FAILING.value, FeedStatus.DISABLED.value]))
            .order_by(feeds.c.error_count.desc(), feeds.c.id)
        ).all()
    problems = [
        FeedProblem(
            name=r.title or r.url,
            status=str(r.status),
            error_count=int(r.error_count),
            last_error=r.last_error,
        )
        for r in rows
    ]
    return total, problems


@dataclass(frozen=True)
class DeliveryProblems:
    """Outbox rows that failed, and rows claimed long ago and never confirmed."""

    failed: int
    last_error: str | None
    stuck: int
    oldest_stuck: datetime | None


def delivery_problems(engine: Engine, now: datetime, stuck_after: timedelta) -> DeliveryProblems:
    """Failed deliveries (with the newest error) and claims older than ``stuck_after``."""
    d = schema.deliveries
    with engine.connect() as conn:
        failed = int(
            conn.execute(select(func.count()).select_from(d).where(d.c.state == FAILED)).scalar() or 0
        )
        last_error = conn.execute(
            select(d.c.error)
            .where(d.c.state == FAILED)
            .order_by(d.c.claimed_at.desc(), d.c.id.desc())
            .limit(1)
        ).scalar()
        stuck_row = conn.execute(
            select(func.count(), func.min(d.c.claimed_at)).where(
                d.c.state == CLAIMED, d.c.claimed_at <= now - stuck_after
            )
        ).one()
    oldest = stuck_row[1]
    return DeliveryProblems(
        failed=failed,
        last_error=last_error,
        stuck=int(stuck_row[0] or 0),
        oldest_stuck=_aware(oldest) if oldest is not None else None,
    )
