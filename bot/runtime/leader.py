"""Which ``briefbot run`` instance runs the jobs: the holder of one lock per database.

Several instances may share a PostgreSQL database; only one of them (the leader) polls
feeds, posts digests and alerts, and does housekeeping, while every instance answers
commands. The lock dies with its holder, which is how another instance takes over:

- PostgreSQL: a session-level ``pg_try_advisory_lock`` on a dedicated connection kept open
  (in autocommit, so it never idles in a transaction). The key is a stable 64-bit number
  derived from ``briefbot-scheduler`` and the connection's schema, so bots in different
  schemas of one database each have their own leader. When the process dies, its
  connection closes and the server releases the lock.
- SQLite: an exclusive ``flock`` on ``<database file>.lock``, released by the operating
  system when the process dies. An in-memory database (or a system without ``fcntl``) has
  one process by definition: the lock is always granted.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import IO, Protocol

from sqlalchemy import Connection, Engine, text

log = logging.getLogger(__name__)

LOCK_NAME = "briefbot-scheduler"


def lock_key(schema: str) -> int:
    """The advisory lock key: a signed 64-bit number stable across runs and Python versions."""
    digest = hashlib.sha256(f"{LOCK_NAME}:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class Leader(Protocol):
    """The scheduler lock of one database."""

    @property
    def held(self) -> bool:
        """True while this process holds the lock (as far as it last knew)."""
        ...

    def try_acquire(self) -> bool:
        """Take the lock if free (never waits); True when this process holds it now."""
        ...

    def check(self) -> bool:
        """Whether the lock is still held (False once its connection is lost); updates ``held``."""
        ...

    def release(self) -> None:
        """Give the lock up (idempotent)."""
        ...


def leader_for(engine: Engine) -> Leader:
    """The lock for the database ``engine`` opens: advisory on PostgreSQL, a lock file on SQLite."""
    if engine.dialect.name == "postgresql":
        return PgLeader(engine)
    database = engine.url.database
    if engine.dialect.name == "sqlite" and database and database != ":memory:":
        return FileLeader(Path(database + ".lock"))
    return AlwaysLeader()


class PgLeader:
    """``pg_try_advisory_lock`` held by a dedicated connection of ``engine``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._conn: Connection | None = None
        self._held = False

    @property
    def held(self) -> bool:
        return self._held

    def try_acquire(self) -> bool:
        if self._held:
            return True
        try:
            if self._conn is None:
                self._conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            schema = self._conn.execute(text("SELECT current_schema()")).scalar_one()
            got = self._conn.execute(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": lock_key(str(schema))}
            ).scalar_one()
        except Exception as exc:  # the database is unreachable for now: try again later
            log.warning("cannot ask for the scheduler lock: %s", (str(exc).splitlines() or [repr(exc)])[0])
            self._close()
            return False
        self._held = bool(got)
        if not self._held:  # keep no idle connection while another instance leads
            self._close()
        return self._held

    def check(self) -> bool:
        if not self._held or self._conn is None:
            self._held = False
            return False
        try:
            self._conn.execute(text("SELECT 1")).scalar_one()
        except Exception:  # the session, and with it the lock, is gone
            log.warning("lost the connection holding the scheduler lock")
            self._held = False
            self._close()
        return self._held

    def release(self) -> None:
        self._held = False
        self._close()  # closing the session releases its advisory locks

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.invalidate()  # never back to the pool: the lock must end with the session
                conn.close()
            except Exception:
                log.debug("closing the scheduler lock connection failed", exc_info=True)


class FileLeader:
    """An exclusive, non-blocking ``flock`` on a file next to the SQLite database."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[bytes] | None = None

    @property
    def held(self) -> bool:
        return self._file is not None

    def try_acquire(self) -> bool:
        if self._file is not None:
            return True
        try:
            import fcntl
        except ImportError:  # no flock here (Windows): one instance is all SQLite supports anyway
            self._file = open(self.path, "ab")  # noqa: SIM115  (held open while leading)
            return True
        handle = open(self.path, "ab")  # noqa: SIM115  (held open while leading)
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._file = handle
        return True

    def check(self) -> bool:
        return self.held

    def release(self) -> None:
        handle, self._file = self._file, None
        if handle is not None:
            handle.close()  # closing the descriptor drops the flock


class AlwaysLeader:
    """No lock to take (an in-memory database): this process always leads."""

    held = True

    def try_acquire(self) -> bool:
        return True

    def check(self) -> bool:
        return True

    def release(self) -> None:
        return None
