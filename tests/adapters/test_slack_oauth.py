"""Several workspaces: Slack's OAuth install flow on the health server beside /slack/events,
installations in briefbot's own database (SQLite and PostgreSQL) through slack_sdk's
SQLAlchemy stores, ``oauth.v2.access`` answered by the local fake Slack Web API, and each
team's events answered with that team's bot token."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore

from bot.adapters.slack.oauth import authorize_url, handle_oauth, manifest_scopes
from bot.config import Settings
from bot.runtime.health import HealthServer
from bot.runtime.slack import route_slack, slack_adapter, slack_http_configured
from bot.runtime.wiring import App, build
from tests.adapters.test_slack_app import SECRET
from tests.adapters.test_slack_render import load_manifest
from tests.support.slack_server import FakeSlack, signed_headers
from tests.support.slack_server import slack_api as slack_api

CLIENT_ID = "111.222"
COOKIE = "slack-app-oauth-state"


def oauth_env(slack_api: FakeSlack) -> dict[str, str]:
    return {
        "SLACK_CLIENT_ID": CLIENT_ID,
        "SLACK_CLIENT_SECRET": "client-secret",
        "SLACK_SIGNING_SECRET": SECRET,
        "BRIEFBOT_SLACK_API_URL": slack_api.url,
        "BRIEFBOT_HTTP_PORT": "8080",
    }


@dataclass
class Site:
    """briefbot (as ``run`` wires it) with its HTTP server on a free port."""

    app: App
    url: str

    def installation(self, team: str) -> Any:
        store = SQLAlchemyInstallationStore(client_id=CLIENT_ID, engine=self.app.store.engine)
        return store.find_bot(enterprise_id=None, team_id=team)


Scenario = Callable[[Site, httpx.AsyncClient], Awaitable[None]]


@pytest.fixture
def run_site(
    env: dict[str, str], slack_api: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[Scenario], None]]:
    for key, value in oauth_env(slack_api).items():
        monkeypatch.setenv(key, value)
    settings = Settings.load()
    assert settings.slack_bot_token is None and slack_http_configured(settings)
    app = build(settings)

    def run(scenario: Scenario) -> None:
        async def main() -> None:
            adapter = slack_adapter(
                app.service, settings, feedback=app.store, claims=app.store, engine=app.store.engine
            )
            server = HealthServer(app.store.engine, host="127.0.0.1", port=0)
            route_slack(server, adapter)
            port = await server.start()
            try:
                async with httpx.AsyncClient(timeout=10, follow_redirects=False) as client:
                    await scenario(Site(app, f"http://127.0.0.1:{port}"), client)
            finally:
                await server.close()

        asyncio.run(main())

    try:
        yield run
    finally:
        asyncio.run(app.aclose())


async def start_install(site: Site, client: httpx.AsyncClient) -> str:
    """GET /slack/install: a redirect to Slack's authorize page; returns its state."""
    response = await client.get(site.url + "/slack/install")
    assert response.status_code == 302
    location = response.headers["location"]
    query = parse_qs(urlsplit(location).query)
    state = query["state"][0]
    assert f"{COOKIE}={state}" in response.headers["set-cookie"]
    return state


def mention(team: str, event_id: str) -> tuple[str, dict[str, str]]:
    body = json.dumps(
        {
            "team_id": team,
            "api_app_id": "A1",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "event": {
                "type": "app_mention",
                "user": "U1",
                "text": "<@UBOT> what is ironwood?",
                "ts": "1700000000.000200",
                "channel": "C2",
            },
        }
    )
    return body, {"Content-Type": "application/json", **signed_headers(body, SECRET)}


def test_install_link_has_the_manifest_scopes_and_a_state(
    run_site: Callable[[Scenario], None], slack_api: FakeSlack
) -> None:
    async def scenario(site: Site, client: httpx.AsyncClient) -> None:
        response = await client.get(site.url + "/slack/install")
        assert response.status_code == 302
        parts = urlsplit(response.headers["location"])
        assert f"{parts.scheme}://{parts.netloc}{parts.path}" == authorize_url(slack_api.url)
        query = parse_qs(parts.query)
        assert query["client_id"] == [CLIENT_ID]
        assert query["scope"][0].split(",") == manifest_scopes()
        assert len(query["state"][0]) >= 32
        second = await start_install(site, client)
        assert second != query["state"][0]  # a fresh state per visit

    run_site(scenario)


def test_install_stores_the_team_and_its_events_use_its_token(
    run_site: Callable[[Scenario], None], slack_api: FakeSlack
) -> None:
    """The redirect exchanges the code at oauth.v2.access (on BRIEFBOT_SLACK_API_URL), the
    installation lands in briefbot's database, and team T2's mention is answered with T2's
    bot token, not any other."""
    slack_api.grant("code-t2", team="T2", token="xoxb-team-two")
    slack_api.grant("code-t3", team="T3", token="xoxb-team-three")

    async def scenario(site: Site, client: httpx.AsyncClient) -> None:
        for code in ("code-t2", "code-t3"):
            state = await start_install(site, client)
            done = await client.get(
                site.url + "/slack/oauth_redirect",
                params={"code": code, "state": state},
                headers={"Cookie": f"{COOKIE}={state}"},
            )
            assert done.status_code == 200, done.text
        exchange = slack_api.calls_to("oauth.v2.access")[0]
        assert exchange.params["code"] == "code-t2"
        assert site.installation("T2").bot_token == "xoxb-team-two"
        assert site.installation("T3").bot_token == "xoxb-team-three"
        body, headers = mention("T2", "EvTeam2")
        assert (
            await client.post(site.url + "/slack/events", content=body, headers=headers)
        ).status_code == 200

    run_site(scenario)
    post = slack_api.wait_for("chat.postMessage")[0]
    assert post.token == "xoxb-team-two"
    assert post.params["channel"] == "C2" and post.params["thread_ts"] == "1700000000.000200"


def test_a_forged_or_replayed_state_installs_nothing(
    run_site: Callable[[Scenario], None], slack_api: FakeSlack
) -> None:
    slack_api.grant("code-t2", team="T2", token="xoxb-team-two")

    async def scenario(site: Site, client: httpx.AsyncClient) -> None:
        state = await start_install(site, client)
        redirect = site.url + "/slack/oauth_redirect"
        no_cookie = await client.get(redirect, params={"code": "code-t2", "state": state})
        assert no_cookie.status_code == 400  # another browser than the one that started
        forged = await client.get(
            redirect, params={"code": "code-t2", "state": "forged"}, headers={"Cookie": f"{COOKIE}=forged"}
        )
        assert forged.status_code == 401  # never issued
        cookie = {"Cookie": f"{COOKIE}={state}"}
        bad_code = await client.get(redirect, params={"code": "nope", "state": state}, headers=cookie)
        assert bad_code.status_code == 401  # oauth.v2.access said invalid_code
        replay = await client.get(redirect, params={"code": "code-t2", "state": state}, headers=cookie)
        assert replay.status_code == 401  # a state is consumed once
        assert site.installation("T2") is None

    run_site(scenario)


def test_an_event_from_a_team_that_did_not_install_is_not_answered(
    run_site: Callable[[Scenario], None], slack_api: FakeSlack
) -> None:
    async def scenario(site: Site, client: httpx.AsyncClient) -> None:
        body, headers = mention("T9", "EvStranger")
        await client.post(site.url + "/slack/events", content=body, headers=headers)

    run_site(scenario)
    time.sleep(0.3)
    assert not slack_api.calls_to("chat.postMessage")


def test_without_oauth_there_are_no_install_routes(slack_api: FakeSlack) -> None:
    from types import SimpleNamespace
    from typing import cast

    from bot.core.service import Service

    settings = Settings.load(
        {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": SECRET, "BRIEFBOT_SLACK_API_URL": slack_api.url}
    )
    service = cast(Service, SimpleNamespace(asker=SimpleNamespace(threads=None)))
    adapter = slack_adapter(service, settings)
    assert adapter.app.oauth_flow is None
    assert handle_oauth(adapter.app, "/slack/install", "", {})[0] == 404


def test_manifest_scopes_and_authorize_url() -> None:
    scopes = manifest_scopes()
    assert scopes[0] == "app_mentions:read" and "chat:write" in scopes and "users:read" in scopes
    assert len(scopes) == len(set(scopes)) == 11
    assert scopes == load_manifest()["oauth_config"]["scopes"]["bot"]  # as a YAML reader sees them
    assert authorize_url("https://slack.com/api/") == "https://slack.com/oauth/v2/authorize"
    assert authorize_url("http://127.0.0.1:9/api/") == "http://127.0.0.1:9/oauth/v2/authorize"


def test_settings_for_oauth() -> None:
    settings = Settings.load({"SLACK_CLIENT_ID": " 111.222 ", "SLACK_CLIENT_SECRET": "s"})
    assert (settings.slack_client_id, settings.slack_client_secret) == ("111.222", "s")
    assert Settings.load({}).slack_client_id is None
    assert not slack_http_configured(
        Settings.load({"SLACK_CLIENT_ID": "1", "SLACK_SIGNING_SECRET": "s", "BRIEFBOT_HTTP_PORT": "8080"})
    )


def test_oauth_without_a_bot_token_posts_digests_in_the_installing_workspace(
    run_site: Callable[[Scenario], None], slack_api: FakeSlack
) -> None:
    """No SLACK_BOT_TOKEN: a digest for a channel of a workspace installed through the flow
    is posted with that workspace's token, found among the stored installations."""
    from bot.adapters.slack.workspaces import WorkspacePublisher
    from bot.runtime.slack import slack_publisher

    slack_api.grant("code-t2", team="T2", token="xoxb-team-two")
    slack_api.grant("code-t3", team="T3", token="xoxb-team-three")
    slack_api.own("xoxb-team-two", "C2")
    slack_api.own("xoxb-team-three", "C3")
    posted: list[str | None] = []

    async def scenario(site: Site, client: httpx.AsyncClient) -> None:
        for code in ("code-t2", "code-t3"):
            state = await start_install(site, client)
            done = await client.get(
                site.url + "/slack/oauth_redirect",
                params={"code": code, "state": state},
                headers={"Cookie": f"{COOKIE}={state}"},
            )
            assert done.status_code == 200, done.text
        publisher = slack_publisher(site.app.settings, engine=site.app.store.engine)
        assert isinstance(publisher, WorkspacePublisher)
        await asyncio.to_thread(publisher.post, "slack:C2", {"kind": "digest", "text": "hello"}, "k1")
        posted.append(publisher.owner("slack:C2"))

    run_site(scenario)
    assert posted == ["xoxb-team-two"]
    assert [m["text"] for m in slack_api.messages["C2"]] == ["hello"]
    with pytest.raises(ValueError, match="engine"):
        slack_publisher(Settings.load(oauth_env(slack_api)))
