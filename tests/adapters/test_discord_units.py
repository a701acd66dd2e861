"""Unit tests of the Discord adapter's pieces: discord.py Interaction objects built from raw
payloads (the command layer's context, Manage Server as platform admin), the option-to-text
mapping of the slash commands, autocomplete choices, custom ids within Discord's 100
characters, and replies turned into messages (errors one inert line, text links only to
stored URLs)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import discord
import pytest

from bot.adapters.discord.client import BriefbotClient
from bot.adapters.discord.components import CUSTOM_ID_LIMIT, button_rows, parse_vote, subscribe_id, vote_id
from bot.adapters.discord.questions import question_text, thread_key
from bot.adapters.discord.render import text_embed
from bot.adapters.discord.replies import context_of, is_manager, reply_messages
from bot.adapters.discord.slash import interest_text, matching, split_choice
from bot.core.commands import CommandContext, Reply
from tests.adapters.test_discord_render import HOSTILE, PING, linked_urls
from tests.support.discord_gateway import (
    CHANNEL_ID,
    EVERYONE_PERMISSIONS,
    MANAGE_GUILD,
    USER_ID,
    bot_user,
    interaction_payload,
    thread_payload,
)
from tests.support.discord_server import BOT_USER_ID


@pytest.fixture
def state() -> Iterator[Any]:
    """A client's connection state (logged in as the bot) to build discord.py objects with."""

    async def make() -> BriefbotClient:
        return BriefbotClient(object())  # type: ignore[arg-type]

    client = asyncio.run(make())
    client._connection.user = discord.ClientUser(state=client._connection, data=bot_user())  # type: ignore[arg-type]
    yield client._connection
    asyncio.run(client.close())


def interaction(state: Any, payload: dict[str, Any]) -> discord.Interaction[Any]:
    return discord.Interaction(data=payload, state=state)  # type: ignore[arg-type]


def test_the_context_of_a_guild_channel_a_thread_and_a_dm(state: Any) -> None:
    manager = interaction(
        state, interaction_payload("schedule", permissions=EVERYONE_PERMISSIONS | MANAGE_GUILD)
    )
    assert context_of(manager, admin=is_manager(manager)) == CommandContext(
        "discord", USER_ID, CHANNEL_ID, None, is_platform_admin=True
    )
    member = interaction(state, interaction_payload("schedule"))
    assert not is_manager(member)
    in_thread = interaction_payload("ask", channel_id="77")
    in_thread["channel"] = thread_payload("77")
    assert context_of(interaction(state, in_thread)) == CommandContext("discord", USER_ID, CHANNEL_ID, "77")
    dm = interaction(state, interaction_payload("ask", guild_id=None, channel_id="88"))
    assert context_of(dm) == CommandContext("discord", USER_ID, "88", None)
    assert not is_manager(dm)


def test_options_become_the_command_layers_text() -> None:
    assert interest_text("subscribe", "company:Amazon", None) == 'subscribe company "Amazon"'
    assert interest_text("subscribe", "liquid cooling", "keyword") == 'subscribe keyword "liquid cooling"'
    assert interest_text("subscribe", 'say "hi"', "keyword") == 'subscribe keyword "say hi"'
    assert interest_text("unsubscribe", "chips", None) == "unsubscribe chips"
    assert split_choice("topic:chips", None) == ("topic", "chips")
    assert split_choice("https://x.example/feed", None) == (None, "https://x.example/feed")


def test_autocomplete_prefers_prefixes_and_keeps_the_kind() -> None:
    names = [("company", "Amazon"), ("chip", "Trainium"), ("company", "Samsung"), ("topic", "chips")]
    choices = matching(names, "am")
    assert [c.value for c in choices] == ["company:Amazon", "company:Samsung"]
    assert choices[0].name == "Amazon (company)"
    many = [("company", f"Co{n}") for n in range(60)]
    assert len(matching(many, "co")) == 25


def test_custom_ids_fit_and_parse_back() -> None:
    key = "digest:discord:123456789012345678:2026-11-26T09:00+01:00"
    assert parse_vote(vote_id("up", key)) == (1, key)
    assert parse_vote(vote_id("down", key)) == (-1, key)
    long = "x" * 200
    hashed = vote_id("up", long)
    assert len(hashed) <= CUSTOM_ID_LIMIT and parse_vote(hashed) is not None
    assert subscribe_id("x" * 120) is None
    rows = button_rows(key, topics=["chips", "chips", "cloud", "power", "funding"], followup=True)
    assert [len(r["components"]) for r in rows] == [5, 1]  # Discord's five buttons a row
    ids = [c["custom_id"] for r in rows for c in r["components"]]
    assert (
        ids[2:5] == ["briefbot:sub:chips", "briefbot:sub:cloud", "briefbot:sub:power"]
        and ids[5] == "briefbot:ask"
    )
    assert button_rows(None) == []


def test_replies_become_inert_messages() -> None:
    [error] = reply_messages(Reply(f"unknown topic {HOSTILE}\nsecond line", error=True, ephemeral=True))
    assert error.content is not None and "\n" not in error.content and not PING.search(error.content)
    assert not error.embeds and not error.buttons
    text = "1. Story (2 outlets)\n   https://stored.example/a\nsee https://evil.example/x"
    embed = text_embed(text)
    assert linked_urls([embed["description"]]) == ["https://stored.example/a"]
    [plain] = reply_messages(Reply(HOSTILE))
    assert not PING.search(str(plain.embeds)) and not plain.buttons


def test_questions_lose_the_bots_mention_and_key_by_thread() -> None:
    assert question_text(f"<@{BOT_USER_ID}> how much?  <@!{BOT_USER_ID}>", int(BOT_USER_ID)) == "how much?"
    assert thread_key("1", "2") == "discord:1:2" and thread_key("9", None) == "discord:9"
