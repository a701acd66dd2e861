"""A local fake of Slack's Socket Mode websocket for the Slack adapter's tests.

An aiohttp websocket server on 127.0.0.1 in its own thread and event loop. A client that
connects gets ``hello`` (as Slack sends it); the test then pushes envelopes
(``slash_commands``, ``events_api``, ``interactive``) with :meth:`FakeSocket.push`, and every
acknowledgement the client sends back (``{"envelope_id": ..., "payload": ...}``) is recorded
in :attr:`FakeSocket.acks`. The fake Web API's ``apps.connections.open`` answers with
:attr:`FakeSocket.url` (see ``FakeSlack.socket_url``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import WSMsgType, web


class FakeSocket:
    """The fake Socket Mode server: connections, pushed envelopes, received acks."""

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self.acks: list[dict[str, Any]] = []
        self.connections = 0  # handshakes accepted so far
        self.url = ""
        self._sockets: set[web.WebSocketResponse] = set()
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-slack-socket", daemon=True)

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> FakeSocket:
        """Listen on a free local port; :attr:`url` is the websocket's address."""
        self._thread.start()
        port = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        self.url = f"ws://127.0.0.1:{port}/link/?ticket=fake-ticket"
        return self

    async def _start(self) -> int:
        app = web.Application()
        app.router.add_get("/link/", self._serve)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[attr-defined]
        return int(server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]

    def stop(self) -> None:
        """Close every connection and the server, then the loop."""
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    async def _stop(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        assert self._runner is not None
        await self._runner.cleanup()

    # -- the websocket ----------------------------------------------------------------------

    async def _serve(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._sockets.add(ws)
        with self.lock:
            self.connections += 1
            self.lock.notify_all()
        hello = {"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A1"},
                 "debug_info": {"host": "fake", "approximate_connection_time": 3600}}  # fmt: skip
        await ws.send_str(json.dumps(hello))
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(msg.data)
                except ValueError:
                    continue
                if isinstance(data, dict) and data.get("envelope_id"):
                    with self.lock:
                        self.acks.append(data)
                        self.lock.notify_all()
        finally:
            self._sockets.discard(ws)
            with self.lock:
                self.lock.notify_all()
        return ws

    # -- scripting and inspection -----------------------------------------------------------

    @property
    def connected(self) -> int:
        """Connections open now."""
        return len(self._sockets)

    def wait_connected(self, timeout: float = 10.0) -> None:
        """Wait until a client is connected."""
        self._wait(lambda: self.connected > 0, timeout, "no Socket Mode client connected")

    def push(
        self, kind: str, payload: dict[str, Any], *, accepts_response_payload: bool = False, **extra: Any
    ) -> str:
        """Send an envelope of ``kind`` carrying ``payload`` to every connected client;
        returns its envelope id."""
        envelope_id = str(uuid.uuid4())
        envelope = {"envelope_id": envelope_id, "type": kind, "payload": payload,
                    "accepts_response_payload": accepts_response_payload, **extra}  # fmt: skip
        text = json.dumps(envelope)

        async def send() -> int:
            for ws in list(self._sockets):
                await ws.send_str(text)
            return len(self._sockets)

        sent = asyncio.run_coroutine_threadsafe(send(), self._loop).result(10)
        assert sent, "no Socket Mode client to push to"
        return envelope_id

    def ack_for(self, envelope_id: str, timeout: float = 10.0) -> dict[str, Any]:
        """The acknowledgement of ``envelope_id`` (waits for it)."""
        found: list[dict[str, Any]] = []

        def acked() -> bool:
            found[:] = [a for a in self.acks if a.get("envelope_id") == envelope_id]
            return bool(found)

        self._wait(acked, timeout, f"envelope {envelope_id} not acknowledged")
        return found[0]

    def disconnect_all(self, *, warn: bool = True) -> None:
        """Close every client connection from the server's side: as Slack does, after a
        ``disconnect`` message (``refresh_requested``) unless ``warn`` is off (a bare drop)."""
        notice = json.dumps({"type": "disconnect", "reason": "refresh_requested",
                             "debug_info": {"host": "fake"}})  # fmt: skip

        async def close() -> None:
            for ws in list(self._sockets):
                if warn:
                    await ws.send_str(notice)
                    await asyncio.sleep(0.2)  # Slack gives the client a moment to reconnect
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ws.close(), 2)

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)

    def _wait(self, done: Any, timeout: float, message: str) -> None:
        deadline = time.monotonic() + timeout
        with self.lock:
            while not done():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(message)
                self.lock.wait(min(left, 0.1))


@pytest.fixture
def slack_socket() -> Iterator[FakeSocket]:
    """A running fake Socket Mode websocket server."""
    fake = FakeSocket().start()
    try:
        yield fake
    finally:
        fake.stop()
