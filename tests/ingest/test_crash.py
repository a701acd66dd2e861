"""Nothing is lost: a pass killed mid-way keeps what it committed, and the next pass fetches the rest."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from bot.store import SqlStore, open_engine
from tests.support.feeds import numbered, rss
from tests.support.feedserver import FeedServer


def briefbot(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_killed_pass_loses_nothing_and_duplicates_nothing(
    env: dict[str, str], feed_server: FeedServer
) -> None:
    full_env = {**os.environ, **env}
    urls = []
    for i in range(6):
        # Feeds answer one after another, the last ones only after the kill.
        feed_server.feed(f"/f{i}", rss(numbered(f"f{i}", 5)), delay=0.2 + 1.5 * i)
        urls.append(feed_server.url(f"/f{i}"))
    for url in urls:
        assert briefbot("feeds", "add", url, env=full_env).returncode == 0

    store = SqlStore(open_engine(env["BRIEFBOT_DATABASE_URL"]))
    proc = subprocess.Popen([sys.executable, "-m", "bot", "ingest"], env=full_env)
    deadline = time.monotonic() + 60
    while store.count_articles() < 10 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    committed = store.count_articles()
    assert 10 <= committed < 30, "the kill should land mid-pass"

    for i in range(6):
        feed_server.routes[f"/f{i}"].delay = 0
    finished = briefbot("ingest", "--json", env=full_env)
    assert finished.returncode == 0, finished.stderr
    assert store.count_articles() == 30
    titles = [a.title for a in store.recent_articles(100)]
    assert len(titles) == len(set(titles)) == 30
    # The feeds stored before the kill were not due again: only the rest were fetched.
    assert '"fetched": ' + str(6 - committed // 5) in finished.stdout
    store.engine.dispose()
