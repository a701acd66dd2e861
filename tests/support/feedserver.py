"""A local HTTP server that plays feed publishers (well- and badly-behaved) for tests.

It listens on 127.0.0.1 on a free port (optionally with TLS), serves each connection
in its own thread (HTTP/1.1 with keep-alive), records every request, and serves routes that tests set up::

    with FeedServer() as server:
        server.feed("/rss", b"<rss>...</rss>", etag=True, last_modified=True)
        server.redirect("/old", "/rss", status=301)
        server.status("/busy", 429, retry_after="120")
        url = server.url("/old")
        ...
        server.update("/rss", b"<rss>new</rss>")   # next fetch gets new body and ETag
        assert server.requests_for("/rss")[-1].headers["if-none-match"] == ...

Behaviours: conditional GET (ETag / Last-Modified, answering 304), gzip, a delay
before answering, hanging mid-body, oversized streamed bodies, truncated bodies
(Content-Length larger than what is sent), redirects (to a path or an absolute URL),
arbitrary statuses with Retry-After. It also tracks how many requests were in flight
at once, overall and per Host header.
"""

from __future__ import annotations

import email.utils
import gzip
import hashlib
import ssl
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

CHUNK = 64 * 1024


@dataclass
class Route:
    """How the server answers GET requests for one path. Tests may change fields at any time."""

    body: bytes = b""
    status: int = 200
    content_type: str = "application/rss+xml; charset=utf-8"
    etag: str | None = None
    last_modified: str | None = None
    gzip: bool = False  # compress when the client accepts gzip
    delay: float = 0.0  # seconds to wait before answering at all
    hang: float | None = None  # send headers and ``body``, then stall this long, then close
    stream_bytes: int | None = None  # stream this many bytes (chunked) instead of ``body``
    truncate_at: int | None = None  # declare len(body) in Content-Length, send only this many, close
    location: str | None = None  # answer with a redirect to this path or absolute URL
    retry_after: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    drop_connection: bool = False  # close the connection after answering, without announcing it


@dataclass(frozen=True)
class RecordedRequest:
    """A request the server received; header names are lower-case."""

    method: str
    path: str
    headers: dict[str, str]
    client_port: int
    at: float


class FeedServer:
    """A threaded HTTP server on 127.0.0.1:<free port>; use as a context manager."""

    def __init__(self, host: str = "127.0.0.1", *, ssl_context: ssl.SSLContext | None = None) -> None:
        self._httpd = _Server((host, 0), _Handler)
        self._httpd.feed = self
        self.scheme = "http"
        if ssl_context is not None:
            self._httpd.socket = ssl_context.wrap_socket(self._httpd.socket, server_side=True)
            self.scheme = "https"
        self.host: str = host
        self.port: int = self._httpd.server_port
        self.routes: dict[str, Route] = {}
        self.requests: list[RecordedRequest] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._in_flight: dict[str, int] = defaultdict(int)
        self._in_flight_total = 0
        self.max_concurrent = 0
        self.max_concurrent_by_host: dict[str, int] = defaultdict(int)
        self._thread: threading.Thread | None = None
        self._version = 0

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> FeedServer:
        """Start serving in a daemon thread."""
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="feedserver", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; wakes handlers that are stalling."""
        self.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- addresses -------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` (``https`` when serving TLS)."""
        return f"{self.scheme}://{self.host}:{self.port}"

    def url(self, path: str, *, host: str | None = None) -> str:
        """Absolute URL of ``path``; ``host`` replaces 127.0.0.1 (e.g. a name a stub resolver maps)."""
        return f"{self.scheme}://{host or self.host}:{self.port}{path}"

    # -- routes ----------------------------------------------------------------------

    def route(self, path: str, route: Route) -> Route:
        """Serve ``route`` at ``path`` (replacing any previous route); returns it."""
        with self._lock:
            self.routes[path] = route
        return route

    def feed(
        self,
        path: str,
        body: bytes,
        *,
        etag: bool | str = False,
        last_modified: bool | str = False,
        gzip: bool = False,
        delay: float = 0.0,
        content_type: str = "application/rss+xml; charset=utf-8",
        headers: dict[str, str] | None = None,
    ) -> Route:
        """Serve ``body``; ``etag``/``last_modified`` True means generate one (and answer 304)."""
        route = Route(body=body, gzip=gzip, delay=delay, content_type=content_type, headers=headers or {})
        if etag:
            route.etag = etag if isinstance(etag, str) else self._etag_for(body)
        if last_modified:
            route.last_modified = last_modified if isinstance(last_modified, str) else _http_date(time.time())
        return self.route(path, route)

    def update(self, path: str, body: bytes) -> Route:
        """Change a route's body; a generated ETag and Last-Modified change with it."""
        with self._lock:
            route = self.routes[path]
            route.body = body
            if route.etag is not None:
                route.etag = self._etag_for(body)
            if route.last_modified is not None:
                previous = email.utils.parsedate_to_datetime(route.last_modified).timestamp()
                route.last_modified = _http_date(max(time.time(), previous + 1))
        return route

    def redirect(self, path: str, to: str, *, status: int = 301) -> Route:
        """Redirect ``path`` to ``to``, sent verbatim as Location (a relative path or any URL)."""
        return self.route(path, Route(status=status, location=to))

    def redirect_chain(self, prefix: str, hops: int, to: str, *, status: int = 302) -> str:
        """``hops`` redirects ``{prefix}/0 -> {prefix}/1 -> ... -> to``; returns the first path."""
        for i in range(hops):
            target = f"{prefix}/{i + 1}" if i + 1 < hops else to
            self.redirect(f"{prefix}/{i}", target, status=status)
        return f"{prefix}/0"

    def slow(self, path: str, body: bytes, *, delay: float) -> Route:
        """Serve ``body`` after waiting ``delay`` seconds."""
        return self.feed(path, body, delay=delay)

    def hang(self, path: str, *, seconds: float = 30.0, partial: bytes = b"<rss><channel>") -> Route:
        """Send headers promising more than ``partial``, send ``partial``, then stall ``seconds``."""
        return self.route(path, Route(body=partial, hang=seconds))

    def oversized(self, path: str, size: int, *, gzip: bool = False) -> Route:
        """Stream ``size`` bytes (chunked); with ``gzip`` send them compressed (a small body)."""
        if gzip:
            return self.route(path, Route(body=b"\0" * size, gzip=True))
        return self.route(path, Route(stream_bytes=size))

    def truncated(self, path: str, body: bytes, *, sent: int) -> Route:
        """Declare ``len(body)`` in Content-Length but send only ``sent`` bytes, then close."""
        return self.route(path, Route(body=body, truncate_at=sent))

    def status(
        self,
        path: str,
        status: int,
        *,
        body: bytes = b"",
        retry_after: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Route:
        """Answer with ``status`` (and an optional Retry-After)."""
        return self.route(
            path, Route(status=status, body=body, retry_after=retry_after, headers=headers or {})
        )

    # -- what happened ---------------------------------------------------------------

    def requests_for(self, path: str) -> list[RecordedRequest]:
        """The recorded requests for ``path`` (query string included in the match)."""
        with self._lock:
            return [r for r in self.requests if r.path == path]

    @property
    def connections(self) -> int:
        """How many distinct client connections sent requests."""
        with self._lock:
            return len({r.client_port for r in self.requests})

    def reset_stats(self) -> None:
        """Forget recorded requests and concurrency peaks."""
        with self._lock:
            self.requests.clear()
            self.max_concurrent = 0
            self.max_concurrent_by_host.clear()

    # -- internals used by the handler -----------------------------------------------

    def _etag_for(self, body: bytes) -> str:
        self._version += 1
        return f'"{hashlib.sha1(body).hexdigest()[:12]}-{self._version}"'

    def _lookup(self, path: str) -> Route | None:
        with self._lock:
            return self.routes.get(path) or self.routes.get(path.split("?", 1)[0])

    def _enter(self, request: RecordedRequest) -> str:
        host = request.headers.get("host", "")
        with self._lock:
            self.requests.append(request)
            self._in_flight[host] += 1
            self._in_flight_total += 1
            self.max_concurrent = max(self.max_concurrent, self._in_flight_total)
            self.max_concurrent_by_host[host] = max(self.max_concurrent_by_host[host], self._in_flight[host])
        return host

    def _leave(self, host: str) -> None:
        with self._lock:
            self._in_flight[host] -= 1
            self._in_flight_total -= 1


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512
    feed: FeedServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that hang up early (size cap, timeouts) are expected; stay quiet about them."""
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = 30  # idle keep-alive connections end after this
    server: _Server

    request_headers: dict[str, str]
    raw_requestline: bytes

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request log line."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Silence the per-request log line (without formatting it first)."""

    def parse_request(self) -> bool:
        """Read the request line and headers into ``request_headers`` (lower-case names).

        A lean stand-in for the stdlib's parser, which goes through the email package
        and costs more than the rest of a 304 here; benchmarks run this server in-process.
        """
        self.requestline = self.raw_requestline.decode("latin-1").rstrip("\r\n")
        words = self.requestline.split()
        self.request_version = "HTTP/1.1"
        if len(words) != 3 or words[2] not in ("HTTP/1.0", "HTTP/1.1"):
            self.send_error(400, "Bad request line")
            return False
        self.command, self.path, self.request_version = words
        headers: dict[str, str] = {}
        while (line := self.rfile.readline(65537)) not in (b"\r\n", b"\n", b""):
            name, colon, value = line.decode("latin-1").partition(":")
            if not colon:
                self.send_error(400, "Bad header line")
                return False
            key = name.strip().lower()
            headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
        self.request_headers = headers
        connection = headers.get("connection", "").lower()
        self.close_connection = connection == "close" or (
            self.request_version == "HTTP/1.0" and connection != "keep-alive"
        )
        return True

    def do_GET(self) -> None:
        feed = self.server.feed
        request = RecordedRequest(
            method="GET",
            path=self.path,
            headers=self.request_headers,
            client_port=self.client_address[1],
            at=time.monotonic(),
        )
        host = feed._enter(request)
        try:
            route = feed._lookup(self.path)
            if route is None:
                self._send_simple(404, b"not found")
                return
            if route.delay and feed.stopping.wait(route.delay):
                self.close_connection = True
                return
            self._answer(route, request.headers)
            if route.drop_connection:
                self.close_connection = True
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        finally:
            feed._leave(host)

    def _answer(self, route: Route, headers: dict[str, str]) -> None:
        if route.location is not None:
            self._send_simple(route.status, b"", {"Location": route.location})
        elif _not_modified(route, headers):
            self._send_simple(304, None, _validators(route))
        elif route.status != 200:
            extra = dict(route.headers)
            if route.retry_after is not None:
                extra["Retry-After"] = route.retry_after
            self._send_simple(route.status, route.body, extra)
        elif route.stream_bytes is not None:
            self._stream(route)
        elif route.hang is not None:
            self._hang(route)
        else:
            self._send_body(route, headers)

    def _send_simple(self, status: int, body: bytes | None, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if body is not None:
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _send_body(self, route: Route, request_headers: dict[str, str]) -> None:
        body = route.body
        headers = {"Content-Type": route.content_type, **_validators(route), **route.headers}
        if route.gzip and "gzip" in request_headers.get("accept-encoding", ""):
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
            headers["Vary"] = "Accept-Encoding"
        self.send_response(200)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        if route.truncate_at is not None:
            self.send_header("Connection", "close")
        self.end_headers()
        if route.truncate_at is not None:
            self.wfile.write(body[: route.truncate_at])
            self.close_connection = True
            return
        self.wfile.write(body)

    def _stream(self, route: Route) -> None:
        self.send_response(200)
        self.send_header("Content-Type", route.content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        remaining = route.stream_bytes or 0
        block = b"x" * CHUNK
        while remaining > 0:
            piece = block[: min(CHUNK, remaining)]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            remaining -= len(piece)
        self.wfile.write(b"0\r\n\r\n")

    def _hang(self, route: Route) -> None:
        self.send_response(200)
        self.send_header("Content-Type", route.content_type)
        self.send_header("Content-Length", str(len(route.body) + 1_000_000))
        self.end_headers()
        self.wfile.write(route.body)
        self.wfile.flush()
        self.server.feed.stopping.wait(route.hang)
        self.close_connection = True


def _validators(route: Route) -> dict[str, str]:
    headers = {}
    if route.etag is not None:
        headers["ETag"] = route.etag
    if route.last_modified is not None:
        headers["Last-Modified"] = route.last_modified
    return headers


def _not_modified(route: Route, headers: dict[str, str]) -> bool:
    """Whether a conditional request matches the route's current validators (RFC 9110 13.2.2)."""
    if route.status != 200 or route.stream_bytes is not None or route.hang is not None:
        return False
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        if route.etag is None:
            return False
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or route.etag.removeprefix("W/") in tags
    since = headers.get("if-modified-since")
    if since is None or route.last_modified is None:
        return False
    try:
        return _timestamp(route.last_modified) <= _timestamp(since)
    except (TypeError, ValueError):
        return False


def _timestamp(http_date: str) -> float:
    return email.utils.parsedate_to_datetime(http_date).timestamp()


def _http_date(timestamp: float) -> str:
    return email.utils.formatdate(int(timestamp), usegmt=True)
