"""The daily housekeeping job: retention (``BRIEFBOT_RETENTION_DAYS``) then vacuum, never crashing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.config import Settings
from bot.core.models import ParsedEntry
from bot.errors import ConfigError
from bot.runtime.scheduler import BotScheduler, Publishers
from bot.runtime.wiring import App, build
from bot.store.schema import articles

NOW = datetime(2026, 11, 26, 4, 15, tzinfo=UTC)


class FrozenClock:
    def __init__(self, now: datetime) -> None:
        self.value = now

    def now(self) -> datetime:
        return self.value


def _app(retention_days: int) -> App:
    settings = replace(Settings.load(), retention_days=retention_days)
    app = build(settings, clock=FrozenClock(NOW))  # type: ignore[arg-type]
    feed, _ = app.store.add_feed("https://news.example/feed", topic=None, title="Wire", now=NOW)
    entries = [
        ParsedEntry(
            item_id=key, url=f"https://news.example/{key}", canonical_url=f"https://news.example/{key}",
            title=f"Nvidia ships chips {key}", text="Nvidia shipped chips to datacenters.", summary="Nvidia",
            published=published,
        )
        for key, published in (("old", NOW - timedelta(days=400)), ("new", NOW - timedelta(days=2)))
    ]  # fmt: skip
    app.store.store_entries(feed, entries, now=NOW, backfill=False)
    return app


@pytest.fixture
def apps(env: dict[str, str]) -> Iterator[list[App]]:
    made: list[App] = []
    yield made
    for app in made:
        asyncio.run(app.aclose())


def _articles(app: App) -> int:
    with app.store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(articles)).scalar() or 0)


def test_the_housekeeping_job_deletes_old_articles_and_vacuums(
    apps: list[App], caplog: pytest.LogCaptureFixture
) -> None:
    app = _app(365)
    apps.append(app)
    jobs = BotScheduler(app, Publishers({}))
    with caplog.at_level(logging.INFO, logger="bot.runtime.scheduler"):
        asyncio.run(jobs.housekeeping_job())
    assert _articles(app) == 1
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("housekeeping")]
    assert len(lines) == 1 and "1 articles" in lines[0] and "vacuum took" in lines[0]


def test_retention_zero_keeps_everything(apps: list[App]) -> None:
    app = _app(0)
    apps.append(app)
    assert BotScheduler(app, Publishers({})).housekeeping() == {}
    assert _articles(app) == 2


def test_a_failing_store_is_logged_not_raised(
    apps: list[App], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = _app(365)
    apps.append(app)

    def broken(*_: object) -> None:
        raise RuntimeError("database gone")

    monkeypatch.setattr(app.store, "prune", broken)
    monkeypatch.setattr(app.store, "vacuum", broken)
    asyncio.run(BotScheduler(app, Publishers({})).housekeeping_job())
    failures = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert failures == ["housekeeping: retention failed", "housekeeping: vacuum failed"]


def test_retention_days_setting() -> None:
    assert Settings.load(env={}).retention_days == 365
    assert Settings.load(env={"BRIEFBOT_RETENTION_DAYS": "0"}).retention_days == 0
    assert Settings.load(env={"BRIEFBOT_RETENTION_DAYS": " 30 "}).retention_days == 30
    with pytest.raises(ConfigError, match="BRIEFBOT_RETENTION_DAYS must not be negative"):
        Settings.load(env={"BRIEFBOT_RETENTION_DAYS": "-1"})
    with pytest.raises(ConfigError, match="BRIEFBOT_RETENTION_DAYS must be a whole number"):
        Settings.load(env={"BRIEFBOT_RETENTION_DAYS": "a year"})
