"""The App Home tab: app_home_opened answered with views.publish (subscriptions as toggles,
the digests the person receives, the latest of those briefings), and the toggles, over
signed HTTP requests to briefbot's HTTP server and the local fake Slack Web API."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import insert

from bot.adapters.slack.app import HomeData, MemberOf, SlackAdapter
from bot.adapters.slack.render import HOME_TOGGLE, MAX_OPTION_VALUE, MAX_OPTIONS, home_view
from bot.config import Settings
from bot.core.commands import CommandContext, Reply
from bot.runtime.slack import slack_adapter
from bot.runtime.wiring import build
from bot.store.schema import briefings
from tests.adapters.test_slack_app import SECRET, TOKEN, FakeCommands, Running
from tests.adapters.test_slack_render import ACTIVE
from tests.support.slack_http import SlackHttp, serve_http
from tests.support.slack_server import FakeSlack
from tests.support.slack_server import slack_api as slack_api

WHEN = datetime(2026, 11, 26, 8, 30, tzinfo=UTC)
TOPICS = ("alliance", "chips", "datacenter")
HOSTILE = HomeData(
    subscriptions=(
        ("topic", "chips", "topic chips"),
        ("company", "Amazon", "company Amazon"),
        ("keyword", "<!channel> cooling", 'keyword "<!channel> cooling"'),
    ),
    channels=(("C0DIGEST", "08:30 Europe/Berlin, weekdays"), ("<!here>", "09:00 UTC, daily")),
    briefings=(("C0DIGEST", WHEN, "AMD and OpenAI sign a <!everyone> 6 GW deal [1]."),),
    topics=TOPICS,
)


class Home:
    """A HomeSource returning ``data``: it asks ``member_of`` about C0DIGEST and CPRIVATE
    and records the answer, and counts reads."""

    def __init__(self, data: HomeData) -> None:
        self.data = data
        self.reads: list[str] = []
        self.members: list[set[str]] = []

    def home(self, user_id: str, member_of: MemberOf) -> HomeData:
        self.reads.append(user_id)
        self.members.append(member_of(["C0DIGEST", "CPRIVATE"]))
        return self.data

    def followed(self, user_id: str) -> set[tuple[str, str]]:
        return {(kind, value) for kind, value, _ in self.data.subscriptions}


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


def toggles(view: dict[str, Any]) -> list[dict[str, Any]]:
    """The view's checkbox groups, in order."""
    return [e for b in view["blocks"] if b["type"] == "actions" for e in b["elements"]]


def labels(options: Sequence[dict[str, Any]]) -> list[str]:
    return [o["text"]["text"] for o in options]


def toggle(app: Running, view: dict[str, Any], group: int, ticked: Sequence[str], user: str = "U1") -> None:
    """Leave the ``group``-th checkbox group of ``view`` with the options labelled ``ticked``
    ticked, as Slack reports it: the whole published view and the group's selection."""
    element = toggles(view)[group]
    selected = [o for o in element["options"] if o["text"]["text"] in ticked]
    payload = {
        "type": "block_actions",
        "token": "legacy",
        "api_app_id": "A1",
        "team": {"id": "T1"},
        "user": {"id": user},
        "trigger_id": "9.trigger",
        "container": {"type": "view", "view_id": "V1"},
        "view": {"id": "V1", "type": "home", **view},
        "actions": [
            {
                "type": "checkboxes",
                "action_id": element["action_id"],
                "block_id": "b",
                "selected_options": selected,
            }
        ],
    }
    form = urlencode({"payload": json.dumps(payload)})
    response: httpx.Response = app.post(form, "application/x-www-form-urlencoded")
    assert response.status_code == 200


def test_home_view_is_escaped_and_has_toggles_for_every_topic_and_follow() -> None:
    view = home_view(HOSTILE.subscriptions, HOSTILE.channels, HOSTILE.briefings, HOSTILE.topics)
    assert view["type"] == "home" and len(view["blocks"]) <= 100
    dumped = json.dumps(view)
    texts = [b["text"]["text"] for b in view["blocks"] if b.get("text", {}).get("type") == "mrkdwn"]
    texts += [e["text"] for b in view["blocks"] if b["type"] == "context" for e in b["elements"]]
    texts += [o["text"]["text"] for group in toggles(view) for o in group["options"]]
    # what Slack renders as mrkdwn holds no live mention; the only <#…> is the channel link
    assert not ACTIVE.search("\n".join(texts).replace("<#C0DIGEST>", ""))
    assert (
        "&lt;!channel&gt; cooling" in dumped and "&lt;!here&gt;" in dumped and "&lt;!everyone&gt;" in dumped
    )
    assert "<#C0DIGEST>" in dumped and "[1]" not in dumped  # citations are dropped from top lines
    topics, follows = toggles(view)
    assert topics["type"] == follows["type"] == "checkboxes"
    assert labels(topics["options"]) == ["Alliances", "Chips", "Data centers and power"]
    assert labels(topics["initial_options"]) == ["Chips"]  # ticked: what the person follows
    assert labels(follows["options"]) == labels(follows["initial_options"])
    assert labels(follows["options"]) == ["company Amazon", 'keyword "&lt;!channel&gt; cooling"']
    assert json.loads(follows["options"][1]["value"]) == {"kind": "keyword", "value": "<!channel> cooling"}
    assert [g["action_id"] for g in (topics, follows)] == [f"{HOME_TOGGLE}_0", f"{HOME_TOGGLE}_1"]
    empty = json.dumps(home_view((), (), (), TOPICS))
    assert (
        "initial_options" not in empty
        and "No digest reaches you yet" in empty
        and "No briefings yet" in empty
    )


def test_many_follows_stay_within_slacks_limits() -> None:
    subs = [("keyword", f"word {n:02d}", f'keyword "word {n:02d}"') for n in range(60)]
    view = home_view(subs, (), (), TOPICS)
    groups = toggles(view)
    assert all(len(g["options"]) <= MAX_OPTIONS for g in groups)
    assert all(len(o["value"]) <= MAX_OPTION_VALUE for g in groups for o in g["options"])
    assert len({g["action_id"] for g in groups}) == len(groups)
    assert sum(len(g["options"]) for g in groups[1:]) == 40 and "20 more" in json.dumps(view)


def test_opening_home_publishes_the_tab(app: Running, slack_api: FakeSlack, home: Home) -> None:
    slack_api.join("U1", "CELSE", "C0DIGEST")
    open_home(app)
    call = slack_api.wait_for("views.publish")[0]
    assert call.params["user_id"] == "U1" and call.token == TOKEN
    view = published(call.params)
    assert view["type"] == "home" and "company Amazon" in json.dumps(view)
    assert home.reads == ["U1"] and home.members == [{"C0DIGEST"}]  # not CPRIVATE: not a member
    assert slack_api.calls_to("users.conversations")[0].params["user"] == "U1"
    open_home(app, tab="messages", event_id="EvHome2")  # the Messages tab: nothing to publish
    time.sleep(0.3)
    assert len(slack_api.calls_to("views.publish")) == 1


def test_memberships_are_read_across_pages(app: Running, slack_api: FakeSlack, home: Home) -> None:
    slack_api.join("U1", *[f"C{n:04d}" for n in range(450)], "CPRIVATE")
    open_home(app)
    slack_api.wait_for("views.publish")
    assert home.members == [{"CPRIVATE"}] and len(slack_api.calls_to("users.conversations")) == 3


def test_when_slack_cannot_say_no_channel_is_shown(app: Running, slack_api: FakeSlack, home: Home) -> None:
    slack_api.join("U1", "C0DIGEST")
    slack_api.fail("users.conversations", "missing_scope")
    open_home(app)
    slack_api.wait_for("views.publish")
    assert home.members == [set()]


def test_toggles_subscribe_and_unsubscribe_the_clicker(app: Running, slack_api: FakeSlack) -> None:
    """Unticking Chips and ticking Alliances runs both commands for the person who clicked;
    the tab is left as they set it (no republish); unticking a company unsubscribes it."""
    open_home(app)
    view = published(slack_api.wait_for("views.publish")[0].params)
    toggle(app, view, 0, ["Alliances"])
    toggle(app, view, 1, ["company Amazon"], user="U7")
    deadline = time.monotonic() + 10
    while len(app.commands.calls) < 3:
        assert time.monotonic() < deadline, app.commands.calls
        time.sleep(0.05)
    assert sorted(text for _, text in app.commands.calls[:2]) == [
        "subscribe topic alliance",
        "unsubscribe topic chips",
    ]
    assert app.commands.calls[2][1] == 'unsubscribe keyword "<!channel> cooling"'
    assert [ctx.user_id for ctx, _ in app.commands.calls] == ["U1", "U1", "U7"]
    time.sleep(0.3)
    assert len(slack_api.calls_to("views.publish")) == 1


def test_a_toggle_that_fails_republishes_the_truth(app: Running, slack_api: FakeSlack) -> None:
    def refuse(ctx: CommandContext, text: str) -> Reply:
        return Reply("unknown topic", error=True, ephemeral=True)

    app.commands.reply = refuse
    open_home(app)
    view = published(slack_api.wait_for("views.publish")[0].params)
    toggle(app, view, 0, ["Chips", "Data centers and power"])
    assert slack_api.wait_for("views.publish", 2)[1].params["user_id"] == "U1"
    assert [text for _, text in app.commands.calls] == ["subscribe topic datacenter"]


def test_home_with_the_real_service_and_store(env: dict[str, str], slack_api: FakeSlack) -> None:
    """briefbot run's wiring: the person's subscriptions as toggles that really subscribe
    (and back), the digests they receive (a channel they are in, their own; not a private
    channel they are not in, nor someone else's) and only those briefings."""
    built = build(Settings.load())
    try:
        built.service.subscribe("slack", "U1", "chips", "topic")
        built.service.subscribe("slack", "U1", "liquid cooling", "keyword")
        built.service.subscribe("slack", "U2", "AWS")
        built.service.set_channel("slack", "C0DIGEST", at="08:30", tz="Europe/Berlin")
        built.service.set_channel("slack", "CPRIVATE", at="09:00", tz="UTC")
        built.service.set_personal_digest("slack", "U1", at="07:00", tz="Europe/Paris")
        built.service.set_personal_digest("slack", "U2", at="06:00", tz="UTC")
        built.service.set_channel("console", "console", at="07:00", tz="UTC")
        with built.store.engine.begin() as conn:
            for channel, top in (
                ("slack:C0DIGEST", "Chips top line"),
                ("slack:CPRIVATE", "Secret top line"),
                ("slack:user:U1", "My own top line"),
                ("slack:user:U2", "Their own top line"),
                ("console:console", "Console top line"),
            ):
                values = dict(channel=channel, created_at=WHEN, since=None, mode="extractive", story_count=1)
                conn.execute(insert(briefings).values(**values, top_line=top, data={}))
        slack_api.join("U1", "C0DIGEST")
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
            view = published(slack_api.wait_for("views.publish")[0].params)
            dumped = json.dumps(view)
            assert "liquid cooling" in dumped and "Amazon" not in dumped
            assert (
                "<#C0DIGEST>" in dumped and "08:30 Europe/Berlin" in dumped and "07:00 Europe/Paris" in dumped
            )
            assert "your own digest" in dumped
            assert "CPRIVATE" not in dumped and "06:00" not in dumped and "console" not in dumped
            assert "Chips top line" in dumped and "My own top line" in dumped
            assert "Secret top line" not in dumped and "Their own top line" not in dumped
            topics = toggles(view)[0]
            assert len(topics["options"]) == len([k for k, _ in built.service.known_names() if k == "topic"])
            assert labels(topics["initial_options"]) == ["Chips"]
            toggle(app, view, 0, ["Chips", "Cloud"])
            wait_for_follows(built.service, {"topic chips", "topic cloud", 'keyword "liquid cooling"'})
            toggle(app, view, 0, [])  # the same tab, not republished: both off
            wait_for_follows(built.service, {'keyword "liquid cooling"'})
            toggle(app, view, 0, ["Cloud"])  # and back on
            wait_for_follows(built.service, {"topic cloud", 'keyword "liquid cooling"'})
            assert len(slack_api.calls_to("views.publish")) == 1
        finally:
            server.close()
    finally:
        asyncio.run(built.aclose())


def wait_for_follows(service: Any, expected: set[str]) -> None:
    deadline = time.monotonic() + 10
    while {s.label() for s in service.subscriptions("slack", "U1")} != expected:
        assert time.monotonic() < deadline, [s.label() for s in service.subscriptions("slack", "U1")]
        time.sleep(0.05)
