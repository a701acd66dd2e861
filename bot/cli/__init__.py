"""The ``briefbot`` command line: argument parsing, output, and one-line errors."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import traceback
from collections.abc import Sequence

from bot import __version__
from bot.cli import ask as ask_cmd
from bot.cli import brief as brief_cmd
from bot.cli import channels as channels_cmd
from bot.cli import doctor as doctor_cmd
from bot.cli import feeds as feeds_cmd
from bot.cli import ingest as ingest_cmd
from bot.cli import prompts as prompts_cmd
from bot.cli import stories as stories_cmd
from bot.cli import usage as usage_cmd
from bot.errors import BriefbotError

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 70


def build_parser() -> argparse.ArgumentParser:
    """The full command tree; every command and subcommand has ``--help``."""
    parser = argparse.ArgumentParser(
        prog="briefbot",
        description="AI-infrastructure news briefings: feeds in, stories and briefings out.",
    )
    parser.add_argument("--version", action="version", version=f"briefbot {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    feeds_cmd.register(commands)
    ingest_cmd.register(commands)
    stories_cmd.register(commands)
    ask_cmd.register(commands)
    prompts_cmd.register(commands)
    brief_cmd.register(commands)
    usage_cmd.register(commands)
    channels_cmd.register(commands)
    doctor_cmd.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.handler(args)
        if asyncio.iscoroutine(result):
            result = asyncio.run(result)
        return int(result or 0)
    except BriefbotError as exc:
        print(f"briefbot: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:  # `briefbot brief | head`: the reader left; not an error
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - swallows the interpreter's final flush
        return 0
    except KeyboardInterrupt:
        print("briefbot: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the last line of defence: no traceback reaches a user
        if os.environ.get("BRIEFBOT_DEBUG"):
            traceback.print_exc()
        first_line = (str(exc).splitlines() or [""])[0]
        print(
            f"briefbot: internal error: {type(exc).__name__}: {first_line} (BRIEFBOT_DEBUG=1 shows details)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
