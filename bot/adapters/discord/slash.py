"""The application (slash) commands: a cog over the shared command layer.

``/brief``, ``/ask``, ``/subscribe`` (autocomplete of the taxonomy's topics and the
gazetteer's companies and chips), ``/unsubscribe`` (autocomplete of what the person
follows), ``/subscriptions``, ``/deals`` (``graph`` attaches the alliance graph PNG),
``/stories``, and for members with Manage Server ``/feeds`` and ``/schedule``
(``default_permissions(manage_guild=True)``; the command layer gets ``is_platform_admin``).

Every command defers first (Discord wants an answer within 3 s), runs the command layer in
a worker thread (``asyncio.to_thread``: the service is blocking) and answers by follow-up
(:func:`~bot.adapters.discord.replies.send_interaction_reply`). The options are turned back
into the command layer's text (``brief chips 7d``), so parsing, permissions and errors are
the same as on Slack and the console.
"""

from __future__ import annotations

import asyncio
import io
import logging
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.adapters.discord.replies import context_of, is_manager, send_interaction_reply
from bot.core.commands import Reply
from bot.core.records import DealRecord
from bot.errors import UsageError

if TYPE_CHECKING:
    from bot.adapters.discord.client import BriefbotClient

log = logging.getLogger(__name__)

MAX_CHOICES = 25
SINCE_CHOICES = [app_commands.Choice(name=n, value=n) for n in ("24h", "7d", "30d", "all")]
KIND_CHOICES = [app_commands.Choice(name=k, value=k) for k in ("topic", "company", "chip", "keyword")]
FEEDS_ACTIONS = [app_commands.Choice(name=a, value=a) for a in ("list", "add", "remove")]
GRAPH_FILE = "deals.png"


def option_arg(text: str | None) -> str:
    """An option as one argument of the command layer's text: quotes dropped, one line."""
    return " ".join((text or "").replace('"', " ").split())


def quoted_option(text: str | None) -> str:
    """An option as one quoted argument (``"liquid cooling"``), or nothing when empty."""
    value = option_arg(text)
    return f'"{value}"' if value else ""


def matching(
    names: list[tuple[str, str]], typed: str, *, labelled: bool = True
) -> list[app_commands.Choice[str]]:
    """Up to 25 choices whose name contains ``typed`` (prefix matches first); the value is
    ``kind:name`` so the choice keeps its kind."""
    needle = typed.casefold().strip()
    hits = [(k, n) for k, n in names if needle in n.casefold()]
    hits.sort(key=lambda kn: (not kn[1].casefold().startswith(needle), kn[1].casefold()))
    return [
        app_commands.Choice(name=f"{n} ({k})"[:100] if labelled else n[:100], value=f"{k}:{n}"[:100])
        for k, n in hits[:MAX_CHOICES]
    ]


def split_choice(what: str, kind: str | None) -> tuple[str | None, str]:
    """(kind, name) of an option that may be an autocomplete value ``kind:name``."""
    head, sep, rest = what.partition(":")
    if sep and head in ("topic", "company", "chip", "keyword") and rest.strip():
        return kind or head, rest
    return kind, what


def interest_text(command: str, what: str, kind: str | None) -> str:
    """``subscribe company "Amazon"``-style text for the command layer."""
    kind, name = split_choice(what, kind)
    if kind is None:
        return f"{command} {option_arg(name)}"
    return f"{command} {kind} {quoted_option(name)}"


def deal_graph_png(ledger: list[DealRecord], company: str | None, title: str | None = None) -> bytes:
    """The alliance graph of ``ledger`` as PNG bytes (Pillow loads only here), titled
    ``title`` or after ``company``."""
    from bot.render.deal_graph import GraphEdge, render_deal_graph

    edges = [
        GraphEdge(
            source, target, r.deal.kind, " ".join(p for p in (r.deal.kind, r.deal.amount_text or "") if p)
        )
        for r in ledger
        for source, target in r.deal.edges()
    ]
    if not edges:
        raise UsageError("no deals to draw yet")
    title = title or "Who invests in, partners with and supplies whom" + (f": {company}" if company else "")
    try:
        return render_deal_graph(edges, title=title)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


class CommandCog(commands.Cog):
    """A cog whose commands run through the command layer (:meth:`run`); no commands of its own."""

    def __init__(self, client: BriefbotClient) -> None:
        self.client = client

    async def run(
        self,
        interaction: discord.Interaction[Any],
        text: str,
        *,
        private: bool = False,
        admin: bool = False,
        graph_company: str | None = None,
        graph: bool = False,
    ) -> None:
        """Defer, run ``text`` through the command layer in a thread, answer by follow-up.

        With ``admin`` the person's Manage Server makes them a platform admin for the
        command layer; a reply carrying a deal graph (``/briefbot deals graph``), or
        ``graph``, attaches the alliance graph PNG."""
        await interaction.response.defer(ephemeral=private, thinking=True)
        ctx = context_of(interaction, admin=admin and is_manager(interaction))
        reply = await asyncio.to_thread(self.client.command_layer.handle, ctx, text)
        key = f"answer:discord:{ctx.channel_id}:{interaction.id}" if reply.answer is not None else None
        await send_interaction_reply(interaction, reply, deferred_ephemeral=private, key=key)
        if reply.error:
            return
        if reply.graph is not None:
            await self._send_graph(interaction, None, list(reply.graph.deals), reply.graph.title)
        elif graph:
            await self._send_graph(interaction, graph_company)

    async def _send_graph(
        self,
        interaction: discord.Interaction[Any],
        company: str | None,
        ledger: list[DealRecord] | None = None,
        title: str | None = None,
    ) -> None:
        """The alliance graph as a PNG follow-up: of ``ledger`` (titled ``title``), else of
        ``company``'s deals (all deals without one); nothing to draw is one ephemeral line."""
        service = self.client.service
        try:
            if ledger is None:
                ledger = await asyncio.to_thread(service.deals, company=company or None)
                company = service.company(company) if company else None
            png = await asyncio.to_thread(deal_graph_png, ledger, company, title)
        except UsageError as exc:
            await send_interaction_reply(
                interaction, Reply(str(exc), ephemeral=True, error=True), deferred_ephemeral=True
            )
            return
        await interaction.followup.send(
            file=discord.File(io.BytesIO(png), filename=GRAPH_FILE),
            allowed_mentions=discord.AllowedMentions.none(),
        )


class SlashCommands(CommandCog):
    """The slash commands, each a thin wrapper over the command layer."""

    # -- everyone's commands -----------------------------------------------------------

    @app_commands.command(name="brief", description="A briefing of the latest stories, every sentence cited")
    @app_commands.describe(topic="only this topic", since="how far back (default 24h)")
    @app_commands.choices(since=SINCE_CHOICES)
    async def brief(
        self, interaction: discord.Interaction[Any], topic: str | None = None, since: str | None = None
    ) -> None:
        await self.run(interaction, f"brief {option_arg(split_choice(topic or '', None)[1])} {since or ''}")

    @app_commands.command(name="ask", description="An answer from the news, with its sources")
    @app_commands.describe(question="what you want to know")
    async def ask(self, interaction: discord.Interaction[Any], question: str) -> None:
        await self.run(interaction, f"ask {question}")

    @app_commands.command(name="subscribe", description="Get alerts about a topic, company, chip or keyword")
    @app_commands.describe(what="a topic, company or chip (or words, with kind keyword)", kind="what it is")
    @app_commands.choices(kind=KIND_CHOICES)
    async def subscribe(
        self, interaction: discord.Interaction[Any], what: str, kind: str | None = None
    ) -> None:
        await self.run(interaction, interest_text("subscribe", what, kind), private=True)

    @app_commands.command(name="unsubscribe", description="Stop following something")
    @app_commands.describe(what="something you follow")
    async def unsubscribe(self, interaction: discord.Interaction[Any], what: str) -> None:
        await self.run(interaction, interest_text("unsubscribe", what, None), private=True)

    @app_commands.command(name="subscriptions", description="What you follow and what is muted")
    async def subscriptions(self, interaction: discord.Interaction[Any]) -> None:
        await self.run(interaction, "subscriptions", private=True)

    @app_commands.command(name="deals", description="The latest deals: investments, partnerships, supply")
    @app_commands.describe(company="only this company's deals", graph="attach the alliance graph (PNG)")
    async def deals(
        self, interaction: discord.Interaction[Any], company: str | None = None, graph: bool = False
    ) -> None:
        name = option_arg(split_choice(company or "", None)[1])
        await self.run(interaction, f"deals {name}", graph=graph, graph_company=name or None)

    @app_commands.command(name="stories", description="The top stories, most important first")
    @app_commands.describe(topic="only this topic", since="how far back (default 7d)")
    @app_commands.choices(since=SINCE_CHOICES)
    async def stories(
        self, interaction: discord.Interaction[Any], topic: str | None = None, since: str | None = None
    ) -> None:
        await self.run(interaction, f"stories {option_arg(split_choice(topic or '', None)[1])} {since or ''}")

    # -- admins (Manage Server) ------------------------------------------------------------

    @app_commands.command(name="feeds", description="The feeds read: list, add or remove (admins)")
    @app_commands.describe(action="list, add or remove", url="the feed's URL", topic="its topic (add)")
    @app_commands.choices(action=FEEDS_ACTIONS)
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.guild_only()
    async def feeds(
        self,
        interaction: discord.Interaction[Any],
        action: str = "list",
        url: str | None = None,
        topic: str | None = None,
    ) -> None:
        text = f"feeds {action} {option_arg(url)} {option_arg(split_choice(topic or '', None)[1])}"
        await self.run(interaction, text, private=True, admin=True)

    @app_commands.command(name="schedule", description="When this channel's digest is posted (admins)")
    @app_commands.describe(
        at="HH:MM", zone="an IANA time zone, e.g. Europe/Paris", days="weekdays, daily or mon,wed"
    )
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.guild_only()
    async def schedule(
        self,
        interaction: discord.Interaction[Any],
        at: str | None = None,
        zone: str | None = None,
        days: str | None = None,
    ) -> None:
        text = f"schedule {option_arg(at)} {option_arg(zone)} {option_arg(days)}" if at else "schedule"
        await self.run(interaction, text, private=True, admin=True)

    # -- autocomplete ------------------------------------------------------------------

    async def _names(self, kinds: tuple[str, ...]) -> list[tuple[str, str]]:
        names = await asyncio.to_thread(self.client.service.known_names)
        return [(k, n) for k, n in names if k in kinds]

    @subscribe.autocomplete("what")
    async def _subscribe_what(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        return matching(await self._names(("topic", "company", "chip")), current)

    @brief.autocomplete("topic")
    async def _brief_topic(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        return matching(await self._names(("topic",)), current, labelled=False)

    @stories.autocomplete("topic")
    async def _stories_topic(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        return matching(await self._names(("topic",)), current, labelled=False)

    @feeds.autocomplete("topic")
    async def _feeds_topic(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        return matching(await self._names(("topic",)), current, labelled=False)

    @deals.autocomplete("company")
    async def _deals_company(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        return matching(await self._names(("company",)), current, labelled=False)

    @unsubscribe.autocomplete("what")
    async def _unsubscribe_what(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        subs = await asyncio.to_thread(self.client.service.subscriptions, "discord", str(interaction.user.id))
        return matching([(s.kind, s.value) for s in subs], current)
