"""The console adapter: `briefbot run` without chat credentials, driven through a pipe."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.adapters.console import PROMPT, ConsoleAdapter
from bot.config import Settings
from bot.runtime.wiring import App, build
from tests.cli.test_story_commands import WIRE_B, rss
from tests.support.cli import run_cli
from tests.support.feedserver import FeedServer

NOW = datetime.now(UTC)
TPU_NEWS = [
    (
        "ironwood-1",
        "Google makes Ironwood TPUs generally available",
        "Google said Ironwood, its seventh-generation TPU, is now generally available to Google Cloud "
        "customers. Ironwood pods scale to 9,216 chips, and Anthropic plans to use up to one million TPUs.",
        NOW - timedelta(hours=3),
    ),
    (
        "ironwood-2",
        "Anthropic to use up to one million Google TPUs",
        "Anthropic will expand its use of Google Cloud TPUs, including Ironwood, to up to one million chips "
        "in a deal worth tens of billions of dollars, the companies said.",
        NOW - timedelta(hours=2),
    ),
]
SCRIPT = "help\nsubscribe chips\nsubscriptions\nbrief\nask what is ironwood\n"


def run_bot(stdin: bytes, tmp_path: Path, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    """``python -m bot run`` in a subprocess with ``stdin`` piped in (the env fixture's settings)."""
    return subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        input=stdin,
        capture_output=True,
        cwd=tmp_path,
        env=dict(os.environ),
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def feeds(env: dict[str, str], feed_server: FeedServer) -> FeedServer:
    """A publisher with fresh TPU news, one with older news, and one that is down."""
    feed_server.feed("/tpu.xml", rss("TPU Wire", TPU_NEWS))
    feed_server.feed("/b.xml", rss("Wire B", WIRE_B))
    feed_server.status("/down.xml", 503)
    return feed_server


def test_run_answers_commands_from_a_pipe(
    feeds: FeedServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for path in ("/tpu.xml", "/b.xml", "/down.xml"):
        assert run_cli(capsys, "feeds", "add", feeds.url(path)).code == 0
    done = run_bot(SCRIPT.encode(), tmp_path)
    out, err = done.stdout.decode(), done.stderr.decode()
    assert done.returncode == 0, err
    assert "Traceback" not in err and PROMPT not in out  # no prompt on a pipe

    # The ingest pass ran first; the failing feed did not stop anything.
    assert f"failed: {feeds.url('/down.xml')}" in out
    assert "3 feeds: 2 fetched, 0 not modified, 1 failed" in out
    replies = out.split("Commands (the leading / is optional;", 1)[1]
    assert "Admin commands:" in replies  # the local user is an admin
    assert "\nFollowing topic chips.\n" in replies
    assert "\nYou follow: topic chips.\n" in replies
    briefing = replies.split("# AI infrastructure briefing", 1)[1]
    assert "Ironwood" in briefing and "## Sources" in briefing and "Gaudi" not in briefing  # last 24 hours
    answer = briefing.split("_briefbot ·", 1)[1]
    assert "Ironwood" in answer and "[1]" in answer
    assert "\n[1] " in answer and "TPU Wire" in answer and "https://ironwood-" in answer


def test_bad_lines_get_one_line_replies_and_the_loop_goes_on(env: dict[str, str], tmp_path: Path) -> None:
    stdin = b"frobnicate\n\n# a comment\nsubscribe \xff\xfe\nschedule 25:00\nsubscribe AWS\n" + b"x" * 9000
    done = run_bot(stdin, tmp_path)
    out, err = done.stdout.decode(), done.stderr.decode()
    assert done.returncode == 0, err
    replies = out.split("0 joined an existing story\n\n", 1)[1].split("\n\n")
    assert replies[0] == "unknown command 'frobnicate'; /help lists the commands"
    assert "is not a topic, company or chip" in replies[1]  # undecodable bytes are replaced, not fatal
    assert replies[2].startswith("bad time '25:00'")
    assert replies[3] == "Following company Amazon (you wrote 'AWS')."
    assert replies[4].startswith("that message is too long")  # the last line, without a newline
    assert "Traceback" not in out + err


def test_run_once_skips_the_console(env: dict[str, str], tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot", "run", "--once"],
        input=b"help\n",
        capture_output=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0 and b"Commands" not in done.stdout


# ---- in-process ---------------------------------------------------------------------------


class Terminal(io.StringIO):
    """A StringIO that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def app(env: dict[str, str]) -> Iterator[App]:
    built = build(Settings.load())
    yield built
    asyncio.run(built.aclose())


def test_prompt_only_on_a_terminal(app: App) -> None:
    piped = io.StringIO()
    assert asyncio.run(ConsoleAdapter(app.service, app.settings, io.StringIO("subs\n"), piped).run()) == 0
    assert piped.getvalue() == "You follow nothing yet: try /subscribe chips, /subscribe AWS " + (
        'or /subscribe keyword "liquid cooling".\n\n'
    )
    shown = io.StringIO()
    typed = Terminal("mute crypto\n")
    assert asyncio.run(ConsoleAdapter(app.service, app.settings, typed, shown).run()) == 0
    text = shown.getvalue()
    assert text.startswith("briefbot console: type help")
    assert text.count(PROMPT) == 2 and "Muted 'crypto' for you" in text and text.endswith(PROMPT + "\n")


def test_a_crashing_reply_prints_one_line(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    adapter = ConsoleAdapter(app.service, app.settings, io.StringIO("help\nhelp\n"), out := io.StringIO())
    calls = iter([RuntimeError("boom\nsecond line"), None])

    original = adapter.commands.handle

    def flaky(ctx: object, text: str) -> object:
        failure = next(calls)
        if failure is not None:
            raise failure
        return original(ctx, text)  # type: ignore[arg-type]

    monkeypatch.setattr(adapter.commands, "handle", flaky)
    assert asyncio.run(adapter.run()) == 0
    first, second = out.getvalue().split("\n\n", 1)
    assert first == "error: RuntimeError: boom"
    assert second.startswith("Commands (the leading / is optional;")
