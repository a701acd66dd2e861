"""HttpFetcher: conditional, size-capped, SSRF-guarded feed fetching over httpx.

Every connection goes through :class:`~bot.ingest.guard.GuardedBackend`, which resolves
the host and refuses private addresses at connect time; every redirect hop is checked
with :func:`~bot.ingest.guard.check_url` before it is followed. Failures are raised as
:class:`~bot.errors.FetchError` or :class:`~bot.errors.UnsafeURLError` with a one-line
message.

Layers, from the top: :class:`HttpFetcher` (redirects, limits, deadline, errors) builds
``httpx.Request`` objects and reads ``httpx.Response`` objects (gzip decoding) through
:class:`GuardedTransport`, an ``httpx.AsyncHTTPTransport`` whose pool is a
:class:`KeepAlivePool` of h11-driven HTTP/1.1 connections opened by the guarded backend.
The pool and connection replace httpcore's own because, measured on 304s, those cost
more than everything else put together (see the class docstrings).
"""

from __future__ import annotations

import asyncio
import email.utils
import ssl
import time
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from types import TracebackType
from typing import TypeAlias
from urllib.parse import urljoin

import h11
import httpcore
import httpx

from bot.core.models import FetchResult
from bot.errors import FetchError, UnsafeURLError
from bot.ingest.guard import GuardedBackend, Resolver, check_url

DEFAULT_USER_AGENT = "briefbot/0.1 (+https://github.com/briefbot)"
ACCEPT = "application/rss+xml, application/atom+xml, application/feed+json, application/xml;q=0.9, */*;q=0.8"

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
PERMANENT_REDIRECTS = frozenset({301, 308})
RETRY_AFTER_STATUSES = frozenset({429, 503})
DEFAULT_PORTS = {"http": 80, "https": 443}


class _Connection:
    """One HTTP/1.1 connection, driven with h11 directly.

    This is what httpcore's ``AsyncHTTP11Connection`` does, minus its AnyIO locks,
    cancellation shields and tracing hooks, which cost as much as the HTTP itself on
    a 304. Requests on one connection never overlap: the pool hands it to one request
    at a time and takes it back only once the response is complete.
    """

    READ_SIZE = 64 * 1024
    MAX_HEAD_SIZE = 100 * 1024  # request/status line plus headers, as httpcore allows

    def __init__(self, stream: httpcore.AsyncNetworkStream, *, raced: bool = False) -> None:
        self.stream = stream
        self.raced = raced  # the TCP handshake stalled and was raced by a second attempt
        self._h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=self.MAX_HEAD_SIZE)
        self.idle_since = 0.0

    @classmethod
    async def open(
        cls,
        backend: httpcore.AsyncNetworkBackend,
        request: httpcore.Request,
        tls: Callable[[], ssl.SSLContext],
    ) -> _Connection:
        """Connect to the request's origin (through the guard), with TLS for https."""
        origin = request.url.origin
        host = origin.host.decode("ascii")
        timeout = request.extensions.get("timeout", {}).get("connect")
        stream, raced = await _connect_racing(backend, host, origin.port, timeout)
        if origin.scheme == b"https":
            sni = request.extensions.get("sni_hostname") or host
            try:
                stream = await stream.start_tls(tls(), server_hostname=sni, timeout=timeout)
            except BaseException:
                await stream.aclose()
                raise
        return cls(stream, raced=raced)

    async def send(self, request: httpcore.Request) -> httpcore.Response:
        """Send ``request`` and read the response head; the body is read from the result."""
        timeouts = request.extensions.get("timeout", {})
        await self.stream.write(await self._encode(request), timeouts.get("write"))
        read_timeout = timeouts.get("read")
        event = await self._next_event(read_timeout)
        while isinstance(event, h11.InformationalResponse):
            event = await self._next_event(read_timeout)
        if not isinstance(event, h11.Response):
            raise httpcore.RemoteProtocolError(f"unexpected {type(event).__name__} instead of a response")
        extensions = {"http_version": b"HTTP/" + event.http_version, "reason_phrase": event.reason}
        return httpcore.Response(event.status_code, headers=event.headers, extensions=extensions)

    async def _encode(self, request: httpcore.Request) -> bytes:
        """The request as bytes on the wire; an invalid one (say, a newline in a header) raises."""
        try:
            head = h11.Request(method=request.method, target=request.url.target, headers=request.headers)
            data = self._h11.send(head) or b""
            if isinstance(request.stream, AsyncIterable):
                async for chunk in request.stream:
                    if chunk:
                        data += self._h11.send(h11.Data(data=chunk)) or b""
            return data + (self._h11.send(h11.EndOfMessage()) or b"")
        except h11.LocalProtocolError as exc:
            raise httpcore.LocalProtocolError(str(exc)) from exc

    async def body(self, timeout: float | None) -> AsyncGenerator[bytes, None]:
        """The response body as it arrives."""
        while True:
            event = await self._next_event(timeout)
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                return
            else:
                raise httpcore.RemoteProtocolError(f"unexpected {type(event).__name__} in a response body")

    async def _next_event(self, timeout: float | None) -> h11.Event:
        while True:
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as exc:
                raise httpcore.RemoteProtocolError(str(exc)) from exc
            if event is not h11.NEED_DATA:
                return event  # type: ignore[return-value]
            data = await self.stream.read(self.READ_SIZE, timeout)
            if not data and self._h11.their_state is h11.SEND_RESPONSE:
                raise httpcore.RemoteProtocolError("Server disconnected without sending a response.")
            self._h11.receive_data(data)

    def finish(self) -> bool:
        """After a response was read: ready the connection for another request, if it can take one."""
        if self._h11.our_state is h11.DONE and self._h11.their_state is h11.DONE:
            self._h11.start_next_cycle()
            return True
        return False

    def usable(self, now: float, keepalive_expiry: float) -> bool:
        """Idle for less than ``keepalive_expiry`` and not closed by the server meanwhile."""
        return now - self.idle_since < keepalive_expiry and not self.stream.get_extra_info("is_readable")

    async def aclose(self) -> None:
        """Close the network stream."""
        await self.stream.aclose()


_OriginKey = tuple[bytes, bytes, int]
# a request waiting for a connection: resolved with it (and its opening slot, if new)
_Waiter: TypeAlias = "asyncio.Future[tuple[_Connection, _OpeningSlot | None]]"


CONNECT_RACE_AFTER = 0.1  # seconds before a second connection attempt joins a slow first one


async def _connect_racing(
    backend: httpcore.AsyncNetworkBackend, host: str, port: int, timeout: float | None
) -> tuple[httpcore.AsyncNetworkStream, bool]:
    """Connect, starting a second attempt if the first has not connected within
    ``CONNECT_RACE_AFTER``; the first to connect wins and the other is closed. Returns
    the stream and whether a second attempt was needed.

    A server whose accept queue is full drops the handshake silently, and the kernel
    retries it only after a second. A fresh attempt a tenth of a second later usually
    gets in; on a slow link (a handshake slower than that) it merely costs one extra SYN,
    as Happy Eyeballs' attempt delay (RFC 8305, at least 100 ms) does.
    """
    first = asyncio.ensure_future(backend.connect_tcp(host, port, timeout=timeout))
    done, _ = await asyncio.wait({first}, timeout=CONNECT_RACE_AFTER)
    if done:
        return first.result(), False
    second = asyncio.ensure_future(backend.connect_tcp(host, port, timeout=timeout))
    pending = {first, second}
    error: BaseException | None = None
    try:
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            winners = [a for a in done if a.exception() is None]
            if winners:
                for loser in [*winners[1:], *pending]:  # both may connect in one turn of the loop
                    loser.add_done_callback(_close_if_connected)
                    loser.cancel()
                return winners[0].result(), True
            error = error or next(iter(done)).exception()
    except BaseException:
        for attempt in pending:
            attempt.add_done_callback(_close_if_connected)
            attempt.cancel()
        raise
    assert error is not None
    raise error


_closing: set[asyncio.Future[None]] = set()  # closes of losing attempts, kept until done


def _close_if_connected(attempt: asyncio.Future[httpcore.AsyncNetworkStream]) -> None:
    """Close the stream of a losing connection attempt that connected anyway."""
    if not attempt.cancelled() and attempt.exception() is None:
        closing = asyncio.ensure_future(attempt.result().aclose())
        _closing.add(closing)
        closing.add_done_callback(_closing.discard)


class KeepAlivePool(httpcore.AsyncConnectionPool):
    """An HTTP/1.1 connection pool (of :class:`_Connection`) with O(1) checkout.

    httpcore's own pool re-examines every pooled connection, quadratically, each time a
    request starts or ends; with dozens of kept-alive connections that dominated the
    cost of a 304. This pool keeps idle connections in a list per origin and reuses the
    most recent one that is still healthy, and opens new connections to an origin a
    few at a time. Otherwise it does not queue: the caller bounds concurrency
    (HttpFetcher's semaphores do), and at most ``max_idle`` connections are kept idle.
    A request that fails on a reused connection before any answer (the server closed
    it while idle) is retried once on a new connection.
    """

    OPENING_PER_ORIGIN = 4  # fits even the default listen backlog (5) of Python's socketserver
    OPENING_GRACE = 0.5  # seconds after which a slow first answer no longer holds up new connections

    def __init__(
        self, *, network_backend: httpcore.AsyncNetworkBackend, max_idle: int, keepalive_expiry: float = 5.0
    ) -> None:
        super().__init__(
            max_keepalive_connections=max_idle,
            keepalive_expiry=keepalive_expiry,
            network_backend=network_backend,
        )
        self._max_idle = max_idle
        self._keepalive = keepalive_expiry
        self._idle: dict[_OriginKey, list[_Connection]] = {}
        self._opening: dict[_OriginKey, _OpeningPace] = {}
        self._waiters: dict[_OriginKey, deque[_Waiter]] = {}
        self._openings: dict[_OriginKey, int] = {}  # openings under way or queued, per origin
        self._connecting: dict[_OriginKey, int] = {}  # of which in their handshake
        self._idle_count = 0
        self._is_closed = False
        self._tls: ssl.SSLContext | None = None

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        """Send ``request`` on an idle connection to its origin, or on the first connection
        to become free for it: a new one, or one another request hands back meanwhile."""
        origin = request.url.origin
        key = (origin.scheme, origin.host, origin.port)
        connection = await self._checkout(key)
        if connection is None:
            connection, slot = await self._bind(key, request)
            if slot is not None:  # a new connection: its first answer frees the opening slot
                try:
                    return await self._send(connection, key, request)
                finally:
                    slot.release()
        try:
            return await self._send(connection, key, request)
        except (httpcore.RemoteProtocolError, httpcore.ReadError, httpcore.WriteError):
            pass  # the server dropped the idle connection; try once on a fresh one
        connection = await _Connection.open(self._network_backend, request, self._tls_context)
        return await self._send(connection, key, request)

    async def _bind(
        self, key: _OriginKey, request: httpcore.Request
    ) -> tuple[_Connection, _OpeningSlot | None]:
        """The first connection to ``key`` that becomes free, for a request that found none
        idle (late binding, as browsers' socket pools do): requests wait in line, and each
        new connection (returned with its opening slot) or connection handed back by
        another request (returned with None) goes to the first in line. New connections
        open at the origin's pace, no more of them than requests waiting; so a handshake
        dropped by a server whose accept queue was full holds up nobody while other
        connections come free.
        """
        waiter: _Waiter = asyncio.get_running_loop().create_future()
        line = self._waiters.setdefault(key, deque())
        line.append(waiter)
        if self._openings.get(key, 0) < self._waiting(key):
            self._openings[key] = self._openings.get(key, 0) + 1
            task = asyncio.ensure_future(self._open_for_line(key, request))
            _closing.add(task)
            task.add_done_callback(_closing.discard)
        try:
            return await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                connection, slot = waiter.result()  # handed over as this request was cancelled
                if slot is not None:
                    slot.release()
                await self.release(key, connection)
            waiter.cancel()
            raise

    async def _open_for_line(self, key: _OriginKey, request: httpcore.Request) -> None:
        """Open one connection for the requests waiting for ``key`` and hand it to the first."""
        pace = self._opening_pace(key)
        slot = _OpeningSlot(pace.semaphore, self.OPENING_GRACE)
        try:
            await slot.acquire()
            connecting = self._connecting.get(key, 0)
            if self._waiting(key) <= connecting:
                slot.release()  # the waiting requests are served by what is connecting, or were served
                return
            self._connecting[key] = connecting + 1
            try:
                connection = await _Connection.open(self._network_backend, request, self._tls_context)
            except Exception as exc:
                slot.release()
                self._fail_first(key, exc)
                return
            finally:
                self._connecting[key] -= 1
        finally:
            self._openings[key] -= 1
        slot.release_after(pace.connected(raced=connection.raced))
        if not self._hand_over(key, connection, slot):
            await self.release(key, connection)  # nobody waits any more: keep it idle

    def _waiting(self, key: _OriginKey) -> int:
        """How many requests wait for a connection to ``key``."""
        return sum(not waiter.done() for waiter in self._waiters.get(key, ()))

    def _hand_over(self, key: _OriginKey, connection: _Connection, slot: _OpeningSlot | None) -> bool:
        """Give ``connection`` to the first request waiting for ``key``; False if none waits."""
        waiter = self._next_in_line(key)
        if waiter is not None:
            waiter.set_result((connection, slot))
        return waiter is not None

    def _fail_first(self, key: _OriginKey, error: Exception) -> None:
        """A connect failed: the first request in line gets the error (its connect, in effect)."""
        waiter = self._next_in_line(key)
        if waiter is not None:
            waiter.set_exception(error)

    def _next_in_line(
        self, key: _OriginKey
    ) -> asyncio.Future[tuple[_Connection, _OpeningSlot | None]] | None:
        """The first request still waiting for ``key``, taken out of the line; None if none waits."""
        line = self._waiters.get(key)
        while line:
            waiter = line.popleft()
            if not waiter.done():
                return waiter
        return None

    def _opening_pace(self, key: _OriginKey) -> _OpeningPace:
        """How fast new connections to one origin may open; see :class:`_OpeningPace`."""
        pace = self._opening.get(key)
        if pace is None:
            pace = self._opening[key] = _OpeningPace(self.OPENING_PER_ORIGIN)
        return pace

    async def _send(
        self, connection: _Connection, key: _OriginKey, request: httpcore.Request
    ) -> httpcore.Response:
        try:
            response = await connection.send(request)
        except BaseException:
            await connection.aclose()
            raise
        read_timeout = request.extensions.get("timeout", {}).get("read")
        response.stream = _ResponseBody(connection.body(read_timeout), self, key, connection)
        return response

    def _tls_context(self) -> ssl.SSLContext:
        """httpx's verifying context (certifi, or SSL_CERT_FILE/SSL_CERT_DIR), made on first use."""
        if self._tls is None:
            self._tls = httpx.create_ssl_context()
            self._tls.set_alpn_protocols(["http/1.1"])
        return self._tls

    async def _checkout(self, key: _OriginKey) -> _Connection | None:
        """The most recently used healthy idle connection to ``key``; stale ones are closed."""
        now = time.monotonic()
        while (connection := self._pop_idle(key)) is not None:
            if connection.usable(now, self._keepalive):
                return connection
            await connection.aclose()
        return None

    async def release(self, key: _OriginKey, connection: _Connection) -> None:
        """Take back a connection whose response was closed: hand it to a request waiting
        for one to its origin, else keep it idle if it can be reused."""
        if self._is_closed or not connection.finish():
            await connection.aclose()
            return
        connection.idle_since = time.monotonic()
        if self._hand_over(key, connection, None):
            return
        evicted = self._pop_oldest() if self._idle_count >= self._max_idle else None
        self._idle.setdefault(key, []).append(connection)
        self._idle_count += 1
        if evicted is not None:
            await evicted.aclose()

    def _pop_idle(self, key: _OriginKey) -> _Connection | None:
        idle = self._idle.get(key)
        if not idle:
            return None
        connection = idle.pop()
        if not idle:
            del self._idle[key]
        self._idle_count -= 1
        return connection

    def _pop_oldest(self) -> _Connection:
        """The first-pooled idle connection of the origin that has been pooled longest."""
        key = next(iter(self._idle))
        idle = self._idle[key]
        connection = idle.pop(0)
        if not idle:
            del self._idle[key]
        self._idle_count -= 1
        return connection

    async def aclose(self) -> None:
        """Close every idle connection; connections still in use close when released."""
        self._is_closed = True
        idle, self._idle, self._idle_count = self._idle, {}, 0
        for connections in idle.values():
            for connection in connections:
                await connection.aclose()


class _OpeningPace:
    """Paces the new connections to one origin to what its server can accept.

    New connections ramp up a few at a time instead of in one burst: a server whose accept
    queue is full drops the handshake silently, and the request then stalls until the
    kernel or :func:`_connect_racing` tries again. ``semaphore`` holds the openings in
    progress (``slots`` at most); each slot frees at its connection's first answer or
    ``spacing`` after its connect, whichever is first. The spacing adapts: a handshake
    that had to be raced (the server's accept queue was full) quadruples it, up to
    ``SLOW``; every prompt one shortens it by a fifth, down to ``FAST``. Measured against
    the feed farm (a Python ``ThreadingHTTPServer``, listen backlog 5): while it is idle
    it accepts 4 handshakes per 3 ms without a drop, but while it renders and gzips
    bodies, even 4 per 12 ms overflowed, so no fixed spacing fits both.
    """

    START = 0.012  # seconds: the spacing of an origin not yet measured
    FAST = 0.003  # seconds: the spacing while the server keeps up
    SLOW = 0.05  # seconds: the most the spacing backs off to

    def __init__(self, slots: int) -> None:
        self.semaphore = asyncio.Semaphore(slots)
        self.spacing = self.START

    def connected(self, *, raced: bool) -> float:
        """Record a new connection (``raced``: its handshake stalled); returns the delay
        before its slot frees."""
        if raced:
            self.spacing = min(self.SLOW, self.spacing * 4)
        else:
            self.spacing = max(self.FAST, self.spacing * 0.8)
        return self.spacing


class _OpeningSlot:
    """One of an origin's slots for opening a connection: held from :meth:`acquire` until
    :meth:`release` (the connection's first answer), or a delay after the handshake
    (:meth:`release_after`), or ``grace`` after acquiring, whichever comes first."""

    def __init__(self, semaphore: asyncio.Semaphore, grace: float) -> None:
        self._semaphore = semaphore
        self._grace = grace
        self._timer: asyncio.TimerHandle | None = None
        self._held = False

    async def acquire(self) -> None:
        """Wait for the slot."""
        await self._semaphore.acquire()
        self._held = True
        self._timer = asyncio.get_running_loop().call_later(self._grace, self.release)

    def release_after(self, delay: float) -> None:
        """Free the slot ``delay`` seconds from now (or at :meth:`release`, if sooner)."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(delay, self.release)

    def release(self) -> None:
        """Free the slot now (again: nothing)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._held:
            self._held = False
            self._semaphore.release()


class _ResponseBody:
    """A response body stream that hands its connection back to the pool when closed."""

    def __init__(
        self,
        chunks: AsyncGenerator[bytes, None],
        pool: KeepAlivePool,
        key: _OriginKey,
        connection: _Connection,
    ) -> None:
        self._chunks = chunks
        self._pool = pool
        self._key = key
        self._connection: _Connection | None = connection

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks

    async def aclose(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await self._chunks.aclose()
            await self._pool.release(self._key, connection)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """An httpx transport whose connections are opened through a GuardedBackend.

    httpx 0.28's ``AsyncHTTPTransport`` takes no ``network_backend``, so the httpcore
    pool it builds is replaced by a :class:`KeepAlivePool` on ``backend``. Proxies are
    never used (a proxy would connect on our behalf, past the guard).
    """

    def __init__(self, backend: httpcore.AsyncNetworkBackend, *, max_idle: int) -> None:
        # The base class builds a pool (and loads CA certificates for it) that is replaced
        # at once; a bare client context costs nothing and, holding no CAs, fails closed.
        super().__init__(verify=ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), trust_env=False)
        self._pool = KeepAlivePool(network_backend=backend, max_idle=max_idle)


@dataclass(slots=True)
class _Hop:
    """One request/response exchange of a fetch (a redirect or the final answer)."""

    status: int
    headers: dict[str, str]
    body: bytes | None = None
    location: str | None = None


@dataclass
class _LoopState:
    """The transport and semaphores of one event loop (asyncio objects are loop-bound)."""

    loop: asyncio.AbstractEventLoop
    transport: GuardedTransport
    slots: asyncio.Semaphore
    per_host: int
    host_slots: dict[str, asyncio.Semaphore] = field(default_factory=dict)

    def host_slot(self, url: httpx.URL) -> asyncio.Semaphore:
        """The semaphore limiting concurrent requests to ``url``'s host:port."""
        key = f"{url.host}:{url.port or DEFAULT_PORTS.get(url.scheme, 0)}"
        slot = self.host_slots.get(key)
        if slot is None:
            slot = self.host_slots[key] = asyncio.Semaphore(self.per_host)
        return slot


class HttpFetcher:
    """Fetches feed URLs conditionally over HTTP(S), behind the SSRF guard.

    At most ``concurrency`` requests run at once, and at most ``per_host`` to one
    host:port; connections are kept alive and reused. Each fetch follows up to
    ``max_redirects`` redirects, reads at most ``max_bytes`` of decoded body and must
    finish within ``total_timeout`` seconds of getting its slot (connecting within
    ``connect_timeout``). ``resolver`` replaces DNS (``async (host, port) -> [ip, ...]``);
    ``network_backend`` replaces the socket layer under the guard (tests use both).

    Requests go straight to the httpx transport rather than through
    ``httpx.AsyncClient.send``: the client's auth, redirect, cookie and event-hook
    machinery is all disabled here anyway and cost about a third of each 304.

    Use it from one event loop at a time; used from a new loop (another
    ``asyncio.run``), it starts a fresh connection pool there.
    """

    def __init__(
        self,
        *,
        allow_private: bool = False,
        max_bytes: int = 10 * 1024 * 1024,
        connect_timeout: float = 5.0,
        total_timeout: float = 30.0,
        max_redirects: int = 5,
        concurrency: int = 64,
        per_host: int = 8,
        user_agent: str = DEFAULT_USER_AGENT,
        resolver: Resolver | None = None,
        network_backend: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        if min(max_bytes, concurrency, per_host) < 1 or max_redirects < 0:
            raise ValueError("max_bytes, concurrency and per_host must be >= 1, max_redirects >= 0")
        if connect_timeout <= 0 or total_timeout <= 0:
            raise ValueError("connect_timeout and total_timeout must be > 0")
        self.allow_private = allow_private
        self.max_bytes = max_bytes
        self.connect_timeout = connect_timeout
        self.total_timeout = total_timeout
        self.max_redirects = max_redirects
        self.concurrency = concurrency
        self.per_host = per_host
        self.user_agent = user_agent
        self._backend = GuardedBackend(allow_private=allow_private, resolver=resolver, inner=network_backend)
        self._headers = {"User-Agent": user_agent, "Accept": ACCEPT, "Accept-Encoding": "gzip"}
        # Only connecting has its own timeout; everything else runs under the fetch's hard
        # deadline (asyncio.timeout_at), so no timer is armed for each read and write.
        self._extensions = {"timeout": httpx.Timeout(None, connect=connect_timeout).as_dict()}
        self._state: _LoopState | None = None

    async def __aenter__(self) -> HttpFetcher:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the kept-alive connections."""
        state, self._state = self._state, None
        if state is not None and state.loop is asyncio.get_running_loop():
            await state.transport.aclose()

    async def fetch(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> FetchResult:
        """GET ``url``, sending ``etag``/``last_modified`` as validators; body is None on 304.

        Raises UnsafeURLError if the URL, a redirect target or a resolved address is
        refused, and FetchError for timeouts, HTTP errors (with ``status`` and, on
        429/503, ``retry_after``), oversized or truncated bodies and too many redirects.
        """
        state = self._loop_state()
        start = current = check_url(url, allow_private=self.allow_private)
        headers = _conditional_headers(self._headers, etag, last_modified)
        permanent = True
        deadline: float | None = None
        for hops in range(self.max_redirects + 1):
            request = self._build_request(current, headers)
            async with state.host_slot(request.url), state.slots:
                if deadline is None:
                    deadline = state.loop.time() + self.total_timeout
                hop = await self._exchange(state.transport, request, deadline)
            if hop.location is None:
                moved_to = current if hops and permanent else None
                return _result(current, hop, etag, last_modified, moved_to)
            permanent = permanent and hop.status in PERMANENT_REDIRECTS
            current = self._redirect_target(current, hop.location)
        raise FetchError(f"too many redirects (more than {self.max_redirects}) starting at {start}")

    def _loop_state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        state = self._state
        if state is None or state.loop is not loop:
            transport = GuardedTransport(self._backend, max_idle=self.concurrency)
            slots = asyncio.Semaphore(self.concurrency)
            state = self._state = _LoopState(loop, transport, slots, self.per_host)
        return state

    def _build_request(self, url: str, headers: dict[str, str]) -> httpx.Request:
        """A GET request for ``url``; re-checks scheme and credentials as httpx parsed them."""
        try:
            request = httpx.Request("GET", url, headers=headers, extensions=self._extensions)
        except httpx.InvalidURL as exc:
            raise FetchError(f"invalid URL {url}: {_one_line(exc)}") from None
        if request.url.scheme not in DEFAULT_PORTS or request.url.userinfo:
            raise UnsafeURLError(f"URL {url} is refused: only http(s) URLs without credentials are allowed")
        return request

    def _redirect_target(self, current: str, location: str) -> str:
        target = urljoin(current, location.strip())
        try:
            return check_url(target, allow_private=self.allow_private)
        except UnsafeURLError as exc:
            raise UnsafeURLError(f"redirect from {current} to {target} refused: {exc}") from None

    async def _exchange(self, transport: GuardedTransport, request: httpx.Request, deadline: float) -> _Hop:
        """Send one request and read its answer before ``deadline``; errors become FetchError."""
        try:
            async with asyncio.timeout_at(deadline):
                return await self._send(transport, request)
        except TimeoutError:
            raise FetchError(f"timed out after {self.total_timeout:g} s fetching {request.url}") from None
        except httpx.ConnectTimeout:
            raise FetchError(
                f"timed out after {self.connect_timeout:g} s connecting to {request.url.host}"
            ) from None
        except httpx.TimeoutException:
            raise FetchError(f"timed out after {self.total_timeout:g} s fetching {request.url}") from None
        except httpx.HTTPError as exc:
            raise _network_error(request, exc) from None

    async def _send(self, transport: GuardedTransport, request: httpx.Request) -> _Hop:
        response = await transport.handle_async_request(request)
        response.request = request
        try:
            status = response.status_code
            headers = dict(response.headers.items())
            if 200 <= status < 300:
                return _Hop(status, headers, body=await self._read_body(response, headers))
            # Read the (empty or small) body to its end so the connection stays reusable;
            # httpcore drops a connection whose response was closed half-read.
            await _discard_body(response)
            if status == 304:
                return _Hop(status, headers)
            if status in REDIRECT_STATUSES:
                location = headers.get("location")
                if not location:
                    raise FetchError(f"HTTP {status} redirect from {request.url} has no Location header")
                return _Hop(status, headers, location=location)
            raise _status_error(status, headers)
        finally:
            await response.aclose()

    async def _read_body(self, response: httpx.Response, headers: dict[str, str]) -> bytes:
        """The decoded body, refused as soon as it grows past ``max_bytes``."""
        declared = headers.get("content-length", "")
        if "content-encoding" not in headers and declared.isdigit() and int(declared) > self.max_bytes:
            raise self._too_large(f" (Content-Length is {int(declared)} bytes)")
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > self.max_bytes:
                    raise self._too_large("")
                chunks.append(chunk)
        except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
            raise FetchError(
                f"response body from {response.url} is truncated after {size} bytes: {_one_line(exc)}"
            ) from None
        return b"".join(chunks)

    def _too_large(self, detail: str) -> FetchError:
        return FetchError(f"response body exceeds the {_size(self.max_bytes)} cap (max_bytes){detail}")


async def _discard_body(response: httpx.Response, limit: int = 64 * 1024) -> None:
    """Read and drop up to ``limit`` bytes of a body we do not need; a longer one is abandoned."""
    stream = response.stream
    if not isinstance(stream, httpx.AsyncByteStream):
        raise TypeError("an async response stream is required")
    read = 0
    try:
        # The raw transport stream: no decoding or re-chunking for bytes we throw away.
        async for chunk in stream:
            read += len(chunk)
            if read > limit:
                return
    except httpx.HTTPError:
        return  # the connection is closed instead of reused; the status still counts


def _conditional_headers(base: dict[str, str], etag: str | None, last_modified: str | None) -> dict[str, str]:
    headers = dict(base)
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    return headers


def _result(
    url: str, hop: _Hop, etag: str | None, last_modified: str | None, moved_to: str | None
) -> FetchResult:
    """The FetchResult of the final hop; a 304 keeps the validators sent if it omits them."""
    new_etag = hop.headers.get("etag")
    new_modified = hop.headers.get("last-modified")
    if hop.status == 304:
        new_etag = new_etag or etag
        new_modified = new_modified or last_modified
    return FetchResult(
        url=url,
        status=hop.status,
        body=hop.body,
        headers=hop.headers,
        etag=new_etag,
        last_modified=new_modified,
        moved_to=moved_to,
    )


def _status_error(status: int, headers: dict[str, str]) -> FetchError:
    """FetchError for an HTTP error status, e.g. ``HTTP 404 Not Found``."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "error"
    retry_after = parse_retry_after(headers.get("retry-after")) if status in RETRY_AFTER_STATUSES else None
    message = f"HTTP {status} {phrase}"
    if retry_after is not None:
        message += f" (retry after {retry_after:.0f} s)"
    return FetchError(message, status=status, retry_after=retry_after)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After value (delay-seconds or HTTP date); None if unusable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _network_error(request: httpx.Request, exc: httpx.HTTPError) -> FetchError:
    """FetchError for a transport failure (connection refused, DNS, protocol, decoding)."""
    host = request.url.host
    text = _one_line(exc)
    if isinstance(exc, httpx.ConnectError):
        return FetchError(text if text.startswith("cannot ") else f"cannot connect to {host}: {text}")
    if isinstance(exc, httpx.DecodingError):
        return FetchError(f"cannot decode the response body from {request.url}: {text}")
    if isinstance(exc, httpx.RemoteProtocolError):
        return FetchError(f"bad response from {host}: {text}")
    return FetchError(f"request to {request.url} failed: {text or type(exc).__name__}")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _size(n: int) -> str:
    """``10485760`` -> ``"10 MiB"``, ``1500`` -> ``"1500 bytes"``."""
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= factor and n % factor == 0:
            return f"{n // factor} {unit}"
    return f"{n} bytes"
