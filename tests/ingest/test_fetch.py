"""HttpFetcher against the local feed server: caching, redirects, limits, failures, the guard."""

from __future__ import annotations

import asyncio
import email.utils
import gzip
import shutil
import socket
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpcore
import pytest

from bot.core.models import FetchResult
from bot.errors import FetchError, UnsafeURLError
from bot.ingest import fetch as fetch_module
from bot.ingest.fetch import (
    DEFAULT_USER_AGENT,
    HttpFetcher,
    KeepAlivePool,
    _connect_racing,
    parse_retry_after,
)
from bot.ingest.guard import AsyncioBackend
from tests.support.feedserver import FeedServer

RSS = b"<?xml version='1.0'?><rss version='2.0'><channel><title>t</title></channel></rss>"
PUBLIC_IP = "93.184.216.34"  # stands in for a public web server; see PublicInternet
TEST_OPTIONS: dict[str, Any] = {"allow_private": True, "connect_timeout": 2.0, "total_timeout": 5.0}


def fetch_once(
    url: str, *, etag: str | None = None, last_modified: str | None = None, **options: Any
) -> FetchResult:
    """One fetch with a fresh fetcher (loopback allowed unless ``allow_private=False``)."""

    async def go() -> FetchResult:
        async with HttpFetcher(**{**TEST_OPTIONS, **options}) as fetcher:
            return await fetcher.fetch(url, etag=etag, last_modified=last_modified)

    return asyncio.run(go())


def fetch_error(url: str, **options: Any) -> FetchError:
    """The FetchError a fetch of ``url`` raises."""
    with pytest.raises(FetchError) as caught:
        fetch_once(url, **options)
    assert "\n" not in str(caught.value)
    return caught.value


class StubResolver:
    """DNS from a table; unknown names fail like NXDOMAIN."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.calls: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.table[host]


class PublicInternet(httpcore.AsyncNetworkBackend):
    """The socket layer under the guard, for tests without internet.

    Connecting to PUBLIC_IP reaches the local feed server, so a name that a stub
    resolver maps to PUBLIC_IP behaves like a public site while the guard stays strict
    (``allow_private=False``). Records every address it is asked to connect to.
    """

    def __init__(self) -> None:
        self.asked: list[str] = []
        self._inner = AsyncioBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.asked.append(host)
        if host != PUBLIC_IP:
            raise httpcore.ConnectError(f"test network has no route to {host}")
        return await self._inner.connect_tcp("127.0.0.1", port, timeout=timeout)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


# -- plain fetches and conditional GET ---------------------------------------------------


def test_fetch_returns_body_validators_and_lowercased_headers(feed_server: FeedServer) -> None:
    route = feed_server.feed("/rss", RSS, etag=True, last_modified=True, headers={"X-Feed-Server": "yes"})
    result = fetch_once(feed_server.url("/rss"))

    assert result.status == 200
    assert result.body == RSS
    assert result.url == feed_server.url("/rss")
    assert result.moved_to is None
    assert result.etag == route.etag
    assert result.last_modified == route.last_modified
    assert result.headers["x-feed-server"] == "yes"
    assert result.headers["content-type"] == "application/rss+xml; charset=utf-8"
    assert all(name == name.lower() for name in result.headers)
    sent = feed_server.requests_for("/rss")[0].headers
    assert sent["user-agent"] == DEFAULT_USER_AGENT
    assert sent["accept-encoding"] == "gzip"
    assert "if-none-match" not in sent and "if-modified-since" not in sent


def test_unchanged_feed_answers_304_to_its_etag(feed_server: FeedServer) -> None:
    route = feed_server.feed("/rss", RSS, etag=True)
    result = fetch_once(feed_server.url("/rss"), etag=route.etag)

    assert result.status == 304
    assert result.body is None
    assert result.etag == route.etag
    assert feed_server.requests_for("/rss")[0].headers["if-none-match"] == route.etag


def test_unchanged_feed_answers_304_to_last_modified(feed_server: FeedServer) -> None:
    route = feed_server.feed("/rss", RSS, last_modified=True)
    result = fetch_once(feed_server.url("/rss"), last_modified=route.last_modified)

    assert result.status == 304
    assert result.body is None
    assert result.last_modified == route.last_modified
    assert feed_server.requests_for("/rss")[0].headers["if-modified-since"] == route.last_modified


def test_changed_feed_returns_new_body_and_new_validators(feed_server: FeedServer) -> None:
    first = feed_server.feed("/rss", RSS, etag=True, last_modified=True)
    old_etag, old_modified = first.etag, first.last_modified
    feed_server.update("/rss", RSS.replace(b"<title>t</title>", b"<title>new</title>"))

    result = fetch_once(feed_server.url("/rss"), etag=old_etag, last_modified=old_modified)

    assert result.status == 200
    assert result.body is not None and b"<title>new</title>" in result.body
    assert result.etag is not None and result.etag != old_etag
    assert result.last_modified != old_modified


def test_gzip_body_is_decoded(feed_server: FeedServer) -> None:
    body = RSS * 200
    feed_server.feed("/rss.gz", body, gzip=True)
    result = fetch_once(feed_server.url("/rss.gz"))

    assert result.body == body
    assert result.headers["content-encoding"] == "gzip"
    assert int(result.headers["content-length"]) == len(gzip.compress(body))


def test_undecodable_gzip_is_a_one_line_error(feed_server: FeedServer) -> None:
    feed_server.feed("/bad.gz", b"this is not gzip", headers={"Content-Encoding": "gzip"})
    error = fetch_error(feed_server.url("/bad.gz"))
    assert str(error).startswith(f"cannot decode the response body from {feed_server.url('/bad.gz')}")


# -- size cap, timeouts, truncation -------------------------------------------------------


def test_streamed_body_over_the_cap_is_refused(feed_server: FeedServer) -> None:
    feed_server.oversized("/huge", 3 * 1024 * 1024)  # chunked: no Content-Length to go by
    error = fetch_error(feed_server.url("/huge"), max_bytes=1024 * 1024)
    assert "exceeds the 1 MiB cap" in str(error)


def test_declared_length_over_the_cap_is_refused_before_reading(feed_server: FeedServer) -> None:
    feed_server.feed("/big", b"x" * 200_000)
    error = fetch_error(feed_server.url("/big"), max_bytes=100_000)
    assert (
        str(error)
        == "response body exceeds the 100000 bytes cap (max_bytes) (Content-Length is 200000 bytes)"
    )


def test_cap_applies_to_the_decoded_size_of_gzip(feed_server: FeedServer) -> None:
    feed_server.oversized("/bomb", 8 * 1024 * 1024, gzip=True)  # about 8 KB on the wire
    error = fetch_error(feed_server.url("/bomb"), max_bytes=1024 * 1024)
    assert "exceeds the 1 MiB cap" in str(error)


def test_body_at_the_cap_is_accepted(feed_server: FeedServer) -> None:
    feed_server.feed("/exact", b"x" * 1000)
    assert fetch_once(feed_server.url("/exact"), max_bytes=1000).body == b"x" * 1000


def test_hanging_body_hits_the_total_deadline(feed_server: FeedServer) -> None:
    feed_server.hang("/hang", seconds=30)
    started = time.monotonic()
    error = fetch_error(feed_server.url("/hang"), total_timeout=0.5)
    assert str(error) == f"timed out after 0.5 s fetching {feed_server.url('/hang')}"
    assert time.monotonic() - started < 3


def test_slow_server_hits_the_total_deadline(feed_server: FeedServer) -> None:
    feed_server.slow("/slow", RSS, delay=10)
    started = time.monotonic()
    error = fetch_error(feed_server.url("/slow"), total_timeout=0.3)
    assert str(error).startswith("timed out after 0.3 s")
    assert time.monotonic() - started < 3


def test_deadline_covers_the_whole_redirect_chain(feed_server: FeedServer) -> None:
    # Each hop answers in 0.25 s, well within 0.6 s, but the chain takes longer.
    for hop in range(4):
        feed_server.redirect(f"/hop{hop}", f"/hop{hop + 1}", status=302).delay = 0.25
    feed_server.feed("/hop4", RSS)
    error = fetch_error(feed_server.url("/hop0"), total_timeout=0.6)
    assert str(error).startswith("timed out after 0.6 s")


def test_slow_dns_hits_the_connect_timeout() -> None:
    async def slow(host: str, port: int) -> list[str]:
        await asyncio.sleep(10)
        return [PUBLIC_IP]

    error = fetch_error("http://slow.example/feed", resolver=slow, connect_timeout=0.2)
    assert str(error) == "timed out after 0.2 s connecting to slow.example"


def test_truncated_body_is_an_error(feed_server: FeedServer) -> None:
    feed_server.truncated("/cut", RSS * 50, sent=100)
    error = fetch_error(feed_server.url("/cut"))
    assert "is truncated" in str(error)
    assert "expected" in str(error)  # h11 names the declared length


# -- redirects -----------------------------------------------------------------------------


def test_permanent_redirects_set_moved_to(feed_server: FeedServer) -> None:
    feed_server.redirect("/old", "/older-but-newer", status=301)
    feed_server.redirect("/older-but-newer", feed_server.url("/feed.xml"), status=308)
    feed_server.feed("/feed.xml", RSS)
    result = fetch_once(feed_server.url("/old"))

    assert result.status == 200
    assert result.body == RSS
    assert result.url == feed_server.url("/feed.xml")
    assert result.moved_to == feed_server.url("/feed.xml")


@pytest.mark.parametrize("temporary", [302, 303, 307])
def test_any_temporary_hop_leaves_moved_to_unset(feed_server: FeedServer, temporary: int) -> None:
    feed_server.redirect("/old", "/middle", status=301)
    feed_server.redirect("/middle", "/feed.xml", status=temporary)
    feed_server.feed("/feed.xml", RSS)
    result = fetch_once(feed_server.url("/old"))

    assert result.url == feed_server.url("/feed.xml")
    assert result.moved_to is None


def test_relative_location_is_resolved_against_the_current_url(feed_server: FeedServer) -> None:
    feed_server.redirect("/blog/feeds/rss", "../atom.xml", status=302)
    feed_server.feed("/blog/atom.xml", RSS)
    assert fetch_once(feed_server.url("/blog/feeds/rss")).url == feed_server.url("/blog/atom.xml")


def test_304_after_a_permanent_redirect_reports_the_move(feed_server: FeedServer) -> None:
    route = feed_server.feed("/new", RSS, etag=True)
    feed_server.redirect("/old", "/new", status=301)
    result = fetch_once(feed_server.url("/old"), etag=route.etag)

    assert result.status == 304
    assert result.body is None
    assert result.moved_to == feed_server.url("/new")


def test_redirect_limit(feed_server: FeedServer) -> None:
    feed_server.feed("/end", RSS)
    five = feed_server.redirect_chain("/five", 5, "/end")
    six = feed_server.redirect_chain("/six", 6, "/end")

    assert fetch_once(feed_server.url(five), max_redirects=5).body == RSS
    error = fetch_error(feed_server.url(six), max_redirects=5)
    assert str(error) == f"too many redirects (more than 5) starting at {feed_server.url(six)}"


def test_redirect_loop_stops_at_the_limit(feed_server: FeedServer) -> None:
    feed_server.redirect("/a", "/b", status=302)
    feed_server.redirect("/b", "/a", status=302)
    error = fetch_error(feed_server.url("/a"), max_redirects=3)
    assert "too many redirects (more than 3)" in str(error)
    assert len(feed_server.requests) == 4


def test_redirect_without_location_is_an_error(feed_server: FeedServer) -> None:
    feed_server.status("/nowhere", 302)
    error = fetch_error(feed_server.url("/nowhere"))
    assert "has no Location header" in str(error)


# -- HTTP errors ---------------------------------------------------------------------------


def test_429_carries_retry_after_seconds(feed_server: FeedServer) -> None:
    feed_server.status("/busy", 429, retry_after="120")
    error = fetch_error(feed_server.url("/busy"))
    assert str(error) == "HTTP 429 Too Many Requests (retry after 120 s)"
    assert error.status == 429
    assert error.retry_after == 120.0


def test_503_carries_retry_after_http_date(feed_server: FeedServer) -> None:
    feed_server.status("/down", 503, retry_after=email.utils.formatdate(time.time() + 90, usegmt=True))
    error = fetch_error(feed_server.url("/down"))
    assert error.status == 503
    assert error.retry_after is not None and 80 <= error.retry_after <= 91
    assert str(error).startswith("HTTP 503 Service Unavailable (retry after ")


def test_unusable_retry_after_is_ignored(feed_server: FeedServer) -> None:
    feed_server.status("/down", 503, retry_after="soon")
    error = fetch_error(feed_server.url("/down"))
    assert str(error) == "HTTP 503 Service Unavailable"
    assert error.retry_after is None


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (404, "HTTP 404 Not Found"),
        (410, "HTTP 410 Gone"),
        (500, "HTTP 500 Internal Server Error"),
        (599, "HTTP 599 error"),
    ],
)
def test_error_statuses_are_one_line_fetch_errors(feed_server: FeedServer, status: int, message: str) -> None:
    feed_server.status("/broken", status, body=b"<html>\n<h1>oops</h1>\n</html>", retry_after="60")
    error = fetch_error(feed_server.url("/broken"))
    assert str(error) == message
    assert error.status == status
    assert error.retry_after is None  # only 429 and 503 carry it


def test_parse_retry_after() -> None:
    now = email.utils.parsedate_to_datetime("Wed, 21 Oct 2015 07:28:00 GMT")
    assert parse_retry_after("0") == 0.0
    assert parse_retry_after(" 30 ") == 30.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:30:00 GMT", now=now) == 120.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now=now) == 0.0  # in the past
    assert parse_retry_after("-5") is None
    assert parse_retry_after("later") is None
    assert parse_retry_after(None) is None


def test_invalid_validator_is_a_one_line_error(feed_server: FeedServer) -> None:
    feed_server.feed("/rss", RSS)
    error = fetch_error(feed_server.url("/rss"), etag='"abc"\r\nX-Injected: 1')
    assert str(error).startswith(f"request to {feed_server.url('/rss')} failed:")
    assert feed_server.requests == []


# -- network failures ----------------------------------------------------------------------


def test_connection_refused_is_one_line() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    error = fetch_error(f"http://127.0.0.1:{port}/feed")
    assert str(error) == f"cannot connect to 127.0.0.1 port {port}: Connection refused"
    assert error.status is None


def test_dns_failure_is_one_line() -> None:
    error = fetch_error("http://nowhere.example/feed", resolver=StubResolver({}))
    assert str(error) == "cannot resolve host nowhere.example: Name or service not known"


# -- the SSRF guard in the fetcher ----------------------------------------------------------


def test_private_url_is_refused_before_any_request(feed_server: FeedServer) -> None:
    feed_server.feed("/rss", RSS)
    with pytest.raises(UnsafeURLError, match=r"URL host 127\.0\.0\.1 is a loopback address"):
        fetch_once(feed_server.url("/rss"), allow_private=False)
    assert feed_server.requests == []


def test_name_resolving_to_loopback_is_refused_at_connect_time(feed_server: FeedServer) -> None:
    feed_server.feed("/rss", RSS)
    resolver = StubResolver({"feeds.example.com": ["127.0.0.1"]})
    with pytest.raises(UnsafeURLError) as caught:
        fetch_once(feed_server.url("/rss", host="feeds.example.com"), allow_private=False, resolver=resolver)
    # The guard's own error surfaces, not an httpx ConnectError or a FetchError.
    assert type(caught.value) is UnsafeURLError
    assert str(caught.value) == "host feeds.example.com resolves to 127.0.0.1, a loopback address"
    assert feed_server.requests == []


def test_public_name_is_fetched_through_the_vetted_address(feed_server: FeedServer) -> None:
    feed_server.feed("/rss", RSS)
    internet = PublicInternet()
    resolver = StubResolver({"feeds.example.com": [PUBLIC_IP]})
    url = feed_server.url("/rss", host="feeds.example.com")
    result = fetch_once(url, allow_private=False, resolver=resolver, network_backend=internet)

    assert result.body == RSS
    assert internet.asked == [PUBLIC_IP]  # the IP literal, never the name
    assert feed_server.requests[0].headers["host"] == f"feeds.example.com:{feed_server.port}"


def test_dns_rebinding_is_refused_at_connect_time(feed_server: FeedServer) -> None:
    """The name first resolves to a public address, then is rebound to 127.0.0.1.

    check_url cannot see DNS, and an earlier lookup (when the feed was added, or a
    previous fetch) proves nothing: the guard resolves again for every connection and
    connects only to the address it vetted.
    """
    feed_server.feed("/rss", RSS)
    answers = [[PUBLIC_IP], ["127.0.0.1"]]

    async def rebinding(host: str, port: int) -> list[str]:
        return answers.pop(0) if len(answers) > 1 else answers[0]

    internet = PublicInternet()
    url = feed_server.url("/rss", host="rebind.example")
    assert check_url_passes(url)

    first = fetch_once(url, allow_private=False, resolver=rebinding, network_backend=internet)
    assert first.body == RSS
    with pytest.raises(UnsafeURLError, match=r"host rebind\.example resolves to 127\.0\.0\.1, a loopback"):
        fetch_once(url, allow_private=False, resolver=rebinding, network_backend=internet)
    assert internet.asked == [PUBLIC_IP]
    assert len(feed_server.requests) == 1


def check_url_passes(url: str) -> bool:
    from bot.ingest.guard import check_url

    return check_url(url, allow_private=False) == url


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("http://127.0.0.1:{port}/secret", "URL host 127.0.0.1 is a loopback address"),
        ("http://0x7f000001:{port}/secret", "URL host 0x7f000001 (= 127.0.0.1) is a loopback address"),
        ("http://localhost:{port}/secret", "URL host localhost is a loopback name"),
        ("http://[::ffff:169.254.169.254]/latest/meta-data/", "IPv4-mapped address of 169.254.169.254"),
        (
            "http://intranet.example:{port}/secret",
            "host intranet.example resolves to 10.1.2.3, a private address",
        ),
        ("file:///etc/passwd", "only http and https are allowed"),
        ("http://admin:hunter2@feeds.example.com:{port}/secret", "credentials"),
    ],
)
def test_redirect_to_a_private_address_is_refused(feed_server: FeedServer, target: str, message: str) -> None:
    feed_server.redirect("/rss", target.format(port=feed_server.port), status=302)
    feed_server.feed("/secret", b"internal admin page")
    resolver = StubResolver({"feeds.example.com": [PUBLIC_IP], "intranet.example": ["10.1.2.3"]})
    url = feed_server.url("/rss", host="feeds.example.com")

    with pytest.raises(UnsafeURLError) as caught:
        fetch_once(url, allow_private=False, resolver=resolver, network_backend=PublicInternet())
    assert message in str(caught.value)
    assert feed_server.requests_for("/secret") == []


def test_redirect_refusal_names_both_urls(feed_server: FeedServer) -> None:
    feed_server.redirect("/rss", "http://10.0.0.1/", status=301)
    resolver = StubResolver({"feeds.example.com": [PUBLIC_IP]})
    url = feed_server.url("/rss", host="feeds.example.com")
    with pytest.raises(UnsafeURLError) as caught:
        fetch_once(url, allow_private=False, resolver=resolver, network_backend=PublicInternet())
    assert str(caught.value) == (
        f"redirect from {url} to http://10.0.0.1/ refused: URL host 10.0.0.1 is a private address"
    )


# -- TLS to a vetted address ---------------------------------------------------------------


@pytest.fixture
def tls_feed_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterable[FeedServer]:
    """A TLS feed server with a self-signed certificate for feeds.example.com, trusted by httpx."""
    import ssl

    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "1", "-subj", "/CN=feeds.example.com",
            "-addext", "subjectAltName=DNS:feeds.example.com",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    with FeedServer(ssl_context=context) as server:
        yield server


def test_tls_verifies_the_hostname_while_connecting_to_the_vetted_ip(tls_feed_server: FeedServer) -> None:
    tls_feed_server.feed("/rss", RSS)
    resolver = StubResolver({"feeds.example.com": ["127.0.0.1"], "other.example.com": ["127.0.0.1"]})

    result = fetch_once(tls_feed_server.url("/rss", host="feeds.example.com"), resolver=resolver)
    assert result.body == RSS

    error = fetch_error(tls_feed_server.url("/rss", host="other.example.com"), resolver=resolver)
    assert str(error).startswith("cannot connect to other.example.com: TLS handshake failed")
    assert "other.example.com" in str(error) and "certificate" in str(error).lower()


# -- concurrency and connection reuse -------------------------------------------------------


def test_per_host_limit_is_honoured(feed_server: FeedServer) -> None:
    feed_server.slow("/slow", RSS, delay=0.3)

    async def go() -> list[FetchResult]:
        async with HttpFetcher(**TEST_OPTIONS, per_host=3) as fetcher:
            return await asyncio.gather(*(fetcher.fetch(feed_server.url("/slow")) for _ in range(7)))

    results = asyncio.run(go())
    assert [r.status for r in results] == [200] * 7
    assert feed_server.max_concurrent_by_host[f"127.0.0.1:{feed_server.port}"] == 3


def test_global_limit_is_honoured_across_hosts(feed_server: FeedServer) -> None:
    feed_server.slow("/slow", RSS, delay=0.3)
    hosts = ["a.test", "b.test", "c.test"]
    resolver = StubResolver({host: ["127.0.0.1"] for host in hosts})

    async def go() -> list[FetchResult]:
        async with HttpFetcher(**TEST_OPTIONS, concurrency=4, per_host=3, resolver=resolver) as fetcher:
            urls = [feed_server.url("/slow", host=host) for host in hosts for _ in range(3)]
            return await asyncio.gather(*(fetcher.fetch(url) for url in urls))

    results = asyncio.run(go())
    assert [r.status for r in results] == [200] * 9
    assert feed_server.max_concurrent == 4
    assert max(feed_server.max_concurrent_by_host.values()) <= 3


def test_connections_are_kept_alive_and_reused(feed_server: FeedServer) -> None:
    route = feed_server.feed("/rss", RSS, etag=True)
    feed_server.redirect("/moved", "/rss", status=301)
    feed_server.status("/missing", 404, body=b"nope")

    async def go() -> None:
        async with HttpFetcher(**TEST_OPTIONS) as fetcher:
            for _ in range(10):
                assert (await fetcher.fetch(feed_server.url("/rss"), etag=route.etag)).status == 304
                assert (await fetcher.fetch(feed_server.url("/moved"))).status == 200
                with pytest.raises(FetchError):
                    await fetcher.fetch(feed_server.url("/missing"))

    asyncio.run(go())
    assert len(feed_server.requests) == 40
    assert feed_server.connections == 1


def test_connection_closed_by_the_server_while_idle_is_replaced(feed_server: FeedServer) -> None:
    feed_server.feed("/rss", RSS).drop_connection = True

    async def go() -> list[FetchResult]:
        async with HttpFetcher(**TEST_OPTIONS) as fetcher:
            results = []
            for _ in range(3):
                results.append(await fetcher.fetch(feed_server.url("/rss")))
                await asyncio.sleep(0.05)  # let the close arrive while the connection is idle
            return results

    assert [r.body for r in asyncio.run(go())] == [RSS] * 3
    assert feed_server.connections == 3


def test_a_burst_to_one_host_opens_connections_a_few_at_a_time(
    feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the answers, not the spacing, free slots here
    monkeypatch.setattr(fetch_module._OpeningPace, "START", 0.4)
    monkeypatch.setattr(fetch_module._OpeningPace, "FAST", 0.4)
    feed_server.slow("/slow", RSS, delay=0.1)  # well inside the 0.5 s opening grace, even on a loaded machine

    async def go() -> list[FetchResult]:
        async with HttpFetcher(**TEST_OPTIONS, per_host=16) as fetcher:
            return await asyncio.gather(*(fetcher.fetch(feed_server.url("/slow")) for _ in range(16)))

    assert [r.status for r in asyncio.run(go())] == [200] * 16
    # 4 new connections, then (once those answer, or after the 0.5 s grace) reuse plus 4
    # more: 8 when the machine is idle; a loaded machine may need a third wave. Opening
    # one connection per request would make 16.
    assert feed_server.connections <= 12
    assert feed_server.max_concurrent <= 12


def test_connections_open_at_the_spacing_without_waiting_for_answers(
    feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no answer coming and a grace far away, new connections still open: each opening
    slot frees the origin's spacing after its connect, so a burst ramps up at a steady pace."""
    monkeypatch.setattr(KeepAlivePool, "OPENING_GRACE", 60.0)
    monkeypatch.setattr(fetch_module._OpeningPace, "START", 0.02)
    feed_server.hang("/hang", seconds=30)

    async def go() -> int:
        async with HttpFetcher(**{**TEST_OPTIONS, "per_host": 16}) as fetcher:
            hanging = [asyncio.create_task(fetcher.fetch(feed_server.url("/hang"))) for _ in range(10)]
            deadline = time.monotonic() + 10
            while feed_server.connections < 10 and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            for task in hanging:
                task.cancel()
            await asyncio.gather(*hanging, return_exceptions=True)
            return feed_server.connections

    assert asyncio.run(go()) == 10  # 4 at a time and never an answer: only the spacing freed slots


class _FirstConnectOnly(httpcore.AsyncNetworkBackend):
    """Connects once; every later handshake hangs, as with a server whose accept queue is full."""

    def __init__(self) -> None:
        self._inner = AsyncioBackend()
        self.attempts = 0

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.attempts += 1
        if self.attempts > 1:
            await asyncio.sleep(3600)
        return await self._inner.connect_tcp(host, port, timeout=timeout)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def test_a_request_whose_handshake_stalls_takes_the_first_connection_to_come_free(
    feed_server: FeedServer,
) -> None:
    """Late binding: a request that had to open a connection is served by whichever comes
    free first, so a dropped handshake does not hold it up while another request's
    connection is handed back."""
    feed_server.slow("/slow", RSS, delay=0.3)
    backend = _FirstConnectOnly()

    async def go() -> list[FetchResult]:
        options = {**TEST_OPTIONS, "per_host": 4, "total_timeout": 5.0}
        async with HttpFetcher(**options, network_backend=backend) as fetcher:
            first = asyncio.create_task(fetcher.fetch(feed_server.url("/slow")))
            await asyncio.sleep(0.05)  # the first request holds the only connection
            second = asyncio.create_task(fetcher.fetch(feed_server.url("/slow")))
            return [await first, await second]

    assert [r.body for r in asyncio.run(go())] == [RSS, RSS]
    assert feed_server.connections == 1 and backend.attempts >= 2  # the second never connected


class _Stream:
    def __init__(self, name: str) -> None:
        self.name = name
        self.closed = False

    async def aclose(self) -> None:
        self.closed = True


class _ScriptedBackend:
    """connect_tcp attempts follow a script: ("hang",), ("gate",), ("ok", delay) or ("fail", delay)."""

    def __init__(self, script: list[tuple[Any, ...]]) -> None:
        self.script = script
        self.attempts = 0
        self.streams: list[_Stream] = []
        self.gate = asyncio.Event()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None, **_: Any) -> _Stream:
        step = self.script[self.attempts]
        self.attempts += 1
        if step[0] == "hang":
            await asyncio.sleep(3600)
        if step[0] == "gate":  # wait until every attempt has started, then connect together
            if self.attempts == len(self.script):
                self.gate.set()
            await self.gate.wait()
            step = ("ok", 0.0)
        await asyncio.sleep(step[1])
        if step[0] == "fail":
            raise httpcore.ConnectError(f"attempt {self.attempts} refused")
        stream = _Stream(f"attempt {self.attempts}")
        self.streams.append(stream)
        return stream


def _race(backend: _ScriptedBackend) -> Any:
    async def go() -> Any:
        stream, raced = await _connect_racing(backend, "feeds.example", 80, 5.0)  # type: ignore[arg-type]
        assert raced == (backend.attempts > 1)
        await asyncio.sleep(0.3)  # let a losing attempt finish and be closed
        return stream

    return asyncio.run(go())


def test_openings_speed_up_while_the_server_keeps_up_and_back_off_when_it_drops_handshakes() -> None:
    """The spacing between new connections to one origin starts at START, shrinks towards
    FAST with each prompt handshake and quadruples (up to SLOW) after one had to be raced."""
    pace = fetch_module._OpeningPace(4)
    Pace = fetch_module._OpeningPace
    spacings = [pace.connected(raced=False) for _ in range(20)]
    assert spacings[0] < Pace.START and spacings == sorted(spacings, reverse=True)
    assert spacings[-1] == Pace.FAST
    assert pace.connected(raced=True) == 4 * Pace.FAST
    for _ in range(5):
        pace.connected(raced=True)
    assert pace.spacing == Pace.SLOW


def test_a_dropped_handshake_is_raced_by_a_second_attempt(monkeypatch: pytest.MonkeyPatch) -> None:
    """A SYN dropped by a full accept queue is retried by the kernel only after a second;
    a second attempt joins after CONNECT_RACE_AFTER and the first to connect wins."""
    monkeypatch.setattr(fetch_module, "CONNECT_RACE_AFTER", 0.05)
    backend = _ScriptedBackend([("hang",), ("ok", 0.0)])
    assert _race(backend).name == "attempt 2" and backend.attempts == 2


def test_a_quick_connect_or_refusal_starts_no_second_attempt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fetch_module, "CONNECT_RACE_AFTER", 0.2)
    quick = _ScriptedBackend([("ok", 0.0)])
    assert _race(quick).name == "attempt 1" and quick.attempts == 1
    refused = _ScriptedBackend([("fail", 0.0)])
    with pytest.raises(httpcore.ConnectError, match="attempt 1 refused"):
        _race(refused)
    assert refused.attempts == 1


def test_a_losing_attempt_that_connects_too_is_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fetch_module, "CONNECT_RACE_AFTER", 0.05)
    both_connect = _ScriptedBackend([("gate",), ("gate",)])  # both connect in the same turn
    winner = _race(both_connect)
    assert both_connect.attempts == 2 and not winner.closed
    assert [s.closed for s in both_connect.streams if s is not winner] == [True]


def test_a_cancelled_loser_never_connects_and_a_double_failure_is_raised(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(fetch_module, "CONNECT_RACE_AFTER", 0.05)
    slow_first = _ScriptedBackend([("ok", 0.15), ("ok", 0.0)])
    assert _race(slow_first).name == "attempt 2" and len(slow_first.streams) == 1
    both_fail = _ScriptedBackend([("fail", 0.1), ("fail", 0.1)])
    with pytest.raises(httpcore.ConnectError):
        _race(both_fail)
    assert both_fail.attempts == 2


def test_slow_first_answers_do_not_hold_up_other_feeds_on_the_host(feed_server: FeedServer) -> None:
    feed_server.hang("/hang", seconds=30)
    feed_server.feed("/rss", RSS)

    async def go() -> float:
        async with HttpFetcher(**{**TEST_OPTIONS, "total_timeout": 4.0}) as fetcher:
            hanging = [asyncio.create_task(fetcher.fetch(feed_server.url("/hang"))) for _ in range(4)]
            await asyncio.sleep(0.1)
            started = time.monotonic()
            assert (await fetcher.fetch(feed_server.url("/rss"))).body == RSS
            waited = time.monotonic() - started
            for task in hanging:
                task.cancel()
            await asyncio.gather(*hanging, return_exceptions=True)
            return waited

    assert asyncio.run(go()) < 2.0  # the opening grace (0.5 s), not the 4 s deadline


def test_many_304s_share_a_few_connections(feed_server: FeedServer) -> None:
    route = feed_server.feed("/rss", RSS, etag=True)

    async def go() -> list[FetchResult]:
        async with HttpFetcher(**TEST_OPTIONS) as fetcher:
            return await asyncio.gather(
                *(fetcher.fetch(feed_server.url("/rss"), etag=route.etag) for _ in range(500))
            )

    results = asyncio.run(go())
    assert {r.status for r in results} == {304}
    assert feed_server.connections <= 8  # per_host


@pytest.mark.filterwarnings("ignore::ResourceWarning")  # the first loop's connection is abandoned
def test_fetcher_works_across_event_loops(feed_server: FeedServer) -> None:
    feed_server.feed("/rss", RSS)
    fetcher = HttpFetcher(**TEST_OPTIONS)  # built outside any loop, as the app wiring does

    async def fetch_and_close() -> FetchResult:
        try:
            return await fetcher.fetch(feed_server.url("/rss"))
        finally:
            await fetcher.aclose()

    assert asyncio.run(fetcher.fetch(feed_server.url("/rss"))).body == RSS
    assert asyncio.run(fetch_and_close()).body == RSS
