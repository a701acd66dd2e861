"""Wiring for Slack in HTTP mode: the bolt app on the health server's port, the publisher.

With ``SLACK_BOT_TOKEN``, ``SLACK_SIGNING_SECRET`` and ``BRIEFBOT_HTTP_PORT`` set,
``briefbot run`` serves Slack's requests at ``POST /slack/events`` on the same small HTTP
server as ``/healthz`` and ``/metrics`` (:mod:`bot.runtime.health`), and posts digests and
alerts for ``slack:`` destinations through :class:`SlackPublisher`. The Web API base URL
is ``BRIEFBOT_SLACK_API_URL``. Socket Mode (``SLACK_APP_TOKEN``) is not wired yet.

:func:`run_slack_http` is ``briefbot run``'s loop in that mode: the scheduled jobs and the
HTTP server until SIGINT or SIGTERM (exit 0), no console.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from datetime import datetime
from typing import Protocol

from bot.adapters.slack.app import EVENTS_PATH, FeedbackRecorder, HomeData, SlackAdapter, web_client
from bot.adapters.slack.publisher import SlackPublisher
from bot.config import Settings
from bot.core.commands import CommandLayer
from bot.core.service import Service
from bot.runtime.health import HealthServer, Request, Response, serve_if_configured
from bot.runtime.leader import Leader
from bot.runtime.scheduler import BotScheduler
from bot.runtime.wiring import App


def slack_http_configured(settings: Settings) -> bool:
    """True when Slack's HTTP mode can run: bot token, signing secret and an HTTP port."""
    return bool(settings.slack_bot_token and settings.slack_signing_secret and settings.http_port)


HOME_BRIEFINGS = 5  # latest briefings on the App Home


class RecentBriefings(Protocol):
    """``SqlStore.recent_briefings``."""

    def recent_briefings(self, prefix: str = "", limit: int = 5) -> list[tuple[str, datetime, str]]: ...


class SlackHome:
    """The App Home's data: the person's Slack subscriptions and the Slack digest channels
    from the service, the latest Slack briefings from the store."""

    def __init__(self, service: Service, briefings: RecentBriefings) -> None:
        self.service = service
        self.briefings = briefings

    def home(self, user_id: str) -> HomeData:
        """What ``user_id``'s Home tab shows."""
        subs = [(s.kind, s.value, s.label()) for s in self.service.subscriptions("slack", user_id)]
        channels = [
            (c.channel_id, c.schedule_text())
            for c in self.service.list_channels()
            if c.platform == "slack" and c.enabled and c.person is None  # not people's own digests
        ]
        recent = [
            (key, at, top)
            for key, at, top in self.briefings.recent_briefings("slack:", HOME_BRIEFINGS)
            if not key.startswith("slack:user:")
        ]
        return HomeData(subs, channels, [(key.partition(":")[2], at, top) for key, at, top in recent])


def slack_adapter(
    service: Service,
    settings: Settings,
    *,
    feedback: FeedbackRecorder | None = None,
    briefings: RecentBriefings | None = None,
) -> SlackAdapter:
    """The bolt app answering through the shared command layer (the Asker's thread memory
    tells it which threads it answered; 👍/👎 go to ``feedback``; the App Home reads the
    service and ``briefings``, both the store)."""
    return SlackAdapter(
        CommandLayer(service, settings.admins),
        token=settings.slack_bot_token or "",
        signing_secret=settings.slack_signing_secret or "",
        api_url=settings.slack_api_url,
        threads=service.asker.threads,
        thread_followups=settings.slack_thread_followups,
        feedback=feedback,
        home=SlackHome(service, briefings) if briefings is not None else None,
    )


def slack_publisher(settings: Settings) -> SlackPublisher:
    """The outbox's publisher of ``slack:`` destinations (rate limits left to the outbox's backoff)."""
    return SlackPublisher(
        web_client(settings.slack_bot_token, settings.slack_api_url, retry_rate_limits=False)
    )


def route_slack(server: HealthServer, adapter: SlackAdapter) -> None:
    """Serve ``POST /slack/events`` on ``server`` with ``adapter`` (bolt runs in a thread)."""

    async def events(request: Request) -> Response:
        status, body, headers = await asyncio.to_thread(
            adapter.handle_http, request.body, request.headers, request.query
        )
        content_type = headers.pop("content-type", "text/plain; charset=utf-8")
        return Response(status, body, content_type=content_type, headers=headers)

    server.route("POST", EVENTS_PATH, events)


async def run_slack_http(app: App, jobs: BotScheduler, leader: Leader) -> int:
    """Serve Slack (and /healthz, /metrics) and run the jobs until SIGINT or SIGTERM.

    Returns 0 after a signal, 1 when the port cannot be served (the reason is printed)."""
    server = await serve_if_configured(app.settings.http_port, app.store.engine)
    if server is None:
        leader.release()
        return 1
    route_slack(server, slack_adapter(app.service, app.settings, feedback=app.store, briefings=app.store))
    print(
        f"briefbot: Slack (HTTP mode) at POST {EVENTS_PATH} on port {server.port}",
        file=sys.stderr,
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not on this platform or thread
            loop.add_signal_handler(sig, stop.set)
            handled.append(sig)
    jobs.start()
    try:
        await stop.wait()
        print("briefbot: stopping", file=sys.stderr)
        return 0
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)
        jobs.shutdown()
        leader.release()
        await server.close()
