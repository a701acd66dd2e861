"""Deal graphs: who invested in, partnered with, supplies or acquired whom, as a PNG.

``render_deal_graph`` turns a list of :class:`GraphEdge` into PNG bytes ready to post in a
Slack or Discord channel. Companies are nodes (a rounded box with the name, bigger for
companies in more deals); each deal is an arrow from ``source`` to ``target`` coloured by
its kind (a partnership is a plain line, it has no direction), with its label on a white
box near the middle of the edge. A legend at the bottom explains the colours.

The work is split in two so that it can be tested without looking at pixels:

* :func:`layout_deal_graph` is pure geometry: node centres and boxes, the visible path
  of every edge and where its label sits. Several deals between the same two companies
  are bent apart (symmetric curves) so each line and each label stays separate; labels
  slide along their edge, then away from it, until they overlap neither another label
  nor a company box, where that is feasible.
* :func:`render_deal_graph` draws a layout with Pillow (at twice the size, then scaled
  down, for smooth lines) and encodes it as PNG.

Both are deterministic: the force-directed layout (Fruchterman-Reingold, pure Python)
starts from a fixed-seed arrangement, so the same input gives the same bytes.

Legibility limits: at most :data:`MAX_EDGES` deals are drawn, the first ones in the
order given (callers pass the largest or most recent first); the title line then says
how many more were not shown. Names and labels are cleaned of control and other
invisible characters and cut with an ellipsis when too wide, so hostile or very long
text cannot break the picture. Text uses Pillow's built-in scalable font
(``ImageFont.load_default(size=...)``, Pillow >= 10.1 with FreeType), else the bitmap
default font; nothing is read from disk or the network. The built-in font covers Latin
text: other scripts and emoji show as placeholder boxes rather than failing.
"""

from __future__ import annotations

import io
import math
import random
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

__all__ = [
    "KINDS",
    "KIND_COLOURS",
    "MAX_EDGES",
    "Box",
    "EdgeLayout",
    "GraphEdge",
    "Layout",
    "NodeLayout",
    "clean_text",
    "layout_deal_graph",
    "render_deal_graph",
]

#: Most deals drawn in one picture; the rest are counted in the title line.
MAX_EDGES = 60

#: Edge kinds in legend order; any other kind is drawn as ``"other"``.
KINDS: tuple[str, ...] = ("investment", "partnership", "supply", "acquisition", "other")

#: Smallest and largest accepted picture sizes in pixels.
MIN_WIDTH, MIN_HEIGHT = 400, 300
MAX_SIDE = 4000

Point = tuple[float, float]
Colour = tuple[int, int, int]
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

KIND_COLOURS: dict[str, Colour] = {
    "investment": (46, 125, 50),  # green
    "partnership": (21, 101, 192),  # blue
    "supply": (230, 110, 0),  # orange
    "acquisition": (183, 28, 98),  # crimson
    "other": (110, 110, 110),  # grey
}
_BACKGROUND: Colour = (255, 255, 255)
_INK: Colour = (31, 41, 51)
_MUTED: Colour = (96, 108, 118)
_NODE_FILL: Colour = (240, 244, 248)
_HUB_FILL: Colour = (225, 233, 242)
_NODE_BORDER: Colour = (69, 90, 100)

_SEED = 20231101
_MAX_CHARS = 160  # text is cut to this many characters before it is measured
_SUPERSAMPLE = 2


@dataclass(frozen=True)
class GraphEdge:
    """One deal: ``source`` invested in / partnered with / supplies / acquired ``target``.

    ``kind`` is one of :data:`KINDS` (case-insensitive; anything else is drawn as
    ``"other"``); ``label`` is the short text shown on the edge, e.g. ``"investment $4B"``
    or ``"supply 6 GW"``.
    """

    source: str
    target: str
    kind: str
    label: str


@dataclass(frozen=True)
class Box:
    """An axis-aligned rectangle in picture pixels: left, top, right, bottom."""

    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def width(self) -> float:
        """Horizontal extent."""
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        """Vertical extent."""
        return self.y1 - self.y0

    @property
    def center(self) -> Point:
        """The middle point."""
        return ((self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2)

    def overlap_area(self, other: Box) -> float:
        """Area shared with ``other`` (0 when they merely touch or are apart)."""
        w = min(self.x1, other.x1) - max(self.x0, other.x0)
        h = min(self.y1, other.y1) - max(self.y0, other.y0)
        return w * h if w > 0 and h > 0 else 0.0

    def overlaps(self, other: Box) -> bool:
        """Whether the two rectangles share some area."""
        return self.overlap_area(other) > 0

    def within(self, outer: Box) -> bool:
        """Whether this rectangle lies entirely inside ``outer``."""
        return self.x0 >= outer.x0 and self.y0 >= outer.y0 and self.x1 <= outer.x1 and self.y1 <= outer.y1

    def grown(self, by: float) -> Box:
        """This rectangle with ``by`` pixels added on every side."""
        return Box(self.x0 - by, self.y0 - by, self.x1 + by, self.y1 + by)

    def contains(self, p: Point) -> bool:
        """Whether point ``p`` lies inside (borders included)."""
        return self.x0 <= p[0] <= self.x1 and self.y0 <= p[1] <= self.y1

    @staticmethod
    def around(center: Point, width: float, height: float) -> Box:
        """The ``width`` x ``height`` rectangle centred on ``center``."""
        x, y = center
        return Box(x - width / 2, y - height / 2, x + width / 2, y + height / 2)


@dataclass(frozen=True)
class NodeLayout:
    """A company: its full (cleaned) ``name``, the ``label`` shown, and where it sits."""

    name: str
    label: str
    center: Point
    box: Box
    degree: int
    font_size: int


@dataclass(frozen=True)
class EdgeLayout:
    """A deal as drawn.

    ``path`` is the visible polyline from the edge of the source box to the edge of the
    target box (the arrow tip when ``arrow`` is true); ``label_box`` is where the label
    sits, on its white box, and ``label_anchor`` the point of the edge it belongs to (a
    thin leader line joins them when the label had to move off the edge).
    """

    source: str
    target: str
    kind: str
    label: str
    path: tuple[Point, ...]
    arrow: bool
    label_box: Box
    label_anchor: Point
    font_size: int


@dataclass(frozen=True)
class Layout:
    """Everything :func:`render_deal_graph` draws, in output pixels.

    ``title`` is the title line ('' for none); ``omitted`` counts the deals beyond
    :data:`MAX_EDGES` that are not drawn; ``plot`` is the area nodes and labels keep
    inside; ``kinds`` are the kinds present, in legend order; ``scale`` multiplies every
    size (1.0 for a 1600 x 1000 picture).
    """

    width: int
    height: int
    title: str
    nodes: tuple[NodeLayout, ...]
    edges: tuple[EdgeLayout, ...]
    omitted: int
    plot: Box
    kinds: tuple[str, ...]
    scale: float
    title_font_size: int
    legend_font_size: int


# --------------------------------------------------------------------------------------
# Text


def clean_text(text: str) -> str:
    """``text`` without control, format, private-use or unassigned characters.

    Line breaks and other spaces become single spaces, runs of combining marks are cut to
    two (no "zalgo" towers), and the result is stripped and capped at a length worth
    measuring. Anything that is not a ``str`` is converted first.
    """
    if not isinstance(text, str):
        text = str(text)
    out: list[str] = []
    marks = 0
    for ch in text[: _MAX_CHARS * 4]:
        cat = unicodedata.category(ch)
        if ch.isspace() or cat in ("Zs", "Zl", "Zp"):
            out.append(" ")
            marks = 0
        elif cat[0] == "C":  # Cc, Cf (bidi and zero-width), Cs, Co, Cn
            continue
        elif cat[0] == "M":
            marks += 1
            if marks <= 2:
                out.append(ch)
        else:
            out.append(ch)
            marks = 0
    return " ".join("".join(out).split())[:_MAX_CHARS]


@lru_cache(maxsize=64)
def _font(size: int) -> Font:
    """Pillow's built-in scalable font at ``size`` pixels, else the bitmap default font."""
    try:
        return ImageFont.load_default(size=max(6, size))
    except Exception:  # no FreeType in this Pillow build
        return _bitmap_font()


@lru_cache(maxsize=1)
def _bitmap_font() -> Font:
    """The small fixed-size bitmap font every Pillow build has.

    ``load_default()`` without a size gives it when FreeType is missing (Pillow 10.1);
    later versions also offer it directly as ``load_default_imagefont()``.
    """
    loader = getattr(ImageFont, "load_default_imagefont", None)
    font: Font = loader() if loader is not None else ImageFont.load_default()
    return font


def _scalable(font: Font) -> bool:
    return isinstance(font, ImageFont.FreeTypeFont)


def _drawable(text: str, font: Font) -> str:
    """``text`` restricted to what ``font`` can encode (the bitmap font takes Latin-1)."""
    if _scalable(font):
        return text
    return text.replace("…", "...").encode("latin-1", "replace").decode("latin-1")


def _ellipsis(font: Font) -> str:
    return "…" if _scalable(font) else "..."


def _text_width(text: str, font: Font) -> float:
    if not text:
        return 0.0
    left, _, right, _ = font.getbbox(_drawable(text, font))
    return float(right - left)


def _line_extent(font: Font) -> tuple[float, float]:
    """Top and bottom of a line of text drawn at y=0 (same for every string)."""
    _, top, _, bottom = font.getbbox("Hgjy|")
    return float(top), float(bottom)


def _line_height(font: Font) -> float:
    top, bottom = _line_extent(font)
    return bottom - top


def _fit_text(text: str, font: Font, max_width: float) -> str:
    """``text`` as is if it fits in ``max_width`` pixels, else cut with an ellipsis."""
    if _text_width(text, font) <= max_width:
        return text
    dots = _ellipsis(font)
    lo, hi = 0, len(text)  # longest prefix that fits lies in [lo, hi)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _text_width(text[:mid].rstrip() + dots, font) <= max_width:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo].rstrip() + dots


# --------------------------------------------------------------------------------------
# Layout


@dataclass
class _Node:
    name: str
    degree: int = 0
    label: str = ""
    font_size: int = 0
    w: float = 0.0
    h: float = 0.0


def _normalise_kind(kind: object) -> str:
    value = clean_text(str(kind)).lower()
    return value if value in KINDS else "other"


def _title_line(title: str | None, shown: int, omitted: int, font: Font, max_width: float) -> str:
    """The title (cut to fit) followed by "N more not shown" when deals were left out."""
    text = clean_text(title) if title is not None else ""
    if omitted <= 0:
        return _fit_text(text, font, max_width)
    note = f"{omitted} more not shown"
    if not text:
        return _fit_text(f"{shown} deals shown · {note}", font, max_width)
    room = max_width - _text_width(f" · {note}", font)
    return f"{_fit_text(text, font, max(room, 0.0))} · {note}"


def layout_deal_graph(
    edges: Sequence[GraphEdge], width: int = 1600, height: int = 1000, *, title: str | None = None
) -> Layout:
    """Place the companies and deals of ``edges`` in a ``width`` x ``height`` picture.

    Only the first :data:`MAX_EDGES` edges are laid out; ``Layout.omitted`` counts the
    rest and the title line mentions them. Raises ``ValueError("no deals to draw")`` for
    no edges and ``ValueError`` for a size outside
    ``MIN_WIDTH..MAX_SIDE`` x ``MIN_HEIGHT..MAX_SIDE``.
    """
    if not edges:
        raise ValueError("no deals to draw")
    if not (MIN_WIDTH <= width <= MAX_SIDE and MIN_HEIGHT <= height <= MAX_SIDE):
        raise ValueError(
            f"picture size {width}x{height} outside {MIN_WIDTH}..{MAX_SIDE} x {MIN_HEIGHT}..{MAX_SIDE}"
        )
    kept = list(edges[:MAX_EDGES])
    omitted = len(edges) - len(kept)

    scale = max(0.55, min(2.0, width / 1600, height / 1000))
    margin = 22 * scale
    title_size = round(30 * scale)
    legend_size = round(17 * scale)
    title_font = _font(title_size)
    title_text = _title_line(title, len(kept), omitted, title_font, width - 2 * margin)
    top = margin + (_line_height(title_font) + 16 * scale if title_text else 0)
    bottom = height - margin - _line_height(_font(legend_size)) - 14 * scale
    plot = Box(margin, top, width - margin, bottom)

    # Companies, in order of first appearance, keyed by their cleaned name.
    nodes: dict[str, _Node] = {}
    cleaned: list[tuple[str, str, str, str]] = []
    for edge in kept:
        src = clean_text(edge.source) or "?"
        dst = clean_text(edge.target) or "?"
        kind = _normalise_kind(edge.kind)
        label = clean_text(edge.label) or kind
        cleaned.append((src, dst, kind, label))
        for name in (src, dst) if src != dst else (src,):
            nodes.setdefault(name, _Node(name)).degree += 1
    order = list(nodes)
    index = {name: i for i, name in enumerate(order)}

    positions: list[Point] = []
    for shrink in (1.0, 0.85, 0.7, 0.55, 0.45):
        _size_nodes(nodes.values(), scale * shrink, width)
        sizes = [(nodes[n].w, nodes[n].h) for n in order]
        # One spring per linked pair: parallel deals should not pull the pair closer.
        pairs = sorted(
            {(min(index[s], index[t]), max(index[s], index[t])) for s, t, _, _ in cleaned if s != t}
        )
        gap = 20 * scale * shrink
        positions = _force_layout(sizes, pairs, plot)
        positions = _separate(positions, sizes, plot, gap)
        if not _any_overlap(positions, sizes, gap * 0.5):
            break
        grid = _grid_layout(positions, sizes, plot, gap)
        if grid is not None:
            positions = grid
            break

    node_layouts = tuple(
        NodeLayout(
            name=name,
            label=nodes[name].label,
            center=positions[i],
            box=Box.around(positions[i], nodes[name].w, nodes[name].h),
            degree=nodes[name].degree,
            font_size=nodes[name].font_size,
        )
        for i, name in enumerate(order)
    )
    edge_layouts = _route_edges(cleaned, node_layouts, index, plot, scale)
    kinds = tuple(k for k in KINDS if any(e.kind == k for e in edge_layouts))
    return Layout(
        width=width,
        height=height,
        title=title_text,
        nodes=node_layouts,
        edges=edge_layouts,
        omitted=omitted,
        plot=plot,
        kinds=kinds,
        scale=scale,
        title_font_size=title_size,
        legend_font_size=legend_size,
    )


def _size_nodes(nodes: Iterable[_Node], scale: float, width: int) -> None:
    """Font size, shown label and box size of each node; bigger for more deals."""
    max_label = min(300 * scale, width * 0.22)
    for node in nodes:
        size = round((20 + 2.8 * min(node.degree - 1, 5)) * scale)
        font = _font(size)
        node.font_size = size
        node.label = _fit_text(node.name, font, max_label)
        line = _line_height(font)
        node.w = _text_width(node.label, font) + 1.6 * size
        node.h = line + 0.95 * size


def _clamp_into(p: Point, size: tuple[float, float], area: Box) -> Point:
    """``p`` moved so that a box of ``size`` centred on it stays inside ``area``."""
    hw, hh = size[0] / 2, size[1] / 2
    x = min(max(p[0], area.x0 + hw), area.x1 - hw) if area.width >= 2 * hw else area.center[0]
    y = min(max(p[1], area.y0 + hh), area.y1 - hh) if area.height >= 2 * hh else area.center[1]
    return (x, y)


def _force_layout(sizes: list[tuple[float, float]], pairs: list[tuple[int, int]], area: Box) -> list[Point]:
    """Fruchterman-Reingold from a fixed-seed circle, stretched to fill ``area``.

    Distances are measured between box outlines (approximated by ellipses around the
    boxes) rather than centres, so wide name boxes get the room they need.
    """
    n = len(sizes)
    cx, cy = area.center
    if n == 1:
        return [(cx, cy)]
    rng = random.Random(_SEED)
    # Work in a square space where a box's half-diagonal is its "radius".
    sx, sy = area.width, area.height
    radii = [0.5 * math.hypot(w / sx, h / sy) for w, h in sizes]
    k = 0.75 * math.sqrt(1.0 / n)
    pos = [
        [
            0.5 + 0.35 * math.cos(2 * math.pi * i / n) + rng.uniform(-0.01, 0.01),
            0.5 + 0.35 * math.sin(2 * math.pi * i / n) + rng.uniform(-0.01, 0.01),
        ]
        for i in range(n)
    ]
    iterations = max(50, min(300, 1_500_000 // (n * n)))
    temperature = 0.1
    cool = temperature / (iterations + 1)
    for _ in range(iterations):
        disp = [[0.0, 0.0] for _ in range(n)]
        for i in range(n):
            xi, yi = pos[i]
            ri = radii[i]
            for j in range(i + 1, n):
                dx = xi - pos[j][0]
                dy = yi - pos[j][1]
                dist = math.hypot(dx, dy) or 1e-6
                gap = max(dist - 0.9 * (ri + radii[j]), 0.02 * k)
                force = k * k / gap
                fx, fy = dx / dist * force, dy / dist * force
                disp[i][0] += fx
                disp[i][1] += fy
                disp[j][0] -= fx
                disp[j][1] -= fy
        for i, j in pairs:
            dx = pos[i][0] - pos[j][0]
            dy = pos[i][1] - pos[j][1]
            dist = math.hypot(dx, dy) or 1e-6
            force = dist * dist / k
            fx, fy = dx / dist * force, dy / dist * force
            disp[i][0] -= fx
            disp[i][1] -= fy
            disp[j][0] += fx
            disp[j][1] += fy
        for i in range(n):
            # Mild gravity keeps unconnected groups from drifting to the corners.
            disp[i][0] += (0.5 - pos[i][0]) * 2.0 * k
            disp[i][1] += (0.5 - pos[i][1]) * 2.0 * k
            d = math.hypot(disp[i][0], disp[i][1])
            if d > 0:
                step = min(d, temperature)
                pos[i][0] = min(1.0, max(0.0, pos[i][0] + disp[i][0] / d * step))
                pos[i][1] = min(1.0, max(0.0, pos[i][1] + disp[i][1] / d * step))
        temperature -= cool
    # Stretch the result to fill the area, keeping every box inside.
    xs = [p[0] for p in pos]
    ys = [p[1] for p in pos]
    max_hw = max(w for w, _ in sizes) / 2
    max_hh = max(h for _, h in sizes) / 2
    x_lo, x_hi = area.x0 + max_hw, area.x1 - max_hw
    y_lo, y_hi = area.y0 + max_hh, area.y1 - max_hh

    def stretch(v: float, lo_v: float, hi_v: float, lo: float, hi: float) -> float:
        if hi_v - lo_v < 1e-9 or hi <= lo:
            return (lo + hi) / 2
        return lo + (v - lo_v) / (hi_v - lo_v) * (hi - lo)

    return [
        _clamp_into(
            (
                stretch(x, min(xs), max(xs), x_lo, x_hi),
                stretch(y, min(ys), max(ys), y_lo, y_hi),
            ),
            sizes[i],
            area,
        )
        for i, (x, y) in enumerate(pos)
    ]


def _separate(positions: list[Point], sizes: list[tuple[float, float]], area: Box, gap: float) -> list[Point]:
    """Push overlapping boxes apart (keeping ``gap`` pixels between them) inside ``area``."""
    pos = [list(p) for p in positions]
    n = len(pos)
    for _ in range(400):
        moved = False
        for i in range(n):
            for j in range(i + 1, n):
                dx = pos[j][0] - pos[i][0]
                dy = pos[j][1] - pos[i][1]
                ox = (sizes[i][0] + sizes[j][0]) / 2 + gap - abs(dx)
                oy = (sizes[i][1] + sizes[j][1]) / 2 + gap - abs(dy)
                if ox <= 0 or oy <= 0:
                    continue
                moved = True
                # Move along the axis that needs the smaller push; widths are larger than
                # heights, so a vertical push is preferred unless it is much longer.
                if oy <= ox * 1.5:
                    sign = 1.0 if dy > 0 or (dy == 0 and i < j) else -1.0
                    pos[i][1] -= sign * oy / 2
                    pos[j][1] += sign * oy / 2
                else:
                    sign = 1.0 if dx > 0 or (dx == 0 and i < j) else -1.0
                    pos[i][0] -= sign * ox / 2
                    pos[j][0] += sign * ox / 2
                for m in (i, j):
                    pos[m][0], pos[m][1] = _clamp_into((pos[m][0], pos[m][1]), sizes[m], area)
        if not moved:
            break
    return [(p[0], p[1]) for p in pos]


def _any_overlap(positions: list[Point], sizes: list[tuple[float, float]], gap: float) -> bool:
    boxes = [Box.around(p, w + gap, h + gap) for p, (w, h) in zip(positions, sizes, strict=True)]
    return any(boxes[i].overlaps(boxes[j]) for i in range(len(boxes)) for j in range(i + 1, len(boxes)))


def _grid_layout(
    positions: list[Point], sizes: list[tuple[float, float]], area: Box, gap: float
) -> list[Point] | None:
    """Nodes on a regular grid (rows by current height, then by x), or None if it cannot fit."""
    n = len(sizes)
    cell_w = max(w for w, _ in sizes) + gap
    cell_h = max(h for _, h in sizes) + gap
    cols = max(1, int(area.width // cell_w))
    rows = math.ceil(n / cols)
    if rows * cell_h > area.height + gap or cols * cell_w > area.width + gap:
        return None
    order = sorted(range(n), key=lambda i: (positions[i][1], positions[i][0], i))
    result: list[Point] = [(0.0, 0.0)] * n
    step_y = area.height / rows
    for r in range(rows):
        row = sorted(order[r * cols : (r + 1) * cols], key=lambda i: (positions[i][0], i))
        step_x = area.width / len(row)
        for c, i in enumerate(row):
            result[i] = _clamp_into(
                (area.x0 + step_x * (c + 0.5), area.y0 + step_y * (r + 0.5)), sizes[i], area
            )
    return result


def _cubic(p0: Point, c1: Point, c2: Point, p3: Point, steps: int = 64) -> list[Point]:
    pts: list[Point] = []
    for s in range(steps + 1):
        t = s / steps
        u = 1 - t
        a, b, c, d = u * u * u, 3 * u * u * t, 3 * u * t * t, t * t * t
        pts.append(
            (
                a * p0[0] + b * c1[0] + c * c2[0] + d * p3[0],
                a * p0[1] + b * c1[1] + c * c2[1] + d * p3[1],
            )
        )
    return pts


def _exit_point(inside: Point, outside: Point, box: Box) -> Point:
    """Where segment ``inside``-``outside`` crosses the border of ``box`` (bisection)."""
    a, b = inside, outside
    for _ in range(16):
        m = ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)
        if box.contains(m):
            a = m
        else:
            b = m
    return b


def _clip(points: list[Point], start: Box, end: Box) -> list[Point]:
    """The part of the curve ``points`` outside the ``start`` and ``end`` boxes."""
    first = next((i for i, p in enumerate(points) if not start.contains(p)), None)
    last = next((i for i in range(len(points) - 1, -1, -1) if not end.contains(points[i])), None)
    if first is None or last is None or last < first:
        return []
    out = points[first : last + 1]
    if first > 0:
        out = [_exit_point(points[first - 1], points[first], start), *out]
    if last < len(points) - 1:
        out = [*out, _exit_point(points[last + 1], points[last], end)]
    return out


def _length(path: Sequence[Point]) -> float:
    return sum(math.dist(path[i], path[i + 1]) for i in range(len(path) - 1))


def _point_at(path: Sequence[Point], fraction: float) -> tuple[Point, Point]:
    """The point at ``fraction`` of the length of ``path`` and the unit direction there."""
    total = _length(path)
    goal = total * fraction
    run = 0.0
    for i in range(len(path) - 1):
        seg = math.dist(path[i], path[i + 1])
        if seg > 0 and run + seg >= goal:
            t = (goal - run) / seg
            p, q = path[i], path[i + 1]
            return (p[0] + (q[0] - p[0]) * t, p[1] + (q[1] - p[1]) * t), (
                (q[0] - p[0]) / seg,
                (q[1] - p[1]) / seg,
            )
        run += seg
    return path[-1], (1.0, 0.0)


def _route_edges(
    edges: list[tuple[str, str, str, str]],
    nodes: tuple[NodeLayout, ...],
    index: dict[str, int],
    plot: Box,
    scale: float,
) -> tuple[EdgeLayout, ...]:
    """Curves for every edge (parallel deals bent apart) and a free spot for each label."""
    label_size = round(17 * scale)
    font = _font(label_size)
    line = _line_height(font)
    pad_x, pad_y = 7 * scale, 4 * scale
    label_h = line + 2 * pad_y
    separation = max(label_h + 12 * scale, 46 * scale)

    groups: dict[tuple[int, int], list[int]] = {}
    for e, (src, dst, _, _) in enumerate(edges):
        a, b = index[src], index[dst]
        groups.setdefault((min(a, b), max(a, b)), []).append(e)

    paths: list[list[Point]] = [[] for _ in edges]
    for (a, b), members in groups.items():
        na, nb = nodes[a], nodes[b]
        for rank, e in enumerate(members):
            src, dst = edges[e][0], edges[e][1]
            p0, p3 = nodes[index[src]].center, nodes[index[dst]].center
            if a == b:  # a company dealing with itself: a loop above or below its box
                box = na.box
                up = box.center[1] > plot.center[1]
                reach = box.height * (2.4 + 1.5 * rank)
                spread = max(box.width * 0.5, box.height * 1.5) + 22 * scale * rank
                dy = -reach if up else reach
                c1 = (box.center[0] - spread, box.center[1] + dy)
                c2 = (box.center[0] + spread, box.center[1] + dy)
            else:
                # Offsets measured on the a->b normal so that b->a deals bend the same way.
                ax, ay = na.center
                bx, by = nb.center
                dist = math.hypot(bx - ax, by - ay) or 1.0
                nx, ny = -(by - ay) / dist, (bx - ax) / dist
                # Bundles of many deals fan out no wider than most of the picture.
                spacing = min(separation, 0.8 * min(plot.width, plot.height) / max(len(members) - 1, 1))
                offset = (rank - (len(members) - 1) / 2) * spacing
                h = offset / 0.75  # a cubic's midpoint lies at 3/4 of its control offset
                c1 = (p0[0] + (p3[0] - p0[0]) / 3 + nx * h, p0[1] + (p3[1] - p0[1]) / 3 + ny * h)
                c2 = (p0[0] + 2 * (p3[0] - p0[0]) / 3 + nx * h, p0[1] + 2 * (p3[1] - p0[1]) / 3 + ny * h)
            start = nodes[index[src]].box.grown(3 * scale)
            end = nodes[index[dst]].box.grown(4 * scale)
            paths[e] = _clip(_cubic(p0, c1, c2, p3), start, end)

    node_boxes = [n.box.grown(4 * scale) for n in nodes]
    placed: list[Box] = []
    result: list[EdgeLayout] = []
    for e, (src, dst, kind, label) in enumerate(edges):
        text = _fit_text(label, font, 260 * scale)
        w = _text_width(text, font) + 2 * pad_x
        path = paths[e] or [nodes[index[src]].center, nodes[index[dst]].center]
        best: tuple[float, Box, Point] | None = None
        for box, anchor in _label_spots(path, w, label_h, plot, scale):
            score = sum(box.overlap_area(o) for o in placed) + sum(box.overlap_area(o) for o in node_boxes)
            if best is None or score < best[0]:
                best = (score, box, anchor)
                if score == 0:
                    break
        assert best is not None
        _, box, anchor = best
        placed.append(box)
        result.append(
            EdgeLayout(
                source=src,
                target=dst,
                kind=kind,
                label=text,
                path=tuple(paths[e]),
                arrow=kind != "partnership",
                label_box=box,
                label_anchor=anchor,
                font_size=label_size,
            )
        )
    return tuple(result)


def _label_spots(
    path: Sequence[Point], w: float, h: float, plot: Box, scale: float
) -> Iterable[tuple[Box, Point]]:
    """Candidate label boxes (kept inside ``plot``) in order of preference, with anchors.

    First centred on the edge, sliding from its middle towards its ends; then beside
    the edge; then on rings around the middle of the edge.
    """
    fractions = (0.5, 0.42, 0.58, 0.34, 0.66, 0.26, 0.74, 0.18, 0.82)
    step = h + 4 * scale
    for nudge in (0.0, 1.0, -1.0, 2.0, -2.0):
        for fraction in fractions:
            (px, py), (tx, ty) = _point_at(path, fraction)
            shift = nudge * step
            yield _clamp_box(Box.around((px - ty * shift, py + tx * shift), w, h), plot), (px, py)
    mid, _ = _point_at(path, 0.5)
    for ring in range(3, 12):
        radius = ring * step
        for a in range(24):
            angle = 2 * math.pi * a / 24
            center = (mid[0] + math.cos(angle) * radius * 1.6, mid[1] + math.sin(angle) * radius)
            yield _clamp_box(Box.around(center, w, h), plot), mid


def _clamp_box(box: Box, area: Box) -> Box:
    x, y = _clamp_into(box.center, (box.width, box.height), area)
    return Box.around((x, y), box.width, box.height)


# --------------------------------------------------------------------------------------
# Drawing


def render_deal_graph(
    edges: Sequence[GraphEdge], *, title: str | None = None, width: int = 1600, height: int = 1000
) -> bytes:
    """A PNG picture (``width`` x ``height``) of the deals in ``edges``.

    See :func:`layout_deal_graph` for what is drawn and the errors raised: notably
    ``ValueError("no deals to draw")`` for an empty list, and at most :data:`MAX_EDGES`
    deals, the first ones given, with "N more not shown" in the title line.
    """
    layout = layout_deal_graph(edges, width, height, title=title)
    return _draw(layout)


def _draw(layout: Layout) -> bytes:
    ss = _SUPERSAMPLE if _scalable(_font(12)) else 1
    image = Image.new("RGB", (layout.width * ss, layout.height * ss), _BACKGROUND)
    draw = ImageDraw.Draw(image)
    s = layout.scale

    def pt(p: Point) -> Point:
        return (p[0] * ss, p[1] * ss)

    def bx(b: Box) -> tuple[float, float, float, float]:
        return (b.x0 * ss, b.y0 * ss, b.x1 * ss, b.y1 * ss)

    line_width = max(1, round(2.6 * s * ss))
    arrow_len, arrow_half = 15 * s, 6.5 * s
    for edge in layout.edges:
        colour = KIND_COLOURS[edge.kind]
        path = list(edge.path)
        if len(path) < 2:
            continue
        if edge.arrow:
            tip = path[-1]
            base, _ = _point_at(path, max(0.0, 1 - arrow_len / max(_length(path), 1e-6)))
            path = _trim_end(path, arrow_len * 0.7)
            _arrowhead(draw, pt(base), pt(tip), arrow_half * ss, colour)
        if len(path) >= 2:
            draw.line([pt(p) for p in path], fill=colour, width=line_width, joint="curve")

    for node in layout.nodes:
        font = _font(node.font_size * ss)
        hub = node.degree >= 3
        draw.rounded_rectangle(
            bx(node.box),
            radius=node.box.height * 0.32 * ss,
            fill=_HUB_FILL if hub else _NODE_FILL,
            outline=_NODE_BORDER,
            width=max(1, round((2.4 if hub else 1.6) * s * ss)),
        )
        _centred_text(draw, pt(node.box.center), node.label, font, _INK)

    for edge in layout.edges:
        if not edge.label_box.grown(2 * s).contains(edge.label_anchor):
            _leader(draw, edge, ss, s)
    for edge in layout.edges:
        colour = KIND_COLOURS[edge.kind]
        font = _font(edge.font_size * ss)
        draw.rounded_rectangle(
            bx(edge.label_box),
            radius=edge.label_box.height * 0.3 * ss,
            fill=(255, 255, 255),
            outline=colour,
            width=max(1, round(1.3 * s * ss)),
        )
        dark = (colour[0] * 3 // 4, colour[1] * 3 // 4, colour[2] * 3 // 4)
        _centred_text(draw, pt(edge.label_box.center), edge.label, font, dark)

    margin = 22 * s
    if layout.title:
        font = _font(layout.title_font_size * ss)
        top, _ = _line_extent(font)
        draw.text((margin * ss, margin * ss - top), _drawable(layout.title, font), fill=_INK, font=font)
    _legend(draw, layout, ss)

    if ss != 1:
        image = image.resize((layout.width, layout.height), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _leader(draw: ImageDraw.ImageDraw, edge: EdgeLayout, ss: int, s: float) -> None:
    """A thin line from a label that moved off its edge back to the edge, with a dot there."""
    box = edge.label_box
    ax, ay = edge.label_anchor
    x = min(max(ax, box.x0), box.x1)
    y = min(max(ay, box.y0), box.y1)
    colour = KIND_COLOURS[edge.kind]
    draw.line([(x * ss, y * ss), (ax * ss, ay * ss)], fill=colour, width=max(1, round(1.2 * s * ss)))
    r = 3.2 * s * ss
    draw.ellipse((ax * ss - r, ay * ss - r, ax * ss + r, ay * ss + r), fill=colour)


def _trim_end(path: list[Point], cut: float) -> list[Point]:
    """``path`` shortened by ``cut`` pixels at its end (so a thick line stops under the arrow)."""
    total = _length(path)
    if total <= cut:
        return path[:1]
    end, _ = _point_at(path, (total - cut) / total)
    run = 0.0
    out = [path[0]]
    for i in range(len(path) - 1):
        run += math.dist(path[i], path[i + 1])
        if run >= total - cut:
            break
        out.append(path[i + 1])
    out.append(end)
    return out


def _arrowhead(draw: ImageDraw.ImageDraw, base: Point, tip: Point, half: float, colour: Colour) -> None:
    dx, dy = tip[0] - base[0], tip[1] - base[1]
    d = math.hypot(dx, dy)
    if d == 0:
        return
    nx, ny = -dy / d * half, dx / d * half
    draw.polygon([tip, (base[0] + nx, base[1] + ny), (base[0] - nx, base[1] - ny)], fill=colour)


def _centred_text(draw: ImageDraw.ImageDraw, center: Point, text: str, font: Font, fill: Colour) -> None:
    text = _drawable(text, font)
    left, _, right, _ = font.getbbox(text)
    top, bottom = _line_extent(font)
    x = center[0] - (left + right) / 2
    y = center[1] - (top + bottom) / 2
    draw.text((x, y), text, fill=fill, font=font)


def _legend(draw: ImageDraw.ImageDraw, layout: Layout, ss: int) -> None:
    """One row at the bottom: a sample line (with arrow for directed kinds) and the kind."""
    s = layout.scale
    font = _font(layout.legend_font_size * ss)
    margin = 22 * s
    line = _line_height(font) / ss
    y = layout.height - margin - line / 2
    x = margin
    sample = 34 * s
    for kind in layout.kinds:
        colour = KIND_COLOURS[kind]
        start, end = (x, y), (x + sample, y)
        if kind != "partnership":
            _arrowhead(
                draw,
                ((end[0] - 12 * s) * ss, y * ss),
                (end[0] * ss, y * ss),
                5.5 * s * ss,
                colour,
            )
            end = (end[0] - 9 * s, y)
        draw.line(
            [(start[0] * ss, start[1] * ss), (end[0] * ss, end[1] * ss)],
            fill=colour,
            width=max(1, round(2.6 * s * ss)),
        )
        label = kind
        tx = x + sample + 8 * s
        _centred_text(draw, ((tx + _text_width(label, font) / ss / 2) * ss, y * ss), label, font, _INK)
        x = tx + _text_width(label, font) / ss + 26 * s
    note = "arrows point from investor / supplier / buyer to recipient"
    nw = _text_width(note, font) / ss
    if x + nw < layout.width - margin:
        nx = layout.width - margin - nw
        _centred_text(draw, ((nx + nw / 2) * ss, y * ss), note, font, _MUTED)
