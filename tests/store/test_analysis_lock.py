"""One analyser per database: a second one waits for the first, across processes."""

from __future__ import annotations

import subprocess
import sys
import threading

from bot.config import Settings
from bot.core.analysis import AnalyzeReport
from bot.runtime.wiring import build

HOLDER = """
import sys
from bot.store import open_engine
from bot.store.locks import analysis_lock
engine = open_engine(sys.argv[1])
with analysis_lock(engine):
    print("held", flush=True)
    sys.stdin.read()  # until the test closes our input
"""


def test_analysis_waits_while_another_process_analyses_the_same_database(env: dict[str, str]) -> None:
    """`briefbot analyze` started while `briefbot run`'s job analyses (here: a process that
    holds the lock) waits for it instead of allocating the same story ids."""
    app = build(Settings.load())
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, env["BRIEFBOT_DATABASE_URL"]],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        reports: list[AnalyzeReport] = []
        worker = threading.Thread(target=lambda: reports.append(app.service.analyze()))
        worker.start()
        worker.join(1.0)
        assert worker.is_alive() and not reports  # still waiting for the other analyser
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(10)
        worker.join(30)
        assert not worker.is_alive() and len(reports) == 1
    finally:
        holder.kill()
        app.store.engine.dispose()


def test_threads_of_one_process_take_turns_too(env: dict[str, str]) -> None:
    app = build(Settings.load())
    try:
        with app.service.analysis_lock():
            worker = threading.Thread(target=app.service.analyze)
            worker.start()
            worker.join(0.5)
            assert worker.is_alive()
        worker.join(30)
        assert not worker.is_alive()
    finally:
        app.store.engine.dispose()
