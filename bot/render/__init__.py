"""Pictures for chat channels: deal graphs rendered to PNG with Pillow."""

from __future__ import annotations

from bot.render.deal_graph import GraphEdge, Layout, layout_deal_graph, render_deal_graph

__all__ = ["GraphEdge", "Layout", "layout_deal_graph", "render_deal_graph"]
