"""Buttons on briefings and answers (👍/👎, "Subscribe: <topic>", "Ask a follow-up" and its
modal): signed interactive payloads (form-encoded ``payload=<json>``) over HTTP to bolt, and
what the app then posts to the local fake Slack Web API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from bot.adapters.slack.app import FOLLOWUP_VIEW, SlackAdapter
from bot.adapters.slack.render import (
    ASK_FOLLOWUP,
    FEEDBACK_DOWN,
    FEEDBACK_UP,
    MAX_BLOCKS,
    answer_blocks,
    briefing_blocks,
)
from bot.core.ask import Answer
from bot.core.commands import CommandContext, Reply
from bot.core.records import SourceRef
from bot.store.sql import SqlStore
from tests.adapters.test_slack_app import SECRET, TOKEN, FakeCommands, Running
from tests.adapters.test_slack_render import NOW, hostile_briefing
from tests.support.slack_http import SlackHttp, serve_http
from tests.support.slack_server import FakeSlack
from tests.support.slack_server import slack_api as slack_api

SOURCE = SourceRef(1, "https://news.example/a", "TPU news", "Wire", NOW)
ANSWER = Answer("q", "q", "Ironwood is GA [1].", True, (SOURCE,), "extractive")


@dataclass
class Votes:
    """A feedback recorder that keeps the votes."""

    votes: list[tuple[str, str, str, int]] = field(default_factory=list)

    def record_feedback(self, platform: str, user_id: str, key: str, vote: int, at: datetime) -> None:
        self.votes.append((platform, user_id, key, vote))


def replies(ctx: CommandContext, text: str) -> Reply:
    if text.startswith("ask "):
        return Reply(ANSWER.text, answer=ANSWER)
    if text.startswith("subscribe "):
        return Reply(f"You now follow {text.removeprefix('subscribe topic ')}.")
    return Reply("top", briefing=hostile_briefing())


def serve(slack_api: FakeSlack, feedback: Any) -> tuple[Running, SlackHttp]:
    commands = FakeCommands(reply=replies)
    adapter = SlackAdapter(
        commands, token=TOKEN, signing_secret=SECRET, api_url=slack_api.url, feedback=feedback
    )
    server = serve_http(adapter)
    return Running(server.url, commands, adapter), server


@pytest.fixture
def votes() -> Votes:
    return Votes()


@pytest.fixture
def app(slack_api: FakeSlack, votes: Votes) -> Iterator[Running]:
    running, server = serve(slack_api, votes)
    try:
        yield running
    finally:
        server.close()


def interact(app: Running, payload: dict[str, Any]) -> httpx.Response:
    """A signed interactive request, as Slack sends it: ``payload=<json>``, form-encoded."""
    base = {"token": "legacy", "api_app_id": "A1", "team": {"id": "T1"}, "user": {"id": "U2"}}
    return app.post(
        urlencode({"payload": json.dumps({**base, **payload})}), "application/x-www-form-urlencoded"
    )


def click(app: Running, message: dict[str, Any], button: dict[str, Any]) -> httpx.Response:
    """A click on ``button`` of ``message`` (a message the fake holds) in C1."""
    action = {
        "type": "button",
        "action_id": button["action_id"],
        "block_id": "briefbot_actions",
        "value": button["value"],
        "action_ts": "1.0",
    }
    return interact(
        app,
        {
            "type": "block_actions",
            "trigger_id": "13345.trigger",
            "container": {"type": "message", "message_ts": message["ts"], "channel_id": "C1"},
            "channel": {"id": "C1", "name": "news"},
            "message": message,
            "actions": [action],
        },
    )


def buttons(message: dict[str, Any]) -> dict[str, dict[str, Any]]:
    actions = message["blocks"][-1]
    assert actions["type"] == "actions"
    return {b["action_id"]: b for b in actions["elements"]}


def brief(app: Running, slack_api: FakeSlack) -> dict[str, Any]:
    """Run /brief; returns the last message of the briefing as the fake holds it."""
    assert app.command("/brief", "").status_code == 200
    slack_api.wait_for("chat.postMessage")
    return slack_api.messages["C1"][-1]


# ---- rendering ---------------------------------------------------------------------------------


def test_buttons_are_optional_and_end_the_last_message() -> None:
    plain = briefing_blocks(hostile_briefing())
    assert all(b["type"] != "actions" for m in plain for b in m)
    with_buttons = briefing_blocks(hostile_briefing(), with_buttons=True, key="digest:slack:C1:x")
    assert [b for m in with_buttons for b in m if b["type"] != "actions"] == [b for m in plain for b in m]
    last = with_buttons[-1][-1]
    assert last["type"] == "actions" and len(with_buttons[-1]) <= MAX_BLOCKS
    ids = [e["action_id"] for e in last["elements"]]
    assert ids[:2] == [FEEDBACK_UP, FEEDBACK_DOWN] and all(e["value"] for e in last["elements"])
    assert [e["value"] for e in last["elements"][:2]] == ["digest:slack:C1:x"] * 2
    topics = [e["value"] for e in last["elements"] if e["action_id"].startswith("subscribe_topic_")]
    assert topics == [topic for topic, items in hostile_briefing().sections if items][:5]
    assert len(set(ids)) == len(ids)  # action ids unique within the block

    assert answer_blocks(ANSWER) == answer_blocks(ANSWER, with_buttons=True)  # no key: no buttons
    blocks = answer_blocks(ANSWER, with_buttons=True, key="answer:slack:C1:1.2")
    assert [e["action_id"] for e in blocks[-1]["elements"]] == [FEEDBACK_UP, FEEDBACK_DOWN, ASK_FOLLOWUP]


# ---- 👍/👎 ---------------------------------------------------------------------------------


def test_thumbs_on_a_briefing_are_stored(app: Running, slack_api: FakeSlack, votes: Votes) -> None:
    message = brief(app, slack_api)
    up = buttons(message)[FEEDBACK_UP]
    assert click(app, message, up).status_code == 200
    confirm = slack_api.wait_for("chat.postEphemeral")[0].params
    assert confirm["user"] == "U2" and confirm["channel"] == "C1"
    assert votes.votes == [("slack", "U2", up["value"], 1)]
    assert up["value"].startswith("slack:briefing:")
    assert click(app, message, buttons(message)[FEEDBACK_DOWN]).status_code == 200
    slack_api.wait_for("chat.postEphemeral", 2)
    assert votes.votes[-1] == ("slack", "U2", up["value"], -1)


def test_thumbs_on_an_answer_in_its_thread(app: Running, slack_api: FakeSlack, votes: Votes) -> None:
    assert app.mention("<@UBOT> what is ironwood?").status_code == 200
    slack_api.wait_for("chat.postMessage")
    message = slack_api.messages["C1"][-1]
    assert message["thread_ts"] == "1700000000.000200"
    down = buttons(message)[FEEDBACK_DOWN]
    assert down["value"] == "answer:slack:C1:1700000000.000200"
    assert click(app, message, down).status_code == 200
    confirm = slack_api.wait_for("chat.postEphemeral")[0].params
    assert confirm["thread_ts"] == "1700000000.000200"
    assert votes.votes == [("slack", "U2", "answer:slack:C1:1700000000.000200", -1)]


def test_votes_reach_the_feedback_table(slack_api: FakeSlack, store: SqlStore) -> None:
    """With the real store: one vote per person and key, the last click wins."""
    app, server = serve(slack_api, store)
    try:
        message = brief(app, slack_api)
        for n, action in enumerate((FEEDBACK_UP, FEEDBACK_DOWN, FEEDBACK_UP), 1):
            assert click(app, message, buttons(message)[action]).status_code == 200
            slack_api.wait_for("chat.postEphemeral", n)
        (day,) = store.feedback_counts()
        assert (day.up, day.down) == (1, 0)
    finally:
        server.close()


# ---- subscribe ---------------------------------------------------------------------------------


def test_subscribe_button_runs_subscribe_for_the_clicker(app: Running, slack_api: FakeSlack) -> None:
    message = brief(app, slack_api)
    subscribe = next(
        b for action_id, b in buttons(message).items() if action_id.startswith("subscribe_topic_")
    )
    assert click(app, message, subscribe).status_code == 200
    confirm = slack_api.wait_for("chat.postEphemeral")[0].params
    ctx, text = app.commands.calls[-1]
    assert text == f"subscribe topic {subscribe['value']}"
    assert (ctx.user_id, ctx.channel_id, ctx.is_platform_admin) == ("U2", "C1", False)
    assert confirm["user"] == "U2" and "You now follow" in json.dumps(confirm["blocks"])


# ---- ask a follow-up ----------------------------------------------------------------------------


def test_ask_a_follow_up_opens_a_modal_answered_in_the_thread(app: Running, slack_api: FakeSlack) -> None:
    assert app.mention("<@UBOT> what is ironwood?").status_code == 200
    slack_api.wait_for("chat.postMessage")
    message = slack_api.messages["C1"][-1]
    assert click(app, message, buttons(message)[ASK_FOLLOWUP]).status_code == 200
    opened = slack_api.wait_for("views.open")[0].params
    assert opened["trigger_id"] == "13345.trigger"
    view = opened["view"] if isinstance(opened["view"], dict) else json.loads(opened["view"])
    assert view["type"] == "modal" and view["callback_id"] == FOLLOWUP_VIEW
    element = view["blocks"][0]["element"]
    assert element["type"] == "plain_text_input" and element["action_id"] == "question"
    assert json.loads(view["private_metadata"]) == {"channel": "C1", "thread_ts": "1700000000.000200"}

    empty = submit(app, view, "   ")
    assert empty.status_code == 200 and json.loads(empty.text)["response_action"] == "errors"

    assert submit(app, view, "and <!channel> TPUs?").status_code == 200
    posts = slack_api.wait_for("chat.postMessage", 3)
    asked, answered = posts[1].params, posts[2].params
    assert asked["thread_ts"] == answered["thread_ts"] == "1700000000.000200"
    assert "&lt;!channel&gt;" in json.dumps(asked["blocks"]) and "<!channel>" not in json.dumps(
        asked["blocks"]
    )
    ctx, text = app.commands.calls[-1]
    assert text == "ask and <!channel> TPUs?" and ctx.thread_id == "1700000000.000200"
    assert ctx.user_id == "U2"
    follow_buttons = {e["action_id"] for e in answered["blocks"][-1]["elements"]}
    assert ASK_FOLLOWUP in follow_buttons


def submit(app: Running, view: dict[str, Any], question: str) -> httpx.Response:
    submitted = {
        **view,
        "id": "V1",
        "state": {"values": {"question": {"question": {"type": "plain_text_input", "value": question}}}},
    }
    return interact(app, {"type": "view_submission", "trigger_id": "2.trigger", "view": submitted})


def test_unsigned_clicks_are_refused(app: Running, votes: Votes) -> None:
    body = urlencode({"payload": json.dumps({"type": "block_actions", "actions": []})})
    response = app.post(body, "application/x-www-form-urlencoded", secret="wrong")
    assert response.status_code == 401 and votes.votes == []
