"""A local fake of Slack's Web API for the Slack adapter's tests, used through the real slack_sdk.

It answers ``auth.test``, ``chat.postMessage``, ``chat.postEphemeral``,
``conversations.history``, ``conversations.replies``, ``conversations.open``,
``users.info``, ``users.conversations`` (memberships from :meth:`FakeSlack.join`, paged),
``views.open``, ``views.publish``, ``apps.connections.open`` (the URL of the fake Socket
Mode websocket in :attr:`FakeSlack.socket_url`, for an ``xapp-`` token),
and the file upload of ``files_upload_v2``: ``files.getUploadURLExternal`` (an upload URL
on this server), the upload itself (kept in :attr:`FakeSlack.uploads`) and
``files.completeUploadExternal`` (the file shared in the channel), and ``oauth.v2.access``
(codes scripted with :meth:`FakeSlack.grant`; ``auth.test`` then names the granted token's
team). Any other method gets ``unknown_method``. Workspaces: :meth:`FakeSlack.own` gives a
bot token its channels and users; such a token then gets ``channel_not_found``
(``user_not_found`` for ``conversations.open``) for any other id, as Slack answers for another
workspace's. It keeps the posted messages per channel (with their metadata, so
``conversations.history`` returns them newest first), and records every call with its
parameters (query string, form or JSON body merged) and when it arrived
(``time.monotonic()``). Errors are scripted per method:
``server.fail("chat.postMessage", "ratelimited", status=429, headers={"Retry-After": "3"})``
makes the next call fail that way (``skip=N``: the N calls after it go through first); with
``after=True`` the call is carried out first and only its answer is the error (Slack took
the post, the client cannot know: a 5xx or a timeout after the fact).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from slack_sdk.signature import SignatureVerifier

BOT_USER = "UBOT"
BOT_ID = "BBOT"
TEAM = "T1"


@dataclass
class Call:
    """One request the fake received."""

    method: str
    params: dict[str, Any]
    token: str | None
    at: float = field(default_factory=time.monotonic)  # when it arrived


@dataclass
class Failure:
    error: str
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1
    after: bool = False  # carry the call out, then answer with the error
    skip: int = 0  # calls let through before this failure applies


class FakeSlack:
    """The fake's state: calls, messages per channel, users, scripted failures."""

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self.calls: list[Call] = []
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.failures: dict[str, list[Failure]] = {}
        self._ts = 1_700_000_000
        self.url = ""
        self.socket_url = ""  # what apps.connections.open answers (a FakeSocket's url)
        self.uploads: dict[str, bytes] = {}  # file id -> the bytes uploaded to its URL
        self._files: dict[str, dict[str, Any]] = {}  # file id -> filename, length
        self.grants: dict[str, dict[str, str]] = {}  # OAuth code -> team and bot token (oauth.v2.access)
        self.teams: dict[str, str] = {}  # bot token -> team id (auth.test), for granted tokens
        self.owned: dict[str, set[str]] = {}  # bot token -> the channel and user ids of its workspace
        self.members: dict[str, list[str]] = {}  # user id -> the channels they are in (users.conversations)

    # -- scripting ----------------------------------------------------------------------

    def fail(
        self,
        method: str,
        error: str,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        times: int = 1,
        after: bool = False,
        skip: int = 0,
    ) -> None:
        """Make the next ``times`` calls of ``method`` (after ``skip`` good ones) fail with
        ``error`` (``after``: once they were carried out)."""
        with self.lock:
            failure = Failure(error, status, dict(headers or {}), times, after, skip)
            self.failures.setdefault(method, []).append(failure)

    def grant(self, code: str, *, team: str, token: str, bot_user: str = BOT_USER) -> None:
        """An OAuth ``code`` that ``oauth.v2.access`` exchanges, once, for ``team``'s bot ``token``."""
        with self.lock:
            self.grants[code] = {"team": team, "token": token, "bot_user": bot_user}

    def own(self, token: str, *ids: str) -> None:
        """Make ``ids`` (channels ``C…``, users ``U…``) part of ``token``'s workspace: with that
        token any other id is not found."""
        with self.lock:
            self.owned.setdefault(token, set()).update(ids)

    def add_user(self, user_id: str, *, admin: bool = False, owner: bool = False) -> None:
        """A user ``users.info`` knows."""
        with self.lock:
            self.users[user_id] = {
                "id": user_id,
                "name": user_id.lower(),
                "is_admin": admin,
                "is_owner": owner,
            }

    def join(self, user_id: str, *channels: str) -> None:
        """Make ``user_id`` a member of ``channels`` (``users.conversations`` lists them)."""
        with self.lock:
            self.members.setdefault(user_id, []).extend(
                c for c in channels if c not in self.members.get(user_id, [])
            )

    def add_message(self, channel: str, user: str, text: str, *, thread_ts: str | None = None) -> str:
        """A person's message in ``channel`` (in ``thread_ts``'s thread); returns its ts."""
        with self.lock:
            message: dict[str, Any] = {"type": "message", "ts": self._next_ts(), "user": user, "text": text}
            if thread_ts:
                message["thread_ts"] = thread_ts
            self.messages.setdefault(channel, []).append(message)
            return str(message["ts"])

    # -- inspection ---------------------------------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.method == method]

    def wait_for(self, method: str | tuple[str, ...], count: int = 1, timeout: float = 10.0) -> list[Call]:
        """Wait until ``method`` (or any of several) was called at least ``count`` times;
        returns those calls."""
        methods = (method,) if isinstance(method, str) else method
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                calls = [c for c in self.calls if c.method in methods]
                if len(calls) >= count:
                    return calls
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{method} called {len(calls)} times, expected {count}")
                self.lock.wait(left)

    # -- answering ----------------------------------------------------------------------

    def answer(
        self, method: str, params: dict[str, Any], token: str | None
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        with self.lock:
            self.calls.append(Call(method, params, token))
            self.lock.notify_all()
            queue = self.failures.get(method) or []
            if queue and queue[0].skip > 0:
                queue[0].skip -= 1
            elif queue:
                failure = queue[0]
                failure.times -= 1
                if failure.times <= 0:
                    queue.pop(0)
                if failure.after:
                    handler = getattr(self, "_" + method.replace(".", "_"), None)
                    if handler is not None:
                        handler(params)
                return failure.status, failure.headers, {"ok": False, "error": failure.error}
            foreign = self._foreign(method, params, token)
            if foreign:
                return 200, {}, {"ok": False, "error": foreign}
            handler = getattr(self, "_" + method.replace(".", "_"), None)
            if handler is None:
                return 200, {}, {"ok": False, "error": "unknown_method"}
            return 200, {}, handler(params)

    def _foreign(self, method: str, params: dict[str, Any], token: str | None) -> str | None:
        """The error for an id outside ``token``'s workspace (see :meth:`own`), else None."""
        owned = self.owned.get(token or "")
        if owned is None:
            return None
        if method == "conversations.open":
            users = str(params.get("users") or "").split(",")
            return None if all(u in owned for u in users) else "user_not_found"
        channel = str(params.get("channel") or params.get("channel_id") or "")
        if not channel or method in ("auth.test", "users.info", "views.publish", "views.open"):
            return None
        if channel.startswith("D"):  # a direct message with U… (conversations.open's answer)
            channel = "U" + channel[1:]
        return None if channel in owned else "channel_not_found"

    def _next_ts(self) -> str:
        self._ts += 1
        return f"{self._ts}.000100"

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        team = self.teams.get(str(params.get("token") or self.calls[-1].token or ""), TEAM)
        return {"ok": True, "url": "https://fake.slack/", "team": "Fake", "team_id": team,
                "user": "briefbot", "user_id": BOT_USER, "bot_id": BOT_ID}  # fmt: skip

    def _oauth_v2_access(self, params: dict[str, Any]) -> dict[str, Any]:
        grant = self.grants.pop(str(params.get("code") or ""), None)
        if grant is None:
            return {"ok": False, "error": "invalid_code"}
        self.teams[grant["token"]] = grant["team"]
        return {"ok": True, "app_id": "A1", "token_type": "bot", "access_token": grant["token"],
                "scope": "chat:write,commands", "bot_user_id": grant["bot_user"],
                "team": {"id": grant["team"], "name": f"Team {grant['team']}"}, "enterprise": None,
                "is_enterprise_install": False, "authed_user": {"id": "UINSTALLER"}}  # fmt: skip

    def _chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = str(params.get("channel", ""))
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if channel.startswith("U"):
            channel = "D" + channel[1:]
        message: dict[str, Any] = {
            "type": "message",
            "ts": self._next_ts(),
            "user": BOT_USER,
            "bot_id": BOT_ID,
        }
        for name in ("text", "blocks", "thread_ts", "metadata"):
            if name in params:
                value = params[name]
                message[name] = (
                    json.loads(value) if name in ("blocks", "metadata") and isinstance(value, str) else value
                )
        self.messages.setdefault(channel, []).append(message)
        return {"ok": True, "channel": channel, "ts": message["ts"], "message": message}

    def _apps_connections_open(self, params: dict[str, Any]) -> dict[str, Any]:
        token = self.calls[-1].token or ""
        if not token.startswith("xapp-"):
            return {"ok": False, "error": "not_allowed_token_type"}
        if not self.socket_url:
            return {"ok": False, "error": "internal_error"}
        return {"ok": True, "url": self.socket_url}

    def _files_getUploadURLExternal(self, params: dict[str, Any]) -> dict[str, Any]:
        filename, length = str(params.get("filename") or ""), int(params.get("length") or 0)
        if not filename or length <= 0:
            return {"ok": False, "error": "invalid_arguments"}
        file_id = f"F{len(self._files) + 1:08d}"
        self._files[file_id] = {"id": file_id, "name": filename, "length": length}
        root = self.url.removesuffix("api/")
        return {"ok": True, "file_id": file_id, "upload_url": f"{root}upload/{file_id}"}

    def upload(self, file_id: str, data: bytes) -> tuple[int, bytes]:
        """The upload step: bytes POSTed to a URL from ``files.getUploadURLExternal``."""
        with self.lock:
            self.calls.append(Call("upload", {"file_id": file_id, "length": len(data)}, None))
            self.lock.notify_all()
            known = self._files.get(file_id)
            if known is None:
                return 404, b"unknown upload"
            if len(data) != known["length"]:
                return 400, b"length mismatch"
            self.uploads[file_id] = data
            return 200, f"OK - {len(data)}".encode()

    def _files_completeUploadExternal(self, params: dict[str, Any]) -> dict[str, Any]:
        files = params.get("files")
        files = json.loads(files) if isinstance(files, str) else files
        if not files or any(f.get("id") not in self.uploads for f in files):
            return {"ok": False, "error": "file_not_found"}
        shared = [{**self._files[f["id"]], "title": f.get("title") or self._files[f["id"]]["name"]}
                  for f in files]  # fmt: skip
        channel = str(params.get("channel_id") or "")
        if channel:
            message: dict[str, Any] = {"type": "message", "ts": self._next_ts(), "user": BOT_USER,
                                       "bot_id": BOT_ID, "files": shared,
                                       "text": str(params.get("initial_comment") or "")}  # fmt: skip
            if params.get("thread_ts"):
                message["thread_ts"] = params["thread_ts"]
            self.messages.setdefault(channel, []).append(message)
        return {"ok": True, "files": shared}

    def _chat_postEphemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "message_ts": self._next_ts()}

    def _conversations_open(self, params: dict[str, Any]) -> dict[str, Any]:
        users = str(params.get("users", ""))
        return {"ok": True, "channel": {"id": "D" + users.split(",")[0][1:]}}

    def _conversations_history(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = str(params.get("channel", ""))
        limit = int(params.get("limit", 100))
        with_metadata = str(params.get("include_all_metadata", "")).lower() in ("1", "true")
        out = []
        for message in reversed(self.messages.get(channel, [])):
            if message.get("thread_ts"):
                continue  # replies are not in a channel's history
            copy = dict(message)
            if not with_metadata:
                copy.pop("metadata", None)
            out.append(copy)
        return {"ok": True, "messages": out[:limit], "has_more": len(out) > limit}

    def _conversations_replies(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = str(params.get("channel", ""))
        ts = str(params.get("ts", ""))
        limit = int(params.get("limit", 100))
        thread = [m for m in self.messages.get(channel, []) if ts in (m["ts"], m.get("thread_ts"))]
        if not thread:
            return {"ok": False, "error": "thread_not_found"}
        return {"ok": True, "messages": [dict(m) for m in thread[:limit]], "has_more": len(thread) > limit}

    def _views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("trigger_id"):
            return {"ok": False, "error": "invalid_trigger_id"}
        view = params.get("view")
        view = json.loads(view) if isinstance(view, str) else view
        return {"ok": True, "view": {"id": f"V{self._next_ts()}", **(view or {})}}

    def _views_publish(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("user_id"):
            return {"ok": False, "error": "user_not_found"}
        view = params.get("view")
        view = json.loads(view) if isinstance(view, str) else view
        return {"ok": True, "view": {"id": f"V{self._next_ts()}", **(view or {})}}

    def _users_conversations(self, params: dict[str, Any]) -> dict[str, Any]:
        """The person's channels, ``limit`` a page, the next page's offset as the cursor."""
        channels = self.members.get(str(params.get("user") or ""), [])
        limit, start = int(params.get("limit") or 100), int(params.get("cursor") or 0)
        page = channels[start : start + limit]
        more = start + limit < len(channels)
        return {"ok": True, "channels": [{"id": c, "is_channel": True} for c in page],
                "response_metadata": {"next_cursor": str(start + limit) if more else ""}}  # fmt: skip

    def _users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(params.get("user", "")))
        return {"ok": True, "user": user} if user else {"ok": False, "error": "user_not_found"}


def signed_headers(body: str, secret: str, *, age: float = 0) -> dict[str, str]:
    """Slack's request-signing headers for ``body``, ``age`` seconds old, signed as Slack
    signs them (slack_sdk's :class:`SignatureVerifier`: v0, HMAC-SHA256 of the timestamp
    and body)."""
    stamp = str(int(time.time() - age))
    signature = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)
    assert signature is not None
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature}


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        method = parts.path.rsplit("/", 1)[-1]
        params: dict[str, Any] = dict(parse_qsl(parts.query))
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if parts.path.startswith("/upload/"):
            status, text = self.server.fake.upload(method, raw)
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)
            return
        ctype = self.headers.get("Content-Type", "")
        if raw and "json" in ctype:
            params.update(json.loads(raw))
        elif raw:
            params.update(parse_qsl(raw.decode()))
        auth = self.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth else params.get("token")
        status, headers, body = self.server.fake.answer(method, params, token)
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeSlack


def serve() -> tuple[FakeSlack, _Server]:
    """Start a fake on a free local port; its ``url`` is the Web API base URL."""
    fake = FakeSlack()
    server = _Server(("127.0.0.1", 0), _Handler)
    server.fake = fake
    fake.url = f"http://127.0.0.1:{server.server_address[1]}/api/"
    threading.Thread(target=server.serve_forever, args=(0.05,), name="fake-slack", daemon=True).start()
    return fake, server


@pytest.fixture
def slack_api() -> Iterator[FakeSlack]:
    """A running fake Slack Web API."""
    fake, server = serve()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
