"""Slack's HTTP mode as ``briefbot run`` serves it, for tests: a :class:`SlackAdapter` routed
on briefbot's own HTTP server (:class:`~bot.runtime.health.HealthServer` with
:func:`~bot.runtime.slack.route_slack`, the same path ``serve_slack`` takes), in a thread
with its own event loop, so a test can send it signed requests over loopback."""

from __future__ import annotations

import asyncio
import threading

from sqlalchemy import create_engine

from bot.adapters.slack.app import EVENTS_PATH, SlackAdapter
from bot.runtime.health import HealthServer
from bot.runtime.slack import route_slack


class SlackHttp:
    """``adapter`` served at ``http://127.0.0.1:<port>/slack/events`` until :meth:`close`."""

    def __init__(self, adapter: SlackAdapter) -> None:
        self._engine = create_engine("sqlite://")  # /healthz's; Slack's routes never touch it
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="slack-http", daemon=True)
        self._thread.start()
        self.server = HealthServer(self._engine, host="127.0.0.1", port=0)
        route_slack(self.server, adapter)
        self.port = asyncio.run_coroutine_threadsafe(self.server.start(), self._loop).result(10)
        self.base = f"http://127.0.0.1:{self.port}"
        self.url = self.base + EVENTS_PATH

    def close(self) -> None:
        """Stop serving and end the loop's thread."""
        asyncio.run_coroutine_threadsafe(self.server.close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()
        self._engine.dispose()


def serve_http(adapter: SlackAdapter) -> SlackHttp:
    """Start serving ``adapter`` in HTTP mode on a free local port; ``close()`` it after."""
    return SlackHttp(adapter)
