"""The SSRF guard: URL checks (check_url, ip_refusal) and the connect-time GuardedBackend."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterable

import httpcore
import pytest

from bot.errors import UnsafeURLError
from bot.ingest.guard import GuardedBackend, check_url, ip_refusal, parse_ip_literal

# -- check_url --------------------------------------------------------------------------

REFUSED_ALWAYS = [
    ("ftp://example.com/feed.xml", "scheme 'ftp'"),
    ("file:///etc/passwd", "scheme 'file'"),
    ("javascript:alert(1)", "scheme 'javascript'"),
    ("example.com/feed.xml", "no scheme"),
    ("http://user:secret@example.com/feed", "credentials"),
    ("http://user@example.com/feed", "credentials"),
    ("http://:@example.com/feed", "credentials"),
    ("http:///feed.xml", "no host"),
    ("http://./feed.xml", "no host"),
    ("http://exa mple.com/", "not a valid host name"),
    ("http://example.com\\@evil.com/", "credentials"),
    ("http://[127.0.0.1]/", "malformed|not a valid IPv6 address"),
    ("http://example.com:0/", "port 0"),
    ("http://example.com:99999/", "malformed"),
    ("http://[::1/", "malformed"),
]


@pytest.mark.parametrize(("url", "reason"), REFUSED_ALWAYS)
@pytest.mark.parametrize("allow_private", [False, True])
def test_check_url_refuses_bad_urls_even_when_private_allowed(
    url: str, reason: str, allow_private: bool
) -> None:
    with pytest.raises(UnsafeURLError, match=reason.replace("(", r"\(")) as caught:
        check_url(url, allow_private=allow_private)
    assert "\n" not in str(caught.value)


REFUSED_PRIVATE = [
    ("http://localhost/feed", "URL host localhost is a loopback name"),
    ("http://LOCALHOST./feed", "URL host localhost is a loopback name"),
    ("http://feeds.localhost:8080/rss", "URL host feeds.localhost is a loopback name"),
    ("http://ｌｏｃａｌｈｏｓｔ/feed", "URL host localhost is a loopback name"),
    ("http://127.0.0.1/feed", "URL host 127.0.0.1 is a loopback address"),
    ("http://127.0.0.1./feed", "URL host 127.0.0.1 is a loopback address"),
    ("http://127.8.9.10:8000/", "URL host 127.8.9.10 is a loopback address"),
    ("http://2130706433/feed", "URL host 2130706433 (= 127.0.0.1) is a loopback address"),
    ("http://0x7f000001/feed", "URL host 0x7f000001 (= 127.0.0.1) is a loopback address"),
    ("http://0x7F000001/feed", "URL host 0x7f000001 (= 127.0.0.1) is a loopback address"),
    ("http://0177.0.0.1/feed", "URL host 0177.0.0.1 (= 127.0.0.1) is a loopback address"),
    ("http://127.1/feed", "URL host 127.1 (= 127.0.0.1) is a loopback address"),
    ("http://0x7f.1/feed", "URL host 0x7f.1 (= 127.0.0.1) is a loopback address"),
    ("http://１２７。０。０。１/feed", "URL host 127.0.0.1 is a loopback address"),
    ("http://[::1]/feed", "URL host ::1 is a loopback address"),
    ("http://[::1]:8080/feed", "URL host ::1 is a loopback address"),
    ("http://0.0.0.0/", "URL host 0.0.0.0 is the unspecified address"),
    ("http://0/", "URL host 0 (= 0.0.0.0) is the unspecified address"),
    ("http://[::]/", "URL host :: is the unspecified address"),
    ("http://10.1.2.3/", "URL host 10.1.2.3 is a private address"),
    ("http://172.16.0.1/", "URL host 172.16.0.1 is a private address"),
    ("http://192.168.1.1/", "URL host 192.168.1.1 is a private address"),
    ("http://[fd00::1]/", "URL host fd00::1 is a private address"),
    ("http://169.254.169.254/latest/meta-data/", "URL host 169.254.169.254 is a link-local address"),
    ("http://[fe80::1]/", "URL host fe80::1 is a link-local address"),
    ("http://[fe80::1%25eth0]/", "is a link-local address"),
    ("http://100.64.0.1/", "URL host 100.64.0.1 is a carrier-grade NAT (100.64.0.0/10) address"),
    ("http://100.127.255.254/", "carrier-grade NAT"),
    ("http://224.0.0.1/", "URL host 224.0.0.1 is a multicast address"),
    ("http://[ff02::1]/", "URL host ff02::1 is a multicast address"),
    ("http://240.0.0.1/", "URL host 240.0.0.1 is a reserved address"),
    ("http://255.255.255.255/", "URL host 255.255.255.255 is a reserved address"),
    (
        "http://[::ffff:127.0.0.1]/",
        "URL host ::ffff:127.0.0.1 is an IPv4-mapped address of 127.0.0.1, a loopback address",
    ),
    ("http://[::ffff:10.0.0.1]/", "an IPv4-mapped address of 10.0.0.1, a private address"),
    ("http://[::ffff:7f00:1]/", "an IPv4-mapped address of 127.0.0.1, a loopback address"),
    ("http://[2002:7f00:1::]/", "a 6to4 address of 127.0.0.1, a loopback address"),
    ("http://[2002:a9fe:a9fe::1]/", "a 6to4 address of 169.254.169.254, a link-local address"),
    ("http://[64:ff9b::a9fe:a9fe]/", "a NAT64 address of 169.254.169.254, a link-local address"),
    ("http://[64:ff9b::10.0.0.1]/", "a NAT64 address of 10.0.0.1, a private address"),
    ("http://192.0.2.10/", "URL host 192.0.2.10 is a private address"),
]


@pytest.mark.parametrize(("url", "message"), REFUSED_PRIVATE)
def test_check_url_refuses_private_hosts(url: str, message: str) -> None:
    with pytest.raises(UnsafeURLError) as caught:
        check_url(url, allow_private=False)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(("url", "message"), REFUSED_PRIVATE)
def test_check_url_allows_private_hosts_when_asked(url: str, message: str) -> None:
    assert check_url(url, allow_private=True) == url


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/feed.xml",
        "http://example.com:8080/rss?format=atom#top",
        "HTTPS://Example.COM/Feed",
        "http://example.com./feed",
        "http://8.8.8.8/feed",
        "http://93.184.216.34./feed",
        "http://[2606:4700:4700::1111]/feed",
        "http://[::ffff:8.8.8.8]/feed",
        "http://[64:ff9b::808:808]/feed",
        "http://localhost.example.com/feed",
        "http://mylocalhost/feed",
        "http://bücher.example/feed",
        "http://xn--bcher-kva.example/feed",
        "http://feeds_1.example.com/rss",
        "http://deadbeef/feed",
    ],
)
def test_check_url_accepts_public_urls(url: str) -> None:
    assert check_url(url, allow_private=False) == url


def test_check_url_strips_whitespace() -> None:
    assert check_url("  https://example.com/feed \n", allow_private=False) == "https://example.com/feed"


# -- ip_refusal and parse_ip_literal ------------------------------------------------------


@pytest.mark.parametrize(
    ("ip", "reason"),
    [
        ("127.0.0.1", "a loopback address"),
        ("::1", "a loopback address"),
        ("10.0.0.1", "a private address"),
        ("fc00::1", "a private address"),
        ("169.254.1.1", "a link-local address"),
        ("100.64.0.1", "a carrier-grade NAT (100.64.0.0/10) address"),
        ("239.1.2.3", "a multicast address"),
        ("0.0.0.0", "the unspecified address"),
        ("::", "the unspecified address"),
        ("240.1.2.3", "a reserved address"),
        ("::ffff:192.168.0.1", "an IPv4-mapped address of 192.168.0.1, a private address"),
        ("2002:c0a8:1::", "a 6to4 address of 192.168.0.1, a private address"),
        ("64:ff9b::7f00:1", "a NAT64 address of 127.0.0.1, a loopback address"),
    ],
)
def test_ip_refusal_names_the_reason(ip: str, reason: str) -> None:
    assert ip_refusal(ip) == reason


@pytest.mark.parametrize(
    "ip", ["8.8.8.8", "93.184.216.34", "2606:4700::1111", "::ffff:1.1.1.1", "2002:808:808::1"]
)
def test_ip_refusal_accepts_public_addresses(ip: str) -> None:
    assert ip_refusal(ip) is None


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("[::1]", "::1"),
        ("example.com", None),
        ("127.0.0.1 junk", None),
        ("1.2.3.4.5", None),
    ],
)
def test_parse_ip_literal_reads_every_inet_aton_form(host: str, expected: str | None) -> None:
    parsed = parse_ip_literal(host)
    assert (str(parsed) if parsed is not None else None) == expected


# -- GuardedBackend ----------------------------------------------------------------------


class StubResolver:
    """Answers from a table; records the names it was asked for."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.calls: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.table[host]


class RecordingBackend(httpcore.AsyncNetworkBackend):
    """Records where it is asked to connect and refuses, so nothing touches the network."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, int]] = []

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.asked.append((host, port))
        raise httpcore.ConnectError("refused by RecordingBackend") from ConnectionRefusedError(111, "refused")


def test_backend_refuses_if_any_resolved_address_is_private() -> None:
    resolver = StubResolver({"feeds.example.com": ["93.184.216.34", "10.0.0.5"]})
    inner = RecordingBackend()
    backend = GuardedBackend(resolver=resolver, inner=inner)
    with pytest.raises(
        UnsafeURLError, match=r"host feeds.example.com resolves to 10.0.0.5, a private address"
    ):
        asyncio.run(backend.connect_tcp("feeds.example.com", 80, timeout=1))
    assert inner.asked == []


def test_backend_refuses_ipv4_mapped_answers() -> None:
    resolver = StubResolver({"sneaky.example": ["::ffff:127.0.0.1"]})
    backend = GuardedBackend(resolver=resolver, inner=RecordingBackend())
    with pytest.raises(UnsafeURLError, match=r"IPv4-mapped address of 127\.0\.0\.1, a loopback address"):
        asyncio.run(backend.connect_tcp("sneaky.example", 80, timeout=1))


def test_backend_connects_to_the_vetted_ip_not_the_name() -> None:
    resolver = StubResolver({"feeds.example.com": ["93.184.216.34", "2606:2800:220:1::1"]})
    inner = RecordingBackend()
    backend = GuardedBackend(resolver=resolver, inner=inner)
    with pytest.raises(httpcore.ConnectError) as caught:
        asyncio.run(backend.connect_tcp("feeds.example.com", 443, timeout=1))
    # Every resolved address is tried, each as an IP literal; the name is never passed on.
    assert inner.asked == [("93.184.216.34", 443), ("2606:2800:220:1::1", 443)]
    assert (
        str(caught.value)
        == "cannot connect to feeds.example.com (93.184.216.34) port 443: Connection refused"
    )


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "2130706433", "0x7f000001", "0177.0.0.1", "127.1", "::1", "[::1]"]
)
def test_backend_refuses_private_ip_literals_without_resolving(host: str) -> None:
    resolver = StubResolver({})
    backend = GuardedBackend(resolver=resolver, inner=RecordingBackend())
    with pytest.raises(UnsafeURLError, match="a loopback address"):
        asyncio.run(backend.connect_tcp(host, 80, timeout=1))
    assert resolver.calls == []


def test_backend_refuses_localhost_names_without_resolving() -> None:
    resolver = StubResolver({"localhost": ["8.8.8.8"]})
    backend = GuardedBackend(resolver=resolver, inner=RecordingBackend())
    with pytest.raises(UnsafeURLError, match="host localhost is a loopback name"):
        asyncio.run(backend.connect_tcp("localhost.", 80, timeout=1))
    assert resolver.calls == []


def test_backend_allows_private_addresses_when_asked() -> None:
    resolver = StubResolver({"db.internal": ["10.0.0.5"]})
    inner = RecordingBackend()
    backend = GuardedBackend(allow_private=True, resolver=resolver, inner=inner)
    with pytest.raises(httpcore.ConnectError):
        asyncio.run(backend.connect_tcp("db.internal", 5432, timeout=1))
    assert inner.asked == [("10.0.0.5", 5432)]


def test_backend_reports_dns_failure_in_one_line() -> None:
    backend = GuardedBackend(resolver=StubResolver({}), inner=RecordingBackend())
    with pytest.raises(httpcore.ConnectError) as caught:
        asyncio.run(backend.connect_tcp("nowhere.example", 80, timeout=1))
    assert str(caught.value) == "cannot resolve host nowhere.example: Name or service not known"


def test_backend_times_out_slow_dns() -> None:
    async def slow(host: str, port: int) -> list[str]:
        await asyncio.sleep(10)
        return ["8.8.8.8"]

    backend = GuardedBackend(resolver=slow, inner=RecordingBackend())
    with pytest.raises(httpcore.ConnectTimeout, match=r"DNS lookup for slow.example timed out after 0.1 s"):
        asyncio.run(backend.connect_tcp("slow.example", 80, timeout=0.1))


def test_backend_refuses_unix_sockets() -> None:
    backend = GuardedBackend(allow_private=True)
    with pytest.raises(UnsafeURLError, match="Unix socket"):
        asyncio.run(backend.connect_unix_socket("/var/run/docker.sock"))
