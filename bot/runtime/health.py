"""A tiny HTTP server for ``/healthz`` and Prometheus ``/metrics`` (``BRIEFBOT_HTTP_PORT``).

Plain ``asyncio.start_server``, one request per connection, no new dependency. Routes
live in a table of path to method to handler, so Slack's HTTP mode (#7) can add
``/slack/events`` on the same port with :meth:`HealthServer.route`. Database work runs
in a thread so the event loop (the scheduler, the chat) never waits on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine, text

from bot.runtime.metrics import CONTENT_TYPE, render_metrics

log = logging.getLogger(__name__)

MAX_HEAD = 16 * 1024  # request line and headers
MAX_BODY = 1024 * 1024
READ_TIMEOUT = 10.0

_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
}
_REASONS |= {500: "Internal Server Error", 503: "Service Unavailable"}


@dataclass(frozen=True)
class Request:
    """One parsed HTTP request."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Response:
    """What a handler answers."""

    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Request], Awaitable[Response]]


def database_ok(engine: Engine) -> bool:
    """True when the database answers ``SELECT 1``."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:  # any failure means "not healthy", never a crash
        log.warning("health check: the database did not answer", exc_info=True)
        return False


class HealthServer:
    """Serves ``GET /healthz`` and ``GET /metrics`` from ``engine``; more routes can be added."""

    def __init__(self, engine: Engine, *, host: str = "0.0.0.0", port: int = 0) -> None:
        self.engine = engine
        self.host = host
        self.port = port
        self.routes: dict[str, dict[str, Handler]] = {}
        self.route("GET", "/healthz", self._healthz)
        self.route("GET", "/metrics", self._metrics)
        self._server: asyncio.Server | None = None

    def route(self, method: str, path: str, handler: Handler) -> None:
        """Serve ``method path`` with ``handler`` (the seam for Slack's /slack/events)."""
        self.routes.setdefault(path, {})[method.upper()] = handler

    async def start(self) -> int:
        """Listen; returns the port (useful when 0 asked for a free one)."""
        self._server = await asyncio.start_server(self._serve, self.host, self.port, limit=MAX_HEAD)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def close(self) -> None:
        """Stop listening and wait for the server to close."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), timeout=5)
            self._server = None

    async def _healthz(self, _request: Request) -> Response:
        if await asyncio.to_thread(database_ok, self.engine):
            return Response(200, b"ok\n")
        return Response(503, b"database unavailable\n")

    async def _metrics(self, _request: Request) -> Response:
        body = await asyncio.to_thread(render_metrics, self.engine)
        return Response(200, body.encode(), content_type=CONTENT_TYPE)

    async def dispatch(self, request: Request) -> Response:
        """The route table: 404 for an unknown path, 405 for a method the path does not take."""
        methods = self.routes.get(request.path)
        if methods is None:
            return Response(404, b"not found\n")
        handler = methods.get(request.method)
        if handler is None:
            allow = ", ".join(sorted(methods))
            return Response(405, b"method not allowed\n", headers={"Allow": allow})
        try:
            return await handler(request)
        except Exception:
            log.exception("health server: %s %s failed", request.method, request.path)
            return Response(500, b"internal error\n")

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                request = await asyncio.wait_for(_read_request(reader), READ_TIMEOUT)
            except (ValueError, asyncio.LimitOverrunError, asyncio.IncompleteReadError):
                request = None
                response = Response(400, b"bad request\n")
            except TimeoutError:
                return
            if request is not None:
                response = await self.dispatch(request)
            await _write_response(writer, response)
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


async def _read_request(reader: asyncio.StreamReader) -> Request:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        raise ValueError("bad request line")
    method, target, _version = parts
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise ValueError("bad header")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or "0")
    if length < 0 or length > MAX_BODY:
        raise ValueError("bad content length")
    body = await reader.readexactly(length) if length else b""
    path, _, query = target.partition("?")
    return Request(method=method.upper(), path=path, query=query, headers=headers, body=body)


async def _write_response(writer: asyncio.StreamWriter, response: Response) -> None:
    reason = _REASONS.get(response.status, "")
    headers = {
        "Content-Type": response.content_type,
        "Content-Length": str(len(response.body)),
        "Connection": "close",
        **response.headers,
    }
    head = f"HTTP/1.1 {response.status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    writer.write(head.encode("latin-1") + b"\r\n" + response.body)
    await writer.drain()


async def start_health_server(engine: Engine, port: int, host: str = "0.0.0.0") -> HealthServer:
    """Start serving ``/healthz`` and ``/metrics`` on ``host:port``; close it with ``close()``."""
    server = HealthServer(engine, host=host, port=port)
    await server.start()
    return server


async def serve_if_configured(port: int | None, engine: Engine) -> HealthServer | None:
    """Start the server when ``BRIEFBOT_HTTP_PORT`` is set; a port in use is reported, not fatal."""
    if not port:
        return None
    try:
        return await start_health_server(engine, port)
    except OSError as exc:
        print(f"briefbot: cannot serve /healthz and /metrics on port {port}: {exc}", file=sys.stderr)
        return None
