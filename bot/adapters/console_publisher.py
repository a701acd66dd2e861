"""The console as a delivery publisher: digests and alerts for ``console:`` destinations printed.

The terminal keeps no record of what it printed, so ``already_delivered`` is always False:
a delivery claimed before a crash is printed again at the next start (at most once per
start, as the outbox marks it posted right after).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, TextIO

from bot.core.commands import neutral
from bot.core.delivery import PermanentError, TransientError

PLATFORM = "console"


class ConsolePublisher:
    """Prints each delivery's Markdown ``text`` on ``output``."""

    def __init__(self, output: TextIO) -> None:
        self.output = output
        self._lock = threading.Lock()  # deliveries run in worker threads

    def post(self, destination: str, payload: Mapping[str, Any], key: str) -> None:
        """Print the payload's text, then a blank line."""
        if not destination.startswith(PLATFORM + ":"):
            raise PermanentError(f"the console cannot post to {destination}")
        text = str(payload.get("text") or "")
        try:
            with self._lock:
                self.output.write(neutral(text) + "\n\n")
                self.output.flush()
        except (OSError, ValueError) as exc:  # the terminal or pipe is gone for now
            raise TransientError(f"cannot write to the console: {exc}") from None

    def already_delivered(self, destination: str, key: str) -> bool:
        """The terminal keeps nothing: never."""
        return False
