"""Discord as the outbox's publisher of ``discord:`` destinations (digests and alerts).

Destinations are ``discord:<channel id>`` or ``discord:user:<user id>`` (a direct
message: the DM channel is opened with ``POST /users/@me/channels``). A briefing's first
message (a short content line and the first embeds from
:mod:`bot.adapters.discord.render`) goes to the channel; the rest go to a thread started
from it, or, where no thread can be started (DMs, no permission), as following messages.
The first message of every delivery (the one in the channel) carries the buttons of
:mod:`bot.adapters.discord.components`: 👍/👎 on the delivery key and, for a briefing,
"Subscribe: <topic>", which the gateway client answers.
Every message is sent with ``allowed_mentions`` ``{"parse": []}``, so nothing in feed or
model text can ping, and with a nonce derived from the delivery key (:func:`delivery_nonce`)
and ``enforce_nonce``, so Discord itself drops a repeat of the same post for a few minutes.
:meth:`DiscordPublisher.already_delivered` reads the channel's newest messages and looks for
the delivery's 👍 button (its custom id holds the key): Discord keeps a message's components
but not its nonce, which it uses only briefly and leaves out of
``GET /channels/{id}/messages`` (a nonce that is there is matched too).

This talks to Discord's REST API with a synchronous httpx client rather than discord.py's
``HTTPClient``: the outbox calls publishers synchronously from worker threads, and
discord.py's client is async-only and handles rate limits and 5xx itself (sleeping up to
30 s on a 429 and retrying 5xx five times), where the outbox wants an error at once and
does its own backoff. The base URL is ``BRIEFBOT_DISCORD_API_URL``.

When a channel's post fails for good (gone, no access, no permission), the guild's admins
are told once per destination and process (:meth:`DiscordPublisher.notify_admins`): a DM to
the guild's owner, else a message in the guild's system channel, saying which channel
failed, why, and that its digests are off (the outbox disables the destination). The guild
comes from ``GET /channels/{id}``, or, for a deleted channel, from the channels the gateway
client has seen (:mod:`bot.adapters.discord.guilds`). The notice has its own nonce, so
Discord drops a repeat from another process within its nonce window.

Errors are mapped for the outbox: 429 (with its ``retry_after``), 5xx, timeouts and
connection errors are a :class:`TransientError`; 401, 403 (Missing Access, Missing
Permissions, cannot DM the user) and 404 (Unknown Channel, Unknown User) are a
:class:`PermanentError`; any other answer is transient, so an unexpected one never
disables a destination.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

import httpx

from bot.adapters.discord import guilds
from bot.adapters.discord.components import button_rows, custom_ids, vote_id
from bot.adapters.discord.render import (
    ANSWER_COLOR,
    CONTENT_LIMIT,
    DESCRIPTION_LIMIT,
    FIELD_VALUE_LIMIT,
    TITLE_LIMIT,
    briefing_content,
    briefing_embeds,
    clip,
    escape_markdown,
    masked_link,
)
from bot.core.briefing import briefing_from_json
from bot.core.delivery import PermanentError, TransientError

log = logging.getLogger(__name__)

PLATFORM = "discord"
DEFAULT_API_URL = "https://discord.com/api/v10"
HISTORY_WINDOW = 50  # recent messages searched for a delivery's nonce
NONCE_LENGTH = 25  # Discord's longest nonce
NO_MENTIONS: dict[str, Any] = {"parse": []}
THREAD_NAME_LIMIT = 100
THREAD_ARCHIVE_MINUTES = 1440
USER_AGENT = "DiscordBot (https://github.com/briefbot/briefbot, 0.1) briefbot"

Message = dict[str, Any]  # a message body: content and embeds


def delivery_nonce(key: str, part: int = 0) -> str:
    """A stable 25-character nonce for message ``part`` of the delivery ``key``: the
    base32 of the sha256 of the key (and the part after the first), lower case."""
    data = key if part == 0 else f"{key}#{part}"
    digest = hashlib.sha256(data.encode()).digest()
    return base64.b32encode(digest).decode().lower()[:NONCE_LENGTH]


class DiscordPublisher:
    """Posts outbox deliveries to Discord's REST API as the bot ``token``."""

    def __init__(
        self,
        token: str,
        api_url: str = DEFAULT_API_URL,
        *,
        timeout: float = 10.0,
        history_window: int = HISTORY_WINDOW,
        transport: httpx.BaseTransport | None = None,
        guild_of: Callable[[str], str | None] = guilds.guild_of,
    ) -> None:
        self.history_window = history_window
        self.guild_of = guild_of
        self._notified: set[str] = set()  # destinations whose admins were told
        self.client = httpx.Client(
            base_url=api_url.rstrip("/"),
            headers={"Authorization": f"Bot {token}", "User-Agent": USER_AGENT},
            timeout=timeout,
            transport=transport,
        )
        self._dm: dict[str, str] = {}  # user id -> DM channel id

    def close(self) -> None:
        """Close the HTTP connections."""
        self.client.close()

    def post(self, destination: str, payload: Mapping[str, Any], key: str) -> None:
        """Post ``payload`` to ``destination`` tagged with ``key`` (see the module docstring);
        a permanent failure in a guild channel is reported to the guild's admins first."""
        try:
            self._post(destination, payload, key)
        except PermanentError as exc:
            self.notify_admins(destination, str(exc))
            raise

    def _post(self, destination: str, payload: Mapping[str, Any], key: str) -> None:
        channel = self._channel(destination)
        messages = payload_messages(payload)
        data = payload.get("briefing")
        briefing = briefing_from_json(data) if isinstance(data, Mapping) else None
        topics = [topic for topic, _ in briefing.sections] if briefing is not None else []
        # the first message rates the delivery (and is how already_delivered finds it)
        messages[0]["components"] = button_rows(key, topics=topics)
        first = self._send(channel, messages[0], delivery_nonce(key))
        if len(messages) == 1:
            return
        target = self._thread(channel, str(first.get("id", "")), messages[0]) or channel
        for part, message in enumerate(messages[1:], 1):
            try:
                self._send(target, message, delivery_nonce(key, part))
            except (TransientError, PermanentError) as exc:
                # The delivery (its first message, with the key's nonce) is on Discord:
                # retrying would post it twice. The missing continuation is logged instead.
                log.warning("delivery %s: continuation %d failed: %s", key, part, exc)
                return

    def already_delivered(self, destination: str, key: str) -> bool:
        """True when one of the channel's newest messages is the delivery's first: it carries
        the 👍 button on ``key`` (or, while Discord still shows it, the key's nonce)."""
        channel = self._channel(destination)
        nonce, marker = delivery_nonce(key), vote_id("up", key)
        messages = self._request(
            "GET", f"/channels/{channel}/messages", params={"limit": self.history_window}
        )
        return any(
            isinstance(m, Mapping) and (str(m.get("nonce")) == nonce or marker in custom_ids(m))
            for m in messages or []
        )

    def notify_admins(self, destination: str, problem: str) -> bool:
        """Tell the guild's admins, once, that ``destination`` (a guild channel) cannot be
        posted to and its digests are off: a DM to the owner, else the system channel.
        True when a notice went out; never raises (failures are logged)."""
        platform, _, channel = destination.partition(":")
        if platform != PLATFORM or not channel.isdigit() or destination in self._notified:
            return False
        self._notified.add(destination)
        try:
            guild = self._guild_of_channel(channel)
            if guild is None:
                log.warning("no guild known for %s: its admins cannot be told (%s)", destination, problem)
                return False
            info = self._request("GET", f"/guilds/{guild}")
        except (TransientError, PermanentError) as exc:
            log.warning("admins of %s not told: %s", destination, exc)
            return False
        text = clip(
            escape_markdown(
                f"briefbot cannot post to channel {channel} in {info.get('name') or 'your server'}: "
                f"{problem}. Its digests are turned off; give the bot access (View Channel, Send "
                "Messages, Embed Links) and run /schedule there again to turn them back on."
            ),
            CONTENT_LIMIT,
        )
        body = {"content": text, "allowed_mentions": NO_MENTIONS}
        nonce = delivery_nonce(f"notice:{destination}")
        owner, system = str(info.get("owner_id") or ""), str(info.get("system_channel_id") or "")
        if owner.isdigit():
            try:
                self._send(self._channel(f"{PLATFORM}:user:{owner}"), body, nonce)
                return True
            except (TransientError, PermanentError) as exc:
                log.info("owner of guild %s not reachable by DM: %s", guild, exc)
        if system.isdigit() and system != channel:
            try:
                self._send(system, body, nonce)
                return True
            except (TransientError, PermanentError) as exc:
                log.warning("system channel of guild %s not usable: %s", guild, exc)
        return False

    def _guild_of_channel(self, channel: str) -> str | None:
        """The guild of a channel: Discord's answer, else what the gateway client saw."""
        try:
            data = self._request("GET", f"/channels/{channel}")
            found = str(data.get("guild_id") or "") if isinstance(data, Mapping) else ""
            if found:
                return found
        except (TransientError, PermanentError) as exc:
            log.info("channel %s not readable (%s): asking the gateway's cache", channel, exc)
        return self.guild_of(channel)

    # -- helpers ------------------------------------------------------------------------

    def _channel(self, destination: str) -> str:
        """The channel id of ``destination``; a user's DM channel is opened once and cached."""
        platform, _, rest = destination.partition(":")
        kind, _, user = rest.partition(":")
        if platform != PLATFORM or not rest:
            raise PermanentError(f"the Discord publisher cannot post to {destination}")
        if kind != "user":
            if not rest.isdigit():
                raise PermanentError(f"not a Discord channel id: {destination}")
            return rest
        if not user.isdigit():
            raise PermanentError(f"not a Discord user id: {destination}")
        if user not in self._dm:
            data = self._request("POST", "/users/@me/channels", json={"recipient_id": user})
            self._dm[user] = str(data.get("id") or "")
        return self._dm[user]

    def _send(self, channel: str, message: Message, nonce: str) -> Mapping[str, Any]:
        body = dict(message) | {"allowed_mentions": NO_MENTIONS, "nonce": nonce, "enforce_nonce": True}
        data = self._request("POST", f"/channels/{channel}/messages", json=body)
        return data if isinstance(data, Mapping) else {}

    def _thread(self, channel: str, message_id: str, first: Message) -> str | None:
        """A thread started from the first message for the continuations, or None (DMs,
        no permission, any error: the rest then follow in the channel)."""
        if not message_id:
            return None
        title = str((first.get("embeds") or [{}])[0].get("title") or "briefbot")
        name = " ".join(title.split())[:THREAD_NAME_LIMIT] or "briefbot"
        try:
            data = self._request(
                "POST",
                f"/channels/{channel}/messages/{message_id}/threads",
                json={"name": name, "auto_archive_duration": THREAD_ARCHIVE_MINUTES},
            )
        except (TransientError, PermanentError) as exc:
            log.info("no thread in %s (%s): continuing in the channel", channel, exc)
            return None
        return str(data.get("id") or "") or None

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.client.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise TransientError(f"discord {method} {path}: timeout ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:
            raise TransientError(f"discord {method} {path}: {type(exc).__name__}: {exc}") from None
        if response.status_code >= 400:
            raise_mapped(response)
        try:
            return response.json()
        except ValueError:
            raise TransientError(f"discord {method} {path}: not JSON (HTTP {response.status_code})") from None


def raise_mapped(response: httpx.Response) -> NoReturn:
    """Raise the outbox error a Discord error answer stands for."""
    status = response.status_code
    try:
        data = response.json()
    except ValueError:
        data = {}
    data = data if isinstance(data, dict) else {}
    if status == 429:
        after = data.get("retry_after") or response.headers.get("Retry-After") or "?"
        raise TransientError(f"discord rate limit, retry after {after} s")
    code = data.get("code")
    message = " ".join(str(data.get("message") or "").split())[:200] or f"HTTP {status}"
    detail = f"discord: {message} (HTTP {status}, code {code})"
    if status in (401, 403, 404):
        raise PermanentError(detail)
    raise TransientError(detail)


# ---- payloads to messages -------------------------------------------------------------------


def payload_messages(payload: Mapping[str, Any]) -> list[Message]:
    """A delivery payload as Discord message bodies: a briefing's messages (the first with
    a short content line), an alert, or the plain text in an embed."""
    data = payload.get("briefing")
    if isinstance(data, Mapping):
        briefing = briefing_from_json(data)
        messages: list[Message] = [{"embeds": embeds} for embeds in briefing_embeds(briefing)]
        messages[0]["content"] = briefing_content(briefing)
        return messages
    if payload.get("kind") == "alert" and payload.get("headline"):
        return [alert_message(payload)]
    text = clip(escape_markdown(str(payload.get("text") or "")), DESCRIPTION_LIMIT) or "briefbot"
    return [{"embeds": [{"type": "rich", "description": text, "color": ANSWER_COLOR}]}]


def alert_message(payload: Mapping[str, Any]) -> Message:
    """A breaking alert: the headline, what the person follows, the sources linked."""
    headline = clip(escape_markdown(" ".join(str(payload.get("headline", "")).split())), 300)
    matched = payload.get("matched") or {}
    follows = escape_markdown(f"{matched.get('kind', '')} {matched.get('value', '')}".strip())
    embed: dict[str, Any] = {
        "type": "rich",
        "title": clip("Breaking: " + headline, TITLE_LIMIT),
        "color": ANSWER_COLOR,
    }
    if follows:
        embed["description"] = clip(f"*You follow {follows}.*", DESCRIPTION_LIMIT)
    sources = [s for s in payload.get("sources") or [] if isinstance(s, Mapping)][:5]
    if sources:
        lines = [
            f"\\[{n}\\] {masked_link(str(s.get('title') or s.get('outlet') or 'source')[:200], s.get('url'))}"
            for n, s in enumerate(sources, 1)
        ]
        embed["fields"] = [
            {"name": "Sources", "value": clip("\n".join(lines), FIELD_VALUE_LIMIT), "inline": False}
        ]
    return {"content": clip("Breaking: " + headline, CONTENT_LIMIT), "embeds": [embed]}
