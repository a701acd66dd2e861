"""Questions in messages: mentions, replies to the bot, follow-ups in the bot's threads, DMs.

- In a guild text channel, a message mentioning the bot or replying to one of its messages
  is a question: a thread is started from it and the answer goes there (where no thread can
  be started, the answer replies in the channel).
- In a thread the bot started (its ``owner_id`` is the bot: threads it made for answers and
  briefings), every message is a follow-up, no mention needed, unless an admin turned that
  off for the parent channel (``/briefbot text:followups off``; ``default`` or never set:
  on); in other threads only a mention or a reply to the bot counts.
- In a DM every message is a question, answered inline.

The question goes through the command layer's ``/ask`` with the thread as context, so the
Asker's thread memory key is ``discord:<channel>:<thread>`` (``discord:<dm channel>`` in a
DM). A thread with no stored turns is re-read first (its starter message and the newest
``HISTORY_LIMIT`` messages) and seeds that memory, as the Slack adapter does. Bots'
messages (this one's included), system messages and empty questions are ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import discord
from discord.ext import commands

from bot.adapters.discord.replies import send_reply, start_thread
from bot.adapters.ports import ThreadMemory
from bot.core.ask import Turn
from bot.core.commands import CommandContext

if TYPE_CHECKING:
    from bot.adapters.discord.client import BriefbotClient

log = logging.getLogger(__name__)

PLATFORM = "discord"
HISTORY_LIMIT = 50
MAX_TURN_CHARS = 2000
QUESTION_TYPES = (discord.MessageType.default, discord.MessageType.reply)


def thread_key(channel_id: str, thread_id: str | None) -> str:
    """The command layer's memory key for a conversation: ``discord:<channel>[:<thread>]``."""
    return f"{PLATFORM}:{channel_id}:{thread_id}" if thread_id else f"{PLATFORM}:{channel_id}"


def question_text(content: str, bot_id: int) -> str:
    """The message without the bot's mentions (``<@id>``, ``<@!id>``), on one line."""
    return " ".join(re.sub(rf"<@!?{bot_id}>", " ", content).split())


def message_text(message: discord.Message, bot_id: int) -> str:
    """What a message said, for thread memory: its text, else its first embed's title and
    description (the bot's answers are embeds)."""
    text = question_text(message.content or "", bot_id)
    if not text and message.embeds:
        embed = message.embeds[0]
        text = " ".join(f"{embed.title or ''} {embed.description or ''}".split())
    return text[:MAX_TURN_CHARS]


def when_sent(message: discord.Message) -> datetime:
    """When ``message`` was sent, in UTC."""
    return message.created_at.astimezone(UTC) if message.created_at else datetime.now(UTC)


class Questions(commands.Cog):
    """Answers questions in messages (see the module docstring)."""

    def __init__(self, client: BriefbotClient) -> None:
        self.client = client

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        me = self.client.user
        if me is None or message.author.bot or message.author.id == me.id:
            return
        if message.type not in QUESTION_TYPES:
            return
        try:
            await self.answer(message, me.id)
        except discord.HTTPException as exc:
            log.warning("answer to %s in %s failed: %s", message.id, message.channel.id, exc)

    async def answer(self, message: discord.Message, bot_id: int) -> None:
        """Answer ``message`` when it is a question for the bot (see the module docstring)."""
        channel = message.channel
        mentioned = any(u.id == bot_id for u in message.mentions)
        replied = self._replied_bot_message(message, bot_id)
        seed: list[Turn] = []
        if isinstance(channel, discord.DMChannel):
            where: discord.abc.Messageable = channel
            channel_id, thread_id = str(channel.id), None
        elif isinstance(channel, discord.Thread):
            if not (mentioned or replied is not None or await self._follow_up(channel, bot_id)):
                return
            where, channel_id, thread_id = channel, str(channel.parent_id), str(channel.id)
        elif isinstance(channel, discord.TextChannel):
            if not (mentioned or replied is not None):
                return
            question = question_text(message.content, bot_id)
            thread = await start_thread(channel, message, question or "briefbot")
            where = thread or channel
            channel_id, thread_id = str(channel.id), str(thread.id) if thread else None
            if replied is not None:
                seed = [Turn("bot", message_text(replied, bot_id), (), when_sent(replied))]
        else:
            return
        question = question_text(message.content, bot_id)
        key = thread_key(channel_id, thread_id)
        await self._seed(key, where, message, bot_id, seed)
        ctx = CommandContext(PLATFORM, str(message.author.id), channel_id, thread_id)
        reply = await asyncio.to_thread(
            self.client.command_layer.handle, ctx, f"ask {question}" if question else "help"
        )
        answer_key = f"answer:{PLATFORM}:{channel_id}:{message.id}"
        await send_reply(where, reply, key=answer_key)

    async def _follow_up(self, thread: discord.Thread, bot_id: int) -> bool:
        """Whether a message in ``thread`` is a follow-up without a mention: the bot started
        the thread and its channel's ``/followups`` is not off."""
        if thread.owner_id != bot_id:
            return False
        setting = await asyncio.to_thread(
            self.client.service.thread_followups, PLATFORM, str(thread.parent_id)
        )
        return setting is not False

    def _replied_bot_message(self, message: discord.Message, bot_id: int) -> discord.Message | None:
        """The bot's message this one replies to, or None."""
        ref = message.reference
        resolved = ref.resolved if ref is not None else None
        if isinstance(resolved, discord.Message) and resolved.author.id == bot_id:
            return resolved
        return None

    async def _seed(
        self, key: str, where: Any, current: discord.Message, bot_id: int, seed: list[Turn]
    ) -> None:
        await seed_memory(self.client.threads, key, where, current, bot_id, seed)


async def seed_memory(
    threads: ThreadMemory | None,
    key: str,
    where: Any,
    current: discord.Message,
    bot_id: int,
    seed: list[Turn],
) -> None:
    """Store ``seed`` and the thread's earlier messages (when ``where`` is a thread other than
    the one ``current`` starts) as the turns of ``key`` when its memory is empty."""
    if threads is None:
        return
    stored = await asyncio.to_thread(threads.thread_turns, key)
    if stored:
        return
    turns = list(seed)
    if isinstance(where, discord.Thread) and where.id != current.id:
        turns += await _thread_turns(where, current, bot_id)
    turns = [t for t in turns if t.text]
    if turns:
        await asyncio.to_thread(threads.add_turns, key, turns)


async def _thread_turns(thread: discord.Thread, current: discord.Message, bot_id: int) -> list[Turn]:
    """The thread's starter message (in the parent) and its messages before ``current``."""
    messages: list[discord.Message] = []
    parent = thread.parent
    if isinstance(parent, discord.TextChannel):
        # a thread not started from a message, or whose starter was deleted, has none
        with contextlib.suppress(discord.HTTPException):
            messages.append(await parent.fetch_message(thread.id))
    try:
        async for m in thread.history(limit=HISTORY_LIMIT, before=current, oldest_first=True):
            messages.append(m)
    except discord.HTTPException as exc:
        log.info("history of thread %s not read: %s", thread.id, exc)
    return [
        Turn("bot" if m.author.id == bot_id else "user", message_text(m, bot_id), (), when_sent(m))
        for m in messages
        if m.id != current.id and m.type in QUESTION_TYPES
    ]
