"""Slack's HTTP mode on the health server's port: POST /slack/events next to /healthz,
signatures checked, commands answered through the fake Slack Web API."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import urlencode

import httpx
from sqlalchemy import create_engine

from bot.adapters.slack.app import SlackAdapter
from bot.config import Settings
from bot.runtime.health import HealthServer
from bot.runtime.slack import route_slack, slack_http_configured, slack_publisher
from tests.adapters.test_slack_app import SECRET, FakeCommands
from tests.support.slack_server import FakeSlack, signed_headers
from tests.support.slack_server import slack_api as slack_api

FORM = urlencode(
    {
        "team_id": "T1",
        "channel_id": "C1",
        "user_id": "U1",
        "command": "/stories",
        "text": "chips",
        "api_app_id": "A1",
    }
)


def test_settings_slack_api_url() -> None:
    assert Settings.load({}).slack_api_url == "https://slack.com/api/"
    custom = Settings.load({"BRIEFBOT_SLACK_API_URL": "https://slack-gov.com/api"})
    assert custom.slack_api_url == "https://slack-gov.com/api/"
    assert not slack_http_configured(
        Settings.load({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"})
    )
    assert slack_http_configured(
        Settings.load(
            {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "BRIEFBOT_HTTP_PORT": "8080"}
        )
    )


def test_publisher_uses_the_configured_api_url(slack_api: FakeSlack) -> None:
    settings = Settings.load({"SLACK_BOT_TOKEN": "xoxb-1", "BRIEFBOT_SLACK_API_URL": slack_api.url})
    slack_publisher(settings).post("slack:C9", {"kind": "digest", "text": "hello"}, "k1")
    call = slack_api.calls_to("chat.postMessage")[0]
    assert call.token == "xoxb-1" and call.params["channel"] == "C9"


def test_slack_events_on_the_health_server(slack_api: FakeSlack, tmp_path: Path) -> None:
    slack_api.add_user("U1")
    commands = FakeCommands()
    adapter = SlackAdapter(commands, token="xoxb-1", signing_secret=SECRET, api_url=slack_api.url)
    engine = create_engine(f"sqlite:///{tmp_path / 'h.db'}")

    async def scenario() -> tuple[int, int, int]:
        server = HealthServer(engine, host="127.0.0.1", port=0)
        route_slack(server, adapter)
        port = await server.start()
        url = f"http://127.0.0.1:{port}"
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                health = await client.get(url + "/healthz")
                head = {"Content-Type": "application/x-www-form-urlencoded", **signed_headers(FORM, SECRET)}
                good = await client.post(url + "/slack/events", content=FORM, headers=head)
                bad_head = {**head, **signed_headers(FORM, "wrong-secret")}
                bad = await client.post(url + "/slack/events", content=FORM, headers=bad_head)
            return health.status_code, good.status_code, bad.status_code
        finally:
            await server.close()

    assert asyncio.run(scenario()) == (200, 200, 401)
    post = slack_api.wait_for("chat.postMessage")[0].params
    assert post["channel"] == "C1" and "done: /stories chips" in str(post["blocks"])
    assert [text for _, text in commands.calls] == ["/stories chips"]
    engine.dispose()
