"""SSRF guard: refuse feed URLs and connections that point into private networks.

Two layers work together:

* :func:`check_url` vets a URL as written (scheme, credentials, host names such as
  ``localhost`` and IP literals in every form ``inet_aton`` accepts). It is cheap and
  needs no DNS, so it runs when a feed is added and on every redirect hop.
* :class:`GuardedBackend` is the httpcore network backend the fetcher connects
  through. It resolves the host itself, refuses the connection if *any* address is
  refused, and then connects to the vetted IP literal, so a DNS answer that changes
  between the check and the connection (DNS rebinding) cannot reach a private address.
  TLS is unaffected: httpcore passes the hostname to ``start_tls`` as
  ``server_hostname`` separately from the address it connected to.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import re
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpcore

from bot.errors import UnsafeURLError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""``async (host, port) -> [ip, ...]``: the addresses a host name resolves to."""

_SCHEMES = frozenset({"http", "https"})
_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# Characters of an ASCII host name (after IDNA encoding); anything else is refused.
_HOSTNAME = re.compile(r"[a-z0-9_.-]+")
# What inet_aton may read as an IPv4 address: 127.1, 2130706433, 0x7f000001, 0177.0.0.1.
_INET_ATON = re.compile(r"[0-9a-fx.]+")


def check_url(url: str, *, allow_private: bool) -> str:
    """Return ``url`` stripped of surrounding whitespace, or raise UnsafeURLError.

    Refused always: a scheme other than http/https, credentials (``user:pass@``), an
    empty or malformed host, a bad port. Refused unless ``allow_private``: the names
    ``localhost`` and ``*.localhost`` and any IP literal that :func:`ip_refusal` refuses,
    including the short, decimal, hex and octal IPv4 forms. A trailing dot on the host
    is ignored. No DNS lookup is done here; :class:`GuardedBackend` checks the
    addresses a name resolves to when connecting.
    """
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeURLError(f"URL {url!r} is malformed: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        shown = f"scheme {scheme!r}" if scheme else "no scheme"
        raise UnsafeURLError(f"URL has {shown}; only http and https are allowed")
    if "@" in parts.netloc:
        raise UnsafeURLError("URL contains credentials (user:password@host); remove them")
    if port == 0:
        raise UnsafeURLError("URL has port 0, which cannot be connected to")
    host = _normalized_host(parts.netloc, parts.hostname or "")
    if not allow_private:
        reason = host_refusal(host)
        if reason is not None:
            raise UnsafeURLError(f"URL host {reason}")
    return url


def _normalized_host(netloc: str, hostname: str) -> str:
    """The lower-case ASCII host of a URL without brackets or trailing dot; raises if invalid."""
    host = hostname.rstrip(".")
    if not host:
        raise UnsafeURLError("URL has no host")
    if netloc.startswith("["):
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise UnsafeURLError(f"URL host [{host}] is not a valid IPv6 address") from None
        return host
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii").lower()
        except UnicodeError:
            raise UnsafeURLError(f"URL host {host!r} is not a valid host name") from None
    if not _HOSTNAME.fullmatch(host):
        raise UnsafeURLError(f"URL host {host!r} is not a valid host name")
    return host


def host_refusal(host: str) -> str | None:
    """Why a host as written (name or IP literal, no brackets) is refused, or None.

    The result reads after "host", e.g. ``"localhost is a loopback name"`` or
    ``"0x7f000001 (= 127.0.0.1) is a loopback address"``.
    """
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return f"{host} is a loopback name"
    ip = parse_ip_literal(host)
    if ip is None:
        return None
    reason = ip_refusal(ip)
    if reason is None:
        return None
    return f"{_shown(host, ip)} is {reason}"


def _shown(host: str, ip: IPAddress) -> str:
    """``host``, followed by the address it denotes when written in a non-standard form."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return f"{host} (= {ip})"
    return host


def parse_ip_literal(host: str) -> IPAddress | None:
    """The address an IP-literal host denotes, or None for a host name.

    Accepts bracketed or bare IPv6 (with an optional zone) and every IPv4 form the C
    resolver accepts via ``inet_aton``: dotted quad, ``127.1``, ``2130706433``,
    ``0x7f000001``, ``0177.0.0.1``.
    """
    text = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    if not _INET_ATON.fullmatch(text.lower()):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(text))
    except OSError:
        return None


def ip_refusal(ip: IPAddress | str) -> str | None:
    """The reason an address may not be connected to, e.g. ``"a loopback address"``; None if public.

    IPv6 addresses that wrap an IPv4 address (IPv4-mapped ``::ffff:0:0/96``, 6to4
    ``2002::/16``, NAT64 ``64:ff9b::/96``) are judged by the address they wrap.
    """
    if isinstance(ip, str):
        ip = ipaddress.ip_address(ip)
    if isinstance(ip, ipaddress.IPv6Address):
        wrapped = _wrapped_ipv4(ip)
        if wrapped is not None:
            kind, inner = wrapped
            inner_reason = _category(inner)
            if inner_reason is not None:
                return f"{kind} address of {inner}, {inner_reason}"
            if kind != "a 6to4":
                return None  # the wrapped address is public; the prefix itself is not a refusal
    return _category(ip)


def _wrapped_ipv4(ip: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address] | None:
    """The IPv4 address an IPv6 address embeds, with the embedding's name, or None."""
    if ip.ipv4_mapped is not None:
        return "an IPv4-mapped", ip.ipv4_mapped
    if ip.sixtofour is not None:
        return "a 6to4", ip.sixtofour
    if ip in _NAT64:
        return "a NAT64", ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _category(ip: IPAddress) -> str | None:
    """The kind of non-public address ``ip`` is, with its article, or None if public."""
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return "a carrier-grade NAT (100.64.0.0/10) address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_reserved:
        return "a reserved address"
    if ip.is_private:
        return "a private address"
    if not ip.is_global:
        return "a non-public address"
    return None


async def system_resolver(host: str, port: int) -> list[str]:
    """Resolve ``host`` with the event loop's ``getaddrinfo``; raises OSError on failure."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that vets every address before connecting to it.

    ``connect_tcp`` resolves the host with ``resolver`` (default: ``loop.getaddrinfo``),
    raises :class:`UnsafeURLError` if any address is refused (unless ``allow_private``),
    and hands the vetted IP literal, never the name, to ``inner`` (default:
    :class:`AsyncioBackend`), so nothing resolves the name a second time. Resolution failures are
    raised as ``httpcore.ConnectError``/``ConnectTimeout`` with a one-line message.
    Requires asyncio.
    """

    def __init__(
        self,
        *,
        allow_private: bool = False,
        resolver: Resolver | None = None,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.allow_private = allow_private
        self._resolver: Resolver = resolver or system_resolver
        self._inner: httpcore.AsyncNetworkBackend = inner or AsyncioBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Resolve and vet ``host``, then connect to the first of its addresses that answers."""
        deadline = None if timeout is None else time.monotonic() + timeout
        addresses = await self.vetted_addresses(host, port, timeout)
        failure: httpcore.ConnectError | None = None
        for ip in addresses:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                return await self._inner.connect_tcp(
                    str(ip),
                    port,
                    timeout=remaining,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except httpcore.ConnectError as exc:
                failure = exc
        shown = host if len(addresses) == 1 and str(addresses[0]) == host else f"{host} ({addresses[0]})"
        raise httpcore.ConnectError(
            f"cannot connect to {shown} port {port}: {_os_reason(failure)}"
        ) from failure

    async def vetted_addresses(self, host: str, port: int, timeout: float | None = None) -> list[IPAddress]:
        """The addresses to connect to for ``host``; raises UnsafeURLError if any is refused."""
        name = host.strip("[]").rstrip(".").lower()
        literal = parse_ip_literal(name)
        if literal is not None:
            addresses = [literal]
        else:
            if not self.allow_private and (name == "localhost" or name.endswith(".localhost")):
                raise UnsafeURLError(f"host {name} is a loopback name")
            addresses = await self._resolve(name, port, timeout)
        if not self.allow_private:
            for ip in addresses:
                reason = ip_refusal(ip)
                if reason is None:
                    continue
                if literal is not None:
                    raise UnsafeURLError(f"host {_shown(name, ip)} is {reason}")
                raise UnsafeURLError(f"host {name} resolves to {ip}, {reason}")
        return addresses

    async def _resolve(self, name: str, port: int, timeout: float | None) -> list[IPAddress]:
        try:
            async with asyncio.timeout(timeout):
                answers = await self._resolver(name, port)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"DNS lookup for {name} timed out after {timeout:g} s") from None
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve host {name}: {_os_reason(exc)}") from None
        addresses: list[IPAddress] = []
        for answer in answers:
            ip = ipaddress.ip_address(answer)
            if ip not in addresses:
                addresses.append(ip)
        if not addresses:
            raise httpcore.ConnectError(f"cannot resolve host {name}: no addresses")
        return addresses

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Unix sockets are never used for feeds."""
        raise UnsafeURLError("connecting to a Unix socket is not allowed")

    async def sleep(self, seconds: float) -> None:
        """Delegate to the inner backend (used by httpcore's connect retries)."""
        await self._inner.sleep(seconds)


class AsyncioStream(httpcore.AsyncNetworkStream):
    """An httpcore network stream over asyncio's streams, without AnyIO in between.

    httpcore's AnyIO stream enters a cancel scope for every read and write and rebuilds
    an attribute table whenever the pool asks whether an idle connection is readable;
    on a 304 that overhead was about a fifth of the request.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        """Up to ``max_bytes`` bytes; ``b""`` at end of stream."""
        try:
            if timeout is None:
                return await self._reader.read(max_bytes)
            async with asyncio.timeout(timeout):
                return await self._reader.read(max_bytes)
        except TimeoutError:
            raise httpcore.ReadTimeout(f"no data for {timeout:g} s") from None
        except OSError as exc:
            raise httpcore.ReadError(_os_reason(exc)) from exc

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        """Send ``buffer``, waiting only if the transport's buffer is full."""
        if not buffer:
            return
        try:
            self._writer.write(buffer)
            async with asyncio.timeout(timeout):
                await self._writer.drain()
        except TimeoutError:
            raise httpcore.WriteTimeout(f"could not send for {timeout:g} s") from None
        except (OSError, RuntimeError) as exc:
            raise httpcore.WriteError(_os_reason(exc)) from exc

    async def aclose(self) -> None:
        """Close the connection without waiting for the peer."""
        self._writer.close()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        """Upgrade to TLS in place, verifying the certificate for ``server_hostname``."""
        try:
            async with asyncio.timeout(timeout):
                await self._writer.start_tls(ssl_context, server_hostname=server_hostname)
        except TimeoutError:
            self._writer.close()
            raise httpcore.ConnectTimeout(f"TLS handshake took more than {timeout:g} s") from None
        except (OSError, ssl.SSLError) as exc:
            self._writer.close()
            raise httpcore.ConnectError(f"TLS handshake failed: {_one_line(exc)}") from exc
        return self

    def get_extra_info(self, info: str) -> Any:
        """What httpcore asks of a stream: ``is_readable``, ``ssl_object``, addresses, ``socket``."""
        if info == "is_readable":
            # asyncio reads eagerly, so a server's close shows as EOF on the reader.
            reader = self._reader
            return reader.at_eof() or reader.exception() is not None or self._writer.is_closing()
        names = {"ssl_object": "ssl_object", "client_addr": "sockname", "server_addr": "peername"}
        return self._writer.get_extra_info(names.get(info, info))


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """httpcore network backend on plain asyncio; connects to IP literals or names."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Open a TCP connection to ``host``:``port`` within ``timeout`` seconds."""
        local = (local_address, 0) if local_address else None
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(host, port, local_addr=local)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"connecting took more than {timeout:g} s") from None
        except OSError as exc:
            raise httpcore.ConnectError(_os_reason(exc)) from exc
        sock = writer.get_extra_info("socket")
        for option in socket_options or ():
            sock.setsockopt(*option)
        return AsyncioStream(reader, writer)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Not supported: feeds are fetched over TCP only."""
        raise httpcore.ConnectError("Unix sockets are not supported")

    async def sleep(self, seconds: float) -> None:
        """``asyncio.sleep``."""
        await asyncio.sleep(seconds)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _os_reason(exc: BaseException | None) -> str:
    """A short reason for a network failure: the OS error text found in the cause chain."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, socket.gaierror) and seen.strerror:
            return seen.strerror
        if isinstance(seen, OSError) and seen.errno is not None:
            return os.strerror(seen.errno)
        seen = seen.__cause__ or seen.__context__
    text = " ".join(str(exc).split()) if exc is not None else ""
    return text or "connection failed"
