"""OAuth-only Slack (client id and secret, no SLACK_BOT_TOKEN): scheduled digests and alerts
posted in the installed workspace that owns each destination, found by trying each stored
installation's bot token (slack_sdk's store in briefbot's database, SQLite and PostgreSQL)
against the local fake Slack Web API, whose workspaces know only their own channels."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from slack_sdk.oauth.installation_store import Installation
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore

from bot.adapters.slack.pacing import ChannelPacer
from bot.adapters.slack.publisher import EVENT_TYPE
from bot.adapters.slack.workspaces import StoredInstallations, WorkspacePublisher
from bot.config import Settings
from bot.core.delivery import Outbox, PermanentError, TransientError
from bot.runtime.slack import slack_publisher
from bot.runtime.wiring import App, build
from tests.adapters.test_slack_oauth import CLIENT_ID, oauth_env
from tests.support.slack_server import FakeSlack
from tests.support.slack_server import slack_api as slack_api

ONE, TWO = "xoxb-workspace-one", "xoxb-workspace-two"
KEY = "digest:slack:C2:2026-11-26T09:00+01:00"
DIGEST = {"kind": "digest", "text": "The day in AI infrastructure."}


class Clock:
    def now(self) -> datetime:
        return datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


@pytest.fixture
def app(env: dict[str, str], slack_api: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> Iterator[App]:
    """briefbot with OAuth only (no bot token) and its database."""
    for key, value in oauth_env(slack_api).items():
        monkeypatch.setenv(key, value)
    built = build(Settings.load())
    assert built.settings.slack_bot_token is None
    try:
        yield built
    finally:
        asyncio.run(built.aclose())


def publisher_of(settings: Settings, app: App) -> Any:
    """The OAuth-mode publisher, its channel pacing shortened for the test."""
    return slack_publisher(settings, ChannelPacer(0.01), engine=app.store.engine)


def install(app: App, team: str, token: str, at: int) -> None:
    """An installation of ``team`` as the OAuth flow stores it (installed at ``at``)."""
    store = SQLAlchemyInstallationStore(client_id=CLIENT_ID, engine=app.store.engine)
    store.save(
        Installation(
            app_id="A1",
            enterprise_id=None,
            team_id=team,
            team_name=f"Team {team}",
            bot_token=token,
            bot_id=f"B{team}",
            bot_user_id=f"UBOT{team}",
            bot_scopes="chat:write,commands",
            user_id="UINSTALLER",
            installed_at=float(at),
        )
    )


@pytest.fixture
def two_workspaces(app: App, slack_api: FakeSlack) -> WorkspacePublisher:
    """T1 (C1, U1) installed last, so tried first; T2 (C2, U2) installed before it."""
    install(app, "T2", TWO, 1_700_000_000)
    install(app, "T1", ONE, 1_700_000_100)
    slack_api.own(ONE, "C1", "U1")
    slack_api.own(TWO, "C2", "U2")
    publisher = publisher_of(app.settings, app)
    assert isinstance(publisher, WorkspacePublisher)
    return publisher


def test_a_digest_in_the_second_workspace_is_posted_with_its_token(
    two_workspaces: WorkspacePublisher, slack_api: FakeSlack
) -> None:
    two_workspaces.post("slack:C2", DIGEST, KEY)
    tries = [(str(c.params["channel"]), c.token) for c in slack_api.calls_to("chat.postMessage")]
    assert tries == [("C2", ONE), ("C2", TWO)]  # T1 said channel_not_found, T2 took it
    [message] = slack_api.messages["C2"]
    assert message["metadata"] == {"event_type": EVENT_TYPE, "event_payload": {"key": KEY}}
    assert two_workspaces.owner("slack:C2") == TWO
    # remembered: the next post and the delivery check go straight to T2
    two_workspaces.post("slack:C2", DIGEST, KEY + "b")
    assert two_workspaces.already_delivered("slack:C2", KEY)
    assert not two_workspaces.already_delivered("slack:C2", "digest:slack:C2:other")
    later = slack_api.calls[len(tries) :]
    assert {c.token for c in later} == {TWO}
    assert [c.method for c in later] == ["chat.postMessage", "conversations.history", "conversations.history"]


def test_alerts_reach_people_in_either_workspace(
    two_workspaces: WorkspacePublisher, slack_api: FakeSlack
) -> None:
    alert: dict[str, Any] = {"kind": "alert", "headline": "Ironwood is GA", "sources": []}
    two_workspaces.post("slack:U2", alert, "alert:slack:U2:story:1")
    two_workspaces.post("slack:U1", alert, "alert:slack:U1:story:1")
    accepted = [(c.params["channel"], c.token) for c in slack_api.calls_to("chat.postMessage")]
    assert accepted[-1] == ("U1", ONE) and ("U2", TWO) in accepted
    assert two_workspaces.already_delivered("slack:U2", "alert:slack:U2:story:1")
    assert slack_api.calls_to("conversations.open")[-1].token == TWO


def test_an_unknown_channel_fails_for_good_with_one_line(
    app: App, two_workspaces: WorkspacePublisher, slack_api: FakeSlack
) -> None:
    with pytest.raises(PermanentError) as raised:
        two_workspaces.post("slack:C9", DIGEST, "digest:slack:C9:x")
    message = str(raised.value)
    assert message == "slack: C9 is in none of the 2 installed workspaces (channel_not_found)"
    assert {c.token for c in slack_api.calls_to("chat.postMessage")} == {ONE, TWO}
    assert "C9" not in slack_api.messages
    # through the outbox: the row fails, the reason one line, nothing left pending
    outbox = Outbox(app.store, two_workspaces, Clock(), sleep=lambda s: None)
    assert outbox.deliver("digest:slack:C9:y", "slack:C9", "digest", DIGEST) == "failed"
    row = app.store.get_delivery("digest:slack:C9:y")
    assert row is not None and row.error is not None and "\n" not in row.error and "C9" in row.error


def test_a_channel_the_bot_left_is_found_nowhere(
    two_workspaces: WorkspacePublisher, slack_api: FakeSlack
) -> None:
    """The remembered workspace now says not_in_channel: forgotten, the others tried, and the
    failure names the more telling error."""
    two_workspaces.post("slack:C2", DIGEST, KEY)
    slack_api.fail("chat.postMessage", "not_in_channel")  # T2, remembered, tried first
    with pytest.raises(PermanentError, match=r"none of the 2 installed workspaces \(not_in_channel\)"):
        two_workspaces.post("slack:C2", DIGEST, KEY + "b")
    assert two_workspaces.owner("slack:C2") is None
    assert [c.token for c in slack_api.calls_to("chat.postMessage")][-2:] == [TWO, ONE]


def test_another_refusal_from_the_owner_is_final_at_once(
    two_workspaces: WorkspacePublisher, slack_api: FakeSlack
) -> None:
    slack_api.fail("chat.postMessage", "channel_not_found")  # T1
    slack_api.fail("chat.postMessage", "is_archived")  # T2 owns it, but it is archived
    with pytest.raises(PermanentError, match="is_archived"):
        two_workspaces.post("slack:C2", DIGEST, KEY)
    assert two_workspaces.owner("slack:C2") == TWO


def test_a_busy_workspace_leaves_the_delivery_pending(
    two_workspaces: WorkspacePublisher, slack_api: FakeSlack
) -> None:
    """T1 stays rate limited beyond the client's retries, T2 does not know C1: C1 may be
    T1's, so it waits."""
    slack_api.fail("chat.postMessage", "ratelimited", status=429, headers={"Retry-After": "0"}, times=3)
    with pytest.raises(TransientError, match="rate limit"):
        two_workspaces.post("slack:C1", DIGEST, "digest:slack:C1:x")
    assert two_workspaces.owner("slack:C1") is None
    two_workspaces.post("slack:C1", DIGEST, "digest:slack:C1:x")
    assert two_workspaces.owner("slack:C1") == ONE


def test_no_installation_yet_waits(app: App, slack_api: FakeSlack) -> None:
    publisher = publisher_of(app.settings, app)
    with pytest.raises(TransientError, match="no workspace has installed briefbot"):
        publisher.post("slack:C1", DIGEST, "k1")
    with pytest.raises(TransientError):
        publisher.already_delivered("slack:C1", "k1")
    assert not slack_api.calls


def test_a_reinstall_replaces_the_workspace_token(app: App) -> None:
    install(app, "T1", "xoxb-old", 1_700_000_000)
    install(app, "T2", TWO, 1_700_000_050)
    install(app, "T1", "xoxb-new", 1_700_000_100)
    assert StoredInstallations(CLIENT_ID, app.store.engine).bot_tokens() == ["xoxb-new", TWO]
    assert StoredInstallations("another-app", app.store.engine).bot_tokens() == []


def test_with_a_bot_token_the_one_workspace_publisher_posts(app: App, slack_api: FakeSlack) -> None:
    from dataclasses import replace

    settings = replace(app.settings, slack_bot_token="xoxb-home")
    publisher_of(settings, app).post("slack:C1", DIGEST, "k1")
    assert [c.token for c in slack_api.calls_to("chat.postMessage")] == ["xoxb-home"]
    assert json.dumps(slack_api.messages["C1"][0]["metadata"])
