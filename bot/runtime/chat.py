"""``briefbot run`` with chat credentials: the jobs, the HTTP server and every chat adapter.

:func:`run_chat` starts the health server (``BRIEFBOT_HTTP_PORT``: ``/healthz``,
``/metrics`` and, in Slack's HTTP mode, ``/slack/events``), the scheduled jobs, and one
task per configured adapter (:func:`bot.runtime.slack.serve_slack` with Slack's
credentials, :func:`bot.runtime.discord.serve_discord` with ``DISCORD_TOKEN``; both at
once when both are set). It runs until SIGINT or SIGTERM (exit 0). An adapter that cannot
start or loses its connection for good prints one line naming the problem; the others
keep running, and when none is left the run ends with exit 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from bot.errors import BriefbotError
from bot.runtime.health import serve_if_configured
from bot.runtime.leader import Leader
from bot.runtime.scheduler import BotScheduler
from bot.runtime.wiring import App

Serve = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


async def run_chat(app: App, jobs: BotScheduler, leader: Leader, *, slack: bool, discord: bool) -> int:
    """Serve the configured chat adapters and run the jobs; see the module docstring."""
    settings = app.settings
    server = await serve_if_configured(settings.http_port, app.store.engine)
    if settings.http_port and server is None:
        leader.release()
        return 1  # serve_if_configured printed why (the port is taken, say)
    adapters: dict[str, Serve] = {}
    if slack:
        from bot.runtime.slack import serve_slack

        adapters["Slack"] = lambda stop: serve_slack(app, stop, server)
    if discord:
        from bot.runtime.discord import serve_discord

        adapters["Discord"] = lambda stop: serve_discord(app, stop)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not on this platform or thread
            loop.add_signal_handler(sig, stop.set)
            handled.append(sig)
    jobs.start()
    tasks: dict[str, asyncio.Task[None]] = {
        name: asyncio.create_task(serve(stop), name=f"serve-{name}") for name, serve in adapters.items()
    }
    failed = 0
    try:
        pending = set(tasks.values())
        while pending and not stop.is_set():
            waiter = asyncio.create_task(stop.wait())
            done, _ = await asyncio.wait({*pending, waiter}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            for name, task in tasks.items():
                if task in done:
                    pending.discard(task)
                    if _report(name, task):
                        failed += 1
        if stop.is_set():
            print("briefbot: stopping", file=sys.stderr, flush=True)
            for task in pending:
                with contextlib.suppress(BriefbotError, asyncio.CancelledError):
                    await asyncio.wait_for(task, 15)
            return 0
        return 1 if failed else 0
    finally:
        stop.set()
        for task in tasks.values():
            task.cancel()
        for task in tasks.values():
            with contextlib.suppress(BaseException):
                await task
        for sig in handled:
            loop.remove_signal_handler(sig)
        jobs.shutdown()
        leader.release()
        if server is not None:
            await server.close()


def _report(name: str, task: asyncio.Task[None]) -> bool:
    """Print why an adapter ended early; True when it failed."""
    if task.cancelled():
        return False
    exc = task.exception()
    if exc is None:
        return False
    if isinstance(exc, BriefbotError):
        print(f"briefbot: {name}: {exc}", file=sys.stderr, flush=True)
    else:  # a bug: one line for the user, the traceback in the log
        import logging

        logging.getLogger(__name__).error("%s adapter crashed", name, exc_info=exc)
        print(f"briefbot: {name} stopped: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
    return True
