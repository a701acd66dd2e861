"""A local fake of Discord's REST API (v10) for the Discord adapter's tests.

It answers ``POST /channels/{id}/messages`` (honouring ``nonce`` with ``enforce_nonce``:
a repeated nonce in the same channel within ``NONCE_WINDOW`` seconds returns the original
message and creates nothing), ``GET /channels/{id}/messages`` (newest first, ``limit``),
``POST /channels/{id}/messages/{mid}/threads`` (not in DM channels: 400, as Discord),
``POST /users/@me/channels`` (a DM channel per recipient), ``GET /gateway/bot``,
``GET /users/@me`` and ``GET /oauth2/applications/@me`` (what discord.py's login reads),
and for the gateway client: ``PUT /applications/{app}/guilds/{guild}/commands`` (command
sync, echoed back with ids), ``POST /interactions/{id}/{token}/callback`` (answers with the
callback's ``interaction``), ``POST /webhooks/{app}/{token}`` (interaction follow-ups,
stored as messages of the interaction's channel, see :meth:`FakeDiscord.interaction`),
``PATCH``/``DELETE /webhooks/{app}/{token}/messages/@original``, ``GET /channels/{id}``
and ``GET /guilds/{id}`` (from :meth:`FakeDiscord.add_guild`); anything else is a 404.
Multipart bodies (files) are recorded as their ``payload_json`` with ``_files`` listing
the attached files' names and sizes. Every request is recorded with its route
name, path, query, JSON body and Authorization header. Failures are scripted per route:
``server.fail("create_message", 429, retry_after=3.5)`` makes the next call answer with
Discord's rate-limit JSON and headers; ``server.fail("create_message", 404, code=10003)``
with an error body ``{"code": 10003, "message": "Unknown Channel"}``.

As on the real API, the answer to a create carries its ``nonce`` but ``GET`` answers do
not (Discord keeps a nonce only briefly); :meth:`FakeDiscord.forget_nonces` ends the
window early, as the minutes passing would.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import default
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

BOT_USER_ID = "100000000000000001"
NONCE_WINDOW = 300.0  # seconds a nonce is remembered, as Discord's "few minutes"
ERROR_MESSAGES = {
    10003: "Unknown Channel",
    10008: "Unknown Message",
    10013: "Unknown User",
    10015: "Unknown Webhook",
    50001: "Missing Access",
    50013: "Missing Permissions",
    50024: "Cannot execute action on this channel type",
    0: "500: Internal Server Error",
}
ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("PUT", re.compile(r"/applications/(?P<app>\d+)/guilds/(?P<guild>\d+)/commands"), "sync_commands"),
    ("POST", re.compile(r"/interactions/(?P<id>\d+)/(?P<token>[^/]+)/callback"), "interaction_callback"),
    ("POST", re.compile(r"/webhooks/(?P<app>\d+)/(?P<token>[^/]+)"), "followup"),
    (
        "PATCH",
        re.compile(r"/webhooks/(?P<app>\d+)/(?P<token>[^/]+)/messages/(?P<message>@original|\d+)"),
        "edit_followup",
    ),
    (
        "DELETE",
        re.compile(r"/webhooks/(?P<app>\d+)/(?P<token>[^/]+)/messages/(?P<message>@original|\d+)"),
        "delete_followup",
    ),
    ("GET", re.compile(r"/channels/(?P<channel>\d+)"), "get_channel"),
    ("GET", re.compile(r"/guilds/(?P<guild>\d+)"), "get_guild"),
    ("POST", re.compile(r"/channels/(?P<channel>\d+)/messages"), "create_message"),
    ("GET", re.compile(r"/channels/(?P<channel>\d+)/messages"), "get_messages"),
    ("POST", re.compile(r"/channels/(?P<channel>\d+)/messages/(?P<message>\d+)/threads"), "start_thread"),
    ("POST", re.compile(r"/users/@me/channels"), "create_dm"),
    ("GET", re.compile(r"/gateway/bot"), "gateway_bot"),
    ("GET", re.compile(r"/users/@me"), "me"),
    ("GET", re.compile(r"/oauth2/applications/@me"), "application"),
]


@dataclass
class Request:
    """One request the fake received."""

    route: str
    method: str
    path: str
    query: dict[str, str]
    body: Any  # the JSON body: an object, or a list (command sync)
    authorization: str | None


@dataclass
class Failure:
    status: int
    code: int
    headers: dict[str, str] = field(default_factory=dict)
    retry_after: float | None = None
    times: int = 1
    after: int = 0  # calls answered normally first


class FakeDiscord:
    """The fake's state: requests, channels and their messages, scripted failures."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[Request] = []
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self.dm_channels: dict[str, str] = {}  # recipient -> channel id
        self.threads: dict[str, str] = {}  # thread id -> parent channel id
        self.failures: dict[str, list[Failure]] = {}
        self.nonces: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}
        self.gateway_url = "ws://127.0.0.1:9/"
        self.channels: dict[str, dict[str, Any]] = {}  # id -> channel object (add_guild)
        self.guilds: dict[str, dict[str, Any]] = {}  # id -> guild object (add_guild)
        self.interactions: dict[str, str] = {}  # interaction token -> channel id
        self._next_id = 1_200_000_000_000_000_000
        self.url = ""  # the REST base URL, ".../api/v10"

    def add_guild(
        self, guild_id: str, owner_id: str, channel_ids: list[str], *, system_channel_id: str | None = None
    ) -> None:
        """A guild with text channels, for ``GET /guilds/{id}`` and ``GET /channels/{id}``."""
        with self.lock:
            self.guilds[guild_id] = {
                "id": guild_id,
                "name": "Guild",
                "owner_id": owner_id,
                "system_channel_id": system_channel_id,
            }
            for channel in channel_ids:
                self.channels[channel] = {"id": channel, "type": 0, "guild_id": guild_id, "name": "news"}
                self.messages.setdefault(channel, [])

    def add_message(self, message: dict[str, Any]) -> None:
        """Store someone's message (as the gateway delivered it), so threads can start from it."""
        with self.lock:
            self.messages.setdefault(str(message["channel_id"]), []).append(message)

    def interaction(self, token: str, channel_id: str) -> None:
        """Follow-ups with this interaction ``token`` go to ``channel_id``."""
        with self.lock:
            self.interactions[token] = channel_id

    def forget_nonces(self) -> None:
        """Discord's nonce window has passed: a repeated nonce creates a message again."""
        with self.lock:
            self.nonces.clear()

    # -- scripting ----------------------------------------------------------------------

    def fail(
        self,
        route: str,
        status: int,
        *,
        code: int = 0,
        retry_after: float | None = None,
        headers: dict[str, str] | None = None,
        times: int = 1,
        after: int = 0,
    ) -> None:
        """Make ``times`` calls of ``route`` (after the next ``after``) fail with ``status``
        (and Discord's error ``code``; for a 429, ``retry_after`` seconds in the body and
        headers)."""
        with self.lock:
            self.failures.setdefault(route, []).append(
                Failure(status, code, dict(headers or {}), retry_after, times, after)
            )

    # -- inspection ---------------------------------------------------------------------

    def requests_to(self, route: str) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.route == route]

    # -- answering ----------------------------------------------------------------------

    def answer(
        self, method: str, path: str, query: dict[str, str], body: Any, auth: str | None
    ) -> tuple[int, dict[str, str], Any]:
        found = _route(method, path)
        if found is None:
            return 404, {}, {"code": 0, "message": "404: Not Found"}
        name, match = found
        with self.lock:
            self.requests.append(Request(name, method, path, query, body, auth))
            failure = self._failure(name)
            if failure is not None:
                return failure
            handler = getattr(self, "_" + name)
            return handler(match.groupdict(), query, body)  # type: ignore[no-any-return]

    def _failure(self, route: str) -> tuple[int, dict[str, str], Any] | None:
        queue = self.failures.get(route) or []
        if not queue:
            return None
        failure = queue[0]
        if failure.after > 0:
            failure.after -= 1
            return None
        failure.times -= 1
        if failure.times <= 0:
            queue.pop(0)
        headers = dict(failure.headers)
        if failure.status == 429:
            after = failure.retry_after if failure.retry_after is not None else 1.0
            headers.setdefault("Retry-After", str(int(after + 0.999)))
            headers.setdefault("X-RateLimit-Scope", "user")
            return (
                429,
                headers,
                {"message": "You are being rate limited.", "retry_after": after, "global": False},
            )
        message = ERROR_MESSAGES.get(failure.code, "Error")
        return failure.status, headers, {"code": failure.code, "message": message}

    def _id(self) -> str:
        self._next_id += 1
        return str(self._next_id)

    def _create_message(
        self, params: dict[str, str], query: dict[str, str], body: dict[str, Any]
    ) -> tuple[int, dict[str, str], Any]:
        channel = params["channel"]
        nonce = body.get("nonce")
        now = time.monotonic()
        if nonce is not None and body.get("enforce_nonce"):
            seen = self.nonces.get((channel, str(nonce)))
            if seen is not None and now - seen[0] < NONCE_WINDOW:
                return 200, {}, seen[1]
        message = self._message(channel, body)
        if nonce is not None:
            message = dict(message) | {"nonce": nonce}  # in the answer, not in the history
            self.nonces[(channel, str(nonce))] = (now, message)
        return 200, {}, message

    def _message(self, channel: str, body: dict[str, Any], *, webhook: bool = False) -> dict[str, Any]:
        """A message of the bot in ``channel`` as Discord returns it, stored."""
        message: dict[str, Any] = {
            "id": self._id(),
            "channel_id": channel,
            "type": 0,
            "author": {
                "id": BOT_USER_ID,
                "username": "briefbot",
                "discriminator": "0",
                "avatar": None,
                "bot": True,
            },
            "content": body.get("content", ""),
            "embeds": body.get("embeds", []),
            "components": body.get("components", []),
            "attachments": [
                {
                    "id": self._id(),
                    "filename": f["filename"],
                    "size": f["size"],
                    "url": "https://cdn.invalid/x",
                    "proxy_url": "https://cdn.invalid/x",
                }
                for f in body.get("_files", [])
            ],
            "mentions": [],
            "mention_roles": [],
            "mention_everyone": False,
            "pinned": False,
            "tts": False,
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
            "edited_timestamp": None,
            "flags": int(body.get("flags") or 0),
        }
        if webhook:
            message["webhook_id"] = BOT_USER_ID
            message["application_id"] = BOT_USER_ID
        self.messages.setdefault(channel, []).append(message)
        return message

    def _sync_commands(
        self, params: dict[str, str], query: dict[str, str], body: Any
    ) -> tuple[int, dict[str, str], Any]:
        commands = [
            dict(c)
            | {"id": self._id(), "application_id": params["app"], "guild_id": params["guild"], "version": "1"}
            for c in body or []
        ]
        return 200, {}, commands

    def _interaction_callback(
        self, params: dict[str, str], query: dict[str, str], body: Any
    ) -> tuple[int, dict[str, str], Any]:
        kind = int(body.get("type") or 0)
        interaction = {
            "id": params["id"],
            "type": kind,
            "response_message_loading": kind == 5,
            "response_message_ephemeral": bool(int((body.get("data") or {}).get("flags") or 0) & 64),
        }
        return 200, {}, {"interaction": interaction}

    def _followup(
        self, params: dict[str, str], query: dict[str, str], body: Any
    ) -> tuple[int, dict[str, str], Any]:
        channel = self.interactions.get(params["token"])
        if channel is None:
            return 404, {}, {"code": 10015, "message": "Unknown Webhook"}
        return 200, {}, self._message(channel, body, webhook=True)

    def _edit_followup(
        self, params: dict[str, str], query: dict[str, str], body: Any
    ) -> tuple[int, dict[str, str], Any]:
        channel = self.interactions.get(params["token"], "0")
        return 200, {}, self._message(channel, body, webhook=True)

    def _delete_followup(
        self, params: dict[str, str], query: dict[str, str], body: Any
    ) -> tuple[int, dict[str, str], Any]:
        return 204, {}, None

    def _get_channel(
        self, params: dict[str, str], query: dict[str, str], body: Any
    ) -> tuple[int, dict[str, str], Any]:
        found = self.channels.get(params["channel"])
        if found is None:
            return 404, {}, {"code": 10003, "message": "Unknown Channel"}
        return 200, {}, found

    def _get_guild(
        self, params: dict[str, str], query: dict[str, str], body: Any
    ) -> tuple[int, dict[str, str], Any]:
        found = self.guilds.get(params["guild"])
        if found is None:
            return 404, {}, {"code": 10004, "message": "Unknown Guild"}
        return 200, {}, found

    def _get_messages(
        self, params: dict[str, str], query: dict[str, str], body: dict[str, Any]
    ) -> tuple[int, dict[str, str], Any]:
        channel = params["channel"]
        limit = max(1, min(100, int(query.get("limit", 50))))
        return 200, {}, list(reversed(self.messages.get(channel, [])))[:limit]

    def _start_thread(
        self, params: dict[str, str], query: dict[str, str], body: dict[str, Any]
    ) -> tuple[int, dict[str, str], Any]:
        channel = params["channel"]
        if channel in self.dm_channels.values():
            return 400, {}, {"code": 50024, "message": ERROR_MESSAGES[50024]}
        if not any(m["id"] == params["message"] for m in self.messages.get(channel, [])):
            return 404, {}, {"code": 10008, "message": "Unknown Message"}
        thread = params["message"]  # Discord gives a thread started from a message its id
        self.threads[thread] = channel
        self.messages.setdefault(thread, [])
        guild = (self.channels.get(channel) or {}).get("guild_id")
        return (
            201,
            {},
            {
                "id": thread,
                "type": 11,
                "parent_id": channel,
                "name": body.get("name", ""),
                "guild_id": guild,
                "owner_id": BOT_USER_ID,
                "message_count": 0,
                "member_count": 1,
                "rate_limit_per_user": 0,
                "flags": 0,
                "thread_metadata": {
                    "archived": False,
                    "auto_archive_duration": body.get("auto_archive_duration", 1440),
                    "archive_timestamp": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
                    "locked": False,
                },
            },
        )

    def _create_dm(
        self, params: dict[str, str], query: dict[str, str], body: dict[str, Any]
    ) -> tuple[int, dict[str, str], Any]:
        recipient = str(body.get("recipient_id", ""))
        if not recipient.isdigit():
            return 400, {}, {"code": 50035, "message": "Invalid Form Body"}
        channel = self.dm_channels.setdefault(recipient, self._id())
        self.messages.setdefault(channel, [])
        return 200, {}, {"id": channel, "type": 1, "recipients": [{"id": recipient}]}

    def _gateway_bot(
        self, params: dict[str, str], query: dict[str, str], body: dict[str, Any]
    ) -> tuple[int, dict[str, str], Any]:
        limit = {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}
        return 200, {}, {"url": self.gateway_url, "shards": 1, "session_start_limit": limit}

    def _me(
        self, params: dict[str, str], query: dict[str, str], body: dict[str, Any]
    ) -> tuple[int, dict[str, str], Any]:
        return 200, {}, self._bot_user()

    def _application(
        self, params: dict[str, str], query: dict[str, str], body: dict[str, Any]
    ) -> tuple[int, dict[str, str], Any]:
        return 200, {}, {
            "id": BOT_USER_ID, "name": "briefbot", "description": "", "icon": None, "bot_public": False,
            "bot_require_code_grant": False, "owner": self._bot_user(), "verify_key": "0" * 64, "flags": 0,
        }  # fmt: skip

    def _bot_user(self) -> dict[str, Any]:
        return {"id": BOT_USER_ID, "username": "briefbot", "discriminator": "0", "avatar": None, "bot": True}


def _route(method: str, path: str) -> tuple[str, re.Match[str]] | None:
    """The route name and path match of a request, or None."""
    for verb, pattern, name in ROUTES:
        match = pattern.fullmatch(path)
        if verb == method and match:
            return name, match
    return None


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        path = parts.path.removeprefix("/api/v10")
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        kind = self.headers.get("Content-Type") or ""
        body = _multipart(raw, kind) if kind.startswith("multipart/") else (json.loads(raw) if raw else {})
        status, headers, answer = self.server.fake.answer(
            self.command, path, dict(parse_qsl(parts.query)), body, self.headers.get("Authorization")
        )
        data = b"" if status == 204 else json.dumps(answer).encode()
        self.send_response(status)
        if status != 204:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def _multipart(raw: bytes, content_type: str) -> dict[str, Any]:
    """A multipart body as its ``payload_json`` plus ``_files``: name, filename, size, type."""
    parsed = BytesParser(policy=default).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
    body: dict[str, Any] = {}
    files: list[dict[str, Any]] = []
    for part in parsed.iter_parts():
        data = part.get_payload(decode=True) or b""
        name = part.get_param("name", header="content-disposition")
        filename = part.get_filename()
        if name == "payload_json":
            body = json.loads(data)
        elif filename:
            files.append(
                {
                    "name": name,
                    "filename": filename,
                    "size": len(data),
                    "type": part.get_content_type(),
                    "data": data,
                }
            )
    body["_files"] = files
    return body


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeDiscord


def serve() -> tuple[FakeDiscord, _Server]:
    """Start a fake on a free local port; its ``url`` is the REST base URL."""
    fake = FakeDiscord()
    server = _Server(("127.0.0.1", 0), _Handler)
    server.fake = fake
    fake.url = f"http://127.0.0.1:{server.server_address[1]}/api/v10"
    threading.Thread(target=server.serve_forever, args=(0.05,), name="fake-discord", daemon=True).start()
    return fake, server


@pytest.fixture
def discord_api() -> Iterator[FakeDiscord]:
    """A running fake Discord REST API."""
    fake, server = serve()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
