"""`briefbot doctor`: one line per check, what to fix, exit 1 on any FAIL, never a traceback."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, update

from bot.store import SqlStore, open_engine, schema
from tests.support.cli import Outcome, run_cli
from tests.support.discord_server import FakeDiscord
from tests.support.discord_server import discord_api as discord_api
from tests.support.openai_server import OpenAIServer
from tests.support.slack_server import FakeSlack
from tests.support.slack_server import slack_api as slack_api

TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GaBcDe.abcdefghijklmnopqrstuvwxyz012345678"  # a Discord token's shape


@pytest.fixture
def migrated(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[SqlStore]:
    """The test database, migrated, with one healthy feed; no model or chat settings."""
    for key in (
        "OPENAI_MODEL",
        "BRIEFBOT_EMBEDDINGS_MODEL",
        "BRIEFBOT_HTTP_PORT",
        "SLACK_APP_TOKEN",
        "SLACK_SIGNING_SECRET",
    ):
        monkeypatch.delenv(key, raising=False)
    engine = open_engine(env["BRIEFBOT_DATABASE_URL"])
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            insert(schema.feeds).values(
                url="https://good.example/feed",
                title="Good Feed",
                status="ok",
                enabled=True,
                error_count=0,
                interval_seconds=900,
                created_at=now,
                next_fetch=now + timedelta(minutes=10),
            )
        )
    yield SqlStore(engine)
    engine.dispose()


def _lines(out: Outcome) -> dict[str, str]:
    """Check name -> its line."""
    found: dict[str, str] = {}
    for line in out.out.splitlines():
        name = line[6:].split(":", 1)[0]
        found[name] = line
    return found


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_healthy_setup_is_all_ok(migrated: SqlStore, capsys: pytest.CaptureFixture[str]) -> None:
    out = run_cli(capsys, "doctor")
    assert out.code == 0, out.out + out.err
    lines = _lines(out)
    for name in ("settings", "database", "feeds", "deliveries", "model endpoint", "chat"):
        assert lines[name].startswith("OK "), lines[name]
    assert "schema version" in lines["database"]
    assert "Traceback" not in out.err


def test_json_output(migrated: SqlStore, capsys: pytest.CaptureFixture[str]) -> None:
    out = run_cli(capsys, "doctor", "--json")
    assert out.code == 0
    data = out.json()
    assert data["ok"] is True
    assert {c["name"]: c["status"] for c in data["checks"]}["database"] == "OK"


def test_a_broken_setting_fails_naming_it(
    migrated: SqlStore, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BRIEFBOT_FEED_INTERVAL", "soon")
    out = run_cli(capsys, "doctor")
    assert out.code == 1
    line = _lines(out)["settings"]
    assert line.startswith("FAIL")
    assert "BRIEFBOT_FEED_INTERVAL" in line
    assert "->" in line  # what to do
    assert out.err == ""


def test_an_unreachable_database_fails(
    env: dict[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    port = _closed_port()
    monkeypatch.setenv("BRIEFBOT_DATABASE_URL", f"postgresql+psycopg://u:secret@127.0.0.1:{port}/none")
    out = run_cli(capsys, "doctor")
    assert out.code == 1
    line = _lines(out)["database"]
    assert line.startswith("FAIL") and "PostgreSQL" in line
    assert "secret" not in out.out
    assert "feeds" not in _lines(out)


def test_an_unreachable_llm_endpoint_fails_with_its_url(
    migrated: SqlStore, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    monkeypatch.setenv("OPENAI_BASE_URL", url)
    out = run_cli(capsys, "doctor")
    assert out.code == 1
    line = _lines(out)["model endpoint"]
    assert line.startswith("FAIL")
    assert url in line
    assert "OPENAI_BASE_URL" in line


def test_a_reachable_llm_endpoint_is_ok(
    migrated: SqlStore, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with OpenAIServer() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_MODEL", "gpt-4o-mini")
        monkeypatch.setenv("BRIEFBOT_EMBEDDINGS_MODEL", "text-embedding-3-small")
        out = run_cli(capsys, "doctor")
        assert out.code == 0, out.out
        lines = _lines(out)
        assert lines["model endpoint"].startswith("OK") and server.base_url in lines["model endpoint"]
        assert lines["embeddings"].startswith("OK")
        assert server.chat_requests == []  # listing models costs no tokens

        monkeypatch.setenv("OPENAI_MODEL", "no-such-model")
        out = run_cli(capsys, "doctor")
        assert out.code == 0
        assert _lines(out)["model endpoint"].startswith("WARN")
        assert "no-such-model" in _lines(out)["model endpoint"]


def test_a_failing_feed_is_named_with_its_error(
    migrated: SqlStore, capsys: pytest.CaptureFixture[str]
) -> None:
    with migrated.engine.begin() as conn:
        conn.execute(
            update(schema.feeds).values(
                status="failing", error_count=4, last_error="HTTP 503 from good.example"
            )
        )
    out = run_cli(capsys, "doctor")
    assert out.code == 0  # a failing feed is a warning, not a broken bot
    line = _lines(out)["feeds"]
    assert line.startswith("WARN")
    assert "Good Feed" in line and "HTTP 503 from good.example" in line
    assert "1 of 1 feeds" in line


def test_failed_and_stuck_deliveries_are_reported(
    migrated: SqlStore, capsys: pytest.CaptureFixture[str]
) -> None:
    old = datetime.now(UTC) - timedelta(hours=2)
    migrated.claim_delivery("digest:console:a:1", "console:a", "digest", {"text": "x"}, old)
    migrated.claim_delivery("alert:console:u:story:1", "console:u", "alert", {"text": "y"}, old)
    migrated.finish_delivery("alert:console:u:story:1", "failed", attempts=1, now=old, error="channel gone")
    out = run_cli(capsys, "doctor")
    line = _lines(out)["deliveries"]
    assert line.startswith("WARN")
    assert "1 failed (last: channel gone)" in line
    assert "1 claimed but unconfirmed" in line


def test_chat_tokens_are_checked_by_shape(
    migrated: SqlStore, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxp-user-token")
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-1-A1-1-abc")
    monkeypatch.setenv("DISCORD_TOKEN", "not a token")
    out = run_cli(capsys, "doctor")
    assert out.code == 1
    lines = _lines(out)
    assert lines["slack"].startswith("FAIL") and "xoxb-" in lines["slack"]
    assert lines["discord"].startswith("FAIL")


def test_chat_tokens_are_signed_in_with(
    migrated: SqlStore,
    slack_api: FakeSlack,
    discord_api: FakeDiscord,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A token of the right shape that the platform refuses (revoked, reset) fails, naming
    it; one it accepts says who the bot is."""
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1-2-abc")
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-1-A1-1-abc")
    monkeypatch.setenv("BRIEFBOT_SLACK_API_URL", slack_api.url)
    monkeypatch.setenv("DISCORD_TOKEN", TOKEN)
    monkeypatch.setenv("BRIEFBOT_DISCORD_API_URL", discord_api.url)
    out = run_cli(capsys, "doctor")
    assert out.code == 0, out.out
    assert _lines(out)["slack"] == "OK    slack: signed in as briefbot in Fake (Socket Mode)"
    assert _lines(out)["discord"] == "OK    discord: signed in as briefbot"
    assert [c.token for c in slack_api.calls_to("auth.test")] == ["xoxb-1-2-abc"]

    slack_api.fail("auth.test", "token_revoked")
    discord_api.fail("me", 401)
    out = run_cli(capsys, "doctor")
    assert out.code == 1
    assert _lines(out)["slack"].startswith("FAIL  slack: Slack refused SLACK_BOT_TOKEN: token_revoked -> ")
    assert _lines(out)["discord"].startswith("FAIL  discord: Discord refused DISCORD_TOKEN (HTTP 401) -> ")


def test_an_unreachable_platform_is_a_warning(
    migrated: SqlStore, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    port = _closed_port()
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1-2-abc")
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-1-A1-1-abc")
    monkeypatch.setenv("BRIEFBOT_SLACK_API_URL", f"http://127.0.0.1:{port}/api/")
    monkeypatch.setenv("DISCORD_TOKEN", TOKEN)
    monkeypatch.setenv("BRIEFBOT_DISCORD_API_URL", f"http://127.0.0.1:{port}/api/v10")
    out = run_cli(capsys, "doctor")
    assert out.code == 0, out.out
    assert _lines(out)["slack"].startswith(
        "WARN  slack: tokens look right (Socket Mode) but Slack did not answer"
    )
    assert _lines(out)["discord"].startswith("WARN  discord: token looks right but Discord did not answer")
    assert "Traceback" not in out.out + out.err


def test_slack_http_mode_needs_the_signing_secret(
    migrated: SqlStore,
    slack_api: FakeSlack,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1-2-abc")
    monkeypatch.delenv("SLACK_APP_TOKEN", raising=False)
    monkeypatch.delenv("SLACK_SIGNING_SECRET", raising=False)
    monkeypatch.setenv("BRIEFBOT_HTTP_PORT", "8080")
    out = run_cli(capsys, "doctor")
    assert out.code == 1
    assert "SLACK_SIGNING_SECRET" in _lines(out)["slack"]
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "abc123")
    monkeypatch.setenv("BRIEFBOT_SLACK_API_URL", slack_api.url)
    out = run_cli(capsys, "doctor")
    assert out.code == 0
    assert "HTTP mode on port 8080" in _lines(out)["slack"]


def test_a_missing_sqlite_database_is_not_created(
    env: dict[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BRIEFBOT_DATABASE_URL", "sqlite:///fresh/briefbot.db")
    out = run_cli(capsys, "doctor")
    assert out.code == 0
    assert _lines(out)["database"].startswith("WARN")
    assert not Path("fresh").exists()
