"""``briefbot ask``: a question answered from the news, with citations."""

from __future__ import annotations

import argparse
from typing import Any

from bot.cli.common import open_app, print_json, when


def register(commands: Any) -> None:
    """Add the ``ask`` command."""
    ask = commands.add_parser(
        "ask",
        help="ask a question; the answer cites the articles it comes from",
        description="Answer a question from the stored news and the deal ledger, with [n] citations. "
        "Follow-ups with the same --thread keep the conversation's context.",
    )
    ask.add_argument("question", help='the question, e.g. "how much has Amazon put into Anthropic?"')
    ask.add_argument("--thread", help="a conversation id; follow-ups in the same thread keep context")
    ask.add_argument("--json", action="store_true", help='print {"answer", "found", "sources", "mode"}')
    ask.set_defaults(handler=_ask)


async def _ask(args: argparse.Namespace) -> int:
    async with open_app() as app:
        answer = app.service.ask(args.question, thread=f"cli:{args.thread}" if args.thread else None)
    if args.json:
        print_json(answer.as_json())
        return 0
    print(answer.text)
    if answer.sources:
        print()
        for n, source in enumerate(answer.sources, 1):
            print(f"[{n}] {source.title} — {source.outlet}, {when(source.published)}")
            if source.url:
                print(f"    {source.url}")
    return 0
