"""A local fake of Discord's gateway (websocket, JSON, no compression) for discord.py.

It speaks enough of the protocol for ``discord.Client.connect``: HELLO (op 10) on connect,
IDENTIFY (op 2) answered by a READY dispatch (the bot user, the application, the guilds as
unavailable) and a GUILD_CREATE per guild, HEARTBEAT (op 1) answered by HEARTBEAT_ACK
(op 11), RESUME (op 6) by INVALID_SESSION (op 9: not resumable, so the client identifies
again); with ``reconnects`` it asks for a reconnect (op 7, as Discord may at any time) right
after that many first READYs. A test pushes dispatches (``INTERACTION_CREATE``, ``MESSAGE_CREATE``) with
:meth:`FakeGateway.dispatch` and can ask the client for a heartbeat with
:meth:`FakeGateway.request_heartbeat`. Every frame the client sent is kept in ``received``.

For the end-to-end tests, :func:`make_app` builds briefbot on SQLite with the TPU stories
analysed (clock frozen), the ``app`` fixture registers the guild with the fake REST API,
and :func:`until` polls for what the fakes recorded.

The gateway runs on aiohttp.web in the test's event loop (start it inside the coroutine the
test runs); its ``url`` goes into the fake REST API's ``GET /gateway/bot``. The payload
builders (:func:`guild_payload`, :func:`interaction_payload`, :func:`message_payload`) make
the JSON Discord sends, for the gateway and for unit tests building discord.py objects.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import time as _time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import WSMsgType, web
from discord.gateway import DiscordWebSocket
from discord.http import Route

from bot.config import Settings
from bot.core.models import ParsedEntry
from bot.runtime.wiring import App, build
from tests.cli.test_console import TPU_NEWS
from tests.runtime.test_scheduler import START, FrozenClock
from tests.support.discord_server import BOT_USER_ID, FakeDiscord

APP_ID = BOT_USER_ID  # a bot's application id is its user id
GUILD_ID = "300000000000000001"
CHANNEL_ID = "300000000000000002"
SYSTEM_CHANNEL_ID = "300000000000000003"
OWNER_ID = "300000000000000009"
USER_ID = "300000000000000010"
MANAGE_GUILD = 1 << 5
EVERYONE_PERMISSIONS = (1 << 10) | (1 << 11) | (1 << 16) | (1 << 31)  # view, send, history, app commands
NOW = "2026-12-03T12:00:00+00:00"
TOKEN = "test-discord-token"


def user_payload(user_id: str, name: str = "person", *, bot: bool = False) -> dict[str, Any]:
    """A user object."""
    return {
        "id": user_id,
        "username": name,
        "discriminator": "0",
        "global_name": name,
        "avatar": None,
        "bot": bot,
    }


def bot_user() -> dict[str, Any]:
    """The bot's own user (the fake REST API's ``/users/@me``)."""
    return user_payload(BOT_USER_ID, "briefbot", bot=True)


def member_payload(user_id: str, *, permissions: int = EVERYONE_PERMISSIONS) -> dict[str, Any]:
    """A guild member as an interaction carries it (with its permissions in the channel)."""
    return {
        "user": user_payload(user_id),
        "roles": [],
        "joined_at": NOW,
        "deaf": False,
        "mute": False,
        "flags": 0,
        "permissions": str(permissions),
    }


def channel_payload(channel_id: str, guild_id: str = GUILD_ID, name: str = "news") -> dict[str, Any]:
    """A guild text channel."""
    return {
        "id": channel_id,
        "type": 0,
        "guild_id": guild_id,
        "name": name,
        "position": 0,
        "permission_overwrites": [],
        "nsfw": False,
        "parent_id": None,
        "topic": None,
        "rate_limit_per_user": 0,
        "last_message_id": None,
    }


def thread_payload(
    thread_id: str, parent_id: str = CHANNEL_ID, owner_id: str = BOT_USER_ID
) -> dict[str, Any]:
    """A public thread in ``parent_id`` started by ``owner_id``."""
    return {
        "id": thread_id,
        "type": 11,
        "guild_id": GUILD_ID,
        "parent_id": parent_id,
        "owner_id": owner_id,
        "name": "thread",
        "message_count": 1,
        "member_count": 2,
        "rate_limit_per_user": 0,
        "flags": 0,
        "thread_metadata": {
            "archived": False,
            "auto_archive_duration": 1440,
            "archive_timestamp": NOW,
            "locked": False,
        },
    }


def guild_payload(
    guild_id: str = GUILD_ID,
    *,
    channels: list[str] | None = None,
    threads: list[dict[str, Any]] | None = None,
    owner_id: str = OWNER_ID,
    system_channel_id: str | None = SYSTEM_CHANNEL_ID,
) -> dict[str, Any]:
    """A GUILD_CREATE payload: a guild with text channels, an @everyone role and the bot member."""
    ids = channels if channels is not None else [CHANNEL_ID, SYSTEM_CHANNEL_ID]
    return {
        "id": guild_id,
        "name": "AI infra",
        "icon": None,
        "owner_id": owner_id,
        "afk_timeout": 300,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "mfa_level": 0,
        "nsfw_level": 0,
        "premium_tier": 0,
        "preferred_locale": "en-US",
        "system_channel_id": system_channel_id,
        "system_channel_flags": 0,
        "features": [],
        "roles": [
            {
                "id": guild_id,
                "name": "@everyone",
                "permissions": str(EVERYONE_PERMISSIONS),
                "position": 0,
                "color": 0,
                "hoist": False,
                "managed": False,
                "mentionable": False,
                "flags": 0,
            }
        ],
        "emojis": [],
        "stickers": [],
        "member_count": 3,
        "large": False,
        "unavailable": False,
        "joined_at": NOW,
        "voice_states": [],
        "presences": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
        "members": [
            {"user": bot_user(), "roles": [], "joined_at": NOW, "deaf": False, "mute": False, "flags": 0}
        ],
        "channels": [channel_payload(c, guild_id) for c in ids],
        "threads": list(threads or []),
    }


def interaction_payload(
    name: str,
    options: list[dict[str, Any]] | None = None,
    *,
    interaction_id: str = "400000000000000001",
    token: str = "itoken-1",
    user_id: str = USER_ID,
    permissions: int = EVERYONE_PERMISSIONS,
    channel_id: str = CHANNEL_ID,
    guild_id: str | None = GUILD_ID,
    kind: int = 2,
    data: dict[str, Any] | None = None,
    message: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An INTERACTION_CREATE payload: a slash command ``name`` with ``options`` (type 2), or
    with ``kind`` and ``data`` a component (3), autocomplete (4) or modal submit (5)."""
    payload: dict[str, Any] = {
        "id": interaction_id,
        "application_id": APP_ID,
        "type": kind,
        "token": token,
        "version": 1,
        "channel_id": channel_id,
        "locale": "en-US",
        "app_permissions": str((1 << 53) - 1),
        "entitlements": [],
        "authorizing_integration_owners": {"0": guild_id or "0"},
        "context": 0 if guild_id else 1,
        "attachment_size_limit": 10 * 1024 * 1024,
        "data": data
        if data is not None
        else {
            "id": "500000000000000001",
            "name": name,
            "type": 1,
            "options": options or [],
            **({"guild_id": guild_id} if guild_id else {}),
        },
    }
    if guild_id:
        payload["guild_id"] = guild_id
        payload["guild_locale"] = "en-US"
        payload["member"] = member_payload(user_id, permissions=permissions)
        payload["channel"] = channel_payload(channel_id, guild_id)
    else:
        payload["user"] = user_payload(user_id)
        payload["channel"] = {"id": channel_id, "type": 1, "recipients": [user_payload(user_id)]}
    if message is not None:
        payload["message"] = message
    return payload


def message_payload(
    message_id: str,
    content: str,
    *,
    channel_id: str = CHANNEL_ID,
    author_id: str = USER_ID,
    guild_id: str | None = GUILD_ID,
    mentions: list[str] | None = None,
    reference: dict[str, Any] | None = None,
    bot: bool = False,
) -> dict[str, Any]:
    """A MESSAGE_CREATE payload from ``author_id``; ``mentions`` lists mentioned user ids."""
    author = bot_user() if author_id == BOT_USER_ID else user_payload(author_id, bot=bot)
    payload: dict[str, Any] = {
        "id": message_id,
        "channel_id": channel_id,
        "type": 19 if reference else 0,
        "content": content,
        "author": author,
        "embeds": [],
        "attachments": [],
        "components": [],
        "pinned": False,
        "tts": False,
        "mention_everyone": False,
        "mention_roles": [],
        "timestamp": NOW,
        "edited_timestamp": None,
        "flags": 0,
        "mentions": [user_payload(u, bot=u == BOT_USER_ID) for u in mentions or []],
    }
    if guild_id:
        payload["guild_id"] = guild_id
        if author_id != BOT_USER_ID:
            payload["member"] = {"roles": [], "joined_at": NOW, "deaf": False, "mute": False, "flags": 0}
    if reference:
        payload["message_reference"] = {"message_id": reference["id"], "channel_id": channel_id}
        payload["referenced_message"] = reference
    return payload


class FakeGateway:
    """The fake gateway's state: the frames it received and the open connection."""

    def __init__(
        self,
        guilds: list[dict[str, Any]] | None = None,
        *,
        heartbeat_ms: int = 45_000,
        close_on_identify: int | None = None,
        reconnects: int = 0,
    ) -> None:
        self.guilds = guilds if guilds is not None else [guild_payload()]
        self.heartbeat_ms = heartbeat_ms
        self.close_on_identify = close_on_identify  # a close code instead of READY (4004, 4014)
        self.reconnects = reconnects  # op 7 after this many READYs
        self.received: list[dict[str, Any]] = []
        self.identified = asyncio.Event()
        self.url = ""
        self._ws: web.WebSocketResponse | None = None
        self._seq = 0
        self._runner: web.AppRunner | None = None
        self._frame = asyncio.Condition()

    async def start(self) -> str:
        """Listen on a free local port; returns the ``ws://`` URL."""
        app = web.Application()
        app.router.add_get("/", self._socket)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"ws://127.0.0.1:{port}/"
        return self.url

    async def close(self) -> None:
        """Close the connection (if open) and stop listening."""
        if self._ws is not None and not self._ws.closed:
            await self._ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # -- what tests call ---------------------------------------------------------------

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send the dispatch ``event`` (op 0) with the next sequence number."""
        self._seq += 1
        await self._send({"op": 0, "t": event, "s": self._seq, "d": data})

    async def request_heartbeat(self) -> None:
        """Ask the client for a heartbeat now (op 1)."""
        await self._send({"op": 1, "d": None})

    async def wait_for_op(self, op: int, *, after: int = 0, timeout: float = 5.0) -> dict[str, Any]:
        """The first frame with ``op`` the client sent after the first ``after`` frames."""

        def found() -> dict[str, Any] | None:
            return next((f for f in self.received[after:] if f.get("op") == op), None)

        async with self._frame:
            await asyncio.wait_for(self._frame.wait_for(lambda: found() is not None), timeout)
        frame = found()
        assert frame is not None
        return frame

    def ops(self, op: int) -> list[dict[str, Any]]:
        """Every frame with ``op`` the client sent."""
        return [f for f in self.received if f.get("op") == op]

    # -- the connection ----------------------------------------------------------------

    async def _send(self, frame: dict[str, Any]) -> None:
        if self._ws is None or self._ws.closed:
            raise RuntimeError("no client is connected to the fake gateway")
        await self._ws.send_str(json.dumps(frame))

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._ws = ws
        await ws.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": self.heartbeat_ms}}))
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            frame = json.loads(msg.data)
            async with self._frame:
                self.received.append(frame)
                self._frame.notify_all()
            await self._answer(frame)
        return ws

    async def _answer(self, frame: dict[str, Any]) -> None:
        op = frame.get("op")
        if op == 1:
            await self._send({"op": 11})
        elif op == 2:
            self.identified.set()
            if self.close_on_identify is not None and self._ws is not None:
                await self._ws.close(code=self.close_on_identify, message=b"refused")
                return
            ready = {
                "v": 10,
                "user": bot_user(),
                "session_id": f"session-{time.monotonic_ns()}",
                "resume_gateway_url": self.url,
                "application": {"id": APP_ID, "flags": 0},
                "guilds": [{"id": g["id"], "unavailable": True} for g in self.guilds],
                "private_channels": [],
                "relationships": [],
                "shard": [0, 1],
            }
            await self.dispatch("READY", ready)
            for guild in self.guilds:
                await self.dispatch("GUILD_CREATE", guild)
            if self.reconnects > 0:
                self.reconnects -= 1
                await self._send({"op": 7, "d": None})
        elif op == 6:  # RESUME: not kept; ask for a new session
            await self._send({"op": 9, "d": False})


# ---- the App the gateway tests serve --------------------------------------------------


@pytest.fixture(autouse=True)
def _restore_discord_globals(monkeypatch: pytest.MonkeyPatch) -> None:
    """Route.BASE and DEFAULT_GATEWAY are process-wide: put them back after each test."""
    monkeypatch.setattr(Route, "BASE", Route.BASE)
    monkeypatch.setattr(DiscordWebSocket, "DEFAULT_GATEWAY", DiscordWebSocket.DEFAULT_GATEWAY)


def make_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, api_url: str) -> App:
    """briefbot on a fresh SQLite file with the TPU stories analysed, the clock frozen at START."""
    values = {
        "BRIEFBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'briefbot.db'}",
        "BRIEFBOT_DATA_DIR": str(tmp_path / "data"),
        "BRIEFBOT_LOAD_DEFAULT_FEEDS": "false",
        "BRIEFBOT_PARSE_WORKERS": "1",
        "DISCORD_TOKEN": TOKEN,
        "BRIEFBOT_DISCORD_API_URL": api_url,
    }
    for key in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "SLACK_BOT_TOKEN", "BRIEFBOT_CONFIG", "BRIEFBOT_ADMINS"):
        monkeypatch.delenv(key, raising=False)
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    built = build(Settings.load(), clock=FrozenClock(START))  # type: ignore[arg-type]
    feed, _ = built.store.add_feed("https://news.example/feed", topic=None, title="TPU Wire", now=START)
    items = [
        ParsedEntry(
            item_id=key,
            url=f"https://{key}.example/",
            canonical_url=f"https://{key}.example/",
            title=title,
            text=text,
            summary=text[:80],
            published=START - timedelta(hours=2),
        )
        for key, title, text, _ in TPU_NEWS
    ]
    built.store.store_entries(feed, items, now=START, backfill=False)
    built.service.analyze()
    return built


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, discord_api: FakeDiscord) -> Iterator[App]:
    """The App, with the fake REST API's guild and channels registered."""
    discord_api.add_guild(
        GUILD_ID, OWNER_ID, [CHANNEL_ID, SYSTEM_CHANNEL_ID], system_channel_id=SYSTEM_CHANNEL_ID
    )
    built = make_app(tmp_path, monkeypatch, discord_api.url)
    yield built
    asyncio.run(built.aclose())


async def until(check: Callable[[], Any], *, timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll ``check`` (in the event loop, every 20 ms) until it returns something truthy."""
    deadline = _time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if _time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def connected(
    app: App, api: FakeDiscord, gateway: FakeGateway | None = None
) -> AsyncIterator[FakeGateway]:
    """``serve_discord`` running against ``api`` and a started fake gateway, ready and with
    its commands synced; stopped (and awaited) on exit."""
    from bot.runtime.discord import serve_discord

    gateway = gateway or FakeGateway()
    api.gateway_url = await gateway.start()
    stop = asyncio.Event()
    serving = asyncio.create_task(serve_discord(app, stop))
    try:
        await until(lambda: api.requests_to("sync_commands") or serving.done(), what="command sync")
        if serving.done():
            serving.result()
        yield gateway
    finally:
        stop.set()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(serving, 10)
        await gateway.close()
