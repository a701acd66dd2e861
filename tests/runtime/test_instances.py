"""`briefbot run` processes on one PostgreSQL: a SIGKILL between claim and post, and two instances.

Each process records every post its publisher accepted in a shared log
(``BRIEFBOT_TEST_PUBLISH_LOG``), so "exactly once" is counted across processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

import pytest

from bot.config import Settings
from bot.core.delivery import POSTED
from bot.runtime.scheduler import CRASH_AFTER_CLAIM, LAST_RUN, PUBLISH_LOG
from bot.runtime.wiring import build
from tests.cli.test_console import TPU_NEWS
from tests.cli.test_story_commands import rss
from tests.support.feedserver import FeedServer

HEADER = "# AI infrastructure briefing"
pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)


@pytest.fixture
def publish_log(env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The shared record of posts; small intervals; one parse worker (no orphans after a SIGKILL)."""
    path = tmp_path / "published.log"
    path.touch()
    monkeypatch.setenv(PUBLISH_LOG, str(path))
    monkeypatch.setenv("BRIEFBOT_LEADER_RETRY", "1")
    monkeypatch.setenv("BRIEFBOT_PARSE_WORKERS", "1")
    monkeypatch.delenv(CRASH_AFTER_CLAIM, raising=False)
    return path


def _add_due_channel(channel_id: str) -> None:
    """A console channel whose daily slot was a minute ago and whose last run was an hour ago."""
    now = datetime.now(UTC)
    built = build(Settings.load())
    try:
        slot = (now - timedelta(minutes=1)).strftime("%H:%M")
        built.service.set_channel("console", channel_id, at=slot, tz="UTC", days="daily")
        built.store.set_meta(LAST_RUN + f"console:{channel_id}", (now - timedelta(hours=1)).isoformat())
    finally:
        asyncio.run(built.aclose())


@pytest.fixture
def news(publish_log: Path, feed_server: FeedServer) -> None:
    """A feed with stories to brief, and the due console channel ``one``."""
    feed_server.feed("/tpu.xml", rss("TPU Wire", TPU_NEWS))
    built = build(Settings.load())
    try:
        built.service.add_feed(feed_server.url("/tpu.xml"))
    finally:
        asyncio.run(built.aclose())
    _add_due_channel("one")


def _posts(log: Path) -> list[tuple[str, int]]:
    """(key, pid) of every post recorded so far."""
    lines = log.read_text(encoding="utf-8").splitlines()
    return [(parts[0], int(parts[2])) for parts in (line.split() for line in lines)]


def _wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _delivery_state(key: str) -> str | None:
    built = build(Settings.load())
    try:
        row = built.store.get_delivery(key)
        return row.state if row else None
    finally:
        asyncio.run(built.aclose())


class Instance:
    """A ``briefbot run`` process whose standard input stays open until :meth:`stop`."""

    def __init__(self, tmp_path: Path, name: str, extra_env: dict[str, str] | None = None) -> None:
        self.out = tmp_path / f"{name}.out"
        self.err = tmp_path / f"{name}.err"
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot", "run", "--limit", "0"],
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=err,
                cwd=tmp_path,
                env=dict(os.environ) | (extra_env or {}),
            )
        self.stdin: IO[bytes] | None = self.proc.stdin

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        return self.out.read_text(encoding="utf-8", errors="replace")

    def stderr(self) -> str:
        return self.err.read_text(encoding="utf-8", errors="replace")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int:
        """End the input (the console exits 0 at its end), or kill the process if it hangs."""
        if self.stdin is not None and not self.stdin.closed:
            with contextlib.suppress(OSError):  # the process may be gone already
                self.stdin.close()
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.kill()
            return -9


@pytest.fixture
def instances(tmp_path: Path) -> Iterator[Callable[..., Instance]]:
    started: list[Instance] = []

    def start(name: str, extra_env: dict[str, str] | None = None) -> Instance:
        instance = Instance(tmp_path, name, extra_env)
        started.append(instance)
        return instance

    yield start
    for instance in started:
        if instance.proc.poll() is None:
            instance.kill()
        if instance.stdin is not None:
            instance.stdin.close()


def test_a_run_killed_between_claim_and_post_posts_the_digest_once_after_restart(
    news: None, publish_log: Path, instances: Callable[..., Instance]
) -> None:
    crashing = instances("crashing", {CRASH_AFTER_CLAIM: "1"})
    assert crashing.proc.wait(60) == -signal.SIGKILL, crashing.stderr()
    assert _posts(publish_log) == [] and HEADER not in crashing.output()
    restarted = instances("restarted")
    assert restarted.stop() == 0, restarted.stderr()
    posts = _posts(publish_log)
    assert len(posts) == 1 and posts[0][0].startswith("digest:console:one:"), posts
    assert restarted.output().count(HEADER) == 1 and "Ironwood" in restarted.output()
    assert _delivery_state(posts[0][0]) == POSTED
    again = instances("again")
    assert again.stop() == 0
    assert len(_posts(publish_log)) == 1 and HEADER not in again.output()


def test_two_instances_post_each_digest_once_and_the_second_takes_over(
    news: None, publish_log: Path, instances: Callable[..., Instance]
) -> None:
    first, second = instances("first"), instances("second")
    _wait_for(lambda: len(_posts(publish_log)) >= 1, 30, "the first digest")
    time.sleep(2.5)  # the standby retries every second: it must not post it again
    posts = _posts(publish_log)
    assert len(posts) == 1 and posts[0][0].startswith("digest:console:one:"), posts
    leader, standby = (first, second) if posts[0][1] == first.pid else (second, first)
    assert posts[0][1] == leader.pid
    assert "another instance runs the scheduled jobs" in standby.stderr()
    assert standby.stdin is not None
    standby.stdin.write(b"subscriptions\n")  # the standby answers commands
    standby.stdin.flush()
    _wait_for(lambda: "You follow nothing" in standby.output(), 10, "the standby's answer")

    _add_due_channel("two")  # due now, but the leader runs no start-up again: nothing posts it
    time.sleep(1.5)
    assert len(_posts(publish_log)) == 1
    leader.kill()
    _wait_for(lambda: len(_posts(publish_log)) >= 2, 15, "the takeover")
    time.sleep(1.5)
    posts = _posts(publish_log)
    assert len(posts) == 2 and posts[1][0].startswith("digest:console:two:"), posts
    assert posts[1][1] == standby.pid
    assert standby.output().count(HEADER) == 1
    assert [_delivery_state(key) for key, _ in posts] == [POSTED, POSTED]
    assert standby.stop() == 0, standby.stderr()
    assert "Traceback" not in standby.stderr()
