"""The buttons' custom ids and their component JSON (no discord.py here).

Buttons stay usable across restarts because their ``custom_id`` carries everything a click
needs: ``briefbot:vote:up:<key>`` / ``briefbot:vote:down:<key>`` (the delivery, briefing or
answer key the vote is stored under), ``briefbot:sub:<topic>`` ("Subscribe to this topic")
and the fixed ``briefbot:ask`` ("Ask a follow-up", whose thread is the clicked message's
channel). :mod:`bot.adapters.discord.views` matches the same templates with discord.py's
``DynamicItem``; the publisher, which posts over plain REST, sends the JSON built here.
Discord keeps a message's components (unlike its nonce), so the 👍 button's custom id is
also how the publisher recognises its delivery in the channel history (:func:`custom_ids`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

CUSTOM_ID_LIMIT = 100
VOTE_PREFIX = "briefbot:vote:"
SUBSCRIBE_PREFIX = "briefbot:sub:"
ASK_FOLLOWUP = "briefbot:ask"
VOTE_TEMPLATE = r"briefbot:vote:(?P<vote>up|down):(?P<key>.+)"
SUBSCRIBE_TEMPLATE = r"briefbot:sub:(?P<topic>.+)"
MAX_TOPIC_BUTTONS = 3
BUTTON_PRIMARY, BUTTON_SECONDARY, BUTTON_SUCCESS, BUTTON_DANGER = 1, 2, 3, 4


def vote_id(vote: str, key: str) -> str:
    """The custom id of a 👍 (``up``) or 👎 (``down``) button rating ``key``; a key too long
    for Discord's 100 characters is replaced by ``sha1:<its hash>``."""
    head = f"{VOTE_PREFIX}{vote}:"
    if len(head) + len(key) > CUSTOM_ID_LIMIT:
        key = "sha1:" + hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()
    return head + key


def subscribe_id(topic: str) -> str | None:
    """The custom id of "Subscribe: <topic>", or None when the topic cannot fit."""
    topic = " ".join(topic.split())
    out = SUBSCRIBE_PREFIX + topic
    return out if topic and len(out) <= CUSTOM_ID_LIMIT else None


def parse_vote(custom_id: str) -> tuple[int, str] | None:
    """(+1 or -1, key) of a vote button's custom id, or None."""
    m = re.fullmatch(VOTE_TEMPLATE, custom_id)
    if not m:
        return None
    return (1 if m.group("vote") == "up" else -1), m.group("key")


def custom_ids(message: Mapping[str, Any]) -> list[str]:
    """The custom ids of a message's buttons, as Discord returns the message."""
    ids: list[str] = []
    for row in message.get("components") or []:
        if isinstance(row, Mapping):
            ids += [str(c.get("custom_id")) for c in row.get("components") or [] if isinstance(c, Mapping)]
    return ids


def button(
    custom_id: str, label: str, style: int = BUTTON_SECONDARY, emoji: str | None = None
) -> dict[str, Any]:
    """One button component."""
    out: dict[str, Any] = {"type": 2, "style": style, "label": label[:80], "custom_id": custom_id}
    if emoji:
        out["emoji"] = {"name": emoji}
    return out


def button_rows(
    key: str | None, *, topics: Sequence[str] = (), followup: bool = False
) -> list[dict[str, Any]]:
    """The action rows of a delivery, a briefing or an answer (five buttons a row): 👍/👎 on
    ``key``, "Subscribe: <topic>" for up to three topics, and "Ask a follow-up"; empty when
    there is nothing to show."""
    buttons: list[dict[str, Any]] = []
    if key:
        buttons += [
            button(vote_id("up", key), "Useful", BUTTON_SUCCESS, "👍"),
            button(vote_id("down", key), "Not useful", BUTTON_SECONDARY, "👎"),
        ]
    for topic in list(dict.fromkeys(topics))[:MAX_TOPIC_BUTTONS]:
        custom = subscribe_id(topic)
        if custom:
            buttons.append(button(custom, f"Subscribe: {topic}", BUTTON_PRIMARY))
    if followup:
        buttons.append(button(ASK_FOLLOWUP, "Ask a follow-up", BUTTON_SECONDARY))
    return [{"type": 1, "components": buttons[i : i + 5]} for i in range(0, len(buttons), 5)]
