"""``briefbot ingest`` and ``briefbot run``: fetch feeds and store what is new."""

from __future__ import annotations

import argparse
import io
import sys
from typing import Any, TextIO

from bot.cli.common import ProgressBar, open_app, print_json
from bot.cli.stories import analysis_line
from bot.core.analysis import AnalyzeReport
from bot.errors import BriefbotError
from bot.runtime.wiring import App


def register(commands: Any) -> None:
    """Add the ``ingest`` and ``run`` commands."""
    ingest = commands.add_parser(
        "ingest",
        help="fetch the feeds that are due and store new articles",
        description="One ingest pass over the feeds that are due (or every enabled feed with --all).",
    )
    ingest.add_argument("--all", action="store_true", help="fetch every enabled feed, due or not")
    ingest.add_argument("--json", action="store_true", help="print the pass's summary as one JSON object")
    ingest.add_argument(
        "--no-analyze", action="store_true", help="store articles only; do not group them into stories now"
    )
    ingest.set_defaults(handler=_ingest)

    run = commands.add_parser(
        "run",
        help="run the bot: an ingest pass, then the scheduled jobs and the chat (the console without "
        "chat credentials)",
        description="Run one ingest pass, group what arrived into stories and show the top ones, then "
        "answer commands: with no SLACK_BOT_TOKEN or DISCORD_TOKEN set, the console reads one command per "
        "line from standard input (a terminal or a pipe; `help` lists them) until its end.",
    )
    run.add_argument("--limit", type=int, default=10, help="how many of the top stories to show")
    run.add_argument(
        "--once", action="store_true", help="stop after the ingest pass and the due deliveries (no console)"
    )
    run.set_defaults(handler=_run)


def _summary(report: Any) -> str:
    line = (
        f"{report.feeds} feeds: {report.fetched} fetched, {report.not_modified} not modified, "
        f"{report.failed} failed; {report.new_articles} new articles in {report.seconds:.1f} s"
    )
    return line


async def _ingest(args: argparse.Namespace) -> int:
    async with open_app() as app:
        report = await app.service.ingest(all_feeds=args.all, progress=ProgressBar("ingest", not args.json))
        analysis = (
            None if args.no_analyze else app.service.analyze(progress=ProgressBar("analyze", not args.json))
        )
    if args.json:
        print_json(report.as_json() | ({"analysis": analysis.as_json()} if analysis else {}))
    else:
        for url, error in report.failures:
            print(f"failed: {url}: {error}")
        print(_summary(report))
        if analysis:
            print(analysis_line(analysis))
    return 1 if report.failed else 0


async def _run(args: argparse.Namespace) -> int:
    # The scheduler, the adapters and their SDKs load only here, not for every command.
    from bot.adapters.console import ConsoleAdapter
    from bot.adapters.console_publisher import PLATFORM as CONSOLE
    from bot.adapters.console_publisher import ConsolePublisher
    from bot.adapters.slack.publisher import PLATFORM as SLACK
    from bot.core.delivery import Publisher
    from bot.runtime.chat import run_chat
    from bot.runtime.discord import PLATFORM as DISCORD
    from bot.runtime.discord import discord_publisher
    from bot.runtime.health import serve_if_configured
    from bot.runtime.leader import leader_for
    from bot.runtime.scheduler import BotScheduler, Publishers
    from bot.runtime.slack import slack_configured, slack_publisher

    async with open_app() as app:
        analysis = None
        leader = leader_for(app.store.engine)  # the jobs run on one instance; released at exit
        try:
            if leader.try_acquire():
                analysis = await _first_pass(app, args.limit)
            else:
                print(_STANDBY, file=sys.stderr)
        except BriefbotError as exc:  # no network, a bad feed list: the console still starts
            print(f"briefbot: ingest pass failed: {exc}", file=sys.stderr)
        slack = slack_configured(app.settings)  # Socket Mode or HTTP mode (#7)
        publishers: dict[str, Publisher] = {CONSOLE: ConsolePublisher(sys.stdout)}
        if slack:
            publishers[SLACK] = slack_publisher(app.settings, engine=app.store.engine)
        discord = discord_publisher(app.settings)  # DISCORD_TOKEN: digests and alerts (#8)
        if discord is not None:
            publishers[DISCORD] = discord
        jobs = BotScheduler(app, Publishers(publishers), leader=leader)
        try:
            await jobs.startup(analysis)  # unconfirmed deliveries, missed digests, first alerts
        except BriefbotError as exc:
            print(f"briefbot: deliveries failed: {exc}", file=sys.stderr)
        if args.once:
            leader.release()
            return 0
        if slack or discord is not None:
            return await run_chat(app, jobs, leader, slack=slack, discord=discord is not None)
        if app.settings.slack_bot_token:
            print(
                "briefbot: SLACK_BOT_TOKEN is set but Slack cannot start: set SLACK_APP_TOKEN (Socket Mode) "
                "or SLACK_SIGNING_SECRET and BRIEFBOT_HTTP_PORT (HTTP mode); starting the console",
                file=sys.stderr,
            )
        stdin = _console_input()
        if stdin is None:
            leader.release()
            return 0
        sys.stdout.flush()
        health = await serve_if_configured(app.settings.http_port, app.store.engine)  # /healthz, /metrics
        jobs.start()
        try:
            return await ConsoleAdapter(app.service, app.settings, stdin, sys.stdout).run()
        finally:
            jobs.shutdown()  # the end of the input ends the run, jobs and all
            leader.release()
            if health is not None:
                await health.close()


_STANDBY = (
    "briefbot: another instance runs the scheduled jobs; this one answers commands and takes "
    "them over if that instance stops"
)


async def _first_pass(app: App, limit: int) -> AnalyzeReport:
    """The ingest pass, analysis and the top stories, printed (what `run` showed before the chat)."""
    report = await app.service.ingest(progress=ProgressBar("ingest", True))
    analysis = app.service.analyze(progress=ProgressBar("analyze", True))
    top = app.service.stories(since=None, limit=max(0, limit)) if limit else []
    for url, error in report.failures:
        print(f"failed: {url}: {error}")
    print(_summary(report))
    print(analysis_line(analysis))
    for ranked in top:
        story = ranked.story
        outlets = ", ".join(dict.fromkeys(s.outlet for s in story.sources))
        print(f"- {story.headline}\n  {len(story.sources)} sources: {outlets}")
    print()
    return analysis


def _console_input() -> TextIO | None:
    """Standard input as UTF-8 text that never fails on a bad byte, or None when there is none."""
    stdin = sys.stdin
    if stdin is None or stdin.closed:
        return None
    if isinstance(stdin, io.TextIOWrapper):
        stdin.reconfigure(encoding="utf-8", errors="replace")
    return stdin
