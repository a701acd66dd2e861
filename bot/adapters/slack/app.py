"""The Slack app (slack-bolt, HTTP mode): slash commands and @mention questions.

:class:`SlackAdapter` builds a sync bolt :class:`~slack_bolt.App` whose requests arrive at
``/slack/events`` (see :func:`wsgi_app`). Bolt verifies every request's signature with the
signing secret (a bad or stale one gets 401).

- **Slash commands** (``/brief``, ``/ask``, ``/subscribe``, ``/unsubscribe``,
  ``/subscriptions``, ``/deals``, ``/stories``, ``/feeds``, ``/schedule``) are acked at once;
  the work runs after the ack in bolt's listener thread (``process_before_response`` off).
  The command layer gets ``is_platform_admin`` from ``users.info`` (``is_admin`` or
  ``is_owner``). Replies are rendered by :mod:`bot.adapters.slack.render`: a briefing's
  first message in the channel and the rest in its thread, an answer or text reply in the
  channel, refusals and errors ephemeral (``chat.postEphemeral``).
- **@mentions** (``app_mention``) are questions: answered in a thread (the event's
  ``thread_ts``, else its ``ts``) through the command layer's ``/ask``, whose thread memory
  key is ``slack:<channel>:<thread_ts>``.
- **Retried events** (Slack resends when it did not see a quick 200, with
  ``X-Slack-Retry-Num``) are de-duplicated by ``event_id`` in an in-memory LRU per process:
  a restart or a second instance may answer a retry once more (a shared table is for later).

Socket Mode, direct messages, follow-ups without a mention, buttons and App Home are later
slices of issue #7.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.adapters.slack.render import (
    Block,
    answer_blocks,
    briefing_blocks,
    briefing_fallback_text,
    escape_mrkdwn,
    reply_blocks,
)
from bot.core.commands import CommandContext, Reply

log = logging.getLogger(__name__)

PLATFORM = "slack"
EVENTS_PATH = "/slack/events"
SLASH_COMMANDS = (
    "brief",
    "ask",
    "subscribe",
    "unsubscribe",
    "subscriptions",
    "deals",
    "stories",
    "feeds",
    "schedule",
)
IGNORED_EVENTS = ("message", "app_home_opened")
DEDUP_SIZE = 10_000  # event ids remembered per process
_LEADING_MENTIONS = re.compile(r"^(?:\s*<@[A-Z0-9]+(?:\|[^>]*)?>)+\s*")

Message = tuple[list[Block], str]


class Commands(Protocol):
    """What the adapter needs of :class:`~bot.core.commands.CommandLayer`."""

    def handle(self, ctx: CommandContext, text: str) -> Reply: ...


def web_client(token: str | None, base_url: str, *, retry_rate_limits: bool = True) -> WebClient:
    """A WebClient on ``base_url`` (``BRIEFBOT_SLACK_API_URL``) retrying connection errors
    and, unless told not to, 5xx and rate limits (honouring Retry-After)."""
    handlers: list[Any] = [ConnectionErrorRetryHandler(max_retry_count=2)]
    if retry_rate_limits:
        handlers += [
            RateLimitErrorRetryHandler(max_retry_count=2),
            ServerErrorRetryHandler(max_retry_count=2),
        ]
    return WebClient(token=token, base_url=base_url, timeout=30, retry_handlers=handlers)


class EventDeduper:
    """Event ids seen lately (a thread-safe LRU): ``first(id)`` is True only once per id."""

    def __init__(self, size: int = DEDUP_SIZE) -> None:
        self.size = size
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def first(self, event_id: str) -> bool:
        with self._lock:
            if event_id in self._seen:
                self._seen.move_to_end(event_id)
                return False
            self._seen[event_id] = None
            if len(self._seen) > self.size:
                self._seen.popitem(last=False)
            return True


class SlackAdapter:
    """The bolt app answering Slack commands and mentions through ``commands``."""

    def __init__(
        self,
        commands: Commands,
        *,
        token: str,
        signing_secret: str,
        api_url: str = "https://slack.com/api/",
        client: WebClient | None = None,
        deduper: EventDeduper | None = None,
    ) -> None:
        self.commands = commands
        self.client = client or web_client(token, api_url)
        self.deduper = deduper or EventDeduper()
        self.app = App(
            client=self.client,
            signing_secret=signing_secret,
            token_verification_enabled=False,  # no auth.test at construction; bolt calls it on first use
            process_before_response=False,  # ack first, work afterwards
        )
        self.app.middleware(self._dedupe)
        for name in SLASH_COMMANDS:
            self.app.command(f"/{name}")(self._on_command)
        self.app.event("app_mention")(self._on_mention)
        # Subscribed in the manifest for later slices (DMs, follow-ups, App Home): acked with
        # 200 so Slack neither retries them nor turns the subscription off.
        for event in IGNORED_EVENTS:
            self.app.event(event)(_ignore)

    def handle_http(
        self, body: bytes, headers: Mapping[str, str], query: str = ""
    ) -> tuple[int, bytes, dict[str, str]]:
        """One HTTP request to ``/slack/events`` through bolt (signature checked): returns
        the status, body and headers to answer. Blocks until the listener acks (run it in a
        thread from an event loop)."""
        request = BoltRequest(
            body=body.decode("utf-8", errors="replace"),
            query=query,
            headers={name.lower(): [value] for name, value in headers.items()},
        )
        response = self.app.dispatch(request)
        out = {name: values[0] for name, values in response.headers.items() if values}
        out.pop("content-length", None)
        return response.status, response.body.encode("utf-8"), out

    # -- middleware and listeners ----------------------------------------------------------

    def _dedupe(self, body: dict[str, Any], next: Callable[[], BoltResponse]) -> BoltResponse | None:
        """Drop an event whose ``event_id`` was handled already (Slack's retries): 200, no work."""
        event_id = body.get("event_id") if isinstance(body, dict) else None
        if isinstance(event_id, str) and event_id and not self.deduper.first(event_id):
            log.info("slack event %s seen already: retry ignored", event_id)
            return BoltResponse(status=200, body="")
        return next()

    def _on_command(self, ack: Callable[..., Any], command: dict[str, Any], client: WebClient) -> None:
        ack()
        channel = str(command.get("channel_id") or "")
        user = str(command.get("user_id") or "")
        text = f"{command.get('command', '')} {command.get('text', '')}".strip()
        ctx = CommandContext(
            PLATFORM, user, channel, None, is_platform_admin=self.is_platform_admin(client, user)
        )
        reply = self.commands.handle(ctx, text)
        self.send(client, reply, channel=channel, user=user)

    def _on_mention(self, event: dict[str, Any], client: WebClient) -> None:
        channel = str(event.get("channel") or "")
        user = str(event.get("user") or "")
        thread_ts = str(event.get("thread_ts") or event.get("ts") or "")
        question = _LEADING_MENTIONS.sub("", str(event.get("text") or "")).strip()
        ctx = CommandContext(PLATFORM, user, channel, thread_ts or None, is_platform_admin=False)
        reply = self.commands.handle(ctx, f"ask {question}" if question else "help")
        self.send(client, reply, channel=channel, user=user, thread_ts=thread_ts or None, in_thread=True)

    # -- helpers -------------------------------------------------------------------------

    def is_platform_admin(self, client: WebClient, user: str) -> bool:
        """True when ``users.info`` says the person is a workspace admin or owner."""
        if not user:
            return False
        try:
            info = client.users_info(user=user).get("user") or {}
        except (SlackApiError, SlackClientError, OSError) as exc:
            log.warning("users.info %s failed: %s", user, exc)
            return False
        return bool(info.get("is_admin") or info.get("is_owner"))

    def send(
        self,
        client: WebClient,
        reply: Reply,
        *,
        channel: str,
        user: str,
        thread_ts: str | None = None,
        in_thread: bool = False,
    ) -> None:
        """Post ``reply``: ephemeral for refusals and errors (outside a thread), else in the
        channel (or ``thread_ts``'s thread); a briefing continues in its first message's thread."""
        messages = reply_messages(reply)
        try:
            if (reply.ephemeral or reply.error) and not in_thread:
                blocks, text = messages[0]
                client.chat_postEphemeral(channel=channel, user=user, blocks=blocks, text=text)
                return
            for blocks, text in messages:
                response = client.chat_postMessage(
                    channel=channel,
                    thread_ts=thread_ts,
                    blocks=blocks,
                    text=text,
                    unfurl_links=False,
                    unfurl_media=False,
                )
                thread_ts = thread_ts or str(response.get("ts") or "") or None
        except (SlackApiError, SlackClientError, OSError) as exc:
            log.warning("slack reply in %s failed: %s", channel, exc)


def _ignore() -> None:
    """A listener that does nothing (bolt acks the event)."""


def reply_messages(reply: Reply) -> list[Message]:
    """A command layer reply as Slack messages (blocks, fallback text)."""
    if reply.briefing is not None:
        fallback = briefing_fallback_text(reply.briefing)
        return [(blocks, fallback) for blocks in briefing_blocks(reply.briefing)]
    text = escape_mrkdwn(reply.text)[:3000] or "briefbot"
    if reply.answer is not None:
        return [(answer_blocks(reply.answer), text)]
    return [(reply_blocks(reply.text), text)]


def wsgi_app(adapter: SlackAdapter) -> SlackRequestHandler:
    """A WSGI application serving the bolt app at ``/slack/events`` (404 elsewhere)."""
    return SlackRequestHandler(adapter.app, path=EVENTS_PATH)
