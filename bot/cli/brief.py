"""``briefbot brief``: compose and print a briefing (the same code the scheduler posts)."""

from __future__ import annotations

import argparse
from typing import Any

from bot.cli.common import open_app, print_json
from bot.core.since import parse_since
from bot.errors import UsageError


def register(commands: Any) -> None:
    """Add the ``brief`` command."""
    brief = commands.add_parser(
        "brief",
        help="compose a briefing of the latest stories, every sentence cited",
        description="Compose a briefing: a top line, stories by topic with cited sentences, why the top "
        "stories matter, a deals table and the sources. Extractive without an LLM.",
    )
    brief.add_argument(
        "--since",
        help="24h, 7d, a date (2025-11-01) or all (default 24h; with --channel, since its last briefing)",
    )
    brief.add_argument(
        "--channel",
        help="remember this briefing for a channel: already-briefed stories return only as updates",
    )
    brief.add_argument("--topic", action="append", default=[], help="only this topic (repeat for several)")
    brief.add_argument("--mute", action="append", default=[], help="leave out stories mentioning this word")
    brief.add_argument("--limit", type=int, default=12, help="at most this many stories (default 12)")
    output = brief.add_mutually_exclusive_group()
    output.add_argument("--markdown", action="store_true", help="print Markdown (the default)")
    output.add_argument("--json", action="store_true", help="print the briefing as JSON")
    brief.set_defaults(handler=_brief)


async def _brief(args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise UsageError("--limit must be at least 1")
    async with open_app() as app:
        since = parse_since(args.since or "24h", app.service.clock.now())
        briefing = app.service.brief(
            since=since,
            topics=args.topic,
            mutes=args.mute,
            channel=args.channel,
            since_last=args.channel is not None and args.since is None,
            limit=args.limit,
        )
    if args.json:
        print_json(briefing.as_json())
    else:
        print(briefing.to_markdown())
    return 0
