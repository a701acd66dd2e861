"""``briefbot channels``: add, list and remove the channels digests are posted to."""

from __future__ import annotations

import argparse
from typing import Any

from bot.cli.common import open_app, print_json
from bot.core.subscriptions import Channel, parse_destination, split_list


def register(commands: Any) -> None:
    """Add the ``channels`` command tree."""
    channels = commands.add_parser(
        "channels",
        help="manage the channels digests are posted to",
        description="Digest destinations (PLATFORM:ID, PLATFORM being slack, discord or console) "
        "with their schedule and topics.",
    )
    sub = channels.add_subparsers(dest="channels_command", metavar="SUBCOMMAND", required=True)

    add = sub.add_parser(
        "add",
        help="add a channel, or change an existing channel's schedule or topics",
        description="Add a digest channel, or change the settings given of an existing one. "
        "New channels get their digest at 09:00 UTC on weekdays, covering every topic.",
    )
    add.add_argument(
        "destination", metavar="PLATFORM:ID", help="e.g. slack:C0123456, discord:98765, console:console"
    )
    add.add_argument("--at", metavar="HH:MM", help="when to post the digest, 24-hour clock (default 09:00)")
    add.add_argument("--tz", metavar="ZONE", help="IANA time zone of --at, e.g. Europe/Paris (default UTC)")
    add.add_argument("--days", help="weekdays, daily, or days such as mon,wed,fri (default weekdays)")
    add.add_argument("--topics", help="comma-separated topics the digest covers, or all (default all)")
    add.add_argument("--json", action="store_true", help="print the channel as JSON")
    add.set_defaults(handler=_add)

    lst = sub.add_parser(
        "list", help="list channels and their schedules", description="List digest channels."
    )
    lst.add_argument("--json", action="store_true", help="print a JSON array, one object per channel")
    lst.set_defaults(handler=_list)

    rm = sub.add_parser(
        "remove",
        help="stop posting digests to a channel",
        description="Remove a digest channel and its mutes.",
    )
    rm.add_argument("destination", metavar="PLATFORM:ID")
    rm.add_argument("--json", action="store_true", help="print the result as JSON")
    rm.set_defaults(handler=_remove)


def _topics(value: str | None) -> list[str] | None:
    if value is None:
        return None
    names = split_list(value)
    return [] if [n.lower() for n in names] in ([], ["all"]) else names


def _line(channel: Channel) -> str:
    state = "" if channel.enabled else "  (disabled)"
    if channel.channel_id.startswith("user:"):  # a person's digest by direct message (/digest me)
        person = channel.channel_id.removeprefix("user:")
        return (
            f"{channel.key}  personal digest of {person} by direct message, {channel.schedule_text()}{state}"
        )
    topics = ", ".join(channel.topics) if channel.topics else "all topics"
    return f"{channel.key}  {channel.schedule_text()}; {topics}{state}"


async def _add(args: argparse.Namespace) -> int:
    platform, channel_id = parse_destination(args.destination)
    async with open_app() as app:
        channel, created = app.service.set_channel(
            platform, channel_id, at=args.at, tz=args.tz, days=args.days, topics=_topics(args.topics)
        )
    if args.json:
        print_json({**channel.as_json(), "created": created})
    else:
        print(f"{'added' if created else 'updated'}: {_line(channel)}")
    return 0


async def _list(args: argparse.Namespace) -> int:
    async with open_app() as app:
        channels = app.service.list_channels()
    if args.json:
        print_json([c.as_json() for c in channels])
        return 0
    if not channels:
        print("no channels yet: add one with `briefbot channels add slack:C0123456 --at 09:00 --tz UTC`")
        return 0
    for channel in channels:
        print(_line(channel))
    return 0


async def _remove(args: argparse.Namespace) -> int:
    platform, channel_id = parse_destination(args.destination)
    async with open_app() as app:
        app.service.remove_channel(platform, channel_id)
    if args.json:
        print_json({"removed": f"{platform}:{channel_id}"})
    else:
        print(f"removed: {platform}:{channel_id}")
    return 0
