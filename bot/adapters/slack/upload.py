"""Pictures in Slack: the ``/deals graph`` PNG uploaded to the channel.

:func:`post_graph` draws a reply's :class:`~bot.core.commands.DealGraph` and shares it with
slack_sdk's ``files_upload_v2``: ``files.getUploadURLExternal`` (an upload URL for the
file's name and size), the bytes POSTed to that URL, then ``files.completeUploadExternal``
sharing it in the channel (in ``thread_ts``'s thread when given) with the reply's text as
its comment. Any failure, drawing or uploading, is told to the person in one ephemeral
line; nothing reaches them as a traceback.
"""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.adapters.slack.render import escape_mrkdwn, reply_blocks
from bot.core.commands import DealGraph
from bot.errors import BriefbotError

__all__ = ["post_graph"]

log = logging.getLogger(__name__)

ALT_TEXT = "A graph of companies (boxes) joined by their deals (arrows coloured by kind)."


def post_graph(
    client: WebClient,
    graph: DealGraph,
    caption: str,
    *,
    channel: str,
    user: str,
    thread_ts: str | None = None,
) -> bool:
    """Upload ``graph`` as a PNG to ``channel`` with ``caption``; True when it was shared.

    A failure is logged and told to ``user`` ephemerally."""
    try:
        from bot.render.ledger_graph import graph_png  # Pillow loads only when drawing

        png = graph_png(graph)
    except BriefbotError as exc:
        _tell(client, channel, user, f"The deal graph could not be drawn: {exc}", thread_ts)
        return False
    try:
        client.files_upload_v2(
            channel=channel,
            file=png,
            filename=graph.filename,
            title=graph.title[:250],
            alt_txt=ALT_TEXT,
            initial_comment=escape_mrkdwn(caption)[:3000],
            thread_ts=thread_ts,
        )
        return True
    except SlackApiError as exc:
        data = exc.response.data if isinstance(exc.response.data, dict) else {}
        reason = str(data.get("error") or f"HTTP {exc.response.status_code}")
    except (SlackClientError, OSError) as exc:
        reason = type(exc).__name__
    log.warning("deal graph upload to %s failed: %s", channel, reason)
    hint = " (invite the app to this channel first)" if reason == "not_in_channel" else ""
    _tell(client, channel, user, f"Sorry, the deal graph could not be posted: {reason}{hint}.", thread_ts)
    return False


def _tell(client: WebClient, channel: str, user: str, text: str, thread_ts: str | None) -> None:
    """``text`` shown only to ``user`` (best effort)."""
    try:
        client.chat_postEphemeral(
            channel=channel,
            user=user,
            thread_ts=thread_ts,
            blocks=reply_blocks(text),
            text=escape_mrkdwn(text)[:3000],
        )
    except (SlackApiError, SlackClientError, OSError) as exc:
        log.warning("ephemeral note to %s in %s failed: %s", user, channel, exc)
