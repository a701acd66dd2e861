"""Deal graphs as PNG: what someone looking at the posted picture would notice."""

from __future__ import annotations

import hashlib
import io
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageFont

from bot.render import deal_graph
from bot.render.deal_graph import (
    KIND_COLOURS,
    MAX_EDGES,
    Box,
    GraphEdge,
    Layout,
    clean_text,
    layout_deal_graph,
    render_deal_graph,
)

SAMPLE = [
    GraphEdge("Amazon", "Anthropic", "investment", "investment $4B (2023)"),
    GraphEdge("Amazon", "Anthropic", "investment", "investment $4B (2024)"),
    GraphEdge("Microsoft", "OpenAI", "investment", "investment $13B"),
    GraphEdge("Nvidia", "OpenAI", "investment", "investment up to $100B"),
    GraphEdge("AMD", "OpenAI", "supply", "supply 6 GW"),
    GraphEdge("Broadcom", "OpenAI", "supply", "supply 10 GW"),
    GraphEdge("Google", "Anthropic", "supply", "supply TPUs"),
    GraphEdge("Microsoft", "Anthropic", "investment", "investment $5B"),
    GraphEdge("Nvidia", "Anthropic", "investment", "investment $10B"),
    GraphEdge("Microsoft", "OpenAI", "partnership", "partnership Azure"),
]

COMPANIES = [
    "Amazon", "Anthropic", "Microsoft", "OpenAI", "Nvidia", "AMD", "Broadcom", "Google",
    "Oracle", "CoreWeave", "Meta", "xAI", "Intel", "TSMC", "SoftBank", "Mistral", "Cohere",
    "Lambda", "Crusoe", "Nebius", "Arm", "Samsung", "SK Hynix", "Micron", "Cerebras", "Groq",
]  # fmt: skip


def busy(count: int, seed: int = 7) -> list[GraphEdge]:
    """``count`` random deals among the companies above, every kind represented."""
    rng = random.Random(seed)
    kinds = ["investment", "partnership", "supply", "acquisition", "other"]
    edges = []
    for i in range(count):
        source, target = rng.sample(COMPANIES, 2)
        kind = kinds[i % len(kinds)]
        edges.append(GraphEdge(source, target, kind, f"{kind} #{i} ${rng.randint(1, 99)}B"))
    return edges


def png(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def overlapping_pairs(boxes: list[Box]) -> list[tuple[int, int]]:
    return [
        (i, j) for i in range(len(boxes)) for j in range(i + 1, len(boxes)) if boxes[i].overlaps(boxes[j])
    ]


def image_box(layout: Layout) -> Box:
    return Box(0, 0, layout.width, layout.height)


# --- the picture ---------------------------------------------------------------------------


def test_output_is_a_png_of_the_requested_size(tmp_path: Path) -> None:
    data = render_deal_graph(SAMPLE, title="AI-infrastructure alliances")
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    image = png(data)
    assert image.format == "PNG"
    assert image.size == (1600, 1000)
    (tmp_path / "deal_graph.png").write_bytes(data)  # handy to look at when a test fails

    assert png(render_deal_graph(SAMPLE, width=900, height=640)).size == (900, 640)


def test_edges_are_coloured_by_kind() -> None:
    image = png(render_deal_graph(SAMPLE)).convert("RGB")
    colours = [(n, c) for n, c in image.getcolors(maxcolors=1 << 24) or [] if isinstance(c, tuple)]

    def count(colour: tuple[int, int, int]) -> int:
        """Pixels within a small distance of ``colour``."""
        return sum(n for n, c in colours if sum(abs(a - b) for a, b in zip(c, colour, strict=True)) < 24)

    for kind in ("investment", "supply", "partnership"):
        assert count(KIND_COLOURS[kind]) > 200, kind
    assert count(KIND_COLOURS["acquisition"]) < 20  # no acquisitions in the sample


def test_same_input_gives_the_same_bytes_even_in_another_process() -> None:
    first = render_deal_graph(SAMPLE, title="Deals")
    assert render_deal_graph(list(SAMPLE), title="Deals") == first
    code = (
        "import hashlib, sys\n"
        "from bot.render.deal_graph import render_deal_graph\n"
        "from tests.render.test_deal_graph import SAMPLE\n"
        "sys.stdout.write(hashlib.sha256(render_deal_graph(SAMPLE, title='Deals')).hexdigest())\n"
    )
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root, env=env
    ).stdout
    assert out == hashlib.sha256(first).hexdigest()


# --- the layout ----------------------------------------------------------------------------


def test_two_deals_between_the_same_pair_are_drawn_apart_with_readable_labels() -> None:
    layout = layout_deal_graph(SAMPLE, 1600, 1000)
    pair = [e for e in layout.edges if (e.source, e.target) == ("Amazon", "Anthropic")]
    assert [e.label for e in pair] == ["investment $4B (2023)", "investment $4B (2024)"]
    first, second = pair
    assert not first.label_box.overlaps(second.label_box)
    # The two lines are separate curves, well apart in the middle.
    mid_first = first.path[len(first.path) // 2]
    mid_second = second.path[len(second.path) // 2]
    assert abs(mid_first[0] - mid_second[0]) + abs(mid_first[1] - mid_second[1]) > 20
    # A deal the other way round and one of another kind between the same pair also stay apart.
    both_ways = [*SAMPLE, GraphEdge("Anthropic", "Amazon", "supply", "supply Claude")]
    boxes = [
        e.label_box
        for e in layout_deal_graph(both_ways).edges
        if {e.source, e.target} == {"Amazon", "Anthropic"}
    ]
    assert len(boxes) == 3 and overlapping_pairs(boxes) == []


def test_sample_labels_overlap_neither_each_other_nor_companies() -> None:
    layout = layout_deal_graph(SAMPLE, 1600, 1000)
    labels = [e.label_box for e in layout.edges]
    assert overlapping_pairs(labels) == []
    assert [
        (e.label, n.name) for e in layout.edges for n in layout.nodes if e.label_box.overlaps(n.box)
    ] == []
    assert all(box.within(image_box(layout)) for box in labels)


@pytest.mark.parametrize(("width", "height", "count"), [(1600, 1000, 10), (1600, 1000, 60), (800, 500, 40)])
def test_companies_lie_inside_the_picture_and_do_not_overlap(width: int, height: int, count: int) -> None:
    edges = SAMPLE if count == 10 else busy(count)
    layout = layout_deal_graph(edges, width, height)
    names = {e.source for e in edges} | {e.target for e in edges}
    assert {n.name for n in layout.nodes} == names
    boxes = [n.box for n in layout.nodes]
    assert all(box.within(layout.plot) and box.within(image_box(layout)) for box in boxes)
    assert overlapping_pairs(boxes) == []
    assert all(e.label_box.within(image_box(layout)) for e in layout.edges)


def test_busy_graph_labels_avoid_each_other() -> None:
    layout = layout_deal_graph(busy(MAX_EDGES), 1600, 1000)
    assert overlapping_pairs([e.label_box for e in layout.edges]) == []


def test_companies_in_more_deals_are_drawn_bigger() -> None:
    layout = layout_deal_graph(SAMPLE)
    nodes = {n.name: n for n in layout.nodes}
    assert nodes["OpenAI"].degree == 5 and nodes["AMD"].degree == 1
    assert nodes["OpenAI"].font_size > nodes["AMD"].font_size
    assert nodes["OpenAI"].box.height > nodes["AMD"].box.height


def test_edges_run_from_source_to_target_and_partnerships_have_no_arrow() -> None:
    layout = layout_deal_graph(SAMPLE)
    nodes = {n.name: n for n in layout.nodes}
    for edge in layout.edges:
        start, end = edge.path[0], edge.path[-1]
        source, target = nodes[edge.source].center, nodes[edge.target].center
        # The visible line starts by the source box and ends (at the arrow tip) by the target box.
        assert nodes[edge.source].box.grown(12).contains(start)
        assert nodes[edge.target].box.grown(12).contains(end)
        assert (start[0] - source[0]) ** 2 + (start[1] - source[1]) ** 2 < (start[0] - target[0]) ** 2 + (
            start[1] - target[1]
        ) ** 2
        assert edge.arrow == (edge.kind != "partnership")
    assert layout.kinds == ("investment", "partnership", "supply")


def test_unknown_kinds_are_drawn_as_other() -> None:
    layout = layout_deal_graph(
        [GraphEdge("A", "B", " Joint-Venture ", "jv"), GraphEdge("A", "C", "SUPPLY", "")]
    )
    assert [e.kind for e in layout.edges] == ["other", "supply"]
    assert [e.label for e in layout.edges] == ["jv", "supply"]  # an empty label falls back to the kind


# --- input the picture must survive --------------------------------------------------------


def test_hostile_names_and_labels_do_not_crash_and_are_cut() -> None:
    edges = [
        GraphEdge("A" * 500, "B\x00\x1b[31mred\u202eevil\u200b", "investment", "x" * 1000),
        GraphEdge("😀🚀 Emoji Corp", "شركة عربية", "supply", "supply \u200d 5 GW 🎉\r\nline two"),
        GraphEdge("Self", "Self", "partnership", "self deal"),
        GraphEdge("Z\u0334\u0321\u0322\u031b\u0316\u0317\u0318algo", "\n\t", "", "\x00\x01"),
        GraphEdge("\ud800lone surrogate", "Tab\tCo", "other", "\x7f\x9f" + "y" * 50),
    ]
    title = "\x07title " + "t" * 400
    assert png(render_deal_graph(edges, title=title)).size == (1600, 1000)

    layout = layout_deal_graph(edges, title=title)
    labels = {n.name: n.label for n in layout.nodes}
    long_label = next(label for name, label in labels.items() if name.startswith("AAAA"))
    assert long_label.endswith("…") and 10 < len(long_label) < 60
    assert labels["B[31mredevil"] == "B[31mredevil"  # control and bidi characters dropped, text kept
    assert labels["Tab Co"] == "Tab Co"
    assert "?" in labels  # a name with nothing printable still gets a box
    assert "lone surrogate" in labels
    for node in layout.nodes:
        assert node.box.width <= layout.width * 0.25
        assert not any(ord(ch) < 32 or 0x7F <= ord(ch) < 0xA0 for ch in node.label)
    edge_labels = [e.label for e in layout.edges]
    assert edge_labels[0].endswith("…") and len(edge_labels[0]) < 60
    assert edge_labels[1] == "supply 5 GW 🎉 line two"
    assert edge_labels[3] == "other"
    assert layout.title.startswith("title ttt") and layout.title.endswith("…")
    assert all(e.label_box.width <= 300 for e in layout.edges)


def test_clean_text_strips_invisible_characters_and_collapses_space() -> None:
    assert clean_text("  Open\x00AI\u200b \n\t Inc\u202e ") == "OpenAI Inc"
    assert clean_text("e\u0301\u0301\u0301\u0301x") == "e\u0301\u0301x"
    assert len(clean_text("y" * 10_000)) <= 200
    assert clean_text("Nvidia 🚀") == "Nvidia 🚀"


def test_no_deals_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"^no deals to draw$"):
        render_deal_graph([])
    with pytest.raises(ValueError, match=r"^no deals to draw$"):
        layout_deal_graph(())


@pytest.mark.parametrize(("width", "height"), [(100, 1000), (1600, 10), (100_000, 1000), (0, 0)])
def test_unusable_sizes_are_an_error(width: int, height: int) -> None:
    with pytest.raises(ValueError, match="picture size"):
        render_deal_graph(SAMPLE, width=width, height=height)


def test_too_many_deals_keep_the_first_ones_and_say_how_many_are_left_out() -> None:
    edges = busy(MAX_EDGES + 15)
    layout = layout_deal_graph(edges)
    assert layout.omitted == 15
    assert [e.label for e in layout.edges] == [e.label for e in edges[:MAX_EDGES]]
    assert layout.title == f"{MAX_EDGES} deals shown · 15 more not shown"
    titled = layout_deal_graph(edges, title="This week's deals")
    assert titled.title == "This week's deals · 15 more not shown"
    # A very long title is cut, the note is not.
    assert layout_deal_graph(edges, title="T" * 500).title.endswith("… · 15 more not shown")
    assert png(render_deal_graph(edges, title="This week's deals")).size == (1600, 1000)

    exact = layout_deal_graph(edges[:MAX_EDGES], title="All")
    assert exact.omitted == 0 and exact.title == "All"


@pytest.fixture
def no_freetype(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Pillow without FreeType: the scalable default font cannot be loaded."""
    bitmap = ImageFont.load_default_imagefont()

    def load_default(size: float | None = None) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
        if size is not None:
            raise OSError("The _imagingft C module is not installed")
        return bitmap

    monkeypatch.setattr(ImageFont, "load_default", load_default)
    monkeypatch.delattr(ImageFont, "load_default_imagefont")  # absent from older Pillow
    deal_graph._font.cache_clear()
    deal_graph._bitmap_font.cache_clear()
    yield
    deal_graph._font.cache_clear()
    deal_graph._bitmap_font.cache_clear()


@pytest.mark.usefixtures("no_freetype")
def test_without_freetype_the_bitmap_font_is_used() -> None:
    edges = [*SAMPLE, GraphEdge("😀 Émoji", "x" * 300, "acquisition", "…ok")]
    image = png(render_deal_graph(edges, title="fallback"))
    assert image.size == (1600, 1000)
    layout = layout_deal_graph(edges)
    assert any(n.label.endswith("...") for n in layout.nodes)
    assert overlapping_pairs([n.box for n in layout.nodes]) == []
