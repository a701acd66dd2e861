"""The deal ledger as the alliance graph: edges with short labels, then a PNG.

:func:`ledger_edges` turns :class:`~bot.core.records.DealRecord` rows into
:class:`~bot.render.deal_graph.GraphEdge` (one per pair a deal connects, labelled with its
kind, a short amount and the year, e.g. ``"investment up to $4B (2025)"``);
:func:`graph_png` draws a command reply's :class:`~bot.core.commands.DealGraph` with
:func:`~bot.render.deal_graph.render_deal_graph`. Chat adapters use it for ``/deals graph``
(Slack uploads the picture, the console saves it); ``briefbot deals --graph`` draws the
same edges.
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.core.commands import DealGraph
from bot.core.records import DealRecord, StoryDeal
from bot.errors import UsageError
from bot.render.deal_graph import GraphEdge, render_deal_graph

__all__ = ["graph_png", "ledger_edges", "short_amount"]


def short_amount(deal: StoryDeal) -> str:
    """ "up to $100B", "$4B", "$900M"; the written text for other currencies."""
    m = deal.amount
    if m is None:
        return ""
    if m.usd is None:
        return deal.amount_text or ""
    value = m.usd_high or m.usd
    short = f"${value / 1e9:.3g}B" if value >= 1e9 else f"${value / 1e6:.3g}M"
    return f"{m.qualifier} {short}" if m.qualifier else short


def _year(record: DealRecord) -> str:
    when = record.deal.announced or next((s.published for s in record.sources if s.published), None)
    return f"({when.year})" if when else ""


def ledger_edges(ledger: Iterable[DealRecord]) -> list[GraphEdge]:
    """One edge per pair of companies each deal connects, in the ledger's order."""
    edges = []
    for record in ledger:
        deal = record.deal
        label = " ".join(part for part in (deal.kind, short_amount(deal), _year(record)) if part)
        for source, target in deal.edges():
            edges.append(GraphEdge(source, target, deal.kind, label))
    return edges


def graph_png(graph: DealGraph) -> bytes:
    """The PNG of ``graph``; a :class:`UsageError` (one line) when it has nothing to draw."""
    edges = ledger_edges(graph.deals)
    if not edges:
        raise UsageError("no deals to draw")
    try:
        return render_deal_graph(edges, title=graph.title)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
