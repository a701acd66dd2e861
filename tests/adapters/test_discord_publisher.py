"""DiscordPublisher against the local fake Discord REST API: embeds sent with no mentions and
the delivery key's nonce, Discord-side dedupe of a repeat, continuations in a thread (or
following messages in a DM), and Discord's errors mapped to transient or permanent ones."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pytest

from bot.adapters.discord.publisher import NONCE_LENGTH, DiscordPublisher, delivery_nonce
from bot.adapters.discord.render import briefing_embeds
from bot.config import Settings
from bot.core.alerts import person_destination
from bot.core.briefing import Briefing, briefing_from_json
from bot.core.delivery import POSTED, PermanentError, TransientError
from bot.core.subscriptions import Subscription
from bot.runtime.discord import discord_publisher
from bot.runtime.scheduler import BotScheduler, Publishers
from bot.runtime.wiring import App
from tests.adapters.test_discord_render import (
    HOSTILE,
    PING,
    _long_briefing,
    assert_within_limits,
    briefing,
    item,
    linked_urls,
    ref,
)
from tests.runtime.test_scheduler import DUE, START, FrozenClock
from tests.runtime.test_scheduler import app as app
from tests.support.discord_server import FakeDiscord
from tests.support.discord_server import discord_api as discord_api

KEY = "digest:discord:123456789012345678:2026-11-26T09:00+01:00"
CHANNEL = "123456789012345678"
DEST = f"discord:{CHANNEL}"


def publisher(fake: FakeDiscord) -> DiscordPublisher:
    return DiscordPublisher("test-token", fake.url, timeout=5)


def digest(b: Briefing) -> dict[str, Any]:
    return {"kind": "digest", "text": b.to_markdown(), "briefing": b.as_json()}


def hostile_briefing() -> Briefing:
    sources = (ref(1), ref(2, "javascript:alert(1)"))
    story = item(
        1, f"{HOSTILE} buys GPUs", "chips", (f"Read {HOSTILE} now [1].",), why=f"<@123> [2] {HOSTILE}"
    )
    return briefing((("chips", (story,)),), sources, top_line=f"1 story: {HOSTILE} [1].")


def test_the_nonce_is_stable_short_and_distinct_per_key() -> None:
    nonce = delivery_nonce(KEY)
    assert nonce == delivery_nonce(KEY) and len(nonce) == NONCE_LENGTH
    assert nonce != delivery_nonce(KEY + "x") and nonce != delivery_nonce(KEY, 1)


def test_a_digest_posts_embeds_without_mentions_and_with_the_nonce(discord_api: FakeDiscord) -> None:
    pub = publisher(discord_api)
    assert not pub.already_delivered(DEST, KEY)
    pub.post(DEST, digest(hostile_briefing()), KEY)
    [sent] = discord_api.requests_to("create_message")
    assert sent.path == f"/channels/{CHANNEL}/messages"
    assert sent.authorization == "Bot test-token"
    assert sent.body["allowed_mentions"] == {"parse": []}
    assert sent.body["nonce"] == delivery_nonce(KEY) and sent.body["enforce_nonce"] is True
    assert_within_limits([sent.body["embeds"]])
    assert pub.already_delivered(DEST, KEY)
    assert not pub.already_delivered(DEST, KEY + "x")
    assert discord_api.requests_to("get_messages")[-1].query["limit"] == "50"


def test_hostile_text_is_inert_in_the_posted_json(discord_api: FakeDiscord) -> None:
    publisher(discord_api).post(DEST, digest(hostile_briefing()), KEY)
    body = discord_api.requests_to("create_message")[0].body
    strings = (
        [body["content"]]
        + [s for e in body["embeds"] for s in (e.get("title", ""), e.get("description", ""))]
        + [f[k] for e in body["embeds"] for f in e.get("fields", []) for k in ("name", "value")]
    )
    assert not any(PING.search(s) for s in strings)
    assert "evil.example" in json.dumps(body) and "evil.example" not in " ".join(linked_urls(strings))
    assert "<\u200b@123>" in json.dumps(body, ensure_ascii=False)


def test_a_repeat_with_the_same_key_creates_no_second_message(discord_api: FakeDiscord) -> None:
    pub = publisher(discord_api)
    pub.post(DEST, digest(hostile_briefing()), KEY)
    pub.post(DEST, digest(hostile_briefing()), KEY)  # a crash between post and mark, then a retry
    assert len(discord_api.requests_to("create_message")) == 2
    assert len(discord_api.messages[CHANNEL]) == 1
    assert pub.already_delivered(DEST, KEY)


def test_a_long_briefing_continues_in_a_thread(discord_api: FakeDiscord) -> None:
    big, _ = _long_briefing()
    expected = briefing_embeds(briefing_from_json(big.as_json()))
    assert len(expected) > 1
    publisher(discord_api).post(DEST, digest(big), KEY)
    sends = discord_api.requests_to("create_message")
    assert len(sends) == len(expected)
    [thread] = discord_api.requests_to("start_thread")
    first_id = discord_api.messages[CHANNEL][0]["id"]
    assert thread.path == f"/channels/{CHANNEL}/messages/{first_id}/threads"
    assert 0 < len(thread.body["name"]) <= 100
    assert sends[0].path == f"/channels/{CHANNEL}/messages" and sends[0].body["content"]
    assert all(s.path == f"/channels/{first_id}/messages" for s in sends[1:])
    assert all(s.body["allowed_mentions"] == {"parse": []} and s.body["enforce_nonce"] for s in sends)
    assert len({s.body["nonce"] for s in sends}) == len(sends)
    assert_within_limits([s.body["embeds"] for s in sends])
    # the buttons (and the key they carry) are on the message in the channel
    assert [bool(s.body.get("components")) for s in sends] == [True] + [False] * (len(sends) - 1)


def test_already_delivered_finds_the_key_in_the_history_without_nonces(discord_api: FakeDiscord) -> None:
    """Discord leaves nonces out of the history: the 👍 button's custom id is what is found."""
    pub = publisher(discord_api)
    big, _ = _long_briefing()
    pub.post(DEST, digest(big), KEY)
    alert = {"kind": "alert", "text": "x", "headline": "Big news", "matched": {"kind": "chip", "value": "T"}}
    pub.post("discord:user:555", alert, "alert:discord:user:555:story:7")
    assert all("nonce" not in m for ms in discord_api.messages.values() for m in ms)
    assert pub.already_delivered(DEST, KEY)
    assert pub.already_delivered("discord:user:555", "alert:discord:user:555:story:7")
    assert not pub.already_delivered(DEST, KEY.replace("09:00", "10:00"))
    assert not pub.already_delivered("discord:user:555", "alert:discord:user:555:story:8")
    long_key = "digest:discord:" + "9" * 120
    pub.post(DEST, {"kind": "digest", "text": "hi"}, long_key)  # its custom id holds a hash
    assert pub.already_delivered(DEST, long_key) and not pub.already_delivered(DEST, long_key + "x")


def test_without_a_thread_the_rest_follows_in_the_channel(discord_api: FakeDiscord) -> None:
    discord_api.fail("start_thread", 403, code=50013)
    big, _ = _long_briefing()
    publisher(discord_api).post(DEST, digest(big), KEY)
    sends = discord_api.requests_to("create_message")
    assert len(sends) > 1 and all(s.path == f"/channels/{CHANNEL}/messages" for s in sends)
    assert len(discord_api.messages[CHANNEL]) == len(sends)


def test_an_alert_by_direct_message_opens_a_dm_channel(discord_api: FakeDiscord) -> None:
    pub = publisher(discord_api)
    payload = {
        "kind": "alert",
        "text": "**Breaking:** x",
        "story_id": 42,
        "headline": "Big @everyone <@&1> news",
        "matched": {"kind": "chip", "value": "Ironwood"},
        "sources": [{"url": "https://news.example/a", "title": "A", "outlet": "Wire", "published": None}],
    }
    key = "alert:discord:user:555:story:42"
    pub.post("discord:user:555", payload, key)
    [dm] = discord_api.requests_to("create_dm")
    assert dm.body == {"recipient_id": "555"}
    dm_channel = discord_api.dm_channels["555"]
    [sent] = discord_api.requests_to("create_message")
    assert sent.path == f"/channels/{dm_channel}/messages"
    assert sent.body["allowed_mentions"] == {"parse": []}
    dumped = json.dumps(sent.body, ensure_ascii=False)
    assert not PING.search(dumped) and "[A](https://news.example/a)" in dumped
    assert pub.already_delivered("discord:user:555", key)
    assert len(discord_api.requests_to("create_dm")) == 1  # cached


def test_a_long_briefing_by_dm_follows_as_messages(discord_api: FakeDiscord) -> None:
    big, _ = _long_briefing()
    publisher(discord_api).post("discord:user:555", digest(big), KEY)
    dm_channel = discord_api.dm_channels["555"]
    sends = discord_api.requests_to("create_message")
    assert len(sends) > 1 and all(s.path == f"/channels/{dm_channel}/messages" for s in sends)


def test_a_rate_limit_is_transient(discord_api: FakeDiscord) -> None:
    discord_api.fail("create_message", 429, retry_after=3.5)
    with pytest.raises(TransientError, match=r"retry after 3\.5"):
        publisher(discord_api).post(DEST, {"kind": "digest", "text": "hi"}, KEY)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_transient(discord_api: FakeDiscord, status: int) -> None:
    discord_api.fail("create_message", status)
    with pytest.raises(TransientError):
        publisher(discord_api).post(DEST, {"kind": "digest", "text": "hi"}, KEY)


@pytest.mark.parametrize(
    "status,code,text",
    [(404, 10003, "Unknown Channel"), (403, 50001, "Missing Access"), (403, 50013, "Missing Permissions")],
)
def test_gone_channels_and_missing_permissions_are_permanent(
    discord_api: FakeDiscord, status: int, code: int, text: str
) -> None:
    discord_api.fail("create_message", status, code=code)
    with pytest.raises(PermanentError, match=text):
        publisher(discord_api).post(DEST, {"kind": "digest", "text": "hi"}, KEY)
    discord_api.fail("get_messages", status, code=code)
    with pytest.raises(PermanentError):
        publisher(discord_api).already_delivered(DEST, KEY)


def test_an_unreachable_api_is_transient() -> None:
    pub = DiscordPublisher("t", "http://127.0.0.1:9/api/v10", timeout=2)
    with pytest.raises(TransientError):
        pub.post(DEST, {"kind": "digest", "text": "hi"}, KEY)
    with pytest.raises(TransientError):
        pub.already_delivered(DEST, KEY)


def test_a_failed_continuation_does_not_fail_the_delivery(discord_api: FakeDiscord) -> None:
    discord_api.fail("create_message", 500, times=99, after=1)  # the first message goes through
    big, _ = _long_briefing()
    publisher(discord_api).post(DEST, digest(big), KEY)  # no error: retrying would post it twice
    assert len(discord_api.messages[CHANNEL]) == 1
    assert len(discord_api.requests_to("create_message")) == 2


@pytest.mark.parametrize("destination", ["slack:C1", "discord:", "discord:general", "discord:user:bob"])
def test_bad_destinations_are_permanent(discord_api: FakeDiscord, destination: str) -> None:
    with pytest.raises(PermanentError):
        publisher(discord_api).post(destination, {"kind": "digest", "text": "hi"}, KEY)


def test_settings_discord_api_url() -> None:
    assert Settings.load({}).discord_api_url == "https://discord.com/api/v10"
    custom = Settings.load({"BRIEFBOT_DISCORD_API_URL": "http://127.0.0.1:8/api/v10/"})
    assert custom.discord_api_url == "http://127.0.0.1:8/api/v10"


def test_publishers_route_discord_destinations_when_a_token_is_set(discord_api: FakeDiscord) -> None:
    assert discord_publisher(Settings.load({})) is None
    settings = Settings.load({"DISCORD_TOKEN": "tok", "BRIEFBOT_DISCORD_API_URL": discord_api.url})
    pub = discord_publisher(settings)
    assert pub is not None
    publishers = Publishers({"discord": pub})
    assert "discord" in publishers.platforms
    publishers.post(DEST, {"kind": "digest", "text": "hello @everyone"}, KEY)
    [sent] = discord_api.requests_to("create_message")
    assert sent.authorization == "Bot tok" and sent.body["allowed_mentions"] == {"parse": []}
    assert publishers.already_delivered(DEST, KEY)


# ---- through the scheduler and the outbox -----------------------------------------------------


class _PostedButNotMarked(BaseException):
    """The process dying after Discord took the post and before the outbox marked it."""


class _DyingAfterPost:
    def __init__(self, inner: DiscordPublisher) -> None:
        self.inner = inner

    def post(self, destination: str, payload: Mapping[str, Any], key: str) -> None:
        self.inner.post(destination, payload, key)
        raise _PostedButNotMarked()

    def already_delivered(self, destination: str, key: str) -> bool:
        return self.inner.already_delivered(destination, key)


def _discord_jobs(built: App, fake: FakeDiscord) -> BotScheduler:
    pub = discord_publisher(replace(built.settings, discord_token="tok", discord_api_url=fake.url))
    assert pub is not None
    return BotScheduler(built, Publishers({"discord": pub}))


def test_a_discord_digest_through_the_scheduler_is_posted_once(
    app: tuple[App, FrozenClock], discord_api: FakeDiscord
) -> None:
    built, clock = app
    built.service.set_channel("discord", CHANNEL, at="09:00", tz="Europe/Berlin", days="daily")
    clock.value = DUE
    key = f"digest:discord:{CHANNEL}:2026-11-26T09:00+01:00"
    assert _discord_jobs(built, discord_api).run_digests() == {key: "posted"}
    assert _discord_jobs(built, discord_api).run_digests() == {}
    [sent] = discord_api.requests_to("create_message")
    assert sent.body["nonce"] == delivery_nonce(key) and sent.body["allowed_mentions"] == {"parse": []}
    assert "Ironwood" in json.dumps(sent.body["embeds"])


def test_a_crash_after_discord_took_the_digest_is_confirmed_not_reposted(
    app: tuple[App, FrozenClock], discord_api: FakeDiscord
) -> None:
    built, clock = app
    built.service.set_channel("discord", CHANNEL, at="09:00", tz="Europe/Berlin", days="daily")
    clock.value = DUE
    key = f"digest:discord:{CHANNEL}:2026-11-26T09:00+01:00"
    inner = discord_publisher(replace(built.settings, discord_token="tok", discord_api_url=discord_api.url))
    assert inner is not None
    with pytest.raises(_PostedButNotMarked):
        BotScheduler(built, Publishers({"discord": _DyingAfterPost(inner)})).run_digests()
    discord_api.forget_nonces()  # the restart comes after Discord's nonce window
    restarted = _discord_jobs(built, discord_api)
    asyncio.run(restarted.startup())
    assert restarted.run_digests() == {}
    assert len(discord_api.messages[CHANNEL]) == 1
    row = built.store.get_delivery(key)
    assert row is not None and row.state == POSTED


def test_a_gone_discord_channel_fails_the_digest_and_disables_the_channel(
    app: tuple[App, FrozenClock], discord_api: FakeDiscord
) -> None:
    built, clock = app
    built.service.set_channel("discord", CHANNEL, at="09:00", tz="Europe/Berlin", days="daily")
    clock.value = DUE
    discord_api.fail("create_message", 404, code=10003)
    key = f"digest:discord:{CHANNEL}:2026-11-26T09:00+01:00"
    assert _discord_jobs(built, discord_api).run_digests() == {key: "failed"}
    channel = built.store.get_channel("discord", CHANNEL)
    assert channel is not None and not channel.enabled


def test_alerts_to_discord_people_go_to_their_direct_messages() -> None:
    assert person_destination("discord", "555") == "discord:user:555"
    assert person_destination("slack", "U1") == "slack:U1"


def test_a_discord_subscriber_gets_one_alert_by_direct_message(
    app: tuple[App, FrozenClock], discord_api: FakeDiscord
) -> None:
    built, _ = app
    built.store.add_subscription(Subscription("discord", "555", "chip", "Ironwood"), START)
    ids = [s.id for s in built.store.list_stories()]
    jobs = _discord_jobs(built, discord_api)
    assert jobs.alerts(ids).sent == 1
    assert jobs.alerts(ids).sent == 0
    assert [d.destination for d in built.store.list_deliveries()] == ["discord:user:555"]
    [sent] = discord_api.requests_to("create_message")
    assert sent.path == f"/channels/{discord_api.dm_channels['555']}/messages"
    assert sent.body["allowed_mentions"] == {"parse": []} and sent.body["content"].startswith("Breaking:")


def test_a_discord_persons_own_digest_goes_to_their_direct_messages_once(
    app: tuple[App, FrozenClock], discord_api: FakeDiscord
) -> None:
    built, clock = app
    built.store.add_subscription(Subscription("discord", "555", "chip", "Ironwood"), START)
    built.service.set_personal_digest("discord", "555", at="09:00", tz="Europe/Berlin", days="daily")
    clock.value = DUE
    key = "digest:discord:user:555:2026-11-26T09:00+01:00"
    assert _discord_jobs(built, discord_api).run_digests() == {key: "posted"}
    assert _discord_jobs(built, discord_api).run_digests() == {}
    [sent] = discord_api.requests_to("create_message")
    assert sent.path == f"/channels/{discord_api.dm_channels['555']}/messages"
    assert sent.body["allowed_mentions"] == {"parse": []} and "Ironwood" in json.dumps(sent.body["embeds"])
    ids = [c["custom_id"] for row in sent.body["components"] for c in row["components"]]
    assert ids[0] == f"briefbot:vote:up:{key}"
