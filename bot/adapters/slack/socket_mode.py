"""Slack's Socket Mode: the bolt app's requests over a websocket, no public URL needed.

With ``SLACK_APP_TOKEN`` (``xapp-…``, scope ``connections:write``) the app asks the Web API
for a websocket address (``apps.connections.open`` on ``BRIEFBOT_SLACK_API_URL``) and Slack
sends every slash command, event and interaction over it as an envelope; each is
dispatched to the same bolt :class:`~slack_bolt.App` as in HTTP mode and acknowledged
with ``{"envelope_id": …}`` (bolt's ``ack()``), the work continuing in bolt's listener
thread. Signatures are not involved: the app token authenticates the connection.

slack_sdk's built-in client (no extra dependency) runs the websocket in its own threads,
pings it, and reconnects with a fresh address when Slack closes it (Slack does so every
few hours) or the connection goes stale. :class:`SocketModeConnection` adds a
:meth:`~SocketModeConnection.connect` that either connects or raises a one-line
:class:`~bot.errors.BriefbotError`: a refused app token names ``SLACK_APP_TOKEN``; an
address that cannot be reached says so.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from urllib.parse import urlsplit

from slack_bolt import App
from slack_bolt.adapter.socket_mode.builtin import SocketModeHandler
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.errors import BriefbotError, ConfigError

__all__ = ["SocketModeConnection"]

log = logging.getLogger(__name__)

PING_INTERVAL = 10.0  # seconds between websocket pings (a silent connection is replaced)


class SocketModeConnection:
    """The bolt ``app`` served over Socket Mode with the app-level token ``app_token``."""

    def __init__(
        self, app: App, app_token: str, *, ping_interval: float = PING_INTERVAL, concurrency: int = 10
    ) -> None:
        self.app = app
        self.handler = SocketModeHandler(
            app,
            app_token=app_token,
            web_client=app.client,  # apps.connections.open on BRIEFBOT_SLACK_API_URL
            ping_interval=ping_interval,
            concurrency=concurrency,
        )
        self.address = ""  # the websocket's host:port once asked for

    @property
    def connected(self) -> bool:
        """True while the websocket is open."""
        return self.handler.client.is_connected()

    def connect(self) -> None:
        """Open the websocket; raises :class:`BriefbotError` (one line) when it cannot be.

        Blocking: call it from a thread when an event loop is running."""
        client = self.handler.client
        try:
            url = client.issue_new_wss_url()
        except SlackApiError as exc:
            error = _api_error(exc)
            self.close()
            if error in ("invalid_auth", "not_authed", "account_inactive", "token_revoked",
                         "not_allowed_token_type", "missing_scope"):  # fmt: skip
                raise ConfigError(
                    f"Slack refused SLACK_APP_TOKEN ({error}): use the app-level token (xapp-…) "
                    "with the connections:write scope"
                ) from None
            raise BriefbotError(f"Slack's apps.connections.open failed: {error}") from None
        except (SlackClientError, OSError) as exc:
            self.close()
            raise BriefbotError(
                f"cannot reach Slack's Web API for Socket Mode: {type(exc).__name__}: {_line(exc)}"
            ) from None
        parts = urlsplit(url)
        self.address = f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'wss' else 80)}"
        client.wss_uri = url
        try:
            client.connect()  # synchronous; the built-in client logs a failed handshake rather than raising
        except Exception as exc:  # any failure to connect is reported in one line below
            log.debug("socket mode connect failed: %s", exc)
        if not self.connected:
            self.close()
            raise BriefbotError(f"cannot reach Slack's Socket Mode websocket at {self.address}")
        log.info("slack socket mode connected to %s", self.address)

    def close(self) -> None:
        """Disconnect and stop the client's threads (no reconnection afterwards)."""
        client = self.handler.client
        # Stop it quickly: no reconnection, the message loop woken (else it waits up to a
        # second for a message), and the websocket shut so the receiving thread's read
        # returns now rather than at its 3-second timeout.
        client.auto_reconnect_enabled = False
        client.current_session_state.terminated = True
        client.closed = True
        client.message_queue.put(None)
        if client.current_app_monitor.is_alive():  # its pings would hit the shut socket
            client.current_app_monitor.shutdown()  # type: ignore[no-untyped-call]
        sock = getattr(client.current_session, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        try:
            self.handler.close()  # type: ignore[no-untyped-call]
        except Exception:  # closing must never fail a shutdown; logged
            log.warning("closing the Socket Mode client failed", exc_info=True)


def _api_error(exc: SlackApiError) -> str:
    data = exc.response.data if isinstance(exc.response.data, dict) else {}
    return str(data.get("error") or f"HTTP {exc.response.status_code}")


def _line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [""])[0][:200]
