"""Locks across processes: the analysis lock, and SQLite writers taking turns (write_turn).

The analysis lock: one analyser per database at a time, across threads and processes.

Story ids come from a counter the analyser reads at its start (``next_story_id``), so two
analysers on one database at once (``briefbot run``'s polling job and a user's
``briefbot analyze``, or two instances) would hand out the same ids. The lock makes them
take turns; the second waits for the first, then sees its stories.

- PostgreSQL: ``pg_advisory_lock`` on a dedicated autocommit connection, released by
  ``pg_advisory_unlock`` (or by the server when the session ends with its process).
- SQLite: an exclusive ``flock`` on ``<database file>.analyze.lock``.
- Within one process a ``threading.Lock`` per database is taken first, because an
  advisory lock or a ``flock`` is re-entrant for the session or open file that holds it.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import Engine, text

from bot.errors import StoreError

LOCK_NAME = "briefbot-analysis"

_local_locks: dict[str, threading.Lock] = {}
_local_guard = threading.Lock()


def analysis_lock_key(schema: str) -> int:
    """The advisory lock key of the analyser: a signed 64-bit number stable across runs."""
    digest = hashlib.sha256(f"{LOCK_NAME}:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _local(engine: Engine) -> threading.Lock:
    name = engine.url.render_as_string(hide_password=True)
    with _local_guard:
        return _local_locks.setdefault(name, threading.Lock())


@contextmanager
def analysis_lock(engine: Engine) -> Iterator[None]:
    """Hold the database's analysis lock for the ``with`` block, waiting for it if needed."""
    with _local(engine):
        if engine.dialect.name == "postgresql":
            with _pg_lock(engine):
                yield
            return
        database = engine.url.database
        if engine.dialect.name == "sqlite" and database and database != ":memory:":
            with _file_lock(Path(database + ".analyze.lock")):
                yield
            return
        yield  # an in-memory database lives in this process: the thread lock is enough


@contextmanager
def _pg_lock(engine: Engine) -> Iterator[None]:
    conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        schema = str(conn.execute(text("SELECT current_schema()")).scalar_one())
        key = analysis_lock_key(schema)
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
    finally:
        conn.close()


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # no flock here (Windows): the thread lock is what there is
        yield
        return
    try:
        handle = open(path, "ab")  # noqa: SIM115  (held open while analysing)
    except OSError as exc:
        raise StoreError(f"cannot open the analysis lock {path}: {exc.strerror or exc}") from None
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        yield
    finally:
        handle.close()  # closing the descriptor drops the flock


_turns: dict[tuple[int, str], tuple[threading.Lock, BinaryIO | None]] = {}


@contextmanager
def write_turn(engine: Engine) -> Iterator[None]:
    """Take turns with the other processes writing to the same SQLite file (a no-op elsewhere).

    SQLite has one writer at a time; a writer that finds the database locked polls it,
    sleeping 1, 2, 5, 10 ms and more between tries, so parse workers storing at once lose
    whole milliseconds per transaction waiting for a lock held for less than one. An
    exclusive ``flock`` on ``<database file>.write.lock`` queues them instead: the kernel
    wakes the next one the moment the lock is released. The file is opened once per
    process (a ``flock`` belongs to an open file, which a forked child would share).
    """
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    try:
        import fcntl
    except ImportError:  # no flock here (Windows): SQLite's own locking still holds
        yield
        return
    key = (os.getpid(), database)
    with _local_guard:
        turn = _turns.get(key)
        if turn is None:
            handle: BinaryIO | None
            try:
                handle = open(database + ".write.lock", "ab")  # noqa: SIM115  (kept open)
            except OSError:  # a read-only directory, say: SQLite's own locking still holds
                handle = None
            turn = _turns[key] = (threading.Lock(), handle)
    thread_lock, held = turn
    with thread_lock:  # the flock is shared by this process's threads: they queue here
        if held is None:
            yield
            return
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(held.fileno(), fcntl.LOCK_UN)
