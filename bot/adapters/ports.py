"""What every chat adapter needs from the rest of briefbot, as small protocols."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from bot.core.ask import Turn
from bot.core.commands import CommandContext, Reply


class Commands(Protocol):
    """What an adapter needs of :class:`~bot.core.commands.CommandLayer`."""

    def handle(self, ctx: CommandContext, text: str) -> Reply: ...


class ThreadMemory(Protocol):
    """The thread memory the command layer's ``/ask`` uses (``thread_turns`` store)."""

    def thread_turns(self, thread_id: str, limit: int = 20) -> list[Turn]: ...

    def add_turns(self, thread_id: str, turns: Sequence[Turn]) -> None: ...


class FeedbackRecorder(Protocol):
    """Where 👍/👎 go (``SqlStore.record_feedback``)."""

    def record_feedback(self, platform: str, user_id: str, key: str, vote: int, at: datetime) -> None: ...
