"""The scheduler lock: one holder per database, released when its holder goes away."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from bot.runtime.leader import AlwaysLeader, FileLeader, PgLeader, leader_for, lock_key
from bot.runtime.scheduler import FEEDS_JOB, LEADER_JOB, BotScheduler, Publishers
from bot.store import open_engine
from tests.support.databases import database_url


@pytest.fixture
def pg_url(tmp_path: Path) -> Iterator[str]:
    """A fresh schema on the local PostgreSQL (fails under CI=true when it is missing)."""
    with database_url("postgresql", tmp_path) as url:
        yield url


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[Engine]:
    engine = open_engine(pg_url)
    yield engine
    engine.dispose()


def test_the_lock_key_is_a_stable_signed_64_bit_number() -> None:
    assert lock_key("public") == lock_key("public") != lock_key("other")
    assert -(2**63) <= lock_key("public") < 2**63
    assert lock_key("public") == -1372666780306236714  # derived from "briefbot-scheduler:public"


def test_one_postgresql_holder_at_a_time_and_the_next_takes_over(pg_engine: Engine) -> None:
    first, second = PgLeader(pg_engine), PgLeader(pg_engine)
    assert first.try_acquire() and first.held and first.check()
    assert not second.try_acquire() and not second.held
    assert first.try_acquire()  # asking again while holding keeps it
    first.release()
    assert not first.held
    assert second.try_acquire()
    assert not first.try_acquire()
    second.release()
    second.release()  # idempotent


def test_bots_in_other_schemas_have_their_own_leader(pg_engine: Engine, tmp_path: Path) -> None:
    with database_url("postgresql", tmp_path) as other_url:
        other = open_engine(other_url)
        mine, theirs = PgLeader(pg_engine), PgLeader(other)
        try:
            assert mine.try_acquire() and theirs.try_acquire()
        finally:
            mine.release()
            theirs.release()
            other.dispose()


def test_a_lost_session_loses_the_lock_and_frees_it(pg_engine: Engine) -> None:
    first, second = PgLeader(pg_engine), PgLeader(pg_engine)
    assert first.try_acquire()
    with pg_engine.connect() as conn:  # the server ends the holder's session (a restart, a network cut)
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                "AND objid::bigint = (:key & 4294967295) AND classid::bigint = ((:key >> 32) & 4294967295)"
            ),
            {"key": lock_key(conn.execute(text("SELECT current_schema()")).scalar_one())},
        )
        conn.commit()
    deadline = time.monotonic() + 5
    while first.check() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not first.held
    assert second.try_acquire()
    second.release()


def test_the_sqlite_lock_file_has_one_holder_and_dies_with_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'briefbot.db'}"
    engine = open_engine(url)
    first = leader_for(engine)
    assert isinstance(first, FileLeader) and first.path == tmp_path / "briefbot.db.lock"
    assert first.try_acquire() and first.check()
    second = leader_for(engine)
    assert not second.try_acquire()
    first.release()
    assert not first.held and second.try_acquire()
    second.release()
    holder = subprocess.Popen(  # another process takes the lock, then dies without releasing it
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from bot.runtime.leader import FileLeader; "
            "lock = FileLeader(Path(sys.argv[1])); assert lock.try_acquire(); print('held', flush=True); "
            "time.sleep(60)",
            str(first.path),
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        assert not first.try_acquire()
        holder.kill()
        holder.wait(10)
        assert first.try_acquire()
        first.release()
    finally:
        holder.kill()
        holder.wait(10)
    engine.dispose()


def test_an_in_memory_database_always_leads() -> None:
    engine = open_engine("sqlite://")
    assert isinstance(leader_for(engine), AlwaysLeader)
    engine.dispose()


class FakeLeader:
    """A lock the test hands out and takes back."""

    def __init__(self) -> None:
        self.free = False
        self.held = False

    def try_acquire(self) -> bool:
        self.held = self.held or self.free
        return self.held

    def check(self) -> bool:
        self.held = self.held and self.free
        return self.held

    def release(self) -> None:
        self.held = False


def test_a_standby_runs_no_jobs_until_it_takes_the_lock(tmp_path: Path) -> None:
    from bot.config import Settings
    from bot.runtime.wiring import build

    url = f"sqlite:///{tmp_path / 'briefbot.db'}"
    app = build(Settings(database_url=url, load_default_feeds=False, parse_workers=1))
    leader = FakeLeader()
    jobs = BotScheduler(app, Publishers({}), leader=leader)
    started: list[bool] = []

    async def startup(analysis: object = None) -> None:
        started.append(True)

    jobs.startup = startup  # type: ignore[method-assign]

    async def scenario() -> list[list[str]]:
        seen = []
        jobs.start()
        seen.append(sorted(job.id for job in jobs.scheduler.get_jobs()))
        await jobs.leader_job()  # still taken by another instance
        seen.append(sorted(job.id for job in jobs.scheduler.get_jobs()))
        leader.free = True
        await jobs.leader_job()  # the other instance died: take over
        seen.append(sorted(job.id for job in jobs.scheduler.get_jobs()))
        leader.free = False
        await jobs.leader_job()  # the lock was lost: stop running the jobs
        seen.append(sorted(job.id for job in jobs.scheduler.get_jobs()))
        jobs.shutdown()
        return seen

    try:
        seen = asyncio.run(scenario())
    finally:
        asyncio.run(app.aclose())
    assert seen == [
        [LEADER_JOB],
        [LEADER_JOB],
        [FEEDS_JOB, "housekeeping", LEADER_JOB],
        [LEADER_JOB],
    ]
    assert started == [True]


def test_startup_does_nothing_on_a_standby(tmp_path: Path) -> None:
    from bot.config import Settings
    from bot.runtime.wiring import build

    url = f"sqlite:///{tmp_path / 'briefbot.db'}"
    app = build(Settings(database_url=url, load_default_feeds=False, parse_workers=1))
    jobs = BotScheduler(app, Publishers({}), leader=FakeLeader())

    def fail() -> None:
        raise AssertionError("a standby resolved deliveries")

    jobs.outbox.resolve_unconfirmed = fail  # type: ignore[assignment,method-assign]
    try:
        assert not jobs.leading
        asyncio.run(jobs.startup())
    finally:
        asyncio.run(app.aclose())


def test_a_takeover_whose_start_up_work_fails_still_runs_the_jobs(tmp_path: Path) -> None:
    from bot.config import Settings
    from bot.runtime.wiring import build

    url = f"sqlite:///{tmp_path / 'briefbot.db'}"
    app = build(Settings(database_url=url, load_default_feeds=False, parse_workers=1))
    leader = FakeLeader()
    leader.free = True
    jobs = BotScheduler(app, Publishers({}), leader=leader)

    async def startup(analysis: object = None) -> None:
        raise RuntimeError("database hiccup")

    jobs.startup = startup  # type: ignore[method-assign]

    async def scenario() -> list[str]:
        await jobs.leader_job()
        ids = sorted(job.id for job in jobs.scheduler.get_jobs())
        return ids

    try:
        assert asyncio.run(scenario()) == [FEEDS_JOB, "housekeeping"]
    finally:
        asyncio.run(app.aclose())
