"""``briefbot feeds``: add, import, export, list and remove feeds."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bot.cli.common import open_app, print_json, when
from bot.core.models import Feed
from bot.errors import BriefbotError, UsageError
from bot.ingest.opml import export_opml, parse_opml


def register(commands: Any) -> None:
    """Add the ``feeds`` command tree."""
    feeds = commands.add_parser("feeds", help="manage the feeds briefbot reads", description=__doc__)
    sub = feeds.add_subparsers(dest="feeds_command", metavar="SUBCOMMAND", required=True)

    add = sub.add_parser("add", help="add a feed by URL", description="Add a feed (RSS, Atom or JSON Feed).")
    add.add_argument("url", metavar="URL")
    add.add_argument("--topic", help="a topic label for the feed, e.g. chips")
    add.add_argument("--title", help="a display title (the feed's own title is used otherwise)")
    add.add_argument("--json", action="store_true", help="print the feed as JSON")
    add.set_defaults(handler=_add)

    imp = sub.add_parser(
        "import", help="add every feed of an OPML file", description="Import feeds from OPML."
    )
    imp.add_argument("file", metavar="FILE", help="OPML file, or - for standard input")
    imp.add_argument("--json", action="store_true", help="print what was added, kept and refused as JSON")
    imp.set_defaults(handler=_import)

    exp = sub.add_parser("export", help="print the feed list as OPML", description="Export feeds as OPML.")
    exp.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    exp.add_argument("--json", action="store_true", help="print the feed URLs as a JSON array instead")
    exp.set_defaults(handler=_export)

    lst = sub.add_parser(
        "list", help="list feeds with their health", description="List feeds and their state."
    )
    lst.add_argument("--json", action="store_true", help="print a JSON array, one object per feed")
    lst.set_defaults(handler=_list)

    rm = sub.add_parser("remove", help="remove a feed (its articles stay)", description="Remove a feed.")
    rm.add_argument("url", metavar="URL")
    rm.add_argument("--json", action="store_true", help="print the result as JSON")
    rm.set_defaults(handler=_remove)


def feed_json(feed: Feed) -> dict[str, Any]:
    """The JSON shape of a feed in ``feeds list --json``."""
    return {
        "url": feed.url,
        "title": feed.title,
        "topic": feed.topic,
        "status": feed.status.value,
        "enabled": feed.enabled,
        "last_fetch": feed.last_fetch,
        "last_success": feed.last_success,
        "error_count": feed.error_count,
        "last_error": feed.last_error,
        "next_fetch": feed.next_fetch,
    }


async def _add(args: argparse.Namespace) -> int:
    async with open_app() as app:
        feed, created = app.service.add_feed(args.url, topic=args.topic, title=args.title)
    if args.json:
        print_json({**feed_json(feed), "created": created})
    else:
        print(f"{'added' if created else 'already there'}: {feed.url}")
    return 0


async def _import(args: argparse.Namespace) -> int:
    try:
        data = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {args.file}: {exc.strerror}") from None
    specs = parse_opml(data)
    async with open_app() as app:
        result = app.service.add_feeds(specs)
    if args.json:
        print_json(
            {
                "added": [f.url for f in result.added],
                "existing": [f.url for f in result.existing],
                "refused": [{"url": u, "error": e} for u, e in result.refused],
            }
        )
    else:
        for url, error in result.refused:
            print(f"refused: {url}: {error}", file=sys.stderr)
        print(
            f"{len(result.added)} added, {len(result.existing)} already there, {len(result.refused)} refused"
        )
    return 1 if result.refused and not (result.added or result.existing) else 0


async def _export(args: argparse.Namespace) -> int:
    async with open_app() as app:
        feeds = app.service.list_feeds()
    if args.json:
        print_json([f.url for f in feeds])
        return 0
    text = export_opml(feeds)
    if args.output:
        try:
            Path(args.output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise BriefbotError(f"cannot write {args.output}: {exc.strerror}") from None
    else:
        sys.stdout.write(text)
    return 0


async def _list(args: argparse.Namespace) -> int:
    async with open_app() as app:
        feeds = app.service.list_feeds()
    if args.json:
        print_json([feed_json(f) for f in feeds])
        return 0
    if not feeds:
        print("no feeds yet: add one with `briefbot feeds add URL`")
        return 0
    print(f"{'STATUS':9} {'ERR':>3}  {'LAST FETCH':16}  {'NEXT FETCH':16}  FEED")
    for f in feeds:
        times = f"{when(f.last_fetch):16}  {when(f.next_fetch):16}"
        print(f"{f.status.value:9} {f.error_count:>3}  {times}  {f.url}")
        if f.title:
            print(f"{'':52}{f.title}")
        if f.last_error:
            print(f"{'':52}last error: {f.last_error}")
    return 0


async def _remove(args: argparse.Namespace) -> int:
    async with open_app() as app:
        app.service.remove_feed(args.url)
    if args.json:
        print_json({"removed": args.url.strip()})
    else:
        print(f"removed: {args.url.strip()}")
    return 0
