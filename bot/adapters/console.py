"""The console adapter: a terminal chat with the same commands as Slack and Discord.

``briefbot run`` starts it when no chat platform is configured. It reads one command per
line from its input (a terminal or a pipe), runs it through the shared command layer as
the local user (an admin) in the channel ``console:console``, and prints the reply:
briefings as Markdown, answers with their numbered sources. A ``briefbot>`` prompt is
shown only on a terminal. At the end of the input it returns 0; a failing command
prints one line and the loop goes on. ``deals graph`` writes the PNG into the data
directory (``BRIEFBOT_DATA_DIR``) and prints its path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from typing import TextIO

from bot.config import Settings
from bot.core.ask import Answer
from bot.core.commands import CommandContext, CommandLayer, Reply, neutral
from bot.core.service import Service
from bot.errors import BriefbotError

log = logging.getLogger(__name__)

PLATFORM = "console"
USER = "local"
CHANNEL = "console"
PROMPT = "briefbot> "


class ConsoleAdapter:
    """Runs commands typed on ``input`` and prints the replies on ``output``."""

    def __init__(self, service: Service, settings: Settings, input: TextIO, output: TextIO) -> None:
        self.commands = CommandLayer(service, settings.admins)
        self.data_dir = settings.data_dir
        self.input = input
        self.output = output
        self.interactive = _isatty(input)
        # The local user owns the machine the bot runs on: an admin, like a workspace admin.
        self.context = CommandContext(PLATFORM, USER, CHANNEL, thread_id=None, is_platform_admin=True)

    async def run(self) -> int:
        """Answer each line until the end of the input; returns the exit status (0)."""
        lines: asyncio.Queue[str | None] = asyncio.Queue()
        self._start_reader(lines, asyncio.get_running_loop())
        if self.interactive:
            self._write("briefbot console: type help for the commands, Ctrl-D to quit.\n")
        while True:
            if self.interactive:
                self._write(PROMPT)
            line = await lines.get()
            if line is None:
                if self.interactive:
                    self._write("\n")
                return 0
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            self._write(self.respond(text) + "\n\n")

    def respond(self, text: str) -> str:
        """The printed reply to one line; never raises."""
        try:
            reply = self.commands.handle(self.context, text)
            if reply.graph is not None:
                return self.save_graph(reply)
            return render(reply)
        except Exception as exc:  # the command layer answers errors itself; this is the last guard
            log.exception("console command failed")
            return f"error: {type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:200]}"

    def save_graph(self, reply: Reply) -> str:
        """Draw the reply's deal graph into the data directory; the caption and the path."""
        from bot.render.ledger_graph import graph_png  # Pillow loads only when drawing

        assert reply.graph is not None
        try:
            png = graph_png(reply.graph)
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path = self.data_dir / reply.graph.filename
            path.write_bytes(png)
        except BriefbotError as exc:
            return f"The deal graph could not be drawn: {exc}"
        except OSError as exc:
            return f"The deal graph could not be saved in {self.data_dir}: {exc.strerror or exc}"
        return neutral(f"{reply.text}\nwrote {path}")

    def _write(self, text: str) -> None:
        self.output.write(text)
        self.output.flush()

    def _start_reader(self, lines: asyncio.Queue[str | None], loop: asyncio.AbstractEventLoop) -> None:
        """Read the input in a daemon thread (a blocked read never holds up exit or the loop)."""

        def read() -> None:
            try:
                for line in iter(self.input.readline, ""):
                    loop.call_soon_threadsafe(lines.put_nowait, line)
            except (OSError, ValueError) as exc:  # input closed or unreadable: treat as its end
                log.warning("console input ended: %s", exc)
            finally:
                with contextlib.suppress(RuntimeError):  # the loop is already closed
                    loop.call_soon_threadsafe(lines.put_nowait, None)

        threading.Thread(target=read, name="console-input", daemon=True).start()


def render(reply: Reply) -> str:
    """A reply as terminal text: a briefing as Markdown, an answer with its sources."""
    if reply.briefing is not None:
        text = reply.briefing.to_markdown()
    elif reply.answer is not None:
        text = render_answer(reply.answer)
    else:
        text = reply.text
    return neutral(text)


def render_answer(answer: Answer) -> str:
    """The answer's text, then its numbered sources with their links."""
    lines = [answer.text]
    if answer.sources:
        lines.append("")
        for n, source in enumerate(answer.sources, 1):
            day = source.published.strftime("%Y-%m-%d") if source.published else "undated"
            lines.append(f"[{n}] {source.title} — {source.outlet}, {day}")
            if source.url:
                lines.append(f"    {source.url}")
    return "\n".join(lines)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False
