"""Slack end to end, as ``briefbot run`` serves it: ``serve_slack`` over the real service,
command layer and store (SQLite and PostgreSQL), news ingested from the local feed server
(hostile text included), in both modes: signed requests over HTTP to briefbot's HTTP server
(HTTP mode) and envelopes over the fake Socket Mode websocket (Socket Mode). Every slash
command, an @mention and its follow-ups, direct messages, a retried event, every button,
the follow-up modal, the App Home and its toggles, and the outbox's scheduled posts; what
reached the fake Slack Web API is checked: Block Kit within Slack's limits, nothing from
feeds able to ping anyone, answers in their threads, 429s waited out. Last, the manifest's
scopes are checked against the Web API methods and events the run used: exactly those."""

from __future__ import annotations

import asyncio
import io
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from PIL import Image

from bot.adapters.slack.app import EVENTS_PATH
from bot.adapters.slack.oauth import manifest_scopes
from bot.adapters.slack.publisher import EVENT_TYPE
from bot.config import Settings
from bot.core.delivery import Outbox
from bot.runtime.health import HealthServer
from bot.runtime.slack import serve_slack, slack_publisher
from bot.runtime.wiring import App, build
from tests.adapters.test_slack_render import ACTIVE, assert_within_limits, load_manifest
from tests.cli.test_story_commands import WIRE_A, WIRE_B, rss
from tests.core.test_commands import IRONWOOD
from tests.support.cli import run_cli
from tests.support.feedserver import FeedServer
from tests.support.slack_server import BOT_USER, Call, FakeSlack, signed_headers
from tests.support.slack_server import slack_api as slack_api
from tests.support.slack_socket import FakeSocket
from tests.support.slack_socket import slack_socket as slack_socket

BOT_TOKEN = "xoxb-e2e"
APP_TOKEN = "xapp-1-e2e"
SECRET = "e2e-signing-secret"
HOSTILE = (
    "rack-1",
    "<!here> Nvidia <@U0ADMIN> ships Blackwell racks",
    "Nvidia said Blackwell racks <!everyone> are shipping to cloud customers; "
    "details at <https://evil.example|click here> and @channel.",
    datetime.now(UTC) - timedelta(hours=1),
)

# The bot scopes each Web API method the app calls needs (history and replies: the channel's
# kind), and each subscribed event; auth.test, views.*, apps.connections.open need none.
METHOD_SCOPES: dict[str, set[str]] = {
    "auth.test": set(),
    "chat.postMessage": {"chat:write"},
    "chat.postEphemeral": {"chat:write"},
    "conversations.open": {"im:write"},
    "users.info": {"users:read"},
    "users.conversations": {"channels:read", "groups:read"},
    "views.open": set(),
    "views.publish": set(),
    "files.getUploadURLExternal": {"files:write"},
    "upload": set(),  # the bytes to the upload URL
    "files.completeUploadExternal": {"files:write"},
    "apps.connections.open": set(),  # the app-level token's connections:write
}
HISTORY_SCOPES = {"C": "channels:history", "G": "groups:history", "D": "im:history"}
EVENT_SCOPES = {
    "app_mention": "app_mentions:read",
    "message.channels": "channels:history",
    "message.groups": "groups:history",
    "message.im": "im:history",
    "app_home_opened": None,
}


# ---- briefbot run's Slack app, in either mode ---------------------------------------------------


class Live:
    """``serve_slack`` running in a thread's event loop, reached the way Slack reaches it."""

    def __init__(self, app: App, mode: str, api: FakeSlack, socket: FakeSocket) -> None:
        self.app, self.mode, self.api, self.socket = app, mode, api, socket
        self._ids = iter(range(1, 1_000_000))
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="serve-slack", daemon=True)
        self.thread.start()
        self.stop = asyncio.Event()
        self.server: HealthServer | None = None
        if mode == "http":
            self.server = HealthServer(app.store.engine, host="127.0.0.1", port=0)
            port = self._run(self.server.start())
            self.url = f"http://127.0.0.1:{port}{EVENTS_PATH}"
        self.task = asyncio.run_coroutine_threadsafe(serve_slack(app, self.stop, self.server), self.loop)
        deadline = time.monotonic() + 20
        while not self._ready():
            assert not self.task.done(), self.task.result()
            assert time.monotonic() < deadline, "serve_slack did not start"
            time.sleep(0.05)

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(20)

    def _ready(self) -> bool:
        if self.server is not None:
            return EVENTS_PATH in self.server.routes
        return self.socket.connected > 0

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.stop.set)
        self.task.result(20)
        if self.server is not None:
            self._run(self.server.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    # -- what Slack sends -----------------------------------------------------------------

    def _send(
        self, kind: str, body: dict[str, Any], *, http_body: str, content_type: str, **headers: str
    ) -> None:
        """One request, acknowledged: 200 with an empty body (HTTP), the envelope's ack (Socket)."""
        if self.mode == "http":
            head = {"Content-Type": content_type, **signed_headers(http_body, SECRET), **headers}
            response = httpx.post(self.url, content=http_body.encode(), headers=head, timeout=20)
            assert response.status_code == 200, response.text
            assert response.text in ("", "{}"), response.text
            return
        extra = {"retry_attempt": int(headers["X-Slack-Retry-Num"])} if "X-Slack-Retry-Num" in headers else {}
        ack = self.socket.ack_for(self.socket.push(kind, body, **extra), timeout=20)
        assert not ack.get("payload"), ack

    def command(self, name: str, text: str = "", *, user: str = "U1", channel: str = "C0NEWS") -> None:
        form = {"team_id": "T1", "channel_id": channel, "user_id": user, "command": name, "text": text,
                "api_app_id": "A1", "trigger_id": f"trigger.{next(self._ids)}",
                "response_url": "http://127.0.0.1:9/unused"}  # fmt: skip
        self._send(
            "slash_commands",
            form,
            http_body=urlencode(form),
            content_type="application/x-www-form-urlencoded",
        )

    def event(self, event: dict[str, Any], *, event_id: str | None = None, **headers: str) -> str:
        event_id = event_id or f"Ev{next(self._ids)}"
        body = {"team_id": "T1", "api_app_id": "A1", "type": "event_callback", "event_id": event_id,
                "event_time": int(time.time()), "event": event}  # fmt: skip
        self._send("events_api", body, http_body=json.dumps(body), content_type="application/json", **headers)
        return event_id

    def interact(self, payload: dict[str, Any]) -> None:
        body = {"token": "legacy", "api_app_id": "A1", "team": {"id": "T1"}, **payload}
        form = urlencode({"payload": json.dumps(body)})
        self._send("interactive", body, http_body=form, content_type="application/x-www-form-urlencoded")


@pytest.fixture(params=["http", "socket"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def live(
    env: dict[str, str],
    feed_server: FeedServer,
    capsys: pytest.CaptureFixture[str],
    slack_api: FakeSlack,
    slack_socket: FakeSocket,
    mode: str,
) -> Iterator[Live]:
    feed_server.feed("/a.xml", rss("Wire A", [*WIRE_A, IRONWOOD, HOSTILE]))
    feed_server.feed("/b.xml", rss("Wire B", WIRE_B))
    for path in ("/a.xml", "/b.xml"):
        assert run_cli(capsys, "feeds", "add", feed_server.url(path)).code == 0
    assert run_cli(capsys, "ingest").code == 0
    settings = replace(Settings.load(), slack_bot_token=BOT_TOKEN, slack_api_url=slack_api.url)
    if mode == "socket":
        settings = replace(settings, slack_app_token=APP_TOKEN)
        slack_api.socket_url = slack_socket.url
    else:
        settings = replace(settings, slack_signing_secret=SECRET, http_port=1)  # the server is the test's
    slack_api.add_user("U1")
    slack_api.add_user("UADMIN", admin=True)
    slack_api.join("U1", "C0NEWS")
    app = build(settings)
    running = Live(app, mode, slack_api, slack_socket)
    try:
        yield running
    finally:
        running.close()
        asyncio.run(app.aclose())


# ---- what reached Slack -------------------------------------------------------------------------


class Seen:
    """The fake Web API's calls from a mark on."""

    def __init__(self, api: FakeSlack) -> None:
        self.api = api
        with api.lock:
            self.mark = len(api.calls)

    def calls(self, *methods: str) -> list[Call]:
        with self.api.lock:
            return [c for c in self.api.calls[self.mark :] if c.method in methods]

    def wait(self, *methods: str, count: int = 1) -> list[Call]:
        deadline = time.monotonic() + 20
        with self.api.lock:
            while len(self.calls(*methods)) < count:
                assert time.monotonic() < deadline, f"{methods}: {len(self.calls(*methods))} of {count}"
                self.api.lock.wait(0.1)
            return self.calls(*methods)

    def settled(self, *methods: str, count: int) -> list[Call]:
        """Exactly ``count`` calls of ``methods`` (waits for them, then a moment for any more)."""
        self.wait(*methods, count=count) if count else None
        time.sleep(0.3)
        calls = self.calls(*methods)
        assert len(calls) == count, [c.params.get("text") for c in calls]
        return calls


def blocks_of(call: Call) -> list[dict[str, Any]]:
    blocks = call.params.get("blocks")
    return list(json.loads(blocks) if isinstance(blocks, str) else blocks or [])


def inert(call: Call) -> str:
    """The call's blocks and text as JSON, checked within Slack's limits and free of live
    mentions or links that did not come from a stored URL."""
    blocks = blocks_of(call)
    if blocks:
        assert_within_limits(blocks)
    dumped = json.dumps(blocks) + str(call.params.get("text") or "")
    assert not ACTIVE.search(dumped), dumped
    return dumped


def sole(seen: Seen, *methods: str) -> Call:
    (call,) = seen.settled(*methods, count=1)
    return call


# ---- the run ------------------------------------------------------------------------------------


def test_slack_end_to_end(live: Live, slack_api: FakeSlack, capsys: pytest.CaptureFixture[str]) -> None:
    answer_ts = slash_commands(live, slack_api)
    questions(live, slack_api, answer_ts)
    buttons(live, slack_api, capsys, answer_ts)
    app_home(live, slack_api)
    scheduled_posts(live, slack_api)
    if live.mode == "http":
        signatures(live, slack_api)
    manifest_scopes_are_exactly_the_ones_used(slack_api)


def slash_commands(live: Live, api: FakeSlack) -> str:
    """Every slash command of the issue; returns the ts of the /ask answer's message."""
    seen = Seen(api)
    live.command("/brief", "all")
    posts = seen.wait("chat.postMessage")
    first = posts[0]
    assert first.params["channel"] == "C0NEWS" and "thread_ts" not in first.params
    assert blocks_of(first)[0]["type"] == "header"
    dumped = "".join(
        inert(c) for c in seen.settled("chat.postMessage", count=len(seen.calls("chat.postMessage")))
    )
    assert "Ironwood" in dumped and "&lt;!here&gt;" in dumped and "&lt;@U0ADMIN&gt;" in dumped
    assert "<https://amzn-1.example/story|" in dumped  # citations link stored URLs
    thread = str(api.messages["C0NEWS"][0]["ts"])
    assert all(c.params.get("thread_ts") == thread for c in seen.calls("chat.postMessage")[1:])
    last = blocks_of(seen.calls("chat.postMessage")[-1])[-1]
    assert last["type"] == "actions" and {e["action_id"] for e in last["elements"]} >= {"feedback_up"}

    seen = Seen(api)
    live.command("/ask", "How much did Amazon invest in Anthropic?")
    answer = sole(seen, "chat.postMessage")
    text = inert(answer)
    assert "$4 billion" in text and "<https://amzn-1.example/story|" in text and "ask_followup" in text
    answer_ts = str(next(m for m in api.messages["C0NEWS"] if m.get("blocks") == blocks_of(answer))["ts"])

    for name, text, expect in (
        ("/subscribe", "AWS", "Amazon"),
        ("/subscriptions", "", "company Amazon"),
        ("/unsubscribe", "AWS", "Amazon"),
    ):
        seen = Seen(api)
        live.command(name, text)
        reply = sole(seen, "chat.postMessage", "chat.postEphemeral")
        assert expect in inert(reply), (name, inert(reply))
    assert live.app.service.subscriptions("slack", "U1") == []

    seen = Seen(api)
    api.fail("chat.postMessage", "ratelimited", status=429, headers={"Retry-After": "1"})
    live.command("/deals", "AWS")
    tries = seen.settled("chat.postMessage", count=2)  # the 429, then the answer after Retry-After
    assert tries[1].at - tries[0].at >= 0.95
    assert "Amazon -&gt; Anthropic" in inert(tries[1])

    seen = Seen(api)
    live.command("/deals", "graph")
    shared = seen.wait("files.completeUploadExternal")[0]
    assert shared.params["channel_id"] == "C0NEWS" and not ACTIVE.search(
        str(shared.params.get("initial_comment"))
    )
    (png,) = api.uploads.values()
    assert Image.open(io.BytesIO(png)).format == "PNG"

    seen = Seen(api)
    live.command("/stories", "all")
    stories = inert(sole(seen, "chat.postMessage"))
    assert "Gaudi 3" in stories and "!here Nvidia @U0ADMIN ships Blackwell racks" in stories  # made inert

    seen = Seen(api)
    live.command("/feeds", "list")  # not an admin
    refusal = sole(seen, "chat.postEphemeral")
    assert refusal.params["user"] == "U1" and "admin" in inert(refusal)
    seen = Seen(api)
    live.command("/feeds", "list", user="UADMIN")
    assert "a.xml" in inert(sole(seen, "chat.postMessage", "chat.postEphemeral"))
    seen = Seen(api)
    live.command("/schedule", "08:30 Europe/Berlin weekdays", user="UADMIN")
    sole(seen, "chat.postMessage", "chat.postEphemeral")
    channel = live.app.service.channel("slack", "C0NEWS")
    assert channel is not None and channel.schedule_text() == "08:30 Europe/Berlin, weekdays"
    return answer_ts


def questions(live: Live, api: FakeSlack, answer_ts: str) -> None:
    """A mention answered in its thread, a follow-up there without a mention, a retry
    answered once, direct messages (with and without a mention), a mention in people's
    thread and a reply under a slash /ask answer, each with its thread's context."""
    seen = Seen(api)
    ts = api.add_message("C0NEWS", "U1", f"<@{BOT_USER}> How much did Amazon invest in Anthropic?")
    mention = {"type": "app_mention", "user": "U1", "channel": "C0NEWS", "ts": ts,
               "text": f"<@{BOT_USER}> How much did Amazon invest in Anthropic?"}  # fmt: skip
    event_id = live.event(mention)
    reply = sole(seen, "chat.postMessage")
    assert reply.params["thread_ts"] == ts and "$4 billion" in inert(reply)
    seen = Seen(api)
    live.event(
        mention, event_id=event_id, **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    )
    seen.settled("chat.postMessage", count=0)  # Slack's retry: not answered again

    seen = Seen(api)
    follow = api.add_message("C0NEWS", "U1", "and which chips?", thread_ts=ts)
    live.event({"type": "message", "channel_type": "channel", "channel": "C0NEWS", "user": "U1",
                "text": "and which chips?", "ts": follow, "thread_ts": ts})  # fmt: skip
    reply = sole(seen, "chat.postMessage")
    assert reply.params["thread_ts"] == ts and "Trainium" in inert(reply)

    for n, text in enumerate(("What is Ironwood?", f"<@{BOT_USER}> What is Ironwood?")):
        seen = Seen(api)
        dm_ts = f"1800000000.00{n}100"
        live.event({"type": "message", "channel_type": "im", "channel": "D1", "user": "U1", "text": text,
                    "ts": dm_ts})  # fmt: skip
        reply = sole(seen, "chat.postMessage")
        assert reply.params["channel"] == "D1" and reply.params["thread_ts"] == dm_ts
        assert "Ironwood" in inert(reply)

    seen = Seen(api)
    parent = api.add_message("C0NEWS", "U2", "Amazon is putting money into Anthropic again")
    asked = api.add_message("C0NEWS", "U3", f"<@{BOT_USER}> which chips will they use?", thread_ts=parent)
    live.event({"type": "app_mention", "user": "U3", "channel": "C0NEWS", "ts": asked, "thread_ts": parent,
                "text": f"<@{BOT_USER}> which chips will they use?"})  # fmt: skip
    reply = sole(seen, "chat.postMessage")
    assert reply.params["thread_ts"] == parent and "Trainium" in inert(reply)
    assert seen.calls("conversations.replies")[0].params["ts"] == parent

    seen = Seen(api)
    under = api.add_message("C0NEWS", "U1", "and which chips?", thread_ts=answer_ts)
    live.event({"type": "message", "channel_type": "channel", "channel": "C0NEWS", "user": "U1",
                "text": "and which chips?", "ts": under, "thread_ts": answer_ts})  # fmt: skip
    reply = sole(seen, "chat.postMessage")
    assert reply.params["thread_ts"] == answer_ts and "Trainium" in inert(reply)


def click(live: Live, message: dict[str, Any], action_id: str, *, user: str = "U1") -> None:
    """A click on the button ``action_id`` of ``message`` (as the fake holds it) in C0NEWS."""
    actions = message["blocks"][-1]
    button = next(e for e in actions["elements"] if e["action_id"] == action_id)
    live.interact({
        "type": "block_actions", "user": {"id": user}, "trigger_id": "13345.trigger",
        "container": {"type": "message", "message_ts": message["ts"], "channel_id": "C0NEWS"},
        "channel": {"id": "C0NEWS"}, "message": message,
        "actions": [{"type": "button", "action_id": action_id, "block_id": actions.get("block_id", ""),
                     "value": button["value"], "action_ts": "1.0"}],
    })  # fmt: skip


def buttons(live: Live, api: FakeSlack, capsys: pytest.CaptureFixture[str], answer_ts: str) -> None:
    """👍 on the briefing and 👎 on the answer, counted by `briefbot usage`; "Subscribe:
    Chips"; "Ask a follow-up": the modal, then its question answered in the answer's thread."""
    briefing = next(m for m in api.messages["C0NEWS"] if "subscribe_topic_0" in json.dumps(m.get("blocks")))
    answer = next(m for m in api.messages["C0NEWS"] if m["ts"] == answer_ts)
    for message, action in ((briefing, "feedback_up"), (answer, "feedback_down"), (briefing, "feedback_up")):
        seen = Seen(api)
        click(live, message, action)
        assert "Thanks" in inert(sole(seen, "chat.postEphemeral"))
    usage = run_cli(capsys, "usage", "--since", "all", "--json").json()
    assert (sum(d["feedback_up"] for d in usage), sum(d["feedback_down"] for d in usage)) == (1, 1)

    chips = next(e for e in briefing["blocks"][-1]["elements"] if e.get("value") == "chips")
    seen = Seen(api)
    click(live, briefing, chips["action_id"], user="U1")
    assert "chips" in inert(sole(seen, "chat.postEphemeral")).lower()
    assert [s.label() for s in live.app.service.subscriptions("slack", "U1")] == ["topic chips"]

    seen = Seen(api)
    click(live, answer, "ask_followup")
    opened = sole(seen, "views.open")
    view = opened.params["view"]
    view = json.loads(view) if isinstance(view, str) else view
    assert opened.params["trigger_id"] == "13345.trigger" and view["type"] == "modal"
    seen = Seen(api)
    live.interact({
        "type": "view_submission", "user": {"id": "U1"}, "trigger_id": "2.trigger",
        "view": {**view, "id": "V1", "state": {"values": {"question": {"question": {
            "type": "plain_text_input", "value": "and which chips?"}}}}},
    })  # fmt: skip
    posts = seen.settled("chat.postMessage", count=2)  # the question, then its answer
    assert all(p.params["thread_ts"] == answer_ts for p in posts)
    assert "Trainium" in inert(posts[1])


def app_home(live: Live, api: FakeSlack) -> None:
    """The Home tab: the person's toggles (Chips ticked), the digest of C0NEWS (they are in it),
    and a toggle that really subscribes."""
    seen = Seen(api)
    live.event({"type": "app_home_opened", "user": "U1", "channel": "D1", "tab": "home"})
    call = sole(seen, "views.publish")
    view = call.params["view"]
    view = json.loads(view) if isinstance(view, str) else view
    dumped = json.dumps(view)
    assert call.params["user_id"] == "U1" and "<#C0NEWS>" in dumped and "08:30 Europe/Berlin" in dumped
    assert not ACTIVE.search(dumped.replace("<#C0NEWS>", ""))
    topics = next(e for b in view["blocks"] if b["type"] == "actions" for e in b["elements"])
    assert [o["text"]["text"] for o in topics["initial_options"]] == ["Chips"]
    ticked = [o for o in topics["options"] if o["text"]["text"] in ("Chips", "Cloud")]
    live.interact({
        "type": "block_actions", "user": {"id": "U1"}, "trigger_id": "3.trigger",
        "container": {"type": "view", "view_id": "V1"}, "view": {"id": "V1", **view},
        "actions": [{"type": "checkboxes", "action_id": topics["action_id"], "selected_options": ticked}],
    })  # fmt: skip
    deadline = time.monotonic() + 20
    while {s.label() for s in live.app.service.subscriptions("slack", "U1")} != {
        "topic chips",
        "topic cloud",
    }:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def scheduled_posts(live: Live, api: FakeSlack) -> None:
    """The outbox's digest and alert through the Slack publisher: each post carries its
    delivery key in message metadata and is found again in the history, so a second
    delivery of the key posts nothing."""
    briefing = live.app.service.brief(since=None)
    digest = {"kind": "digest", "text": briefing.to_markdown(), "briefing": briefing.as_json()}
    source = {"url": "https://rack-1.example/story", "title": HOSTILE[1], "outlet": "Wire A"}
    alert = {"kind": "alert", "headline": HOSTILE[1], "matched": {"kind": "topic", "value": "chips"},
             "sources": [source]}  # fmt: skip
    outbox = Outbox(live.app.store, slack_publisher(live.app.settings, engine=live.app.store.engine),
                    live.app.service.clock, sleep=lambda s: None)  # fmt: skip
    seen = Seen(api)
    assert outbox.deliver("digest:slack:C0NEWS:e2e", "slack:C0NEWS", "digest", digest) == "posted"
    assert outbox.deliver("alert:slack:U1:e2e", "slack:U1", "alert", alert) == "posted"
    firsts = [c for c in seen.calls("chat.postMessage") if "thread_ts" not in c.params]
    tags = [c.params["metadata"] for c in firsts]
    tags = [json.loads(t) if isinstance(t, str) else t for t in tags]
    keys = ("digest:slack:C0NEWS:e2e", "alert:slack:U1:e2e")
    assert tags == [{"event_type": EVENT_TYPE, "event_payload": {"key": k}} for k in keys]
    for call in seen.calls("chat.postMessage"):
        inert(call)
    publisher = slack_publisher(live.app.settings, engine=live.app.store.engine)
    assert publisher.already_delivered("slack:C0NEWS", "digest:slack:C0NEWS:e2e")
    assert publisher.already_delivered("slack:U1", "alert:slack:U1:e2e")
    assert not publisher.already_delivered("slack:C0NEWS", "digest:slack:C0NEWS:other")
    before = len(seen.calls("chat.postMessage"))
    live.app.store.finish_delivery("digest:slack:C0NEWS:e2e", "claimed", attempts=1, now=datetime.now(UTC))
    assert outbox.resolve_unconfirmed() == {"confirmed": 1}  # a crash after posting: found, not reposted
    assert len(seen.calls("chat.postMessage")) == before


def signatures(live: Live, api: FakeSlack) -> None:
    """HTTP mode: a bad or stale signature is 401 and nothing runs."""
    seen = Seen(api)
    form = urlencode(
        {"team_id": "T1", "channel_id": "C0NEWS", "user_id": "U1", "command": "/brief", "text": ""}
    )
    for headers in (signed_headers(form, "wrong-secret"), signed_headers(form, SECRET, age=600), {}):
        head = {"Content-Type": "application/x-www-form-urlencoded", **headers}
        assert httpx.post(live.url, content=form, headers=head, timeout=20).status_code == 401
    seen.settled("chat.postMessage", "chat.postEphemeral", "users.info", count=0)


def manifest_scopes_are_exactly_the_ones_used(api: FakeSlack) -> None:
    """The manifest asks for the scopes of the methods and events the run used, no more."""
    needed = {"commands"}
    with api.lock:
        calls = list(api.calls)
    for call in calls:
        if call.method in ("conversations.history", "conversations.replies"):
            needed.add(HISTORY_SCOPES[str(call.params["channel"])[0]])
        else:
            assert call.method in METHOD_SCOPES, f"{call.method}: which scope does it need?"
            needed |= METHOD_SCOPES[call.method]
    manifest = load_manifest()
    for event in manifest["settings"]["event_subscriptions"]["bot_events"]:
        scope = EVENT_SCOPES[event]
        if scope:
            needed.add(scope)
    assert sorted(manifest_scopes()) == sorted(needed)
