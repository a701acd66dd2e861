"""The buttons (persistent across restarts) and the "Ask a follow-up" modal.

- :class:`VoteButton` (👍/👎) and :class:`SubscribeButton` are ``discord.ui.DynamicItem`` s:
  the custom id (see :mod:`bot.adapters.discord.components`) carries the key or topic, so a
  click on a message posted before a restart, or by the REST publisher, still reaches them
  once ``client.add_dynamic_items`` has registered them (``BriefbotClient.setup_hook``).
- :class:`FollowUpView` holds the fixed-id "Ask a follow-up" button; it is registered with
  ``client.add_view`` at start (``timeout=None``), so it answers for any message. The
  modal's question is answered in the thread it was clicked in; clicked on a message in a
  channel (a ``/ask`` answer), in the thread started from that message, whose memory begins
  with it; in a DM, inline.
- :func:`reply_view` builds the view a message is sent with.

Votes go to the client's feedback recorder (``SqlStore.record_feedback``: one vote per
person and key); confirmations and errors are ephemeral one-liners.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import discord

from bot.adapters.discord.components import (
    ASK_FOLLOWUP,
    BUTTON_PRIMARY,
    BUTTON_SECONDARY,
    BUTTON_SUCCESS,
    MAX_TOPIC_BUTTONS,
    SUBSCRIBE_TEMPLATE,
    VOTE_TEMPLATE,
    subscribe_id,
    vote_id,
)
from bot.adapters.discord.render import error_line
from bot.core.ask import Turn
from bot.core.commands import Reply

if TYPE_CHECKING:
    from bot.adapters.discord.client import BriefbotClient

log = logging.getLogger(__name__)

PLATFORM = "discord"
FOLLOWUP_MODAL = "briefbot:followup_modal"
MAX_QUESTION_CHARS = 500


def _client(interaction: discord.Interaction[Any]) -> BriefbotClient:
    return interaction.client  # type: ignore[no-any-return]


async def tell(interaction: discord.Interaction[Any], text: str) -> None:
    """An ephemeral one-line answer to a click (a response, or a follow-up after one)."""
    line = error_line(text)
    none = discord.AllowedMentions.none()
    if interaction.response.is_done():
        await interaction.followup.send(line, ephemeral=True, allowed_mentions=none)
    else:
        await interaction.response.send_message(line, ephemeral=True, allowed_mentions=none)


def log_failure(what: str, error: BaseException) -> None:
    """Log why ``what`` failed: Discord refusing a call (an outage, a rate limit outlasting
    discord.py's retries, an expired interaction) in one line, anything else, a bug, with
    its traceback."""
    original = getattr(error, "original", None) or error
    if isinstance(original, discord.HTTPException):
        text = " ".join(str(original.text or original).split())[:200]
        log.warning("%s failed: Discord answered HTTP %s: %s", what, original.status, text)
    else:
        log.error("%s failed: %s", what, error, exc_info=error)


class VoteButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=VOTE_TEMPLATE):
    """👍 or 👎 on a briefing, a digest or an answer: stored as a vote on its key."""

    def __init__(self, vote: str, key: str) -> None:
        up = vote == "up"
        super().__init__(
            discord.ui.Button(
                label="Useful" if up else "Not useful",
                emoji="👍" if up else "👎",
                style=discord.ButtonStyle(BUTTON_SUCCESS if up else BUTTON_SECONDARY),
                custom_id=vote_id(vote, key),
            )
        )
        self.vote, self.key = vote, key

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> VoteButton:
        return cls(match["vote"], match["key"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        client = _client(interaction)
        up = self.vote == "up"
        if client.feedback is not None:
            try:
                await asyncio.to_thread(
                    client.feedback.record_feedback,
                    PLATFORM,
                    str(interaction.user.id),
                    self.key,
                    1 if up else -1,
                    datetime.now(UTC),
                )
            except Exception:  # a store failure is logged; the person gets one line
                log.exception("feedback from %s on %s not stored", interaction.user.id, self.key)
                await tell(interaction, "Sorry, your feedback could not be saved.")
                return
        await tell(interaction, "Thanks, noted 👍" if up else "Thanks, noted 👎: we'll do better.")


class SubscribeButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=SUBSCRIBE_TEMPLATE):
    """ "Subscribe: <topic>": the command layer's ``/subscribe topic`` for whoever clicks."""

    def __init__(self, topic: str) -> None:
        super().__init__(
            discord.ui.Button(
                label=f"Subscribe: {topic}"[:80],
                style=discord.ButtonStyle(BUTTON_PRIMARY),
                custom_id=subscribe_id(topic) or "briefbot:sub:-",
            )
        )
        self.topic = topic

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> SubscribeButton:
        return cls(match["topic"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        from bot.adapters.discord.replies import context_of  # replies imports this module

        client = _client(interaction)
        ctx = context_of(interaction)
        reply = await asyncio.to_thread(client.command_layer.handle, ctx, f"subscribe topic {self.topic}")
        await tell(interaction, reply.text)


class FollowUpModal(discord.ui.Modal, title="Ask a follow-up"):
    """One question field; the answer goes to the thread the button was clicked in."""

    question: discord.ui.TextInput[FollowUpModal] = discord.ui.TextInput(
        label="Your question",
        custom_id="question",
        style=discord.TextStyle.paragraph,
        max_length=MAX_QUESTION_CHARS,
        placeholder="and how much did AMD put in?",
    )

    def __init__(self) -> None:
        super().__init__(timeout=600, custom_id=FOLLOWUP_MODAL)

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        from bot.adapters.discord.replies import context_of, send_reply

        question = " ".join(str(self.question.value or "").split())[:MAX_QUESTION_CHARS]
        if not question:
            await tell(interaction, "Type a question first.")
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        client = _client(interaction)
        ctx = context_of(interaction)
        channel: Any = interaction.channel
        thread = await _thread_of_click(interaction, question)
        if thread is not None:  # clicked in a channel: the thread from the clicked message
            channel, ctx = thread, replace(ctx, thread_id=str(thread.id))
        reply = await asyncio.to_thread(client.command_layer.handle, ctx, f"ask {question}")
        if channel is None or not isinstance(channel, discord.abc.Messageable):
            await tell(interaction, reply.text)
            return
        key = f"answer:{PLATFORM}:{ctx.channel_id}:{interaction.id}"
        await send_reply(channel, Reply(f"Follow-up from a reader: {question}"))
        await send_reply(channel, reply, key=key)
        await tell(interaction, "Answered in the thread." if ctx.thread_id else "Answered below.")

    async def on_error(self, interaction: discord.Interaction[Any], error: Exception) -> None:  # type: ignore[override]
        log_failure("follow-up", error)
        try:
            await tell(interaction, "Sorry, that follow-up failed on our side; the error is logged.")
        except discord.HTTPException as exc:
            log.warning("could not report the failed follow-up %s: %s", interaction.id, exc)


async def _thread_of_click(interaction: discord.Interaction[Any], name: str) -> discord.Thread | None:
    """For a click on a message in a guild text channel: the thread started from that message
    (started now, or found when it already has one), its memory seeded with the message;
    None elsewhere (threads, DMs) or when no thread can be had (the answer goes below)."""
    from bot.adapters.discord.questions import message_text, seed_memory, thread_key, when_sent
    from bot.adapters.discord.replies import start_thread

    channel, clicked, me = interaction.channel, interaction.message, interaction.client.user
    if not isinstance(channel, discord.TextChannel) or clicked is None or me is None:
        return None
    thread = channel.guild.get_thread(clicked.id) or await start_thread(channel, clicked, name)
    if thread is None:  # Discord refused; perhaps someone started it a moment ago
        try:
            found = await interaction.client.fetch_channel(clicked.id)
        except discord.HTTPException:
            return None
        thread = found if isinstance(found, discord.Thread) else None
    if thread is not None:
        seed = [Turn("bot", message_text(clicked, me.id), (), when_sent(clicked))]
        key = thread_key(str(channel.id), str(thread.id))
        await seed_memory(_client(interaction).threads, key, thread, clicked, me.id, seed)
    return thread


class FollowUpView(discord.ui.View):
    """The persistent view of the fixed-id "Ask a follow-up" button (``client.add_view``)."""

    def __init__(self) -> None:
        super().__init__(timeout=None)

    @discord.ui.button(label="Ask a follow-up", style=discord.ButtonStyle.secondary, custom_id=ASK_FOLLOWUP)
    async def ask(self, interaction: discord.Interaction[Any], button: discord.ui.Button[Any]) -> None:
        await interaction.response.send_modal(FollowUpModal())


def reply_view(
    key: str | None, *, topics: Sequence[str] = (), followup: bool = False
) -> discord.ui.View | None:
    """The buttons a message is sent with (None when there are none): 👍/👎 on ``key``,
    "Subscribe: <topic>" for up to three topics, "Ask a follow-up"."""
    view = FollowUpView() if followup else discord.ui.View(timeout=None)
    if not followup:
        view.clear_items()
    items: list[discord.ui.Item[Any]] = []
    if key:
        items += [VoteButton("up", key), VoteButton("down", key)]
    items += [SubscribeButton(t) for t in list(dict.fromkeys(topics))[:MAX_TOPIC_BUTTONS] if subscribe_id(t)]
    for item in items:
        view.add_item(item)
    if followup:  # the follow-up button last
        ask = next(i for i in view.children if getattr(i, "custom_id", None) == ASK_FOLLOWUP)
        view.remove_item(ask)
        view.add_item(ask)
    return view if view.children else None
