"""Command layer replies sent to Discord: to a channel or thread, or as interaction follow-ups.

A :class:`~bot.core.commands.Reply` becomes messages (:func:`reply_messages`, plain dicts):
a briefing's embeds from :func:`~bot.adapters.discord.render.briefing_embeds` (the first
message with a short content line, the rest continued in a thread started from it), an
answer's embed, or a text reply's embed; refusals and errors are one inert line. Every send
passes ``allowed_mentions=AllowedMentions.none()`` explicitly (the client's default is the
same), and the first message of a briefing (the one in the channel) or an answer carries
the buttons (:func:`~bot.adapters.discord.views.reply_view`), as the publisher's digests do.

:func:`context_of` turns an interaction or message's place into the command layer's
:class:`~bot.core.commands.CommandContext`: in a thread, the parent channel and the thread
id (so ``/ask``'s memory key is ``discord:<channel>:<thread>``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import discord

from bot.adapters.discord.render import (
    answer_embeds,
    briefing_content,
    briefing_embeds,
    briefing_title,
    error_line,
    text_embed,
)
from bot.adapters.discord.views import reply_view
from bot.core.commands import CommandContext, Reply

log = logging.getLogger(__name__)

PLATFORM = "discord"
THREAD_NAME_LIMIT = 100
NO_MENTIONS = discord.AllowedMentions.none()


@dataclass
class Outgoing:
    """One message to send: content, embeds (dicts) and, on the first, which buttons."""

    content: str | None = None
    embeds: list[dict[str, Any]] = field(default_factory=list)
    buttons: bool = False


def conversation(channel: Any) -> tuple[str, str | None]:
    """(channel id, thread id or None) of a channel: a thread is its parent's conversation."""
    if isinstance(channel, discord.Thread):
        return str(channel.parent_id), str(channel.id)
    return str(getattr(channel, "id", "") or ""), None


def context_of(interaction: discord.Interaction[Any], *, admin: bool = False) -> CommandContext:
    """The command layer's context of an interaction; ``admin`` when the person has
    Manage Server where they used it (``is_platform_admin``)."""
    channel, thread = (
        conversation(interaction.channel)
        if interaction.channel
        else (
            str(interaction.channel_id or ""),
            None,
        )
    )
    return CommandContext(PLATFORM, str(interaction.user.id), channel, thread, is_platform_admin=admin)


def is_manager(interaction: discord.Interaction[Any]) -> bool:
    """True when the person may manage the server (Manage Server) in this guild."""
    return interaction.guild_id is not None and interaction.permissions.manage_guild


def reply_messages(reply: Reply) -> list[Outgoing]:
    """``reply`` as messages: a briefing's (buttons on the first), an answer (buttons when
    something was found), or a text reply's embed; an error or refusal as one line."""
    if reply.error:
        return [Outgoing(content=error_line(reply.text))]
    if reply.briefing is not None:
        messages = [Outgoing(embeds=list(embeds)) for embeds in briefing_embeds(reply.briefing)]
        messages[0].content = briefing_content(reply.briefing)
        messages[0].buttons = True
        return messages
    if reply.answer is not None:
        return [Outgoing(embeds=answer_embeds(reply.answer), buttons=reply.answer.found)]
    return [Outgoing(embeds=[text_embed(reply.text)])]


def briefing_key(reply: Reply) -> str | None:
    """The vote key of a briefing sent in answer to a command."""
    if reply.briefing is None:
        return None
    return f"{PLATFORM}:briefing:{reply.briefing.generated_at.isoformat()}"


def _view(reply: Reply, message: Outgoing, key: str | None) -> discord.ui.View | None:
    if not message.buttons:
        return None
    if reply.briefing is not None:
        topics = [topic for topic, _ in reply.briefing.sections]
        return reply_view(key or briefing_key(reply), topics=topics)
    return reply_view(key, followup=True)


def _kwargs(reply: Reply, message: Outgoing, key: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"allowed_mentions": NO_MENTIONS}
    if message.content:
        out["content"] = message.content
    if message.embeds:
        out["embeds"] = [discord.Embed.from_dict(e) for e in message.embeds]
    view = _view(reply, message, key)
    if view is not None:
        out["view"] = view
    return out


def thread_name(reply: Reply, fallback: str = "briefbot") -> str:
    """A thread's name for a reply's continuation."""
    title = briefing_title(reply.briefing) if reply.briefing is not None else fallback
    return " ".join(title.split())[:THREAD_NAME_LIMIT] or "briefbot"


async def start_thread(channel: Any, message: discord.abc.Snowflake, name: str) -> discord.Thread | None:
    """A thread from ``message`` in ``channel`` when it is a guild text channel, or None
    where there can be none (DMs, threads, no permission: the caller continues in place)."""
    if not isinstance(channel, discord.TextChannel):
        return None
    try:
        return await channel.create_thread(
            name=name[:THREAD_NAME_LIMIT] or "briefbot", message=message, auto_archive_duration=1440
        )
    except discord.HTTPException as exc:
        log.info("no thread from %s (%s): continuing in the channel", message.id, exc)
        return None


async def send_reply(
    channel: discord.abc.Messageable, reply: Reply, *, key: str | None = None
) -> list[discord.Message]:
    """Post ``reply`` in ``channel`` (a channel, thread or DM); a briefing's continuation
    goes to a thread started from its first message when ``channel`` is a text channel."""
    sent: list[discord.Message] = []
    target = channel
    messages = reply_messages(reply)
    for n, message in enumerate(messages):
        out = await target.send(**_kwargs(reply, message, key))
        sent.append(out)
        if n == 0 and len(messages) > 1:
            target = await start_thread(channel, out, thread_name(reply)) or channel
    return sent


async def send_interaction_reply(
    interaction: discord.Interaction[Any], reply: Reply, *, deferred_ephemeral: bool, key: str | None = None
) -> None:
    """Answer a deferred interaction by follow-up. Errors and ephemeral replies are shown
    only to the person: after a public deferral its "thinking" message is deleted first.
    A briefing's continuation goes to a thread from the first follow-up (or further
    follow-ups outside guild text channels)."""
    private = reply.error or reply.ephemeral
    if private and not deferred_ephemeral:
        try:
            await interaction.delete_original_response()
        except discord.HTTPException as exc:
            log.info("could not delete the deferral of %s: %s", interaction.id, exc)
    messages = reply_messages(reply)
    if private:
        message = messages[0]
        content = message.content or None
        embeds = [discord.Embed.from_dict(e) for e in message.embeds]
        await interaction.followup.send(
            content=content or discord.utils.MISSING,
            embeds=embeds or discord.utils.MISSING,
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )
        return
    first = await interaction.followup.send(wait=True, **_kwargs(reply, messages[0], key))
    if len(messages) == 1:
        return
    thread = await start_thread(interaction.channel, first, thread_name(reply))
    for message in messages[1:]:
        if thread is not None:
            await thread.send(**_kwargs(reply, message, key))
        else:
            await interaction.followup.send(**_kwargs(reply, message, key))
