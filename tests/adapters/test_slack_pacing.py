"""Per-channel pacing: at most one message per interval in a channel, measured by when the
fake Slack Web API received each post; other channels are not held up; the adapter's
replies (bolt's worker threads) and the publisher's deliveries share one pacer; rate-limit
answers are still retried by slack_sdk's handlers on the adapter's client."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator

import pytest
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot.adapters.slack.app import SlackAdapter
from bot.adapters.slack.pacing import ChannelPacer, PacedWebClient, pace_listeners, paced, shared_pacer
from bot.adapters.slack.socket_mode import SocketModeConnection
from bot.config import Settings
from bot.core.delivery import Publisher
from bot.runtime.slack import slack_publisher
from tests.adapters.test_slack_app import FakeCommands
from tests.adapters.test_slack_socket import APP_TOKEN, BOT_TOKEN, slash
from tests.support.slack_server import Call, FakeSlack
from tests.support.slack_server import slack_api as slack_api
from tests.support.slack_socket import FakeSocket
from tests.support.slack_socket import slack_socket as slack_socket


def posts_to(slack_api: FakeSlack, channel: str) -> list[Call]:
    return [c for c in slack_api.calls_to("chat.postMessage") if c.params.get("channel") == channel]


def gaps(calls: list[Call]) -> list[float]:
    times = sorted(c.at for c in calls)
    return [b - a for a, b in itertools.pairwise(times)]


def publisher(slack_api: FakeSlack, pacer: ChannelPacer) -> Publisher:
    settings = Settings.load({"SLACK_BOT_TOKEN": BOT_TOKEN, "BRIEFBOT_SLACK_API_URL": slack_api.url})
    return slack_publisher(settings, pacer)


def test_three_posts_to_one_channel_are_a_second_apart(slack_api: FakeSlack) -> None:
    """Slack's limit as shipped: one message per second per channel."""
    pub = publisher(slack_api, ChannelPacer())  # the default interval, 1 s
    for n in range(3):
        pub.post("slack:C1", {"kind": "digest", "text": f"post {n}"}, f"k{n}")
    calls = posts_to(slack_api, "C1")
    assert len(calls) == 3
    assert all(gap >= 0.95 for gap in gaps(calls)), gaps(calls)


def test_two_channels_are_not_serialised(slack_api: FakeSlack) -> None:
    """Posts alternating between C1 and C2 through the real publisher, on a pacer whose clock
    stands still: each channel waits only for its own earlier posts (0.4 s, then 0.8 s for
    its third), never for the other channel's (serialised, the waits would be 0.4 s to 2 s)."""
    slept: list[float] = []
    pub = publisher(slack_api, ChannelPacer(0.4, clock=lambda: 0.0, sleep=slept.append))
    for n in range(3):
        for channel in ("C1", "C2"):
            pub.post(f"slack:{channel}", {"kind": "digest", "text": f"{channel} {n}"}, f"{channel}{n}")
    assert len(posts_to(slack_api, "C1")) == len(posts_to(slack_api, "C2")) == 3
    assert slept == pytest.approx([0.4, 0.4, 0.8, 0.8])


@pytest.fixture
def paced_adapter(
    slack_api: FakeSlack, slack_socket: FakeSocket
) -> Iterator[tuple[ChannelPacer, FakeCommands]]:
    """A SlackAdapter over Socket Mode whose listeners post through a 0.4 s pacer."""
    slack_api.socket_url = slack_socket.url
    slack_api.add_user("U1")
    pacer, commands = ChannelPacer(0.4), FakeCommands()
    adapter = SlackAdapter(commands, token=BOT_TOKEN, signing_secret="", api_url=slack_api.url)
    pace_listeners(adapter.app, pacer)
    connection = SocketModeConnection(adapter.app, APP_TOKEN)
    connection.connect()
    try:
        yield pacer, commands
    finally:
        connection.close()


def test_adapter_replies_and_deliveries_share_the_channel_pace(
    paced_adapter: tuple[ChannelPacer, FakeCommands], slack_api: FakeSlack, slack_socket: FakeSocket
) -> None:
    """Two slash commands answered in bolt's worker threads and two deliveries from another
    thread, all in C1: every post at least the interval after the one before."""
    pacer, _ = paced_adapter
    pub = publisher(slack_api, pacer)
    delivering = threading.Thread(
        target=lambda: [pub.post("slack:C1", {"kind": "digest", "text": f"d{n}"}, f"d{n}") for n in range(2)]
    )
    delivering.start()
    for text in ("chips", "power"):
        slack_socket.push("slash_commands", slash("/stories", text))
    delivering.join(10)
    calls = slack_api.wait_for("chat.postMessage", 4)
    assert len(posts_to(slack_api, "C1")) == 4
    assert all(gap >= 0.35 for gap in gaps(calls)), gaps(calls)


def test_rate_limits_are_still_retried_on_the_paced_client(
    paced_adapter: tuple[ChannelPacer, FakeCommands], slack_api: FakeSlack, slack_socket: FakeSocket
) -> None:
    slack_api.fail("chat.postMessage", "ratelimited", status=429, headers={"Retry-After": "1"})
    slack_socket.ack_for(slack_socket.push("slash_commands", slash("/stories", "chips")))
    attempts = slack_api.wait_for("chat.postMessage", 2)
    assert attempts[1].at - attempts[0].at >= 0.95  # Retry-After honoured
    assert len(slack_api.messages["C1"]) == 1


def test_paced_copies_keep_the_client_settings() -> None:
    from bot.adapters.slack.app import web_client

    client = web_client("xoxb-1", "http://127.0.0.1:9/api/")
    copy = paced(client, shared_pacer())
    assert isinstance(copy, PacedWebClient) and copy.pacer is shared_pacer()
    assert (copy.token, copy.base_url, copy.timeout) == ("xoxb-1", "http://127.0.0.1:9/api/", 30)
    assert any(isinstance(h, RateLimitErrorRetryHandler) for h in copy.retry_handlers)
    assert paced(copy, shared_pacer()) is copy


def test_pacer_slots_per_channel() -> None:
    now = [100.0]
    slept: list[float] = []
    pacer = ChannelPacer(1.0, clock=lambda: now[0], sleep=slept.append)
    assert [pacer.reserve("C1") for _ in range(3)] == [0.0, 1.0, 2.0]
    assert pacer.reserve("C2") == 0.0
    now[0] = 110.0  # long idle: no debt carried over
    assert pacer.wait("C1") == 0.0 and slept == []
    assert pacer.wait("C1") == 1.0 and slept == [1.0]
    assert pacer.wait("") == 0.0  # no channel: nothing to pace


def test_pacer_is_thread_safe() -> None:
    """400 reservations from 8 threads at one instant: 400 distinct slots, one interval apart."""
    pacer = ChannelPacer(0.01, clock=lambda: 0.0, sleep=lambda _: None)
    delays: list[float] = []
    lock = threading.Lock()

    def take() -> None:
        for _ in range(50):
            delay = pacer.reserve("C1")
            with lock:
                delays.append(delay)

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(delays) == pytest.approx([n * 0.01 for n in range(400)])
