"""SlackPublisher: outbox deliveries posted with their key in message metadata, found again
in conversations.history, and Slack's errors mapped to transient or permanent ones."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.adapters.slack.app import web_client
from bot.adapters.slack.publisher import EVENT_TYPE, SlackPublisher
from bot.adapters.slack.render import MAX_BLOCKS, briefing_blocks
from bot.core.briefing import Briefing, briefing_from_json
from bot.core.delivery import Outbox, PermanentError, TransientError
from bot.store.sql import SqlStore
from tests.adapters.test_slack_render import ACTIVE, briefing, hostile_briefing, item, ref
from tests.support.slack_server import FakeSlack
from tests.support.slack_server import slack_api as slack_api

KEY = "digest:slack:C1:2026-11-26T09:00+01:00"


class Clock:
    def now(self) -> datetime:
        return datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


def publisher(fake: FakeSlack) -> SlackPublisher:
    return SlackPublisher(web_client("xoxb-test", fake.url, deliveries=True))


def digest(b: Briefing) -> dict[str, Any]:
    return {"kind": "digest", "text": b.to_markdown(), "briefing": b.as_json()}


def test_digest_posted_with_metadata_and_found_again(slack_api: FakeSlack) -> None:
    pub = publisher(slack_api)
    assert not pub.already_delivered("slack:C1", KEY)
    pub.post("slack:C1", digest(hostile_briefing()), KEY)
    post = slack_api.calls_to("chat.postMessage")[0].params
    assert post["channel"] == "C1"
    assert post["metadata"] == {"event_type": EVENT_TYPE, "event_payload": {"key": KEY}}
    assert post["unfurl_links"] is False
    dumped = json.dumps(post["blocks"])
    assert "&lt;!channel&gt;" in dumped and not ACTIVE.search(dumped) and not ACTIVE.search(post["text"])
    assert pub.already_delivered("slack:C1", KEY)
    assert not pub.already_delivered("slack:C1", KEY + "x")
    history = slack_api.calls_to("conversations.history")[-1].params
    assert str(history["include_all_metadata"]).lower() in ("1", "true")


def test_a_long_briefing_continues_in_the_thread(slack_api: FakeSlack) -> None:
    sentences = tuple(f"Sentence number {i} about chips and racks [1]." for i in range(40))
    items = tuple(item(i, sentences=sentences) for i in range(1, 31))
    big = briefing((("chips", items),), (ref(1),))
    expected = briefing_blocks(briefing_from_json(big.as_json()), with_buttons=True, key=KEY)
    assert len(expected) > 1
    publisher(slack_api).post("slack:C1", digest(big), KEY)
    posts = [c.params for c in slack_api.calls_to("chat.postMessage")]
    assert len(posts) == len(expected)
    first_ts = slack_api.messages["C1"][0]["ts"]
    assert "thread_ts" not in posts[0] and all(p["thread_ts"] == first_ts for p in posts[1:])
    assert all(len(p["blocks"]) <= MAX_BLOCKS for p in posts)
    assert "metadata" in posts[0] and all("metadata" not in p for p in posts[1:])
    actions = posts[-1]["blocks"][-1]  # the buttons end the last message, rating the delivery
    assert actions["type"] == "actions" and actions["elements"][0]["value"] == KEY


def test_briefing_survives_the_json_round_trip() -> None:
    b = hostile_briefing()
    assert briefing_blocks(briefing_from_json(b.as_json())) == briefing_blocks(b)


def test_alert_to_a_person(slack_api: FakeSlack) -> None:
    pub = publisher(slack_api)
    payload = {
        "kind": "alert",
        "text": "**Breaking:** x",
        "story_id": 42,
        "headline": "Big <!everyone> news",
        "matched": {"kind": "chip", "value": "Ironwood"},
        "sources": [{"url": "https://news.example/a", "title": "A", "outlet": "Wire", "published": None}],
    }
    key = "alert:slack:U1:story:42"
    pub.post("slack:U1", payload, key)
    post = slack_api.calls_to("chat.postMessage")[0].params
    assert post["channel"] == "U1"
    dumped = json.dumps(post["blocks"])
    assert "Big &lt;!everyone&gt; news" in dumped and "<https://news.example/a|A>" in dumped
    assert pub.already_delivered("slack:U1", key)
    assert slack_api.calls_to("conversations.open")[0].params["users"] == "U1"


@pytest.mark.parametrize(
    "error", ["channel_not_found", "not_in_channel", "is_archived", "invalid_auth", "account_inactive"]
)
def test_gone_channels_are_permanent(slack_api: FakeSlack, error: str) -> None:
    slack_api.fail("chat.postMessage", error)
    with pytest.raises(PermanentError, match=error):
        publisher(slack_api).post("slack:C1", {"kind": "digest", "text": "hi"}, KEY)


def test_a_rate_limit_is_waited_out_then_posted(slack_api: FakeSlack) -> None:
    """slack_sdk's RateLimitErrorRetryHandler on the delivery client: a 429 is retried after
    its Retry-After, and the digest posted once."""
    slack_api.fail("chat.postMessage", "ratelimited", status=429, headers={"Retry-After": "1"})
    publisher(slack_api).post("slack:C1", {"kind": "digest", "text": "hi"}, KEY)
    attempts = slack_api.calls_to("chat.postMessage")
    assert len(attempts) == 2 and attempts[1].at - attempts[0].at >= 0.95
    assert len(slack_api.messages["C1"]) == 1


def test_a_lasting_rate_limit_is_transient(slack_api: FakeSlack) -> None:
    slack_api.fail("chat.postMessage", "ratelimited", status=429, headers={"Retry-After": "0"}, times=3)
    with pytest.raises(TransientError, match=r"retry after 0"):
        publisher(slack_api).post("slack:C1", {"kind": "digest", "text": "hi"}, KEY)
    assert len(slack_api.calls_to("chat.postMessage")) == 3  # the first try and two retries
    assert "C1" not in slack_api.messages


def test_a_rate_limited_continuation_still_arrives(slack_api: FakeSlack) -> None:
    """A long briefing whose second message meets a 429: retried after Retry-After, so the
    whole briefing is in the thread (not cut after its first message)."""
    sentences = tuple(f"Sentence number {i} about chips and racks [1]." for i in range(40))
    big = briefing((("chips", tuple(item(i, sentences=sentences) for i in range(1, 31))),), (ref(1),))
    messages = briefing_blocks(briefing_from_json(big.as_json()), with_buttons=True, key=KEY)
    assert len(messages) > 1
    slack_api.fail("chat.postMessage", "ratelimited", status=429, headers={"Retry-After": "0"}, skip=1)
    publisher(slack_api).post("slack:C1", digest(big), KEY)
    assert len(slack_api.calls_to("chat.postMessage")) == len(messages) + 1  # one retried
    posted = slack_api.messages["C1"]
    assert len(posted) == len(messages)
    assert all(m.get("thread_ts") == posted[0]["ts"] for m in posted[1:])


def test_a_post_slack_took_despite_an_error_is_not_posted_again(
    slack_api: FakeSlack, store: SqlStore
) -> None:
    """Slack stores the digest but answers 500 (or the answer never comes): the outbox's
    retry finds the key in the channel's history and posts nothing more, so the channel
    has the digest once and the delivery is marked posted."""
    slack_api.fail("chat.postMessage", "internal_error", status=500, after=True)
    outbox = Outbox(store, publisher(slack_api), Clock(), sleep=lambda s: None)
    assert outbox.deliver(KEY, "slack:C1", "digest", {"kind": "digest", "text": "hi"}) == "posted"
    assert len(slack_api.messages["C1"]) == 1
    assert len(slack_api.calls_to("chat.postMessage")) == 1
    assert slack_api.calls_to("conversations.history")[0].params["channel"] == "C1"
    row = store.get_delivery(KEY)
    assert row is not None and row.state == "posted"


def test_a_post_slack_refused_with_an_error_is_posted_on_retry(slack_api: FakeSlack, store: SqlStore) -> None:
    slack_api.fail("chat.postMessage", "internal_error", status=500)
    outbox = Outbox(store, publisher(slack_api), Clock(), sleep=lambda s: None)
    assert outbox.deliver(KEY, "slack:C1", "digest", {"kind": "digest", "text": "hi"}) == "posted"
    assert len(slack_api.messages["C1"]) == 1 and len(slack_api.calls_to("chat.postMessage")) == 2


def test_the_delivery_client_retries_only_what_cannot_post_twice(slack_api: FakeSlack) -> None:
    """A 5xx is not retried inside the delivery client (Slack may have posted); the app's
    client retries it."""
    slack_api.fail("chat.postMessage", "internal_error", status=500)
    with pytest.raises(SlackApiError):
        web_client("xoxb-test", slack_api.url, deliveries=True).chat_postMessage(channel="C1", text="hi")
    slack_api.fail("chat.postMessage", "internal_error", status=500)
    assert web_client("xoxb-test", slack_api.url).chat_postMessage(channel="C1", text="hi")["ok"]


@pytest.mark.parametrize(
    "status,error", [(500, "internal_error"), (503, "service_unavailable"), (200, "fatal_error")]
)
def test_server_errors_are_transient(slack_api: FakeSlack, status: int, error: str) -> None:
    slack_api.fail("chat.postMessage", error, status=status)
    with pytest.raises(TransientError):
        publisher(slack_api).post("slack:C1", {"kind": "digest", "text": "hi"}, KEY)


def test_unreachable_slack_is_transient() -> None:
    pub = SlackPublisher(WebClient(token="xoxb-test", base_url="http://127.0.0.1:9/api/", retry_handlers=[]))
    with pytest.raises(TransientError):
        pub.post("slack:C1", {"kind": "digest", "text": "hi"}, KEY)
    with pytest.raises(TransientError):
        pub.already_delivered("slack:C1", KEY)


def test_history_errors_are_mapped(slack_api: FakeSlack) -> None:
    slack_api.fail("conversations.history", "channel_not_found")
    with pytest.raises(PermanentError):
        publisher(slack_api).already_delivered("slack:C1", KEY)


def test_not_a_slack_destination() -> None:
    with pytest.raises(PermanentError):
        SlackPublisher(web_client("x", "http://127.0.0.1:9/api/")).post("discord:1", {"text": "x"}, KEY)


def test_client_retries_rate_limits_when_asked(slack_api: FakeSlack) -> None:
    """The app's client (not the outbox's) waits out a 429 once and succeeds."""
    slack_api.fail("chat.postMessage", "ratelimited", status=429, headers={"Retry-After": "0"})
    client = web_client("xoxb-test", slack_api.url)
    assert client.chat_postMessage(channel="C1", text="hi")["ok"]
    assert len(slack_api.calls_to("chat.postMessage")) == 2
