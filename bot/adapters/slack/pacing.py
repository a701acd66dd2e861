"""Message pacing: at most about one message per second per Slack channel.

Slack allows roughly one message per second per channel (short bursts are tolerated,
sustained ones get ``ratelimited``). :class:`ChannelPacer` hands out send slots per
channel: a caller reserves the channel's next free slot under a lock and sleeps until it
outside the lock, so posts to one channel are spaced ``interval`` apart while posts to
different channels never wait for each other. It is thread-safe: bolt's listeners run in
worker threads and the outbox's deliveries in others, and the process shares one pacer
(:func:`shared_pacer`) between the adapter's client and the publisher's.

:class:`PacedWebClient` is a slack_sdk ``WebClient`` that waits for a slot before each
message-posting method (:data:`PACED_METHODS`); everything else goes straight through.
:func:`paced` turns a configured client into one (the publisher's); bolt builds a fresh
client for every request, so :func:`pace_listeners` adds a middleware that gives each
listener a paced copy of it (the adapter's own replies).
Rate-limit answers that still happen are handled as before (the adapter's client retries
them honouring Retry-After; the publisher's maps them to the outbox's backoff).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from slack_bolt import App, BoltContext
from slack_sdk import WebClient
from slack_sdk.web import SlackResponse

__all__ = [
    "DEFAULT_INTERVAL",
    "PACED_METHODS",
    "ChannelPacer",
    "PacedWebClient",
    "pace_listeners",
    "paced",
    "shared_pacer",
]

DEFAULT_INTERVAL = 1.0  # seconds between two messages in one channel
PACED_METHODS = frozenset(
    {"chat.postMessage", "chat.postEphemeral", "chat.meMessage", "files.completeUploadExternal"}
)
MAX_TRACKED = 10_000  # channels remembered before the idle ones are forgotten


class ChannelPacer:
    """Spaces sends to each channel at least ``interval`` seconds apart (thread-safe)."""

    def __init__(
        self,
        interval: float = DEFAULT_INTERVAL,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = interval
        self._clock = clock
        self._sleep = sleep
        self._next: dict[str, float] = {}  # channel -> the earliest time of its next send
        self._lock = threading.Lock()

    def reserve(self, channel: str) -> float:
        """Take ``channel``'s next send slot; returns how many seconds to wait for it."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._next.get(channel, now))
            self._next[channel] = slot + self.interval
            if len(self._next) > MAX_TRACKED:
                self._next = {c: t for c, t in self._next.items() if t > now}
            return slot - now

    def wait(self, channel: str) -> float:
        """Block until ``channel`` may get its next message; returns the seconds waited."""
        delay = self.reserve(channel) if channel else 0.0
        if delay > 0:
            self._sleep(delay)
        return delay


_SHARED = ChannelPacer()


def shared_pacer() -> ChannelPacer:
    """The process's pacer, shared by every Slack client that posts messages."""
    return _SHARED


class PacedWebClient(WebClient):
    """A ``WebClient`` whose message posts wait for their channel's slot in ``pacer``."""

    def __init__(self, *args: Any, pacer: ChannelPacer, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pacer = pacer

    def api_call(
        self,
        api_method: str,
        *,
        http_verb: str = "POST",
        files: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        json: dict[str, Any] | None = None,
        headers: dict[str, Any] | None = None,
        auth: dict[str, Any] | None = None,
    ) -> SlackResponse:
        if api_method in PACED_METHODS:
            self.pacer.wait(_channel_of(json, params, data))
        return super().api_call(
            api_method,
            http_verb=http_verb,
            files=files,
            data=data,
            params=params,
            json=json,
            headers=headers,
            auth=auth,
        )


def paced(client: WebClient, pacer: ChannelPacer) -> PacedWebClient:
    """A copy of ``client`` (token, base URL, timeout, retry handlers, ...) paced by ``pacer``."""
    if isinstance(client, PacedWebClient) and client.pacer is pacer:
        return client
    return PacedWebClient(
        token=client.token,
        base_url=client.base_url,
        timeout=client.timeout,
        ssl=client.ssl,
        proxy=client.proxy,
        headers=client.headers,
        team_id=client.default_params.get("team_id"),
        logger=client.logger,
        retry_handlers=list(client.retry_handlers) if client.retry_handlers is not None else None,
        pacer=pacer,
    )


def pace_listeners(app: App, pacer: ChannelPacer) -> None:
    """Give every listener of ``app`` a paced copy of its request's client (a middleware
    that runs after bolt's authorisation, so the copy carries the request's token)."""

    def pace(context: BoltContext, next: Callable[[], Any]) -> Any:
        client = context.get("client")
        if isinstance(client, WebClient):
            context["client"] = paced(client, pacer)
        return next()

    app.middleware(pace)


def _channel_of(*sources: Mapping[str, Any] | None) -> str:
    """The channel a call posts to: ``channel`` (or ``channel_id``) in its body or query."""
    for source in sources:
        if source:
            channel = source.get("channel") or source.get("channel_id")
            if channel:
                return str(channel)
    return ""
