"""Prometheus metrics from the database, and the /healthz + /metrics HTTP server."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, insert

from bot.core.models import FeedStatus
from bot.llm import LlmCall
from bot.runtime.health import HealthServer
from bot.runtime.metrics import render_metrics
from bot.store import SqlStore, schema

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
SAMPLE = re.compile(
    r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\})? (\S+)$'
)


def parse(text: str) -> dict[str, float]:
    """Every sample as ``name{labels}`` -> value; asserts the exposition format line by line."""
    assert text.endswith("\n")
    samples: dict[str, float] = {}
    typed: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("counter", "gauge")
            typed.add(name)
            continue
        match = SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        assert match.group(1) in typed, f"{match.group(1)} has no TYPE line"
        samples[line.rsplit(" ", 1)[0]] = float(match.group(4))
    return samples


def _feed(engine: Engine, url: str, status: FeedStatus, **values: Any) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(schema.feeds).values(
                url=url,
                status=status.value,
                enabled=status != FeedStatus.DISABLED,
                error_count=values.pop("error_count", 0),
                interval_seconds=900,
                created_at=NOW - timedelta(days=30),
                **values,
            )
        )


def _article(engine: Engine, key: str, fetched_at: datetime) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(schema.articles).values(
                dedupe_key=key, title=key, text="text", summary="text", fetched_at=fetched_at, backfill=False
            )
        )


def _populate(store: SqlStore) -> None:
    engine = store.engine
    _feed(
        engine,
        "https://a.example/feed",
        FeedStatus.OK,
        next_fetch=NOW - timedelta(minutes=10),
        last_fetch=NOW,
    )
    _feed(engine, "https://b.example/feed", FeedStatus.OK, next_fetch=NOW + timedelta(minutes=5))
    _feed(
        engine,
        "https://c.example/feed",
        FeedStatus.FAILING,
        error_count=3,
        next_fetch=NOW - timedelta(hours=1),
    )
    _feed(
        engine,
        "https://d.example/feed",
        FeedStatus.DISABLED,
        error_count=40,
        next_fetch=NOW - timedelta(days=3),
    )
    _article(engine, "one", NOW - timedelta(hours=1))
    _article(engine, "two", NOW - timedelta(hours=2))
    _article(engine, "old", NOW - timedelta(days=3))
    store.log_llm_call(LlmCall(NOW, "brief", "1", "m", 100, 20, 5, False, "ok"))
    store.log_llm_call(LlmCall(NOW, "brief", "1", "m", 50, 0, 5, False, "error: reply"))
    store.claim_delivery("digest:console:a:1", "console:a", "digest", {"text": "x"}, NOW)
    store.claim_delivery("digest:console:a:2", "console:a", "digest", {"text": "y"}, NOW)
    store.finish_delivery("digest:console:a:2", "posted", attempts=1, now=NOW)
    store.claim_delivery("alert:console:u:story:1", "console:u", "alert", {"text": "z"}, NOW)
    store.finish_delivery("alert:console:u:story:1", "failed", attempts=1, now=NOW, error="gone")


def test_metrics_text_parses_and_is_zero_on_an_empty_database(store: SqlStore) -> None:
    samples = parse(render_metrics(store.engine, NOW))
    assert samples['briefbot_feeds{status="ok"}'] == 0
    assert samples["briefbot_articles_total"] == 0
    assert samples['briefbot_deliveries_total{state="posted"}'] == 0
    assert samples["briefbot_job_lag_seconds"] == 0


def test_metrics_reflect_the_rows(store: SqlStore) -> None:
    _populate(store)
    text = render_metrics(store.engine, NOW)
    samples = parse(text)
    assert "# HELP briefbot_job_lag_seconds" in text
    assert samples['briefbot_feeds{status="ok"}'] == 2
    assert samples['briefbot_feeds{status="failing"}'] == 1
    assert samples['briefbot_feeds{status="disabled"}'] == 1
    assert samples['briefbot_feeds{status="new"}'] == 0
    assert samples["briefbot_feed_failures_total"] == 43
    assert samples["briefbot_feeds_fetched_24h"] == 1
    assert samples["briefbot_articles_total"] == 3
    assert samples["briefbot_articles_new_24h"] == 2
    assert samples["briefbot_stories_total"] == 0
    assert samples['briefbot_llm_calls_total{status="ok"}'] == 1
    assert samples['briefbot_llm_calls_total{status="error: reply"}'] == 1
    assert samples['briefbot_llm_tokens_total{direction="input"}'] == 150
    assert samples['briefbot_llm_tokens_total{direction="output"}'] == 20
    assert samples['briefbot_deliveries_total{state="claimed"}'] == 1
    assert samples['briefbot_deliveries_total{state="posted"}'] == 1
    assert samples['briefbot_deliveries_total{state="failed"}'] == 1
    # the failing feed, an hour overdue, is the oldest due one; the disabled feed does not count
    assert samples["briefbot_job_lag_seconds"] == 3600


def test_label_values_are_escaped(store: SqlStore) -> None:
    store.log_llm_call(LlmCall(NOW, "brief", "1", "m", 1, 1, 5, False, 'error: "quoted"\\n'))
    samples = parse(render_metrics(store.engine, NOW))
    assert samples['briefbot_llm_calls_total{status="error: \\"quoted\\"\\\\n"}'] == 1


async def _request(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    await writer.wait_closed()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split(" ")[1]), headers, body


def _get(path: str, method: str = "GET") -> bytes:
    return f"{method} {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode()


def test_server_answers_healthz_and_metrics_over_a_socket(store: SqlStore) -> None:
    _populate(store)

    async def scenario() -> None:
        server = HealthServer(store.engine, host="127.0.0.1", port=0)
        port = await server.start()
        try:
            status, headers, body = await _request(port, _get("/healthz"))
            assert (status, body) == (200, b"ok\n")
            status, headers, body = await _request(port, _get("/metrics?x=1"))
            assert status == 200
            assert headers["content-type"].startswith("text/plain; version=0.0.4")
            assert parse(body.decode())['briefbot_feeds{status="failing"}'] == 1
            assert (await _request(port, _get("/nope")))[0] == 404
            status, headers, _ = await _request(port, _get("/healthz", "POST"))
            assert (status, headers["allow"]) == (405, "GET")
            assert (await _request(port, _get("/metrics", "DELETE")))[0] == 405
            assert (await _request(port, b"garbage\r\n\r\n"))[0] == 400
        finally:
            await server.close()
        try:
            await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            pass
        else:
            raise AssertionError("the server still listens after close()")

    asyncio.run(scenario())


def test_healthz_is_503_when_the_database_does_not_answer() -> None:
    async def scenario() -> None:
        from sqlalchemy import create_engine

        broken = create_engine("sqlite:////nonexistent-dir/briefbot/none.db")
        server = HealthServer(broken, host="127.0.0.1", port=0)
        port = await server.start()
        try:
            status, _, _ = await _request(port, _get("/healthz"))
            assert status == 503
            assert (await _request(port, _get("/metrics")))[0] == 500
        finally:
            await server.close()
            broken.dispose()

    asyncio.run(scenario())


def test_routes_are_a_table_other_handlers_can_join(store: SqlStore) -> None:
    from bot.runtime.health import Request, Response

    async def echo(request: Request) -> Response:
        return Response(200, request.body)

    async def scenario() -> None:
        server = HealthServer(store.engine, host="127.0.0.1", port=0)
        server.route("POST", "/slack/events", echo)
        port = await server.start()
        try:
            raw = b"POST /slack/events HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
            assert await _request(port, raw) == (
                200,
                {"content-type": "text/plain; charset=utf-8", "content-length": "5", "connection": "close"},
                b"hello",
            )
        finally:
            await server.close()

    asyncio.run(scenario())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _http_get(port: int, path: str) -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(_get(path))
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


def test_run_serves_healthz_and_metrics_while_it_runs(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = _free_port()
    monkeypatch.setenv("BRIEFBOT_HTTP_PORT", str(port))
    bot = subprocess.Popen(
        [sys.executable, "-m", "bot", "run", "--limit", "0"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
        env=dict(os.environ),
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, body = _http_get(port, "/healthz")
                break
            except OSError:
                assert bot.poll() is None, bot.communicate()
                assert time.monotonic() < deadline, "the health server never answered"
                time.sleep(0.1)
        assert (status, body) == (200, b"ok\n")
        status, body = _http_get(port, "/metrics")
        assert status == 200
        assert parse(body.decode())["briefbot_articles_total"] == 0
        _out, err = bot.communicate(b"", timeout=60)  # end of input ends the run
        assert bot.returncode == 0, err
    finally:
        if bot.poll() is None:
            bot.kill()
            bot.wait()
    with pytest.raises(OSError):
        _http_get(port, "/healthz")
