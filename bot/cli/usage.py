"""``briefbot usage``: model calls, cache hits, tokens and estimated cost per day."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from bot.cli.common import open_app, print_json
from bot.config import Settings
from bot.core.since import parse_since
from bot.llm import UsageRow
from bot.store.feedback_sql import FeedbackDay


def register(commands: Any) -> None:
    """Add the ``usage`` command."""
    usage = commands.add_parser(
        "usage",
        help="model calls, cache hits, tokens and estimated cost per day",
        description="Show what the language model cost per UTC day: calls, cache hits, input and output "
        "tokens, embedding tokens and an estimated cost (BRIEFBOT_LLM_PRICE_INPUT / "
        "BRIEFBOT_LLM_PRICE_OUTPUT, USD per million tokens), and the 👍/👎 given to briefings "
        "and answers in chat.",
    )
    usage.add_argument("--since", default="30d", help="7d, 24h, a date (2025-11-01) or all (default 30d)")
    usage.add_argument("--json", action="store_true", help="print a JSON array, one object per day")
    usage.set_defaults(handler=_usage)


def usage_json(row: UsageRow, settings: Settings) -> dict[str, Any]:
    """One day of usage as JSON."""
    return {
        "day": row.day.isoformat(),
        "calls": row.calls,
        "cache_hits": row.cache_hits,
        "input_tokens": row.input_tokens,
        "output_tokens": row.output_tokens,
        "embedding_tokens": row.embedding_tokens,
        "estimated_cost_usd": round(
            row.estimated_cost(settings.llm_price_input, settings.llm_price_output), 6
        ),
        "feedback_up": row.feedback_up,
        "feedback_down": row.feedback_down,
    }


def _cost(row: UsageRow, settings: Settings) -> float:
    return row.estimated_cost(settings.llm_price_input, settings.llm_price_output)


def _price(usd: float) -> str:
    return f"${usd:.2f}" if round(usd, 2) == usd else f"${usd:g}"


def with_feedback(rows: Sequence[UsageRow], votes: Sequence[FeedbackDay]) -> list[UsageRow]:
    """The usage rows with each day's 👍/👎 added (a day with votes and no calls gets a row)."""
    by_day = {row.day: row for row in rows}
    for vote in votes:
        row = by_day.get(vote.day) or UsageRow(vote.day, 0, 0, 0, 0)
        by_day[vote.day] = replace(row, feedback_up=vote.up, feedback_down=vote.down)
    return [by_day[day] for day in sorted(by_day)]


async def _usage(args: argparse.Namespace) -> int:
    async with open_app() as app:
        since = parse_since(args.since, app.service.clock.now())
        rows = with_feedback(app.store.llm_usage(since), app.store.feedback_counts(since))
        settings = app.settings
    if args.json:
        print_json([usage_json(row, settings) for row in rows])
        return 0
    if not rows:
        print("no model calls" + ("" if since is None else f" since {args.since}; try --since all"))
        return 0
    total = UsageRow(
        day=rows[-1].day,
        calls=sum(r.calls for r in rows),
        cache_hits=sum(r.cache_hits for r in rows),
        input_tokens=sum(r.input_tokens for r in rows),
        output_tokens=sum(r.output_tokens for r in rows),
        embedding_tokens=sum(r.embedding_tokens for r in rows),
        feedback_up=sum(r.feedback_up for r in rows),
        feedback_down=sum(r.feedback_down for r in rows),
    )
    header = ("DAY", "CALLS", "CACHED", "INPUT TOK", "OUTPUT TOK", "EMBED TOK", "EST. COST", "UP", "DOWN")
    lines = [header]
    for label, row in [*((r.day.isoformat(), r) for r in rows), ("total", total)]:
        cost = _cost(row, settings)
        lines.append(
            (
                label,
                f"{row.calls:,}",
                f"{row.cache_hits:,}",
                f"{row.input_tokens:,}",
                f"{row.output_tokens:,}",
                f"{row.embedding_tokens:,}",
                f"${cost:,.4f}",
                f"{row.feedback_up:,}",
                f"{row.feedback_down:,}",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        cells = [line[0].ljust(widths[0])] + [
            cell.rjust(w) for cell, w in zip(line[1:], widths[1:], strict=True)
        ]
        print("  ".join(cells))
    prices = f"{_price(settings.llm_price_input)} input / {_price(settings.llm_price_output)} output"
    print(
        f"\ncost estimated at {prices} per million tokens "
        "(BRIEFBOT_LLM_PRICE_INPUT / _OUTPUT); embeddings are not priced; "
        "UP/DOWN: 👍/👎 on briefings and answers in chat"
    )
    return 0
