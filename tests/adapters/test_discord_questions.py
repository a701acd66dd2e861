"""Questions in messages over the fake gateway: a mention starts a thread answered there, the
bot's threads take follow-ups without a mention (their history seeding the thread memory),
replies to the bot count as questions, DMs are answered inline, and other chatter is left
alone."""

from __future__ import annotations

import asyncio
from typing import Any

from bot.core.ask import Turn
from bot.runtime.wiring import App
from tests.adapters.test_discord_commands import command, run_command
from tests.runtime.test_scheduler import START
from tests.support.discord_gateway import (
    CHANNEL_ID,
    EVERYONE_PERMISSIONS,
    MANAGE_GUILD,
    USER_ID,
    FakeGateway,
    connected,
    message_payload,
    thread_payload,
    until,
)
from tests.support.discord_gateway import _restore_discord_globals as _restore_discord_globals
from tests.support.discord_gateway import app as app
from tests.support.discord_server import BOT_USER_ID, FakeDiscord, Request
from tests.support.discord_server import discord_api as discord_api

QUESTION = "how many chips do Ironwood pods scale to?"


def posts_in(api: FakeDiscord, channel: str) -> list[Request]:
    return [r for r in api.requests_to("create_message") if r.path == f"/channels/{channel}/messages"]


async def say(api: FakeDiscord, gateway: FakeGateway, payload: dict[str, Any]) -> None:
    api.add_message(payload)
    await gateway.dispatch("MESSAGE_CREATE", payload)


def test_a_mention_is_answered_in_a_new_thread(app: App, discord_api: FakeDiscord) -> None:
    mid = "600000000000000001"

    async def flow() -> list[Request]:
        async with connected(app, discord_api) as gateway:
            await say(
                discord_api,
                gateway,
                message_payload(mid, f"<@{BOT_USER_ID}> {QUESTION}", mentions=[BOT_USER_ID]),
            )
            return await until(lambda: posts_in(discord_api, mid), what="the answer in the thread")

    [answer] = asyncio.run(flow())
    [thread] = discord_api.requests_to("start_thread")
    assert thread.path == f"/channels/{CHANNEL_ID}/messages/{mid}/threads"
    assert QUESTION in thread.body["name"]
    assert answer.body["allowed_mentions"] == {"parse": []}
    assert "9,216" in answer.body["embeds"][0]["description"]
    assert answer.body["components"]  # 👍/👎 and "Ask a follow-up"
    assert not posts_in(discord_api, CHANNEL_ID)  # nothing in the channel itself
    turns = app.store.thread_turns(f"discord:{CHANNEL_ID}:{mid}")
    assert [t.role for t in turns] == ["user", "bot"]


def test_follow_ups_in_the_bots_thread_need_no_mention_and_read_its_history(
    app: App, discord_api: FakeDiscord
) -> None:
    thread_id = "600000000000000100"
    discord_api.messages[thread_id] = [
        message_payload(
            "600000000000000101",
            "Earlier: Anthropic plans to use a million TPUs",
            channel_id=thread_id,
            author_id=BOT_USER_ID,
        ),
    ]

    async def flow() -> list[Request]:
        async with connected(app, discord_api) as gateway:
            await gateway.dispatch("THREAD_CREATE", thread_payload(thread_id) | {"newly_created": True})
            await say(
                discord_api, gateway, message_payload("600000000000000102", QUESTION, channel_id=thread_id)
            )
            return await until(lambda: posts_in(discord_api, thread_id), what="the follow-up answer")

    [answer] = asyncio.run(flow())
    assert "9,216" in answer.body["embeds"][0]["description"]
    turns = app.store.thread_turns(f"discord:{CHANNEL_ID}:{thread_id}")
    assert turns[0].role == "bot" and "million TPUs" in turns[0].text  # the seeded history
    assert any(t.role == "user" and "Ironwood" in t.text for t in turns)


def test_followups_off_in_the_channel_means_a_mention_is_needed_in_the_bots_threads(
    app: App, discord_api: FakeDiscord
) -> None:
    thread_id = "600000000000000150"

    async def flow() -> list[Request]:
        async with connected(app, discord_api) as gateway:
            for n, text in enumerate(("followups", "followups off"), 1):
                admin = EVERYONE_PERMISSIONS | MANAGE_GUILD
                payload = command(discord_api, "briefbot", {"text": text}, n=n, permissions=admin)
                [said] = await run_command(discord_api, gateway, payload)
                assert ("default, on" if n == 1 else "off") in str(said.body["embeds"])
            await gateway.dispatch("THREAD_CREATE", thread_payload(thread_id) | {"newly_created": True})
            plain = message_payload("600000000000000151", QUESTION, channel_id=thread_id)
            await say(discord_api, gateway, plain)
            await asyncio.sleep(0.5)
            assert not posts_in(discord_api, thread_id)  # no mention: left alone
            mention = message_payload(
                "600000000000000152",
                f"<@{BOT_USER_ID}> {QUESTION}",
                channel_id=thread_id,
                mentions=[BOT_USER_ID],
            )
            await say(discord_api, gateway, mention)
            return await until(lambda: posts_in(discord_api, thread_id), what="the answer to the mention")

    [answer] = asyncio.run(flow())
    assert "9,216" in answer.body["embeds"][0]["description"]


def test_stored_turns_are_not_seeded_twice(app: App, discord_api: FakeDiscord) -> None:
    thread_id = "600000000000000200"
    key = f"discord:{CHANNEL_ID}:{thread_id}"
    app.store.add_turns(key, [Turn("user", "what about Ironwood?", ("Ironwood",), START)])

    async def flow() -> None:
        async with connected(app, discord_api) as gateway:
            await gateway.dispatch("THREAD_CREATE", thread_payload(thread_id) | {"newly_created": True})
            await say(
                discord_api, gateway, message_payload("600000000000000201", QUESTION, channel_id=thread_id)
            )
            await until(lambda: posts_in(discord_api, thread_id), what="the answer")

    asyncio.run(flow())
    assert not discord_api.requests_to("get_messages")


def test_chatter_is_left_alone(app: App, discord_api: FakeDiscord) -> None:
    """No mention in a channel, someone else's thread, a bot, the bot itself: no answer."""
    foreign = "600000000000000300"

    async def flow() -> None:
        async with connected(app, discord_api) as gateway:
            await gateway.dispatch(
                "THREAD_CREATE", thread_payload(foreign, owner_id=USER_ID) | {"newly_created": True}
            )
            await say(discord_api, gateway, message_payload("600000000000000301", QUESTION))
            await say(
                discord_api, gateway, message_payload("600000000000000302", QUESTION, channel_id=foreign)
            )
            await say(
                discord_api,
                gateway,
                message_payload(
                    "600000000000000303",
                    f"<@{BOT_USER_ID}> {QUESTION}",
                    author_id="555",
                    bot=True,
                    mentions=[BOT_USER_ID],
                ),
            )
            await say(
                discord_api, gateway, message_payload("600000000000000304", QUESTION, author_id=BOT_USER_ID)
            )
            await asyncio.sleep(0.5)

    asyncio.run(flow())
    assert not discord_api.requests_to("create_message") and not discord_api.requests_to("start_thread")


def test_a_reply_to_the_bot_is_a_question_with_its_message_as_context(
    app: App, discord_api: FakeDiscord
) -> None:
    mine = message_payload("600000000000000400", "", author_id=BOT_USER_ID)
    mine["embeds"] = [
        {"type": "rich", "title": "Anthropic and Google", "description": "Anthropic will use TPUs."}
    ]
    mid = "600000000000000401"

    async def flow() -> list[Request]:
        async with connected(app, discord_api) as gateway:
            await say(discord_api, gateway, message_payload(mid, QUESTION, reference=mine))
            return await until(lambda: posts_in(discord_api, mid), what="the answer in the thread")

    [answer] = asyncio.run(flow())
    assert "9,216" in answer.body["embeds"][0]["description"]
    turns = app.store.thread_turns(f"discord:{CHANNEL_ID}:{mid}")
    assert turns[0].role == "bot" and "Anthropic will use TPUs" in turns[0].text


def test_a_direct_message_is_answered_inline(app: App, discord_api: FakeDiscord) -> None:
    dm = "600000000000000500"

    async def flow() -> list[Request]:
        async with connected(app, discord_api) as gateway:
            await say(
                discord_api,
                gateway,
                message_payload("600000000000000501", QUESTION, channel_id=dm, guild_id=None),
            )
            return await until(lambda: posts_in(discord_api, dm), what="the DM answer")

    [answer] = asyncio.run(flow())
    assert "9,216" in answer.body["embeds"][0]["description"]
    assert not discord_api.requests_to("start_thread")
    assert app.store.thread_turns(f"discord:{dm}")
