"""Scheduled Slack posts when briefbot lives in several workspaces (OAuth, no ``SLACK_BOT_TOKEN``).

A destination (``slack:C…``, ``slack:U…``) names no workspace, but Slack's channel and user
ids are unique across workspaces, so the workspace that owns one is the one whose bot token
can reach it. :class:`WorkspacePublisher` posts (and looks for delivery keys) with the token
remembered for the destination; otherwise it tries every stored installation's bot token
(:class:`StoredInstallations`: slack_sdk's ``slack_bots`` table in briefbot's database) in
turn, through the same :class:`~bot.adapters.slack.publisher.SlackPublisher` as one-workspace
mode (metadata with the delivery key, ``already_delivered`` from ``conversations.history``).

- ``channel_not_found``, ``not_in_channel`` and ``user_not_found`` (the destination is not
  this workspace's, or the bot is not in it), and a token that no longer works
  (``invalid_auth``, ``token_revoked``, ...), move on to the next workspace; nothing was
  posted, so trying another cannot post twice.
- The first workspace that takes the call is remembered for the destination (in memory,
  per process); a remembered workspace that stops knowing it is forgotten and the others
  are tried again.
- Any other refusal (``is_archived``, ``missing_scope``) comes from the owning workspace and
  is the destination's permanent failure at once. A transient failure in a workspace
  (rate limit, 5xx) leaves the destination pending when no other workspace took it.
- Only when every installed workspace says it does not know the destination is it a
  :class:`~bot.core.delivery.PermanentError` (one line); with no installation at all the
  delivery waits (transient), since the workspace may install the app later.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

from slack_sdk import WebClient
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError

from bot.adapters.slack.publisher import SlackPublisher, SlackRefused, destination_channel
from bot.core.delivery import PermanentError, TransientError

log = logging.getLogger(__name__)

NOT_HERE = frozenset({"channel_not_found", "not_in_channel", "user_not_found"})
DEAD_TOKEN = frozenset({"invalid_auth", "account_inactive", "token_revoked", "not_authed"})
T = TypeVar("T")


class Installations(Protocol):
    """Where the installed workspaces' bot tokens come from."""

    def bot_tokens(self) -> list[str]:
        """Every installed workspace's current bot token, newest installation first."""
        ...


class StoredInstallations:
    """The bot tokens slack_sdk's :class:`SQLAlchemyInstallationStore` keeps in briefbot's
    database (``slack_bots``, migration 13) for the app ``client_id``: the latest row per
    workspace (team, or enterprise for an org-wide install)."""

    def __init__(self, client_id: str, engine: Engine) -> None:
        self.store = SQLAlchemyInstallationStore(client_id=client_id, engine=engine, logger=log)

    def bot_tokens(self) -> list[str]:
        """Every workspace's latest bot token, newest installation first."""
        bots = self.store.bots
        query = (
            select(bots.c.enterprise_id, bots.c.team_id, bots.c.bot_token)
            .where(bots.c.client_id == self.store.client_id, bots.c.bot_token.is_not(None))
            .order_by(bots.c.installed_at.desc(), bots.c.id.desc())
        )
        tokens: dict[tuple[str | None, str | None], str] = {}
        with self.store.engine.connect() as conn:
            for enterprise, team, token in conn.execute(query):
                tokens.setdefault((enterprise, team), str(token))
        return list(dict.fromkeys(tokens.values()))


class WorkspacePublisher:
    """The outbox's publisher of ``slack:`` destinations across every installed workspace."""

    def __init__(self, installations: Installations, client_for: Callable[[str], WebClient]) -> None:
        """``client_for(token)`` builds the (paced) Web API client of one workspace's bot token."""
        self.installations = installations
        self.client_for = client_for
        self._publishers: dict[str, SlackPublisher] = {}  # bot token -> its publisher
        self._owners: dict[str, str] = {}  # channel or user id -> the bot token that reached it
        self._lock = threading.Lock()

    def post(self, destination: str, payload: Mapping[str, Any], key: str) -> None:
        """Post ``payload`` to ``destination`` in the workspace that owns it, tagged with ``key``."""
        self._route(destination, lambda publisher: publisher.post(destination, payload, key))

    def already_delivered(self, destination: str, key: str) -> bool:
        """True when the owning workspace's channel holds a post tagged ``key``."""
        return self._route(destination, lambda publisher: publisher.already_delivered(destination, key))

    def owner(self, destination: str) -> str | None:
        """The bot token remembered for ``destination``, if any."""
        with self._lock:
            return self._owners.get(destination_channel(destination))

    # -- routing ---------------------------------------------------------------------------

    def _route(self, destination: str, act: Callable[[SlackPublisher], T]) -> T:
        channel = destination_channel(destination)
        refusals: list[str] = []
        tried: set[str] = set()
        with self._lock:
            known = self._owners.get(channel)
        if known is not None:
            tried.add(known)
            try:
                return act(self._publisher(known))
            except SlackRefused as exc:
                if exc.code not in NOT_HERE | DEAD_TOKEN:
                    raise
                refusals.append(exc.code)
                with self._lock:
                    self._owners.pop(channel, None)
        tokens = self._tokens()
        transient: TransientError | None = None
        for token in tokens:
            if token in tried:
                continue
            tried.add(token)
            try:
                result = act(self._publisher(token))
            except SlackRefused as exc:
                if exc.code in NOT_HERE | DEAD_TOKEN:
                    refusals.append(exc.code)
                    continue
                self._remember(channel, token)  # its workspace, unusable: say why
                raise
            except TransientError as exc:
                transient = transient or exc
                continue
            self._remember(channel, token)
            return result
        if transient is not None:
            raise TransientError(f"{_line(transient)} (while looking for the workspace of {channel})")
        if not tried:
            raise TransientError(
                f"slack: no workspace has installed briefbot yet, so {channel} cannot be reached "
                "(install it at /slack/install)"
            )
        code = "not_in_channel" if "not_in_channel" in refusals else refusals[0]
        count = len(tried)
        raise PermanentError(
            f"slack: {channel} is in none of the {count} installed "
            f"{'workspace' if count == 1 else 'workspaces'} ({code})"
        )

    def _tokens(self) -> list[str]:
        try:
            return self.installations.bot_tokens()
        except SQLAlchemyError as exc:
            raise TransientError(f"slack: installations unreadable: {type(exc).__name__}") from None

    def _publisher(self, token: str) -> SlackPublisher:
        with self._lock:
            publisher = self._publishers.get(token)
            if publisher is None:
                publisher = self._publishers[token] = SlackPublisher(self.client_for(token))
            return publisher

    def _remember(self, channel: str, token: str) -> None:
        with self._lock:
            self._owners[channel] = token


def _line(exc: Exception) -> str:
    return " ".join(str(exc).split())[:300]
