"""Slack as the outbox's publisher of ``slack:`` destinations (digests and alerts).

A delivery is posted with ``chat.postMessage``: a briefing's first message in the channel
and the rest in its thread, an alert as one message (to ``slack:U…``, the person's direct
message with the app). The first message carries the delivery key in Slack's message
metadata (``event_type`` ``briefbot_delivery``), so :meth:`SlackPublisher.already_delivered`
finds it in the channel's recent history after a crash. Messages go out without
``link_names`` and with unfurling off; all feed and model text is escaped by the renderer.

Errors are mapped for the outbox: rate limits (429 / ``ratelimited``, once the client's
own retries honouring Retry-After are spent), 5xx, timeouts and connection errors are a
:class:`TransientError`; a channel that is gone or closed to the bot, or a revoked token,
is a :class:`PermanentError`. Other API errors are transient, so an unexpected one never
disables a destination.

Exactly once: a failed first post that Slack may have taken all the same (a timeout, a
connection lost while waiting for the answer, a 5xx) leaves its key "uncertain"; the next
:meth:`SlackPublisher.post` of that key (the outbox's retry) first looks for it in the
channel's history and, when it is there, posts nothing. A rate limit is certain: nothing
was posted.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, NoReturn

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.adapters.slack.render import (
    Block,
    briefing_blocks,
    briefing_fallback_text,
    escape_mrkdwn,
    link,
    reply_blocks,
)
from bot.core.briefing import briefing_from_json
from bot.core.delivery import PermanentError, TransientError

log = logging.getLogger(__name__)

PLATFORM = "slack"
EVENT_TYPE = "briefbot_delivery"
HISTORY_WINDOW = 200  # recent messages searched for a delivery key
MAX_UNCERTAIN = 1_000  # keys remembered whose failed post may have reached Slack
PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "invalid_auth",
        "account_inactive",
        "token_revoked",
        "not_authed",
        "missing_scope",
        "user_not_found",
        "cannot_dm_bot",
        "restricted_action",
    }
)


class SlackRateLimited(TransientError):
    """Slack refused the post for its rate limit: nothing was posted."""


class SlackRefused(PermanentError):
    """A permanent refusal from Slack's Web API; ``code`` is Slack's error (``channel_not_found``)."""

    def __init__(self, code: str) -> None:
        super().__init__(f"slack: {code}")
        self.code = code


def delivery_metadata(key: str) -> dict[str, Any]:
    """The message metadata that tags a post with its outbox key."""
    return {"event_type": EVENT_TYPE, "event_payload": {"key": key}}


class SlackPublisher:
    """Posts outbox deliveries to Slack through ``client`` (a slack_sdk WebClient)."""

    def __init__(self, client: WebClient, *, history_window: int = HISTORY_WINDOW) -> None:
        self.client = client
        self.history_window = history_window
        self._dm: dict[str, str] = {}  # user id -> direct-message channel id
        self._uncertain: OrderedDict[str, None] = OrderedDict()  # keys whose post may be on Slack

    def post(self, destination: str, payload: Mapping[str, Any], key: str) -> None:
        """Post ``payload`` to ``destination`` (``slack:C…`` or ``slack:U…``) tagged with ``key``;
        nothing when an earlier, uncertain attempt turns out to be on Slack."""
        channel = destination_channel(destination)
        if key in self._uncertain and self.already_delivered(destination, key):
            log.info("delivery %s was on Slack after all: not posted again", key)
            self._uncertain.pop(key, None)
            return
        messages = payload_messages(payload, key)
        blocks, text = messages[0]
        try:
            first = self._call(
                "chat_postMessage",
                channel=channel,
                blocks=blocks,
                text=text,
                metadata=delivery_metadata(key),
                unfurl_links=False,
                unfurl_media=False,
            )
        except SlackRateLimited:
            raise
        except TransientError:
            self._uncertain[key] = None
            if len(self._uncertain) > MAX_UNCERTAIN:
                self._uncertain.popitem(last=False)
            raise
        self._uncertain.pop(key, None)
        thread_ts = str(first.get("ts", ""))
        posted_in = str(first.get("channel") or channel)
        for blocks, text in messages[1:]:
            try:
                self._call(
                    "chat_postMessage",
                    channel=posted_in,
                    thread_ts=thread_ts,
                    blocks=blocks,
                    text=text,
                    unfurl_links=False,
                    unfurl_media=False,
                )
            except (TransientError, PermanentError) as exc:
                # The delivery (its first message, with the key) is on Slack: retrying would
                # post it twice. The missing continuation is logged instead.
                log.warning("delivery %s: a continuation in the thread failed: %s", key, exc)
                return

    def already_delivered(self, destination: str, key: str) -> bool:
        """True when one of the channel's recent messages carries ``key`` in its metadata."""
        channel = self._history_channel(destination_channel(destination))
        data = self._call(
            "conversations_history", channel=channel, limit=self.history_window, include_all_metadata=True
        )
        for message in data.get("messages") or []:
            metadata = message.get("metadata") or {}
            if (
                metadata.get("event_type") == EVENT_TYPE
                and (metadata.get("event_payload") or {}).get("key") == key
            ):
                return True
        return False

    def _history_channel(self, channel: str) -> str:
        """A user id's direct-message channel (``conversations.open``), else ``channel``."""
        if not channel.startswith(("U", "W")):
            return channel
        if channel not in self._dm:
            data = self._call("conversations_open", users=channel)
            self._dm[channel] = str((data.get("channel") or {}).get("id") or channel)
        return self._dm[channel]

    def _call(self, method: str, **kwargs: Any) -> Mapping[str, Any]:
        try:
            response = getattr(self.client, method)(**kwargs)
        except SlackApiError as exc:
            raise_mapped(exc)
        except (SlackClientError, TimeoutError, OSError) as exc:
            raise TransientError(f"slack {method}: {type(exc).__name__}: {exc}") from None
        return response.data if isinstance(response.data, dict) else {}


def raise_mapped(exc: SlackApiError) -> NoReturn:
    """Raise the outbox error a Slack API error stands for."""
    response = exc.response
    status = int(getattr(response, "status_code", 200) or 200)
    data = response.data if isinstance(response.data, dict) else {}
    error = str(data.get("error") or f"HTTP {status}")
    if status == 429 or error == "ratelimited":
        retry_after = (response.headers or {}).get("Retry-After") or (response.headers or {}).get(
            "retry-after"
        )
        raise SlackRateLimited(f"slack rate limit (ratelimited), retry after {retry_after or '?'} s")
    if error in PERMANENT_ERRORS:
        raise SlackRefused(error)
    raise TransientError(f"slack: {error} (HTTP {status})")


def destination_channel(destination: str) -> str:
    """The channel or user id of ``slack:C…`` / ``slack:U…``; a PermanentError for anything else."""
    platform, _, channel = destination.partition(":")
    if platform != PLATFORM or not channel:
        raise PermanentError(f"the Slack publisher cannot post to {destination}")
    return channel


# ---- payloads to messages -------------------------------------------------------------------


def payload_messages(payload: Mapping[str, Any], key: str | None = None) -> list[tuple[list[Block], str]]:
    """A delivery payload as Slack messages (blocks, fallback text): a briefing's messages
    (the first for the channel, the others for its thread; with ``key``, the delivery key,
    ending in the 👍/👎 and subscribe buttons), an alert, or the plain text."""
    data = payload.get("briefing")
    if isinstance(data, Mapping):
        briefing = briefing_from_json(data)
        fallback = briefing_fallback_text(briefing)
        messages = briefing_blocks(briefing, with_buttons=key is not None, key=key)
        return [(blocks, fallback) for blocks in messages]
    if payload.get("kind") == "alert" and payload.get("headline"):
        return [alert_message(payload)]
    text = str(payload.get("text") or "")
    return [(reply_blocks(text), escape_mrkdwn(text)[:3000] or "briefbot")]


def alert_message(payload: Mapping[str, Any]) -> tuple[list[Block], str]:
    """A breaking alert: the headline, what the person follows, the sources linked."""
    headline = escape_mrkdwn(" ".join(str(payload.get("headline", "")).split())[:300])
    matched = payload.get("matched") or {}
    follows = escape_mrkdwn(f"{matched.get('kind', '')} {matched.get('value', '')}".strip())
    lines = [f"*Breaking:* {headline}"]
    if follows:
        lines.append(f"_You follow {follows}._")
    blocks: list[Block] = [{"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)[:3000]}}]
    sources = [s for s in payload.get("sources") or [] if isinstance(s, Mapping)][:5]
    if sources:
        labels = [
            f"[{n}] {link(s.get('url'), str(s.get('title') or s.get('outlet') or 'source'))}"
            for n, s in enumerate(sources, 1)
        ]
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": "\n".join(labels)[:3000]}]})
    return blocks, f"Breaking: {headline}"
