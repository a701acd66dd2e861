"""Shared fixtures: databases on both backends, settings pointing at them, local servers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.store import SqlStore, open_engine
from tests.support.databases import database_url

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database URL, once for SQLite and once for PostgreSQL."""
    with database_url(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def store(db_url: str) -> Iterator[SqlStore]:
    """A migrated, empty store on each backend."""
    engine = open_engine(db_url)
    yield SqlStore(engine)
    engine.dispose()


@pytest.fixture
def env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment for running briefbot commands against the test database and loopback feeds."""
    values = {
        "BRIEFBOT_DATABASE_URL": db_url,
        "BRIEFBOT_DATA_DIR": str(tmp_path / "data"),
        "BRIEFBOT_ALLOW_PRIVATE_FEEDS": "true",
        "BRIEFBOT_LOAD_DEFAULT_FEEDS": "false",
        "BRIEFBOT_PARSE_WORKERS": "2",
    }
    for key in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "SLACK_BOT_TOKEN", "DISCORD_TOKEN", "BRIEFBOT_CONFIG"):
        monkeypatch.delenv(key, raising=False)
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    return values


from tests.support.fixtures import feed_server  # noqa: E402,F401  (fixture re-export)
