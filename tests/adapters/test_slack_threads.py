"""Direct messages and thread follow-ups in the Slack app: signed event requests over HTTP
to bolt, answers and thread re-reads through the local fake Slack Web API."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.adapters.slack.app import SlackAdapter, thread_key
from bot.core.ask import Turn
from bot.core.commands import CommandContext, Reply
from bot.store.sql import SqlStore
from tests.adapters.test_slack_app import SECRET, TOKEN, FakeCommands, Running
from tests.support.slack_http import SlackHttp, serve_http
from tests.support.slack_server import BOT_ID, BOT_USER, FakeSlack
from tests.support.slack_server import slack_api as slack_api


@dataclass
class Memory:
    """An in-memory thread store (the ``thread_turns`` table's stand-in)."""

    turns: dict[str, list[Turn]] = field(default_factory=dict)

    def thread_turns(self, thread_id: str, limit: int = 20) -> list[Turn]:
        return list(self.turns.get(thread_id, []))[-limit:]

    def add_turns(self, thread_id: str, turns: Sequence[Turn]) -> None:
        self.turns.setdefault(thread_id, []).extend(turns)


def asking(memory: Any) -> FakeCommands:
    """A command layer that, like the Asker, stores each question and answer as turns of
    ``slack:<channel>:<thread_ts>`` and says how much history it saw."""

    def reply(ctx: CommandContext, text: str) -> Reply:
        key = thread_key(ctx.channel_id, ctx.thread_id or "")
        seen = len(memory.thread_turns(key))
        now = datetime.now(UTC)
        memory.add_turns(key, [Turn("user", text, (), now), Turn("bot", "answer", (), now)])
        return Reply(f"answer after {seen} turns")

    return FakeCommands(reply=reply)


def serve_adapter(adapter: SlackAdapter, commands: FakeCommands) -> tuple[Running, SlackHttp]:
    server = serve_http(adapter)
    return Running(server.url, commands, adapter), server


@pytest.fixture
def memory() -> Memory:
    return Memory()


@pytest.fixture
def followups() -> bool:
    return True


@pytest.fixture
def app(slack_api: FakeSlack, memory: Memory, followups: bool) -> Iterator[Running]:
    """The adapter with thread memory, served over HTTP."""
    commands = asking(memory)
    adapter = SlackAdapter(
        commands,
        token=TOKEN,
        signing_secret=SECRET,
        api_url=slack_api.url,
        threads=memory,
        thread_followups=followups,
    )
    running, server = serve_adapter(adapter, commands)
    try:
        yield running
    finally:
        server.close()


_ids = iter(range(1, 1_000_000))


def send_event(app: Running, event: dict[str, Any], event_type: str = "message") -> None:
    body = {
        "token": "legacy",
        "team_id": "T1",
        "api_app_id": "A1",
        "type": "event_callback",
        "event_id": f"EvT{next(_ids)}",
        "event_time": int(time.time()),
        "event": {"type": event_type, **event},
    }
    assert app.post(json.dumps(body), "application/json").status_code == 200


def channel_message(text: str, ts: str, thread_ts: str | None = None, **extra: Any) -> dict[str, Any]:
    event = {"channel": "C1", "channel_type": "channel", "user": "U2", "text": text, "ts": ts, **extra}
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def settle(slack_api: FakeSlack, posts: int) -> None:
    """Wait for ``posts`` chat.postMessage calls, then make sure no more come."""
    if posts:
        slack_api.wait_for("chat.postMessage", posts)
    time.sleep(0.3)
    assert len(slack_api.calls_to("chat.postMessage")) == posts


def test_direct_message_is_answered_in_its_thread(app: Running, slack_api: FakeSlack) -> None:
    send_event(
        app, {"channel": "D1", "channel_type": "im", "user": "U1", "text": "what is ironwood?", "ts": "5.1"}
    )
    post = slack_api.wait_for("chat.postMessage")[0].params
    assert post["channel"] == "D1" and post["thread_ts"] == "5.1"
    ctx, text = app.commands.calls[0]
    assert text == "ask what is ironwood?"
    assert (ctx.channel_id, ctx.thread_id, ctx.user_id) == ("D1", "5.1", "U1")
    assert not slack_api.calls_to("conversations.replies")  # a new question: nothing to re-read


def test_reply_in_a_dm_thread_is_a_follow_up(app: Running, slack_api: FakeSlack, memory: Memory) -> None:
    send_event(app, {"channel": "D1", "channel_type": "im", "user": "U1", "text": "ironwood?", "ts": "5.1"})
    slack_api.wait_for("chat.postMessage")
    send_event(
        app,
        {
            "channel": "D1",
            "channel_type": "im",
            "user": "U1",
            "text": "and TPUs?",
            "ts": "5.2",
            "thread_ts": "5.1",
        },
    )
    post = slack_api.wait_for("chat.postMessage", 2)[1].params
    assert post["thread_ts"] == "5.1" and "after 2 turns" in json.dumps(post["blocks"])
    assert len(memory.thread_turns("slack:D1:5.1")) == 4


def test_mention_thread_continues_without_a_new_mention(
    app: Running, slack_api: FakeSlack, memory: Memory
) -> None:
    """A thread started by an @mention: the next reply in it is answered with the thread's
    turns as history, in that thread; a reply elsewhere is not."""
    send_event(
        app,
        {"channel": "C1", "user": "U1", "text": f"<@{BOT_USER}> what is ironwood?", "ts": "7.1"},
        "app_mention",
    )
    # Slack also sends the mention as a channel message: app_mention answers it, not this
    send_event(app, channel_message(f"<@{BOT_USER}> what is ironwood?", "7.1"))
    settle(slack_api, 1)
    send_event(app, channel_message("and how fast is it?", "7.2", thread_ts="7.1"))
    posts = slack_api.wait_for("chat.postMessage", 2)
    assert posts[1].params["thread_ts"] == "7.1"
    assert "after 2 turns" in json.dumps(posts[1].params["blocks"])
    assert [text for _, text in app.commands.calls] == ["ask what is ironwood?", "ask and how fast is it?"]
    assert app.commands.calls[1][0].thread_id == "7.1"
    send_event(app, channel_message("and its power?", "7.3", thread_ts="7.1", subtype="thread_broadcast"))
    slack_api.wait_for("chat.postMessage", 3)
    send_event(app, channel_message("unrelated chat", "8.2", thread_ts="8.1"))  # not our thread
    send_event(app, channel_message("top-level chat", "8.3"))  # not a thread at all
    settle(slack_api, 3)


def test_thread_the_bot_started_is_re_read(app: Running, slack_api: FakeSlack, memory: Memory) -> None:
    """A reply under a message the bot posted (a briefing) is a follow-up: the thread is
    re-read with conversations.replies and its earlier messages become history."""
    parent = slack_api.answer(
        "chat.postMessage", {"channel": "C1", "text": "AI infrastructure briefing"}, TOKEN
    )[2]
    ts = parent["ts"]
    slack_api.add_message("C1", "U3", f"<@{BOT_USER}> nice, thanks", thread_ts=ts)
    current = slack_api.add_message("C1", "U2", "who supplies the HBM?", thread_ts=ts)
    send_event(app, channel_message("who supplies the HBM?", current, thread_ts=ts))
    post = slack_api.wait_for("chat.postMessage", 2)[1].params
    assert post["thread_ts"] == ts
    replies = slack_api.calls_to("conversations.replies")[0].params
    assert replies["channel"] == "C1" and replies["ts"] == ts
    history = memory.thread_turns(thread_key("C1", ts))
    assert [(t.role, t.text) for t in history[:2]] == [
        ("bot", "AI infrastructure briefing"),
        ("user", "nice, thanks"),
    ]
    assert "after 2 turns" in json.dumps(post["blocks"])


def test_mention_inside_a_persons_thread_re_reads_it(
    app: Running, slack_api: FakeSlack, memory: Memory
) -> None:
    """An @mention in a thread of people talking (the bot never posted there): the thread's
    earlier messages are re-read and become the question's history."""
    parent = slack_api.add_message("C1", "U3", "Amazon is putting more money into Anthropic")
    slack_api.add_message("C1", "U2", "again?", thread_ts=parent)
    current = slack_api.add_message("C1", "U2", f"<@{BOT_USER}> how much?", thread_ts=parent)
    send_event(
        app,
        {
            "channel": "C1",
            "user": "U2",
            "text": f"<@{BOT_USER}> how much?",
            "ts": current,
            "thread_ts": parent,
        },
        "app_mention",
    )
    post = slack_api.wait_for("chat.postMessage")[0].params
    assert post["thread_ts"] == parent and "after 2 turns" in json.dumps(post["blocks"])
    assert slack_api.calls_to("conversations.replies")[0].params["ts"] == parent
    history = memory.thread_turns(thread_key("C1", parent))
    assert [(t.role, t.text) for t in history[:2]] == [
        ("user", "Amazon is putting more money into Anthropic"),
        ("user", "again?"),
    ]


def test_a_direct_message_that_mentions_the_bot_is_answered(app: Running, slack_api: FakeSlack) -> None:
    """Slack sends no app_mention in a direct message, so "@briefbot ..." there is a question too."""
    event = {
        "channel": "D1",
        "channel_type": "im",
        "user": "U1",
        "text": f"<@{BOT_USER}> ironwood?",
        "ts": "6.1",
    }
    send_event(app, event)
    post = slack_api.wait_for("chat.postMessage")[0].params
    assert post["channel"] == "D1" and post["thread_ts"] == "6.1"
    assert [text for _, text in app.commands.calls] == ["ask ironwood?"]


def test_thread_of_someone_else_is_ignored(app: Running, slack_api: FakeSlack) -> None:
    """A thread the bot never posted in is not a follow-up; it is re-read only once."""
    parent = slack_api.add_message("C1", "U3", "lunch?")
    reply = slack_api.add_message("C1", "U2", "sure", thread_ts=parent)
    send_event(app, channel_message("sure", reply, thread_ts=parent))
    slack_api.wait_for("conversations.replies")
    more = slack_api.add_message("C1", "U3", "12:30?", thread_ts=parent)
    send_event(app, channel_message("12:30?", more, thread_ts=parent))
    settle(slack_api, 0)
    assert app.commands.calls == []
    assert len(slack_api.calls_to("conversations.replies")) == 1


def test_thread_the_bot_replied_in_counts_without_memory(
    app: Running, slack_api: FakeSlack, memory: Memory
) -> None:
    """A person's thread the bot has posted in (its turns lost, say) is a follow-up too:
    the re-read thread becomes the history, the bot's posts as its turns."""
    parent = slack_api.add_message("C1", "U3", "what did AMD sign?")
    slack_api.answer("chat.postMessage", {"channel": "C1", "thread_ts": parent, "text": "A 6 GW deal"}, TOKEN)
    current = slack_api.add_message("C1", "U3", "with whom?", thread_ts=parent)
    send_event(app, channel_message("with whom?", current, thread_ts=parent))
    post = slack_api.wait_for("chat.postMessage", 2)[1].params
    assert post["thread_ts"] == parent and "after 2 turns" in json.dumps(post["blocks"])
    roles = [(t.role, t.text) for t in memory.thread_turns(thread_key("C1", parent))[:2]]
    assert roles == [("user", "what did AMD sign?"), ("bot", "A 6 GW deal")]


@pytest.mark.parametrize(
    "extra",
    [
        {"bot_id": BOT_ID, "user": BOT_USER},  # the bot's own answer
        {"bot_id": "BOTHER", "user": "UOTHERBOT"},  # another bot
        {"subtype": "message_changed"},  # an edit
        {"subtype": "message_deleted"},
    ],
)
def test_bot_messages_and_edits_are_ignored(
    app: Running, slack_api: FakeSlack, memory: Memory, extra: dict[str, Any]
) -> None:
    memory.add_turns("slack:C1:9.1", [Turn("user", "q", (), datetime.now(UTC))])
    send_event(app, channel_message("more", "9.2", thread_ts="9.1", **extra))
    send_event(app, {"channel": "D1", "channel_type": "im", "user": "U1", "text": "hi", "ts": "9.3", **extra})
    settle(slack_api, 0)
    assert app.commands.calls == []


@pytest.mark.parametrize("followups", [False])
def test_follow_ups_can_be_turned_off(app: Running, slack_api: FakeSlack, memory: Memory) -> None:
    """With BRIEFBOT_SLACK_THREAD_FOLLOWUPS=false a channel thread needs a mention again
    (direct messages are still answered)."""
    memory.add_turns("slack:C1:9.1", [Turn("user", "q", (), datetime.now(UTC))])
    send_event(app, channel_message("more", "9.2", thread_ts="9.1"))
    settle(slack_api, 0)
    send_event(app, {"channel": "D1", "channel_type": "im", "user": "U1", "text": "hi", "ts": "9.3"})
    settle(slack_api, 1)


def test_follow_up_with_the_sql_thread_store(slack_api: FakeSlack, store: SqlStore) -> None:
    """The real thread_turns table as memory: a mention's turns make the next reply a follow-up."""
    commands = asking(store)
    adapter = SlackAdapter(commands, token=TOKEN, signing_secret=SECRET, api_url=slack_api.url, threads=store)
    app, server = serve_adapter(adapter, commands)
    try:
        send_event(
            app,
            {"channel": "C1", "user": "U1", "text": f"<@{BOT_USER}> ironwood?", "ts": "3.1"},
            "app_mention",
        )
        slack_api.wait_for("chat.postMessage")
        send_event(app, channel_message("and AMD?", "3.2", thread_ts="3.1"))
        post = slack_api.wait_for("chat.postMessage", 2)[1].params
        assert post["thread_ts"] == "3.1" and "after 2 turns" in json.dumps(post["blocks"])
        assert len(store.thread_turns("slack:C1:3.1")) == 4
    finally:
        server.close()


def test_run_wires_thread_memory_and_the_follow_up_setting(slack_api: FakeSlack) -> None:
    """briefbot run's adapter gets the Asker's thread memory and BRIEFBOT_SLACK_THREAD_FOLLOWUPS."""
    from types import SimpleNamespace
    from typing import cast

    from bot.config import Settings
    from bot.core.service import Service
    from bot.runtime.slack import slack_adapter

    assert Settings.load({}).slack_thread_followups is True
    settings = Settings.load(
        {
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_SIGNING_SECRET": SECRET,
            "BRIEFBOT_SLACK_API_URL": slack_api.url,
            "BRIEFBOT_SLACK_THREAD_FOLLOWUPS": "false",
        }
    )
    memory = Memory()
    service = cast(Service, SimpleNamespace(asker=SimpleNamespace(threads=memory)))
    adapter = slack_adapter(service, settings)
    assert adapter.threads is memory and adapter.thread_followups is False


class BrokenMemory:
    """A thread store whose database is down."""

    def thread_turns(self, thread_id: str, limit: int = 20) -> list[Turn]:
        raise OSError("database unreachable")

    def add_turns(self, thread_id: str, turns: Sequence[Turn]) -> None:
        raise OSError("database unreachable")


def test_an_unreachable_thread_memory_still_answers_dms_and_leaves_threads_alone(
    slack_api: FakeSlack,
) -> None:
    """The thread memory down: a direct message and a mention are still answered (the
    command layer answers them); a reply in some channel thread is not taken for ours."""
    commands = FakeCommands()
    adapter = SlackAdapter(
        commands, token=TOKEN, signing_secret=SECRET, api_url=slack_api.url, threads=BrokenMemory()
    )
    app, server = serve_adapter(adapter, commands)
    try:
        dm = {"channel": "D1", "channel_type": "im", "user": "U1", "text": "ironwood?"}
        send_event(app, {**dm, "ts": "4.2", "thread_ts": "4.1"})
        mention = {"channel": "C1", "user": "U1", "text": f"<@{BOT_USER}> ironwood?"}
        send_event(app, {**mention, "ts": "4.4", "thread_ts": "4.3"}, "app_mention")
        settle(slack_api, 2)
        send_event(app, channel_message("lunch?", "4.6", thread_ts="4.5"))
        settle(slack_api, 2)
        assert [text for _, text in commands.calls] == ["ask ironwood?", "ask ironwood?"]
    finally:
        server.close()
