"""Wiring for Slack: the bolt app over Socket Mode or on the health server's port, the publisher.

With ``SLACK_BOT_TOKEN``, ``SLACK_SIGNING_SECRET`` and ``BRIEFBOT_HTTP_PORT`` set,
``briefbot run`` serves Slack's requests at ``POST /slack/events`` on the same small HTTP
server as ``/healthz`` and ``/metrics`` (:mod:`bot.runtime.health`), and posts digests and
alerts for ``slack:`` destinations through :class:`SlackPublisher`. The Web API base URL
is ``BRIEFBOT_SLACK_API_URL``. With ``SLACK_APP_TOKEN`` (and the bot token) the app
connects with Socket Mode instead (:mod:`bot.adapters.slack.socket_mode`): no public URL,
no signing secret. :func:`slack_configured` says whether either mode can run and
:func:`serve_slack` runs the one configured until its ``stop`` event is set. Every message
the process posts waits for its channel's slot in one shared
:class:`~bot.adapters.slack.pacing.ChannelPacer` (about one per second per channel).

Retried events are claimed in the shared ``slack_events`` table (one answer across instances
and restarts); thread follow-ups follow each channel's ``/followups``. With
``SLACK_CLIENT_ID`` and ``SLACK_CLIENT_SECRET`` instead of (or beside) the bot token, the
OAuth install flow is served too (``GET /slack/install``, ``GET /slack/oauth_redirect``) and
each workspace is answered with its own stored bot token (:mod:`bot.adapters.slack.oauth`);
scheduled digests and alerts then go out with the token of the workspace that owns each
destination (:mod:`bot.adapters.slack.workspaces`).

``briefbot run`` runs :func:`serve_slack` beside the jobs, the health server and Discord
(:func:`bot.runtime.chat.run_chat`).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Collection
from datetime import datetime
from typing import Protocol

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy import Engine

from bot.adapters.ports import FeedbackRecorder
from bot.adapters.slack.app import EVENTS_PATH, HomeData, MemberOf, SlackAdapter, web_client
from bot.adapters.slack.dedupe import EventClaims, SharedDeduper
from bot.adapters.slack.pacing import ChannelPacer, pace_listeners, paced, shared_pacer
from bot.adapters.slack.publisher import SlackPublisher
from bot.config import Settings
from bot.core.commands import CommandLayer
from bot.core.delivery import Publisher
from bot.core.service import Service
from bot.errors import BriefbotError, ConfigError
from bot.runtime.health import HealthServer, Request, Response
from bot.runtime.wiring import App


def slack_http_configured(settings: Settings) -> bool:
    """True when Slack's HTTP mode can run: a bot token (or the OAuth client id and secret),
    the signing secret and an HTTP port."""
    token = settings.slack_bot_token or slack_oauth_configured(settings)
    return bool(token and settings.slack_signing_secret and settings.http_port)


def slack_oauth_configured(settings: Settings) -> bool:
    """True when the OAuth install flow (several workspaces) is on: client id and secret."""
    return bool(settings.slack_client_id and settings.slack_client_secret)


HOME_BRIEFINGS = 5  # latest briefings on the App Home


class RecentBriefings(Protocol):
    """``SqlStore.recent_briefings``."""

    def recent_briefings(
        self, prefix: str = "", limit: int = 5, channels: Collection[str] | None = None
    ) -> list[tuple[str, datetime, str]]: ...


class SlackHome:
    """The App Home's data: the person's Slack subscriptions, the topics and the digests
    they receive from the service, the latest of those briefings from the store."""

    def __init__(self, service: Service, briefings: RecentBriefings) -> None:
        self.service = service
        self.briefings = briefings

    def home(self, user_id: str, member_of: MemberOf) -> HomeData:
        """What ``user_id``'s Home tab shows: the Slack digest channels ``member_of`` says
        they are in, their own digest, and the latest briefings of those."""
        subs = [(s.kind, s.value, s.label()) for s in self.service.subscriptions("slack", user_id)]
        digests = [c for c in self.service.list_channels() if c.platform == "slack" and c.enabled]
        own = [c for c in digests if c.person == user_id]
        shared = [c for c in digests if c.person is None]
        inside = member_of([c.channel_id for c in shared]) if shared else set()
        mine = own + [c for c in shared if c.channel_id in inside]
        channels = [(c.channel_id, c.schedule_text()) for c in mine]
        keys = [f"slack:{c.channel_id}" for c in mine]
        recent = self.briefings.recent_briefings("slack:", HOME_BRIEFINGS, channels=keys) if keys else []
        topics = [name for kind, name in self.service.known_names() if kind == "topic"]
        briefings = [(key.partition(":")[2], at, top) for key, at, top in recent]
        return HomeData(subs, channels, briefings, topics)

    def followed(self, user_id: str) -> set[tuple[str, str]]:
        """What the person follows on Slack, as (kind, value)."""
        return {(s.kind, s.value) for s in self.service.subscriptions("slack", user_id)}


def slack_adapter(
    service: Service,
    settings: Settings,
    *,
    feedback: FeedbackRecorder | None = None,
    briefings: RecentBriefings | None = None,
    claims: EventClaims | None = None,
    engine: Engine | None = None,
    pacer: ChannelPacer | None = None,
) -> SlackAdapter:
    """The bolt app answering through the shared command layer (the Asker's thread memory
    tells it which threads it answered; 👍/👎 go to ``feedback``; the App Home reads the
    service and ``briefings``, both the store; event ids are claimed in ``claims``, the
    store, so a retry is answered once by all instances; each channel's ``/followups`` from
    the service). With the OAuth client id and secret and an ``engine``, installations live
    in that database and each team's requests use its own bot token. With ``pacer`` the
    listeners' posts are paced per channel."""
    oauth = None
    if engine is not None and slack_oauth_configured(settings):
        from bot.adapters.slack.oauth import oauth_settings

        oauth = oauth_settings(
            settings.slack_client_id or "",
            settings.slack_client_secret or "",
            engine,
            api_url=settings.slack_api_url,
        )
    adapter = SlackAdapter(
        CommandLayer(service, settings.admins),
        token=settings.slack_bot_token or "",
        signing_secret=settings.slack_signing_secret or "",
        api_url=settings.slack_api_url,
        threads=service.asker.threads,
        thread_followups=settings.slack_thread_followups,
        feedback=feedback,
        home=SlackHome(service, briefings) if briefings is not None else None,
        deduper=SharedDeduper(claims) if claims is not None else None,
        followups=service,
        oauth_settings=oauth,
    )
    if pacer is not None:
        pace_listeners(adapter.app, pacer)
    return adapter


def slack_publisher(
    settings: Settings, pacer: ChannelPacer | None = None, *, engine: Engine | None = None
) -> Publisher:
    """The outbox's publisher of ``slack:`` destinations (its client retries only what cannot
    post twice, see :func:`~bot.adapters.slack.app.web_client`; posts paced per channel by
    ``pacer``, by default the process's shared one).
    With OAuth and no bot token, each destination is posted in the installed workspace that
    owns it (:class:`~bot.adapters.slack.workspaces.WorkspacePublisher`, installations read
    from ``engine``'s database, which that mode needs)."""
    pacer = pacer or shared_pacer()
    if not settings.slack_bot_token and slack_oauth_configured(settings):
        from bot.adapters.slack.workspaces import StoredInstallations, WorkspacePublisher

        if engine is None:
            raise ValueError("OAuth-only Slack reads its installations: pass the store's engine")

        def client_for(token: str) -> WebClient:
            return paced(web_client(token, settings.slack_api_url, deliveries=True), pacer)

        installations = StoredInstallations(settings.slack_client_id or "", engine)
        return WorkspacePublisher(installations, client_for)
    client = web_client(settings.slack_bot_token, settings.slack_api_url, deliveries=True)
    return SlackPublisher(paced(client, pacer))


def route_slack(server: HealthServer, adapter: SlackAdapter) -> None:
    """Serve ``POST /slack/events`` on ``server`` with ``adapter`` (bolt runs in a thread)."""

    async def events(request: Request) -> Response:
        status, body, headers = await asyncio.to_thread(
            adapter.handle_http, request.body, request.headers, request.query
        )
        content_type = headers.pop("content-type", "text/plain; charset=utf-8")
        return Response(status, body, content_type=content_type, headers=headers)

    server.route("POST", EVENTS_PATH, events)
    flow = adapter.app.oauth_flow
    if flow is not None:  # several workspaces: Slack's install flow on the same server
        from bot.adapters.slack.oauth import handle_oauth

        async def oauth(request: Request) -> Response:
            status, body, headers = await asyncio.to_thread(
                handle_oauth, adapter.app, request.path, request.query, request.headers
            )
            content_type = headers.pop("content-type", "text/plain; charset=utf-8")
            return Response(status, body, content_type=content_type, headers=headers)

        server.route("GET", flow.install_path, oauth)
        server.route("GET", flow.redirect_uri_path, oauth)


def slack_socket_configured(settings: Settings) -> bool:
    """True when Socket Mode can run: the bot token and the app-level token."""
    return bool(settings.slack_bot_token and settings.slack_app_token)


def slack_configured(settings: Settings) -> bool:
    """True when Slack can run in either mode: the bot token with the app token (Socket
    Mode), or with the signing secret and an HTTP port (HTTP mode; see
    :func:`slack_http_configured`)."""
    return slack_socket_configured(settings) or slack_http_configured(settings)


def check_bot_token(adapter: SlackAdapter) -> None:
    """``auth.test`` with the bot token: a refused token or an unreachable Web API is a
    one-line :class:`BriefbotError` (blocking: call it in a thread)."""
    try:
        adapter.client.auth_test()
    except SlackApiError as exc:
        data = exc.response.data if isinstance(exc.response.data, dict) else {}
        error = str(data.get("error") or f"HTTP {exc.response.status_code}")
        raise ConfigError(f"Slack refused SLACK_BOT_TOKEN ({error}): check the bot token (xoxb-…)") from None
    except (SlackClientError, OSError) as exc:
        line = (str(exc).splitlines() or [""])[0][:200]
        raise BriefbotError(f"cannot reach Slack's Web API: {type(exc).__name__}: {line}") from None


def unroute_slack(server: HealthServer) -> None:
    """Stop serving ``POST /slack/events`` on ``server`` (the other routes stay)."""
    server.routes.get(EVENTS_PATH, {}).pop("POST", None)
    if not server.routes.get(EVENTS_PATH):
        server.routes.pop(EVENTS_PATH, None)


async def serve_slack(app: App, stop: asyncio.Event, server: HealthServer | None) -> None:
    """Answer Slack until ``stop`` is set, then close cleanly.

    Socket Mode when ``SLACK_APP_TOKEN`` is set (the websocket from ``apps.connections.open``,
    no public URL); else HTTP mode, ``POST /slack/events`` routed on ``server`` (the health
    server the caller started with ``serve_if_configured``). One line on standard error says
    which mode started. A refused token, an unreachable Web API or websocket, or HTTP mode
    without a server raise :class:`BriefbotError` with a one-line message."""
    settings = app.settings
    adapter = slack_adapter(
        app.service,
        settings,
        feedback=app.store,
        briefings=app.store,
        claims=app.store,
        engine=app.store.engine,
        pacer=shared_pacer(),
    )
    if slack_socket_configured(settings):
        from bot.adapters.slack.socket_mode import SocketModeConnection  # its threads only here

        await asyncio.to_thread(check_bot_token, adapter)
        connection = SocketModeConnection(adapter.app, settings.slack_app_token or "")
        await asyncio.to_thread(connection.connect)
        print(f"briefbot: Slack (Socket Mode) connected to {connection.address}", file=sys.stderr, flush=True)
        try:
            await stop.wait()
        finally:
            await asyncio.to_thread(connection.close)
        return
    if server is None:
        raise ConfigError(
            "Slack's HTTP mode needs BRIEFBOT_HTTP_PORT (or set SLACK_APP_TOKEN for Socket Mode)"
        )
    if settings.slack_bot_token:  # with OAuth alone each workspace brings its own token
        await asyncio.to_thread(check_bot_token, adapter)
    route_slack(server, adapter)
    print(
        f"briefbot: Slack (HTTP mode) at POST {EVENTS_PATH} on port {server.port}",
        file=sys.stderr,
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        unroute_slack(server)
