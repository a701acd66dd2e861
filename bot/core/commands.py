"""The one command layer every chat adapter shares: parsing, permissions, execution.

An adapter turns a platform message into a :class:`CommandContext` and the message's
text, calls :meth:`CommandLayer.handle`, and renders the platform-neutral
:class:`Reply` it gets back (its ``text``, and a ``briefing`` or an ``answer`` when there
is one). Nothing here knows a platform SDK.

- **Parsing** (:func:`parse`): ``/brief chips``, ``brief chips``, ``BRIEF  chips`` are the
  same, and so is the catch-all ``/briefbot brief chips`` (``/briefbot`` alone is ``/help``),
  which chat platforms register so every command is reachable; arguments may be quoted
  (``/subscribe keyword "liquid cooling"``, smart quotes included); control and invisible
  characters are dropped; an unknown command is a one-line reply pointing at ``/help``.
- **Permissions**: admin commands (``/feeds``, ``/schedule``, ``/digest``, ``/followups``) run for people
  named in ``BRIEFBOT_ADMINS`` (``PLATFORM:USER_ID``) and for the platform's own admins
  (``is_platform_admin``: workspace or guild admins, the local console user); everyone
  else gets a plain refusal.
- **Execution**: every user error is a one-line reply, never an exception reaching the
  adapter; an unexpected failure is logged and answered with one line too. Reply text
  passes through :func:`neutral`, so user text echoed back (or a headline) can never
  ping a channel (``<!channel>``, ``@everyone``) or carry control characters.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.core.ask import Answer
from bot.core.briefing import Briefing
from bot.core.quiet import parse_quiet
from bot.core.records import DealRecord
from bot.core.service import Service
from bot.core.since import parse_since
from bot.core.subscriptions import (
    KINDS,
    Channel,
    channel_scope,
    is_days,
    quoted,
    split_list,
    user_scope,
    visible,
)
from bot.errors import BriefbotError, UsageError

__all__ = [
    "CATCH_ALL",
    "COMMANDS",
    "Command",
    "CommandContext",
    "CommandLayer",
    "CommandSpec",
    "DealGraph",
    "Reply",
    "is_admin",
    "neutral",
    "parse",
]

log = logging.getLogger(__name__)

CATCH_ALL = "briefbot"  # ``/briefbot COMMAND ...`` runs COMMAND; alone, /help
MAX_MESSAGE_CHARS = 4000  # longer messages are refused before any parsing
MAX_LIST_LINES = 25  # lines of a list reply (feeds, stories, deals) before "... and N more"
BRIEF_LIMIT = 10
DEFAULT_BRIEF_SINCE = "24h"
DEFAULT_STORIES_SINCE = "7d"


@dataclass(frozen=True)
class CommandContext:
    """Who sent a command, and where: the platform's ids as the adapter knows them."""

    platform: str  # "slack", "discord" or "console"
    user_id: str
    channel_id: str
    thread_id: str | None = None
    is_platform_admin: bool = False  # a workspace or guild admin, or the local console user


@dataclass(frozen=True)
class Command:
    """A parsed command: its canonical ``name``, its arguments, and the argument text as typed."""

    name: str
    args: tuple[str, ...] = ()
    quoted: tuple[bool, ...] = ()  # per argument: was it written in quotes?
    rest: str = ""  # everything after the command name, trimmed (a question keeps its punctuation)


@dataclass(frozen=True)
class Reply:
    """What the bot answers, platform-neutral; adapters render it.

    ``text`` is always set (a fallback for a briefing or answer, which adapters render
    richly); ``ephemeral`` replies are shown only to the sender where the platform can;
    ``error`` marks refusals and user errors; a ``graph`` is a picture to draw and post
    (``text`` is its caption).
    """

    text: str
    briefing: Briefing | None = None
    answer: Answer | None = None
    ephemeral: bool = False
    error: bool = False
    graph: DealGraph | None = None


@dataclass(frozen=True)
class DealGraph:
    """``/deals graph``: the alliance graph of ``deals`` to draw (adapters render it as a PNG
    with ``bot.render.ledger_graph.graph_png`` and post or save it as ``filename``)."""

    deals: tuple[DealRecord, ...]
    title: str
    filename: str = "deal-graph.png"


@dataclass(frozen=True)
class CommandSpec:
    """A command as ``/help`` lists it."""

    name: str
    usage: str
    summary: str
    admin: bool = False


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        "brief", "/brief [topic] [24h|7d|all]", "a briefing of the latest stories, every sentence cited"
    ),
    CommandSpec("ask", "/ask QUESTION", "an answer from the news, with its sources"),
    CommandSpec("stories", "/stories [topic] [24h|7d|all]", "the top stories, most important first"),
    CommandSpec(
        "deals",
        "/deals [company] | /deals graph [company]",
        "the latest deals: investments, partnerships, supply; graph: who deals with whom, as a picture",
    ),
    CommandSpec(
        "subscribe",
        '/subscribe WHAT  (a topic, company or chip, or keyword "WORDS")',
        "get alerts about it",
    ),
    CommandSpec("unsubscribe", "/unsubscribe WHAT", "stop following it"),
    CommandSpec("subscriptions", "/subscriptions", "what you follow and what is muted"),
    CommandSpec("mute", "/mute WORD  (admins: /mute channel WORD)", "leave out stories mentioning WORD"),
    CommandSpec("unmute", "/unmute WORD  (admins: /unmute channel WORD)", "stop muting WORD"),
    CommandSpec(
        "quiet",
        "/quiet HH:MM-HH:MM [TIME ZONE] | /quiet off | /quiet",
        "no alerts in those hours; they wait and arrive when the hours end",
    ),
    CommandSpec("help", "/help [command]", "this list"),
    CommandSpec("feeds", "/feeds add URL [topic] | /feeds remove URL | /feeds list", "the feeds read", True),
    CommandSpec(
        "schedule",
        "/schedule HH:MM [TIME ZONE] [weekdays|daily|mon,wed]",
        "when this channel's digest is posted",
        True,
    ),
    CommandSpec(
        "digest",
        "/digest topics a,b | /digest topics all  (everyone: /digest me HH:MM [ZONE] [weekdays|daily] | off)",
        "which topics this channel's digest covers; /digest me: your own digest by direct message",
        True,
    ),
    CommandSpec(
        "followups",
        "/followups on|off|default",
        "whether replies in the bot's threads in this channel are answered without a new mention",
        True,
    ),
)
_SPECS = {spec.name: spec for spec in COMMANDS}
_ALIASES = {
    "?": "help",
    "commands": "help",
    "briefing": "brief",
    "sub": "subscribe",
    "follow": "subscribe",
    "unsub": "unsubscribe",
    "unfollow": "unsubscribe",
    "subs": "subscriptions",
    "story": "stories",
    "deal": "deals",
    "feed": "feeds",
}

_QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "«": '"', "»": '"', "‘": "'", "’": "'"})
_TOKEN = re.compile(r'"([^"]*)"|\'([^\']*)\'|(\S+)')
_MENTION = re.compile(r"<([!@#][^<>\n]{0,200})>")
_MASS_PING = re.compile(r"@(?=(?:everyone|here|channel)\b)", re.I)
_SINCE = re.compile(r"^(?:\d+\s*[mhdw]|all|\d{4}-\d{2}-\d{2})$", re.I)


# ---- parsing ------------------------------------------------------------------------------


def parse(text: str) -> Command:
    """Parse one message into a :class:`Command`; a UsageError (one line) when it is not one."""
    if len(text) > MAX_MESSAGE_CHARS:
        raise UsageError(f"that message is too long ({len(text)} characters; at most {MAX_MESSAGE_CHARS})")
    clean = visible(text.translate(_QUOTES)).strip()
    if not clean:
        raise UsageError("empty command; /help lists the commands")
    head, _, rest = clean.partition(" ")
    word = head.lstrip("/").lower()
    if word == CATCH_ALL:  # the catch-all: what follows is the command
        head, _, rest = (rest.strip() or "help").partition(" ")
        word = head.lstrip("/").lower()
    name = _ALIASES.get(word, word)
    if name not in _SPECS:
        raise UsageError(f"unknown command {quoted(head, 30)}; /help lists the commands")
    tokens: list[tuple[str, bool]] = []
    for m in _TOKEN.finditer(rest):
        double, single, bare = m.groups()
        tokens.append((bare, False) if bare is not None else (double if double is not None else single, True))
    return Command(
        name=name,
        args=tuple(t for t, _ in tokens),
        quoted=tuple(q for _, q in tokens),
        rest=" ".join(rest.split()),
    )


def is_admin(ctx: CommandContext, admins: Sequence[str]) -> bool:
    """True for the platform's own admins and for ``PLATFORM:USER_ID`` entries of ``admins``."""
    return ctx.is_platform_admin or ctx.user_id in admin_users(admins, ctx.platform)


def admin_users(admins: Iterable[str], platform: str) -> list[str]:
    """The user ids of the ``BRIEFBOT_ADMINS`` entries (``PLATFORM:USER_ID``) on ``platform``."""
    users = []
    for entry in admins:
        name, sep, user = entry.strip().partition(":")
        if sep and name.strip().lower() == platform.lower() and user.strip():
            users.append(user.strip())
    return list(dict.fromkeys(users))


def neutral(text: str) -> str:
    """Text safe to post: no control or invisible characters (newlines kept), and no mention
    that would ping anyone (``<!channel>``, ``<@U123>``, ``<@&role>``, ``@everyone``, ``@here``)."""
    lines = [visible(line).rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    out = _MENTION.sub(lambda m: m.group(1), "\n".join(lines))
    return _MASS_PING.sub("@\u200b", out)


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


# ---- execution ----------------------------------------------------------------------------


Handler = Callable[[CommandContext, Command], Reply]


class CommandLayer:
    """Runs commands against the :class:`~bot.core.service.Service` for every adapter."""

    def __init__(self, service: Service, admins: Sequence[str] = ()) -> None:
        self.service = service
        self.admins = tuple(admins)
        self._handlers: dict[str, Handler] = {
            "brief": self._brief,
            "ask": self._ask,
            "stories": self._stories,
            "deals": self._deals,
            "subscribe": self._subscribe,
            "unsubscribe": self._unsubscribe,
            "subscriptions": self._subscriptions,
            "mute": self._mute,
            "unmute": self._unmute,
            "quiet": self._quiet,
            "help": self._help,
            "feeds": self._feeds,
            "schedule": self._schedule,
            "digest": self._digest,
            "followups": self._followups,
        }

    def handle(self, ctx: CommandContext, text: str) -> Reply:
        """Parse and execute one message; never raises."""
        try:
            command = parse(text)
        except BriefbotError as exc:
            return Reply(neutral(_one_line(str(exc))), ephemeral=True, error=True)
        return self.execute(ctx, command)

    def execute(self, ctx: CommandContext, command: Command) -> Reply:
        """Check permission and run ``command``; every failure becomes a one-line reply."""
        spec = _SPECS.get(command.name)
        if spec is None:
            return Reply(
                f"unknown command {quoted(command.name, 30)}; /help lists the commands",
                ephemeral=True,
                error=True,
            )
        if spec.admin and not _personal(command) and not is_admin(ctx, self.admins):
            return Reply(
                f"/{spec.name} is for admins: workspace or server admins, "
                "and people named in BRIEFBOT_ADMINS",
                ephemeral=True,
                error=True,
            )
        try:
            reply = self._handlers[spec.name](ctx, command)
        except BriefbotError as exc:
            return Reply(neutral(_one_line(str(exc))), ephemeral=True, error=True)
        except Exception:
            log.exception("command /%s failed", spec.name)
            return Reply(f"/{spec.name} failed on our side; the error is logged", ephemeral=True, error=True)
        return Reply(
            neutral(reply.text),
            briefing=reply.briefing,
            answer=reply.answer,
            ephemeral=reply.ephemeral,
            error=reply.error,
            graph=reply.graph,
        )

    # -- everyone ------------------------------------------------------------------------

    def _brief(self, ctx: CommandContext, command: Command) -> Reply:
        since_text, words = _split_since(command.args, DEFAULT_BRIEF_SINCE)
        topics = [self.service.topic(" ".join(words))] if words else list(self._channel_topics(ctx))
        mutes = self._mutes(ctx)
        briefing = self.service.brief(
            since=parse_since(since_text, self._now()), topics=topics, mutes=mutes, limit=BRIEF_LIMIT
        )
        return Reply(briefing.top_line, briefing=briefing)

    def _ask(self, ctx: CommandContext, command: Command) -> Reply:
        if not command.rest:
            raise UsageError("ask needs a question, e.g. /ask how much has Amazon put into Anthropic?")
        key = f"{ctx.platform}:{ctx.channel_id}"
        thread = f"{key}:{ctx.thread_id}" if ctx.thread_id else key
        answer = self.service.ask(command.rest, thread=thread)
        return Reply(answer.text, answer=answer)

    def _stories(self, ctx: CommandContext, command: Command) -> Reply:
        since_text, words = _split_since(command.args, DEFAULT_STORIES_SINCE)
        topic = " ".join(words) or None
        ranked = self.service.stories(
            since=parse_since(since_text, self._now()), topic=topic, limit=BRIEF_LIMIT
        )
        if not ranked:
            about = f" about {self.service.topic(topic)}" if topic else ""
            if since_text.lower() == "all":
                return Reply(f"No stories{about} yet.")
            return Reply(
                f"No stories{about} since {since_text}; try /stories {topic + ' ' if topic else ''}all."
            )
        lines = []
        for n, r in enumerate(ranked, 1):
            story = r.story
            outlets = list(dict.fromkeys(s.outlet for s in story.sources))
            lines.append(
                f"{n}. {story.headline} ({len(outlets)} {'outlet' if len(outlets) == 1 else 'outlets'})"
            )
            url = next((s.url for s in story.sources if s.url), None)
            if url:
                lines.append(f"   {url}")
        return Reply("\n".join(lines))

    def _deals(self, ctx: CommandContext, command: Command) -> Reply:
        if command.args and command.args[0].lower() == "graph" and command.quoted[:1] != (True,):
            return self._deal_graph(" ".join(command.args[1:]) or None)
        company = " ".join(command.args) or None
        ledger = self.service.deals(company=company)
        if not ledger:
            return Reply(f"No deals found{' for ' + self.service.company(company) if company else ''} yet.")
        lines = []
        for r in ledger[:MAX_LIST_LINES]:
            d = r.deal
            when = d.announced or next((s.published for s in r.sources if s.published), None)
            day = when.strftime("%Y-%m-%d") if when else "undated"
            lines.append(f"{day}  {d.describe()} (story {r.story_id}: {r.headline})")
        if len(ledger) > MAX_LIST_LINES:
            lines.append(f"... and {len(ledger) - MAX_LIST_LINES} more (briefbot deals lists them all)")
        return Reply("\n".join(lines))

    def _deal_graph(self, company: str | None) -> Reply:
        """``/deals graph [company]``: the graph to draw, or one line when there is nothing to draw."""
        ledger = self.service.deals(company=company)
        name = self.service.company(company) if company else None
        scope = f" for {name}" if name else ""
        if not ledger:
            return Reply(
                f"No deals{scope} to draw yet: the graph appears once stories with deals are analysed.",
                ephemeral=True,
            )
        title = "Who invests in, partners with and supplies whom" + (f": {name}" if name else "")
        caption = f"The deal graph{scope}: {len(ledger)} {'deal' if len(ledger) == 1 else 'deals'}."
        return Reply(caption, graph=DealGraph(tuple(ledger), title))

    def _subscribe(self, ctx: CommandContext, command: Command) -> Reply:
        kind, what = _interest_args(command)
        sub, created = self.service.subscribe(ctx.platform, ctx.user_id, what, kind)
        typed = " ".join(what.split())
        note = f" (you wrote {quoted(typed)})" if typed.casefold() != sub.value.casefold() else ""
        if not created:
            return Reply(f"You already follow {sub.label()}{note}.", ephemeral=True)
        return Reply(f"Following {sub.label()}{note}.", ephemeral=True)

    def _unsubscribe(self, ctx: CommandContext, command: Command) -> Reply:
        kind, what = _interest_args(command)
        sub = self.service.unsubscribe(ctx.platform, ctx.user_id, what, kind)
        return Reply(f"No longer following {sub.label()}.", ephemeral=True)

    def _subscriptions(self, ctx: CommandContext, command: Command) -> Reply:
        subs = self.service.subscriptions(ctx.platform, ctx.user_id)
        lines = (
            ["You follow: " + ", ".join(s.label() for s in subs) + "."]
            if subs
            else [
                "You follow nothing yet: try /subscribe chips, /subscribe AWS "
                'or /subscribe keyword "liquid cooling".'
            ]
        )
        mine = self.service.mutes(user_scope(ctx.platform, ctx.user_id))
        here = self.service.mutes(channel_scope(ctx.platform, ctx.channel_id))
        digest = self.service.personal_digest(ctx.platform, ctx.user_id)
        if digest is not None:
            state = "" if digest.enabled else " (off after a delivery failure)"
            lines.append(f"Your digest by direct message: {digest.schedule_text()}{state}.")
        quiet = self.service.quiet_hours(ctx.platform, ctx.user_id) if self.service.quiet else None
        if quiet is not None:
            lines.append(f"Your quiet hours: {quiet.label()} (alerts wait until they end).")
        if mine:
            lines.append("Muted for you: " + ", ".join(mine) + ".")
        if here:
            lines.append("Muted in this channel: " + ", ".join(here) + ".")
        return Reply("\n".join(lines), ephemeral=True)

    def _mute(self, ctx: CommandContext, command: Command) -> Reply:
        scope, where, word = self._mute_target(ctx, command)
        clean, created = self.service.mute(scope, word)
        if not created:
            return Reply(f"{clean!r} is already muted {where}.", ephemeral=True)
        return Reply(f"Muted {clean!r} {where}: stories mentioning it are left out.", ephemeral=True)

    def _unmute(self, ctx: CommandContext, command: Command) -> Reply:
        scope, where, word = self._mute_target(ctx, command)
        clean = self.service.unmute(scope, word)
        return Reply(f"Unmuted {clean!r} {where}.", ephemeral=True)

    def _quiet(self, ctx: CommandContext, command: Command) -> Reply:
        args = [a for a in command.args if a.strip()]
        if not args:
            current = self.service.quiet_hours(ctx.platform, ctx.user_id)
            if current is None:
                return Reply(
                    "You have no quiet hours of your own. Set them with /quiet 22:00-07:00 [TIME ZONE].",
                    ephemeral=True,
                )
            return Reply(f"Your quiet hours: {current.label()}. /quiet off clears them.", ephemeral=True)
        if len(args) == 1 and args[0].lower() in {"off", "none", "clear"}:
            self.service.set_quiet_hours(ctx.platform, ctx.user_id, None)
            return Reply("Quiet hours cleared: alerts reach you at any hour.", ephemeral=True)
        quiet = parse_quiet(args)
        self.service.set_quiet_hours(ctx.platform, ctx.user_id, quiet)
        return Reply(
            f"Quiet hours set: {quiet.label()}. Alerts in those hours wait and arrive when they end.",
            ephemeral=True,
        )

    def _help(self, ctx: CommandContext, command: Command) -> Reply:
        if command.args:
            wanted = command.args[0].lstrip("/").lower()
            spec = _SPECS.get(_ALIASES.get(wanted, wanted))
            if spec is None:
                raise UsageError(f"no command {quoted(command.args[0], 30)}; /help lists them")
            admin = " (admins only)" if spec.admin else ""
            return Reply(f"{spec.usage}\n{spec.summary}{admin}", ephemeral=True)
        lines = [
            "Commands (the leading / is optional; /briefbot COMMAND runs any of them, "
            "e.g. /briefbot mute nvidia):"
        ]
        lines += [f"  {s.usage} — {s.summary}" for s in COMMANDS if not s.admin]
        if is_admin(ctx, self.admins):
            lines.append("Admin commands:")
            lines += [f"  {s.usage} — {s.summary}" for s in COMMANDS if s.admin]
        else:
            lines.append("Admins also have /feeds, /schedule, /digest and /followups.")
            lines.append(
                "  /digest me HH:MM [ZONE] [weekdays|daily] | off — your own digest by direct message"
            )
        return Reply("\n".join(lines), ephemeral=True)

    # -- admins --------------------------------------------------------------------------

    def _feeds(self, ctx: CommandContext, command: Command) -> Reply:
        action = command.args[0].lower() if command.args else "list"
        rest = command.args[1:]
        if action == "list":
            feeds = self.service.list_feeds()
            if not feeds:
                return Reply("No feeds yet: /feeds add URL", ephemeral=True)
            lines = [f"{len(feeds)} feeds:"]
            for f in feeds[:MAX_LIST_LINES]:
                problem = f" — {f.last_error}" if f.last_error else ""
                lines.append(f"{f.status.value:8} {f.url}{problem}")
            if len(feeds) > MAX_LIST_LINES:
                lines.append(f"... and {len(feeds) - MAX_LIST_LINES} more (briefbot feeds list shows all)")
            return Reply("\n".join(lines), ephemeral=True)
        if action == "add":
            if not rest or len(rest) > 2:
                raise UsageError("usage: /feeds add URL [topic]")
            feed, created = self.service.add_feed(rest[0], topic=rest[1] if len(rest) > 1 else None)
            return Reply(f"{'Added' if created else 'Already reading'} {feed.url}", ephemeral=True)
        if action == "remove":
            if len(rest) != 1:
                raise UsageError("usage: /feeds remove URL")
            self.service.remove_feed(rest[0])
            return Reply(f"Removed {rest[0]} (its articles stay searchable).", ephemeral=True)
        raise UsageError(f"unknown /feeds action {quoted(action, 20)}; use add, remove or list")

    def _schedule(self, ctx: CommandContext, command: Command) -> Reply:
        if not command.args:
            channel = self.service.channel(ctx.platform, ctx.channel_id)
            if channel is None:
                return Reply(
                    "This channel has no digest yet: /schedule 09:00 Europe/Paris weekdays", ephemeral=True
                )
            return Reply(f"This channel's digest: {_describe(channel)}.", ephemeral=True)
        at, *others = command.args
        day_words = [w for w in others if is_days(w)]
        zones = [w for w in others if not is_days(w)]
        if len(zones) > 1:
            raise UsageError(
                f"one time zone please, got {', '.join(quoted(z, 30) for z in zones)}; "
                "usage: /schedule HH:MM [TIME ZONE] [weekdays|daily|mon,wed]"
            )
        channel, _ = self.service.set_channel(
            ctx.platform,
            ctx.channel_id,
            at=at,
            tz=zones[0] if zones else None,
            days=",".join(day_words) if day_words else None,
        )
        return Reply(f"This channel's digest: {_describe(channel)}.", ephemeral=True)

    def _digest(self, ctx: CommandContext, command: Command) -> Reply:
        if _personal(command):
            return self._digest_me(ctx, command.args[1:])
        args = list(command.args)
        if not args:
            channel = self.service.channel(ctx.platform, ctx.channel_id)
            if channel is None:
                return Reply("This channel has no digest yet: /schedule 09:00 UTC weekdays", ephemeral=True)
            return Reply(f"This channel's digest: {_describe(channel)}.", ephemeral=True)
        if args[0].lower() != "topics":
            raise UsageError("usage: /digest topics a,b (or /digest topics all)")
        names = split_list(args[1:])
        if not names:
            channel = self.service.channel(ctx.platform, ctx.channel_id)
            current = ", ".join(channel.topics) if channel and channel.topics else "all"
            return Reply(f"This channel's digest covers: {current}.", ephemeral=True)
        topics = [] if [n.lower() for n in names] in (["all"], ["none"], ["any"]) else names
        channel, _ = self.service.set_channel(ctx.platform, ctx.channel_id, topics=topics)
        return Reply(f"This channel's digest: {_describe(channel)}.", ephemeral=True)

    def _followups(self, ctx: CommandContext, command: Command) -> Reply:
        """``/followups on|off|default`` for this channel; ``/followups`` says what is set."""
        word = command.args[0].lower() if command.args else ""
        if len(command.args) > 1 or word not in ("", *_SWITCH):
            raise UsageError("usage: /followups on|off|default")
        if word:
            self.service.set_thread_followups(ctx.platform, ctx.channel_id, _SWITCH[word])
        on = self.service.thread_followups(ctx.platform, ctx.channel_id)
        if on is None:
            slack = "the bot's default (BRIEFBOT_SLACK_THREAD_FOLLOWUPS)"
            default = "the default, on" if ctx.platform == "discord" else slack
            return Reply(
                f"Follow-ups in this channel: {default}; /followups on|off sets them here.", ephemeral=True
            )
        if on:
            return Reply(
                "Follow-ups in this channel: on. A reply in a thread the bot answered or started "
                "is answered without a new mention.",
                ephemeral=True,
            )
        return Reply(
            "Follow-ups in this channel: off. Replies in the bot's threads need a mention.",
            ephemeral=True,
        )

    def _digest_me(self, ctx: CommandContext, args: Sequence[str]) -> Reply:
        """``/digest me HH:MM [ZONE] [days]``, ``/digest me off``, ``/digest me``: anyone's own digest."""
        if not args:
            digest = self.service.personal_digest(ctx.platform, ctx.user_id)
            if digest is None:
                return Reply(
                    "You have no personal digest: /digest me 09:00 Europe/Paris weekdays", ephemeral=True
                )
            return Reply(f"Your digest by direct message: {digest.schedule_text()}.", ephemeral=True)
        if len(args) == 1 and args[0].lower() == "off":
            if not self.service.remove_personal_digest(ctx.platform, ctx.user_id):
                return Reply("You had no personal digest.", ephemeral=True)
            return Reply("Your personal digest is off.", ephemeral=True)
        at, *others = args
        day_words = [w for w in others if is_days(w)]
        zones = [w for w in others if not is_days(w)]
        if len(zones) > 1:
            raise UsageError(
                f"one time zone please, got {', '.join(quoted(z, 30) for z in zones)}; "
                "usage: /digest me HH:MM [TIME ZONE] [weekdays|daily] (or /digest me off)"
            )
        digest = self.service.set_personal_digest(
            ctx.platform,
            ctx.user_id,
            at=at,
            tz=zones[0] if zones else None,
            days=",".join(day_words) if day_words else None,
        )
        return Reply(
            f"Your digest by direct message: {digest.schedule_text()}; "
            "your subscriptions (all stories when none), minus your mutes.",
            ephemeral=True,
        )

    # -- helpers -------------------------------------------------------------------------

    def _now(self) -> datetime:
        return self.service.clock.now()

    def _channel_topics(self, ctx: CommandContext) -> tuple[str, ...]:
        channel = self.service.channel(ctx.platform, ctx.channel_id)
        return channel.topics if channel else ()

    def _mutes(self, ctx: CommandContext) -> list[str]:
        words = self.service.mutes(channel_scope(ctx.platform, ctx.channel_id))
        words += self.service.mutes(user_scope(ctx.platform, ctx.user_id))
        return list(dict.fromkeys(words))

    def _mute_target(self, ctx: CommandContext, command: Command) -> tuple[str, str, str]:
        args, quoted_flags = list(command.args), list(command.quoted)
        if len(args) > 1 and args[0].lower() == "channel" and not quoted_flags[0]:
            if not is_admin(ctx, self.admins):
                raise UsageError("muting for the whole channel is for admins; /mute WORD mutes it for you")
            return channel_scope(ctx.platform, ctx.channel_id), "in this channel", " ".join(args[1:])
        if not args:
            raise UsageError(f"usage: /{command.name} WORD")
        return user_scope(ctx.platform, ctx.user_id), "for you", " ".join(args)


def _split_since(args: Sequence[str], default: str) -> tuple[str, list[str]]:
    """Separate a time window ("24h", "7d", "all", "2025-11-01") from the other words."""
    since = [a for a in args if _SINCE.match(a)]
    words = [a for a in args if not _SINCE.match(a)]
    if len(since) > 1:
        raise UsageError(f"one time window please, got {', '.join(since)}")
    return (since[0] if since else default), words


def _interest_args(command: Command) -> tuple[str | None, str]:
    """(kind or None, what) from ``/subscribe [topic|company|chip|keyword] WHAT``."""
    args = list(command.args)
    if not args:
        raise UsageError(f'usage: /{command.name} WHAT (a topic, company or chip, or keyword "WORDS")')
    first = args[0].lower()
    if len(args) > 1 and not command.quoted[0] and first in (*KINDS, "word"):
        return ("keyword" if first == "word" else first), " ".join(args[1:])
    if len(args) == 1 and command.quoted[0]:
        return "keyword", args[0]
    return None, " ".join(args)


_SWITCH: dict[str, bool | None] = {
    "on": True,
    "yes": True,
    "true": True,
    "off": False,
    "no": False,
    "false": False,
    "default": None,
    "reset": None,
}


def _personal(command: Command) -> bool:
    """True for ``/digest me ...``: a person's own digest, open to everyone."""
    return command.name == "digest" and bool(command.args) and command.args[0].lower() == "me"


def _describe(channel: Channel) -> str:
    topics = ", ".join(channel.topics) if channel.topics else "all topics"
    off = "" if channel.enabled else " (off after a delivery failure: /schedule HH:MM turns it back on)"
    return f"{channel.schedule_text()}; {topics}{off}"
