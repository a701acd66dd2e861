"""Database URLs for store tests: a fresh SQLite file, or a fresh schema on the local PostgreSQL.

Under CI=true a PostgreSQL that cannot be reached fails the test; elsewhere it is skipped
with the reason printed.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

PG_ADMIN_URL = os.environ.get("BRIEFBOT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _pg_unavailable(reason: str) -> None:
    message = f"PostgreSQL at {PG_ADMIN_URL} is not reachable: {reason}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def database_url(kind: str, tmp_path: Path) -> Iterator[str]:
    """Yield a database URL of ``kind`` ("sqlite" or "postgresql") that nobody else uses."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'briefbot.db'}"
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    try:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # any failure to reach the server means "not available"
        _pg_unavailable(str(exc).splitlines()[0])
        return
    try:
        yield f"{PG_ADMIN_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
