"""Opening the database: SQLite in WAL mode or PostgreSQL, then migrations."""

from __future__ import annotations

import os
import weakref
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import ConnectionPoolEntry

from bot.errors import StoreError
from bot.store.migrations import migrate

_engines: weakref.WeakSet[Engine] = weakref.WeakSet()


def _forget_inherited_connections() -> None:
    """In a forked child, drop the parent's pooled connections without closing them.

    Closing them would end the parent's PostgreSQL sessions (the socket is shared) or
    touch its SQLite handles; the child opens connections of its own when it needs them.
    """
    for engine in list(_engines):
        engine.dispose(close=False)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_inherited_connections)


def _sqlite_pragmas(dbapi_conn: Any, _record: ConnectionPoolEntry) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def open_engine(url: str, *, run_migrations: bool = True) -> Engine:
    """Create an engine for ``url`` (creating the SQLite directory) and migrate it."""
    try:
        if url.startswith("sqlite"):
            path = url.split("///", 1)[1] if "///" in url else ""
            if path and path != ":memory:":
                Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, connect_args={"timeout": 10})
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)
        if run_migrations:
            migrate(engine)
        _engines.add(engine)
        return engine
    except StoreError:
        raise
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise StoreError(f"cannot open the database {_redact(url)}: {reason}") from None
    except OSError as exc:
        raise StoreError(f"cannot open the database {_redact(url)}: {exc}") from None


def _redact(url: str) -> str:
    """Hide a password in a database URL before it is shown."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}" if ":" in creds else url
    return url
