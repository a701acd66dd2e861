"""The App Home tab: app_home_opened answered with views.publish (subscriptions with
"Remove" buttons, digest channels, latest briefings), and the Remove button, over signed
HTTP requests to bolt and the local fake Slack Web API."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import insert

from bot.adapters.slack.app import HomeData, SlackAdapter
from bot.adapters.slack.render import HOME_UNSUBSCRIBE, home_view
from bot.config import Settings
from bot.runtime.slack import slack_adapter
from bot.runtime.wiring import build
from bot.store.schema import briefings
from tests.adapters.test_slack_app import SECRET, TOKEN, FakeCommands, Running
from tests.adapters.test_slack_render import ACTIVE
from tests.support.slack_http import SlackHttp, serve_http
from tests.support.slack_server import FakeSlack
from tests.support.slack_server import slack_api as slack_api

WHEN = datetime(2026, 11, 26, 8, 30, tzinfo=UTC)
HOSTILE = HomeData(
    subscriptions=(
        ("company", "Amazon", "company Amazon"),
        ("keyword", "<!channel> cooling", 'keyword "<!channel> cooling"'),
    ),
    channels=(("C0DIGEST", "08:30 Europe/Berlin, weekdays"), ("<!here>", "09:00 UTC, daily")),
    briefings=(("C0DIGEST", WHEN, "AMD and OpenAI sign a <!everyone> 6 GW deal [1]."),),
)


class Home:
    """A HomeSource returning ``data`` and counting reads."""

    def __init__(self, data: HomeData) -> None:
        self.data = data
        self.reads: list[str] = []

    def home(self, user_id: str) -> HomeData:
        self.reads.append(user_id)
        return self.data


def serve(adapter: SlackAdapter, commands: FakeCommands) -> tuple[Running, SlackHttp]:
    server = serve_http(adapter)
    return Running(server.url, commands, adapter), server


@pytest.fixture
def home() -> Home:
    return Home(HOSTILE)


@pytest.fixture
def app(slack_api: FakeSlack, home: Home) -> Iterator[Running]:
    commands = FakeCommands()
    adapter = SlackAdapter(commands, token=TOKEN, signing_secret=SECRET, api_url=slack_api.url, home=home)
    running, server = serve(adapter, commands)
    try:
        yield running
    finally:
        server.close()


def open_home(app: Running, user: str = "U1", tab: str = "home", event_id: str = "EvHome1") -> None:
    body = {
        "team_id": "T1",
        "api_app_id": "A1",
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(time.time()),
        "event": {"type": "app_home_opened", "user": user, "channel": "D1", "tab": tab},
    }
    assert app.post(json.dumps(body), "application/json").status_code == 200


def published(call_params: dict[str, Any]) -> dict[str, Any]:
    view = call_params["view"]
    return view if isinstance(view, dict) else dict(json.loads(view))


def remove(app: Running, button: dict[str, Any], user: str = "U1") -> httpx.Response:
    payload = {
        "type": "block_actions",
        "token": "legacy",
        "api_app_id": "A1",
        "team": {"id": "T1"},
        "user": {"id": user},
        "trigger_id": "9.trigger",
        "container": {"type": "view", "view_id": "V1"},
        "view": {"id": "V1", "type": "home"},
        "actions": [{"type": "button", "action_id": button["action_id"], "value": button["value"]}],
    }
    return app.post(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")


def remove_buttons(view: dict[str, Any]) -> list[dict[str, Any]]:
    return [b["accessory"] for b in view["blocks"] if "accessory" in b]


def test_home_view_is_escaped_and_lists_everything() -> None:
    view = home_view(HOSTILE.subscriptions, HOSTILE.channels, HOSTILE.briefings)
    assert view["type"] == "home" and len(view["blocks"]) <= 100
    dumped = json.dumps(view)
    texts = [b["text"]["text"] for b in view["blocks"] if b.get("text", {}).get("type") == "mrkdwn"]
    texts += [e["text"] for b in view["blocks"] if b["type"] == "context" for e in b["elements"]]
    # what Slack renders as mrkdwn holds no live mention; the only <#…> is the channel link
    assert not ACTIVE.search("\n".join(texts).replace("<#C0DIGEST>", ""))
    assert (
        "&lt;!channel&gt; cooling" in dumped and "&lt;!here&gt;" in dumped and "&lt;!everyone&gt;" in dumped
    )
    assert "<#C0DIGEST>" in dumped  # a real channel id is linked
    assert "[1]" not in dumped  # citations are dropped from top lines
    buttons = remove_buttons(view)
    assert [b["action_id"] for b in buttons] == [f"{HOME_UNSUBSCRIBE}_0", f"{HOME_UNSUBSCRIBE}_1"]
    assert json.loads(buttons[1]["value"]) == {"kind": "keyword", "value": "<!channel> cooling"}
    empty = json.dumps(home_view((), (), ()))
    assert "You follow nothing yet" in empty and "No briefings yet" in empty


def test_opening_home_publishes_the_tab(app: Running, slack_api: FakeSlack, home: Home) -> None:
    open_home(app)
    call = slack_api.wait_for("views.publish")[0]
    assert call.params["user_id"] == "U1" and call.token == TOKEN
    view = published(call.params)
    assert view["type"] == "home" and "company Amazon" in json.dumps(view)
    assert home.reads == ["U1"]
    open_home(app, tab="messages", event_id="EvHome2")  # the Messages tab: nothing to publish
    time.sleep(0.3)
    assert len(slack_api.calls_to("views.publish")) == 1


def test_remove_unsubscribes_the_clicker_and_republishes(app: Running, slack_api: FakeSlack) -> None:
    open_home(app)
    view = published(slack_api.wait_for("views.publish")[0].params)
    company, keyword = remove_buttons(view)
    assert remove(app, company).status_code == 200
    slack_api.wait_for("views.publish", 2)
    assert remove(app, keyword, user="U7").status_code == 200
    slack_api.wait_for("views.publish", 3)
    calls = app.commands.calls
    assert [text for _, text in calls] == [
        "unsubscribe company Amazon",
        'unsubscribe keyword "<!channel> cooling"',
    ]
    assert [ctx.user_id for ctx, _ in calls] == ["U1", "U7"]
    assert slack_api.calls_to("views.publish")[2].params["user_id"] == "U7"


def test_home_with_the_real_service_and_store(env: dict[str, str], slack_api: FakeSlack) -> None:
    """briefbot run's wiring: the person's subscriptions (Remove really unsubscribes), the
    Slack digest channels and the latest Slack briefings from the briefings table."""
    built = build(Settings.load())
    try:
        built.service.subscribe("slack", "U1", "chips", "topic")
        built.service.subscribe("slack", "U1", "liquid cooling", "keyword")
        built.service.subscribe("slack", "U2", "AWS")
        built.service.set_channel("slack", "C0DIGEST", at="08:30", tz="Europe/Berlin")
        built.service.set_channel("console", "console", at="07:00", tz="UTC")
        with built.store.engine.begin() as conn:
            for channel, top in (
                ("slack:C0DIGEST", "Chips top line"),
                ("console:console", "Console top line"),
            ):
                conn.execute(
                    insert(briefings).values(
                        channel=channel,
                        created_at=WHEN,
                        since=None,
                        mode="extractive",
                        story_count=1,
                        top_line=top,
                        data={},
                    )
                )
        settings = Settings.load(
            {
                **env,
                "SLACK_BOT_TOKEN": TOKEN,
                "SLACK_SIGNING_SECRET": SECRET,
                "BRIEFBOT_SLACK_API_URL": slack_api.url,
            }
        )
        adapter = slack_adapter(built.service, settings, feedback=built.store, briefings=built.store)
        app, server = serve(adapter, FakeCommands())
        try:
            open_home(app)
            view = json.dumps(published(slack_api.wait_for("views.publish")[0].params))
            assert "topic chips" in view and "liquid cooling" in view and "AWS" not in view
            assert "<#C0DIGEST>" in view and "08:30 Europe/Berlin" in view and "console" not in view
            assert "Chips top line" in view and "Console top line" not in view
            chips = next(
                b for b in remove_buttons(json.loads(view)) if json.loads(b["value"])["value"] == "chips"
            )
            assert remove(app, chips).status_code == 200
            again = json.dumps(published(slack_api.wait_for("views.publish", 2)[1].params))
            assert "topic chips" not in again and "liquid cooling" in again
            assert [s.label() for s in built.service.subscriptions("slack", "U1")] == [
                'keyword "liquid cooling"'
            ]
        finally:
            server.close()
    finally:
        asyncio.run(built.aclose())
