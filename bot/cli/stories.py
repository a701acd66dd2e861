"""``briefbot analyze``, ``stories``, ``deals`` and ``chips``: the story intelligence views."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bot.cli.common import ProgressBar, open_app, print_json
from bot.core.analysis import AnalyzeReport
from bot.core.ranking import Ranked
from bot.core.records import ChipRecord, DealRecord
from bot.core.since import parse_since
from bot.errors import UsageError


def register(commands: Any) -> None:
    """Add the story commands."""
    analyze = commands.add_parser(
        "analyze",
        help="extract facts from new articles and group them into stories",
        description="Extract topics, companies, chips, amounts and deals from every article not analysed "
        "yet and add it to a story (ingest runs this after each pass).",
    )
    analyze.add_argument(
        "--rebuild", action="store_true", help="forget all stories and analyse every article again"
    )
    analyze.add_argument("--json", action="store_true", help="print the run's summary as one JSON object")
    analyze.set_defaults(handler=_analyze)

    stories = commands.add_parser(
        "stories",
        help="ranked stories: one event, all its sources",
        description="Stories ranked by importance (sources, deal size, entities, topics, recency).",
    )
    stories.add_argument("--since", default="7d", help="24h, 7d, 2w, a date (2025-11-01) or all (default 7d)")
    stories.add_argument("--topic", help="only stories about this topic (alliance, chips, ...)")
    stories.add_argument("--company", help="only stories naming this company (any alias, e.g. AWS)")
    stories.add_argument("--limit", type=int, default=20, help="how many to show; 0 means all (default 20)")
    stories.add_argument("--json", action="store_true", help="print a JSON array")
    stories.add_argument(
        "--explain", action="store_true", help="show the parts of each score and why each article joined"
    )
    stories.set_defaults(handler=_stories)

    deals = commands.add_parser(
        "deals",
        help="the deal ledger: who invested in, partnered with or supplies whom",
        description="Deals found in stories (investments, partnerships, supply, acquisitions) with sources.",
    )
    deals.add_argument("--company", help="only deals with this company as a party (any alias)")
    deals.add_argument("--since", default="all", help="24h, 7d, a date (2025-11-01) or all (default all)")
    deals.add_argument("--json", action="store_true", help="print a JSON array")
    deals.add_argument(
        "--graph", metavar="FILE.png", help="draw the alliance graph of these deals to a PNG file"
    )
    deals.set_defaults(handler=_deals)

    chips = commands.add_parser(
        "chips",
        help="the chip tracker: each chip's announcements, availability, customers and deals",
        description="Every chip named in the news, with vendor, family, first and latest mention, "
        "and its stories newest first.",
    )
    chips.add_argument("--vendor", help="only this vendor's chips (any alias, e.g. AWS)")
    chips.add_argument("--json", action="store_true", help="print a JSON array")
    chips.set_defaults(handler=_chips)


# ---- analyze ---------------------------------------------------------------------------


def analysis_line(report: AnalyzeReport) -> str:
    """One line summing up an analyze run, with what the deal refiner did when there is one."""
    line = (
        f"analysed {report.analyzed} articles: {report.new_stories} new stories, "
        f"{report.updated_stories} updated, {report.joined} joined an existing story"
    )
    if report.deals_refined:
        line += f"; deals refined by the model in {report.deals_refined} articles"
    if report.refiner_note:
        line += f"; deal refiner unavailable, rule-based deals kept ({report.refiner_note})"
    return line


async def _analyze(args: argparse.Namespace) -> int:
    async with open_app() as app:
        report = app.service.analyze(rebuild=args.rebuild, progress=ProgressBar("analyze", not args.json))
    if args.json:
        print_json(report.as_json())
    else:
        print(analysis_line(report))
    return 0


# ---- stories ---------------------------------------------------------------------------


def _story_json(r: Ranked, explain: bool, reasons: dict[int, str] | None) -> dict[str, Any]:
    s = r.story
    out: dict[str, Any] = {
        "id": s.id,
        "headline": s.headline,
        "state": s.state,
        "score": round(r.score, 4),
        "topics": list(s.topics),
        "entities": list(s.entities),
        "companies": list(s.companies),
        "chips": list(s.chips),
        "deals": [d.as_json() for d in s.deals],
        "first_seen": s.first_seen,
        "last_seen": s.last_seen,
        "sources": [src.as_json() for src in s.sources],
    }
    if explain:
        out["explain"] = dict(r.parts)
        if reasons is not None:
            out["joined"] = [{"url": src.url, "reason": reasons.get(src.article_id, "")} for src in s.sources]
    return out


def _day(value: Any) -> str:
    return value.strftime("%Y-%m-%d") if value else "undated"


async def _stories(args: argparse.Namespace) -> int:
    if args.limit < 0:
        raise UsageError("--limit must be 0 (no limit) or more")
    async with open_app() as app:
        since = parse_since(args.since, app.service.clock.now())
        ranked = app.service.stories(since=since, topic=args.topic, company=args.company, limit=args.limit)
        reasons = (
            {r.story.id: dict(app.store.member_reasons(r.story.id)) for r in ranked} if args.explain else {}
        )
    if args.json:
        print_json([_story_json(r, args.explain, reasons.get(r.story.id)) for r in ranked])
        return 0
    if not ranked:
        print(f"no stories since {args.since}; try --since all, or run `briefbot ingest` first")
        return 0
    for n, r in enumerate(ranked, 1):
        s = r.story
        marker = " (updated)" if s.state == "updated" else ""
        print(f"{n:>2}. {s.headline}{marker}  [score {r.score:.2f}, story {s.id}]")
        facts = [_day(s.last_seen or s.first_seen), ", ".join(s.topics) or "no topic"]
        if s.entities:
            facts.append(", ".join(s.entities))
        print("    " + " · ".join(facts))
        for deal in s.deals[:3]:
            print(f"    deal: {deal.describe()}")
        outlets = list(dict.fromkeys(src.outlet for src in s.sources))
        print(f"    {len(s.sources)} sources: {', '.join(outlets[:6])}{' ...' if len(outlets) > 6 else ''}")
        if args.explain:
            p = r.parts
            print(
                f"    score = (sources {p['sources']} + deal {p['deal']} + entities {p['entities']} "
                f"+ topics {p['topics']}) x recency {p['recency']} (age {p['age_hours']} h)"
            )
            why = reasons.get(s.id, {})
            for src in s.sources:
                print(f"      {src.outlet}: {why.get(src.article_id, '')}  {src.url or ''}")
    return 0


# ---- deals -----------------------------------------------------------------------------


def _deal_json(r: DealRecord) -> dict[str, Any]:
    return {
        "story_id": r.story_id,
        "story": r.headline,
        **r.deal.as_json(),
        "sources": [s.as_json() for s in r.sources],
    }


async def _deals(args: argparse.Namespace) -> int:
    async with open_app() as app:
        since = parse_since(args.since, app.service.clock.now())
        ledger = app.service.deals(company=args.company, since=since)
    if args.graph:
        _write_graph(Path(args.graph), ledger, args.company)
        if not args.json:
            print(f"wrote the graph of {len(ledger)} deals to {args.graph}")
    if args.json:
        print_json([_deal_json(r) for r in ledger])
        return 0
    if args.graph:
        return 0
    if not ledger:
        print("no deals found; try --since all, or run `briefbot ingest` first")
        return 0
    for r in ledger:
        when = r.deal.announced or (r.sources[0].published if r.sources else None)
        print(f"{_day(when)}  {r.deal.describe()}")
        print(f"            story {r.story_id}: {r.headline}")
        for src in r.sources[:3]:
            print(f"            {src.outlet}: {src.url or src.title}")
    return 0


def _write_graph(path: Path, ledger: list[DealRecord], company: str | None) -> None:
    # Pillow loads only when drawing
    from bot.render.deal_graph import render_deal_graph
    from bot.render.ledger_graph import ledger_edges

    edges = ledger_edges(ledger)
    if not edges:
        raise UsageError("no deals to draw; try --since all, or run `briefbot ingest` first")
    title = "Who invests in, partners with and supplies whom" + (f": {company}" if company else "")
    try:
        png = render_deal_graph(edges, title=title)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    try:
        path.write_bytes(png)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


# ---- chips -----------------------------------------------------------------------------


def _chip_json(c: ChipRecord) -> dict[str, Any]:
    return {
        "name": c.name,
        "vendor": c.vendor,
        "family": c.family,
        "generation": c.generation,
        "first_mention": c.first_mention,
        "latest_mention": c.latest_mention,
        "stories": [
            {
                "id": s.story_id,
                "headline": s.headline,
                "when": s.when,
                "roles": list(s.roles),
                "sources": [src.as_json() for src in s.sources],
            }
            for s in c.stories
        ],
    }


async def _chips(args: argparse.Namespace) -> int:
    async with open_app() as app:
        records = app.service.chips(vendor=args.vendor)
    if args.json:
        print_json([_chip_json(c) for c in records])
        return 0
    if not records:
        print("no chip mentioned yet; run `briefbot ingest` first")
        return 0
    for c in records:
        gen = f", generation {c.generation}" if c.generation else ""
        print(
            f"{c.name} ({c.vendor} {c.family}{gen}): first {_day(c.first_mention)}, latest "
            f"{_day(c.latest_mention)}, {len(c.stories)} {'story' if len(c.stories) == 1 else 'stories'}"
        )
        for s in c.stories[:5]:
            roles = ", ".join(s.roles) or "mention"
            print(f"    {_day(s.when)}  {roles:<30} {s.headline}")
    return 0
