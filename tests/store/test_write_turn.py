"""SQLite writers in different processes (the parse workers) take turns at the write lock."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

from bot.core.models import ParsedEntry
from bot.store import SqlStore, open_engine
from bot.store.locks import write_turn

HOLDER = """
import sys
from bot.store import open_engine
from bot.store.locks import write_turn
engine = open_engine(sys.argv[1])
with write_turn(engine):
    print("held", flush=True)
    sys.stdin.read()  # until the test closes our input
"""

NOW = datetime(2026, 1, 5, tzinfo=UTC)


def test_a_worker_storing_entries_waits_for_the_one_whose_turn_it_is(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'briefbot.db'}"
    store = SqlStore(open_engine(url))
    feed, _ = store.add_feed("https://news.example/rss", topic=None, title=None, now=NOW)
    entry = ParsedEntry(
        item_id="a",
        url="https://news.example/a",
        canonical_url="https://news.example/a",
        title="A",
        text="Text",
        summary="Text",
        published=NOW,
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, url], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        stored: list[int] = []
        writer = threading.Thread(
            target=lambda: stored.append(store.store_entries(feed, [entry], now=NOW, backfill=False))
        )
        writer.start()
        writer.join(0.5)
        assert writer.is_alive() and not stored  # queued behind the other process's turn
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(10)
        writer.join(30)
        assert stored == [1] and store.count_articles() == 1
    finally:
        holder.kill()
        store.engine.dispose()


def test_threads_of_one_process_take_turns_too(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'briefbot.db'}")
    try:
        entered = threading.Event()

        def second() -> None:
            with write_turn(engine):
                entered.set()

        with write_turn(engine):
            worker = threading.Thread(target=second)
            worker.start()
            assert not entered.wait(0.3)
        worker.join(10)
        assert entered.is_set()
    finally:
        engine.dispose()
