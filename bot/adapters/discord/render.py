"""Briefings and answers as Discord embeds: plain dicts in Discord's embed JSON shape.

The adapter turns each dict into an embed with ``discord.Embed.from_dict``; nothing here
imports discord.py. Everything stays within Discord's limits: title 256 characters,
description 4,096, 25 fields of name 256 and value 1,024, footer 2,048, 6,000 characters
per embed and per message (all its embeds together) and 10 embeds per message; a
briefing that does not fit one message continues in further messages (for a thread).

Feed and model text is inert: ``escape_markdown`` neutralises Discord markdown, masked
links, mentions (``@everyone``, ``@here``, ``<@id>``, ``<@&id>``, ``<#id>``) and bare
links. The only links are masked links to the stored URLs of the sources (``[[n]](url)``
for a citation), and a long text is only ever split between them, never inside one.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.core.ask import Answer
from bot.core.briefing import SECTION_TITLES, Briefing, BriefItem, DealRow
from bot.core.records import SourceRef

TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
FIELDS_PER_EMBED = 25
FOOTER_LIMIT = 2048
AUTHOR_LIMIT = 256
EMBED_LIMIT = 6000  # title, description, field names and values, footer and author, together
MESSAGE_EMBED_LIMIT = 6000  # all the embeds of one message, together
EMBEDS_PER_MESSAGE = 10
CONTENT_LIMIT = 2000

MAX_LINK_URL = 500  # a longer stored URL is not linked (a link must fit any field whole)
FOOTER_TEXT_LIMIT = 300  # the briefing's footer line, before " · part i/n"
_PART_RESERVE = len(" · part 999/999")
BRIEFING_COLOR = 0x2B6CB0
ANSWER_COLOR = 0x2F855A
NOTHING_COLOR = 0x718096

_ZWSP = "\u200b"
_CITATION = re.compile(r"\[(\d{1,3})\]")  # as bot.core.grounding reads a citation
_PLACEHOLDER = re.compile("\ue000(\\d{1,3})\ue001")  # a citation while the text around it is escaped
_MARKDOWN = re.compile(r"([\\*_~`|\[\]])")
_LINE_START = re.compile(r"(?m)^([ \t]*)([>#-])")
_MASS_PING = re.compile(r"@(?=everyone|here)", re.I)
_ANGLE = re.compile(r"<(?=\S)")
_SCHEME = re.compile(r":(?=//)")  # "https://" anywhere, even inside a word
_SAFE_URL = re.compile(r"https?://[^\s()<>\\\[\]\"]+", re.I)
# what a cut must not fall inside: a masked link, an escape, a defused mention or scheme
_ATOMIC = re.compile(r"\[(?:\[\d{1,3}\]|[^\[\]\n]{0,900})\]\(https?://[^\s()<>]*\)|\\.|.\u200b", re.S | re.I)
_ATOM_REACH = 1500  # how far past a cut an atom may end
_SENTENCE_END = ".!?)"


# ---- inert text ---------------------------------------------------------------------------


def _visible(text: str) -> str:
    """``text`` without control, format (zero-width) or other invisible characters;
    newlines kept, other whitespace turned into spaces."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return "".join(
        ("\n" if ch == "\n" else " ") if ch.isspace() else ch
        for ch in text
        if ch.isspace() or unicodedata.category(ch)[0] != "C"
    )


def _escape(text: str) -> str:
    """Escape visible text (see ``escape_markdown``); leaves citation placeholders alone."""
    text = _MARKDOWN.sub(r"\\\1", text)
    text = _LINE_START.sub(r"\1\\\2", text)
    text = _MASS_PING.sub("@" + _ZWSP, text)
    text = _ANGLE.sub("<" + _ZWSP, text)
    return _SCHEME.sub(":" + _ZWSP, text)


def escape_markdown(text: str) -> str:
    """Feed or model text made inert for Discord: control and invisible characters
    stripped (newlines kept); ``\\ * _ ~ ` | [ ]`` and a line-starting ``>``, ``#`` or
    ``-`` escaped (no formatting, spoilers, quotes, headings or masked links); a zero-width
    space after the ``@`` of ``@everyone``/``@here``, after every ``<`` (``<@id>``,
    ``<@&id>``, ``<#id>``, ``<t:..>``, ``<https://..>``) and after a scheme's colon, so no
    mention pings and no bare URL becomes a link."""
    return _escape(_visible(text))


def safe_url(url: str | None) -> str | None:
    """``url`` when it can be a masked link's target: http(s), a host, at most
    ``MAX_LINK_URL`` characters, and no whitespace, brackets, quotes or backslashes."""
    if not url or len(url) > MAX_LINK_URL or not _SAFE_URL.fullmatch(url):
        return None
    host = url.split("://", 1)[1].split("/", 1)[0]
    return url if host.strip(".:@") else None


def _label(text: str) -> str:
    """Text for inside a masked link: one line, square brackets turned round, escaped."""
    flat = " ".join(_visible(text).split()).replace("[", "(").replace("]", ")")
    return _escape(flat) or "source"


def masked_link(label: str, url: str | None) -> str:
    """``[label](url)`` for a stored http(s) URL that is safe to link; otherwise the
    escaped label alone."""
    target = safe_url(url)
    return f"[{_label(label)}]({target})" if target else _label(label)


def _citation(n: int, sources: Sequence[SourceRef]) -> str:
    """Citation ``[n]`` as a masked link to source n, or escaped text when it has no URL."""
    url = safe_url(sources[n - 1].url) if 1 <= n <= len(sources) else None
    return f"[[{n}]]({url})" if url else f"\\[{n}\\]"


def render_cited(text: str, sources: Sequence[SourceRef]) -> str:
    """Escaped ``text`` whose ``[n]`` citations are masked links to ``sources[n - 1]``."""
    marked = _CITATION.sub(lambda m: f"\ue000{m.group(1)}\ue001", _visible(text))
    return _PLACEHOLDER.sub(lambda m: _citation(int(m.group(1)), sources), _escape(marked))


def _plain(text: str, limit: int) -> str:
    """Text for a place Discord shows without markdown (footer, author): visible, one
    line, clipped."""
    line = " ".join(_visible(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


# ---- splitting ----------------------------------------------------------------------------


def _cut_point(text: str, limit: int) -> int:
    """Where to cut ``text`` (longer than ``limit``) so the head is at most ``limit``
    characters: at a line break, else after a sentence, else at a space, else anywhere,
    but never inside a masked link, an escape or a defused mention."""
    unsafe: set[int] = set()
    for m in _ATOMIC.finditer(text, 0, min(len(text), limit + _ATOM_REACH)):
        unsafe.update(range(m.start() + 1, m.end()))
    candidates = [p for p in range(min(limit, len(text)), 0, -1) if p not in unsafe]
    floor = limit // 3

    def rank(p: int) -> int:
        ch = text[p] if p < len(text) else " "
        if ch == "\n":
            return 0
        if ch == " ":
            return 1 if text[p - 1] in _SENTENCE_END else 2
        return 3

    for wanted in range(3):
        for p in candidates:
            if p < floor:
                break
            if rank(p) == wanted:
                return p
    return candidates[0] if candidates else limit


def split_text(text: str, limit: int) -> list[str]:
    """``text`` in pieces of at most ``limit`` characters (see ``_cut_point``)."""
    pieces: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        cut = _cut_point(rest, limit)
        head = rest[:cut].rstrip()
        if head:
            pieces.append(head)
        rest = rest[cut:].strip()
    if rest:
        pieces.append(rest)
    return pieces


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters with "…", at a safe point."""
    if len(text) <= limit:
        return text
    return text[: _cut_point(text, limit - 1)].rstrip() + "…"


def pack(units: Sequence[tuple[str, str]], limit: int) -> list[str]:
    """Join ``(separator, text)`` units into pieces of at most ``limit`` characters, each
    unit whole when it fits (a longer one is split by ``split_text``)."""
    pieces: list[str] = []
    current = ""
    for sep, unit in units:
        for part in split_text(unit, limit):
            if current and len(current) + len(sep) + len(part) <= limit:
                current += sep + part
            else:
                if current:
                    pieces.append(current)
                current = part
    if current:
        pieces.append(current)
    return pieces


# ---- embeds -------------------------------------------------------------------------------


def embed_length(embed: dict[str, Any]) -> int:
    """What Discord counts towards 6,000: title, description, field names and values,
    footer text and author name."""
    total = len(embed.get("title", "")) + len(embed.get("description", ""))
    total += sum(len(f["name"]) + len(f["value"]) for f in embed.get("fields", []))
    total += len(embed.get("footer", {}).get("text", "")) + len(embed.get("author", {}).get("name", ""))
    return total


@dataclass
class _Embed:
    """An embed being filled, within ``budget`` characters and 25 fields."""

    title: str
    budget: int
    description: str = ""
    fields: list[tuple[str, str]] = field(default_factory=list)

    def length(self) -> int:
        return len(self.title) + len(self.description) + sum(len(n) + len(v) for n, v in self.fields)

    def fits(self, fields: Sequence[tuple[str, str]]) -> bool:
        extra = sum(len(n) + len(v) for n, v in fields)
        return len(self.fields) + len(fields) <= FIELDS_PER_EMBED and self.length() + extra <= self.budget

    def as_dict(self, color: int) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "rich", "title": self.title, "color": color}
        if self.description:
            out["description"] = self.description
        if self.fields:
            out["fields"] = [{"name": n, "value": v, "inline": False} for n, v in self.fields]
        return out


def _continued(title: str, first: bool) -> str:
    return title if first else clip(title, TITLE_LIMIT - len(" (continued)")) + " (continued)"


def _field_embeds(title: str, groups: Sequence[Sequence[tuple[str, str]]], budget: int) -> list[_Embed]:
    """Embeds titled ``title`` holding ``groups`` of fields (a story's fields stay in one
    embed when they fit one); a new embed "(continued)" when the current one is full."""
    embeds = [_Embed(_continued(title, True), budget)]
    for group in groups:
        if not embeds[-1].fits(group) and embeds[-1].fields:
            embeds.append(_Embed(_continued(title, False), budget))
        for one in group:
            if not embeds[-1].fits([one]):
                embeds.append(_Embed(_continued(title, False), budget))
            embeds[-1].fields.append(one)
    return [e for e in embeds if e.fields]


def _line_embeds(title: str, lines: Sequence[str], budget: int) -> list[_Embed]:
    """Embeds titled ``title`` whose descriptions hold ``lines``, one a line."""
    limit = min(DESCRIPTION_LIMIT, budget - TITLE_LIMIT)
    chunks = pack([("\n", line) for line in lines], limit)
    return [_Embed(_continued(title, i == 0), budget, description=c) for i, c in enumerate(chunks)]


def _story_fields(item: BriefItem, sources: Sequence[SourceRef]) -> list[tuple[str, str]]:
    """A story's fields: the headline as the name ("Update: " first when it is one), its
    cited sentences and "why it matters" as the value, split over further fields
    "(continued)" when longer than a field holds."""
    headline = ("Update: " if item.update else "") + item.headline
    name = clip(escape_markdown(headline), FIELD_NAME_LIMIT)
    units = [(" ", render_cited(s, sources)) for s in item.sentences if s.strip()]
    if item.why:
        units.append(("\n", "**Why it matters:** " + render_cited(item.why, sources)))
    if item.note:
        units.append(("\n", "*(" + clip(escape_markdown(item.note), 300) + ")*"))
    values = pack(units, FIELD_VALUE_LIMIT) or ["\\-"]
    later = clip(escape_markdown(headline), FIELD_NAME_LIMIT - len(" (continued)")) + " (continued)"
    return [(name if i == 0 else later, v) for i, v in enumerate(values)]


def _deal_line(row: DealRow, sources: Sequence[SourceRef]) -> str:
    d = row.deal
    when = d.announced.strftime("%Y-%m-%d") if d.announced else "undated"
    amount = f" · {d.amount_text}" if d.amount_text else ""
    text = clip(escape_markdown(f"{when} · {d.direction} ({d.kind}){amount}"), 600)
    cites = "".join(_citation(n, sources) for n in row.citations[:4])
    return f"{text} {cites}".rstrip()


def _source_line(n: int, ref: SourceRef) -> str:
    when = ref.published.strftime("%Y-%m-%d") if ref.published else "undated"
    title = masked_link(clip(ref.title or "untitled", 200), ref.url)
    return f"\\[{n}\\] {title} — {escape_markdown(clip(ref.outlet, 100))}, {when}"


def briefing_title(briefing: Briefing) -> str:
    """ "AI infrastructure briefing, 7 Oct 2025"."""
    return "AI infrastructure briefing, " + briefing.generated_at.strftime("%d %b %Y").lstrip("0")


def briefing_embeds(briefing: Briefing) -> list[list[dict[str, Any]]]:
    """The briefing as messages, each a list of embed dicts: a header (title and top
    line), an embed per section with a field per story (more when a section is long), the
    deals (one line each) and the numbered sources; the footer with the mode on the last
    embed of each message ("part i/n" when there are several). Every message is within
    Discord's limits; the first is meant for the channel, the rest for its thread."""
    footer = _plain(f"{briefing.footer} · mode: {briefing.mode}", FOOTER_TEXT_LIMIT)
    budget = EMBED_LIMIT - len(footer) - _PART_RESERVE
    sources = briefing.sources
    top = render_cited(briefing.top_line, sources)
    header = _Embed(
        clip(escape_markdown(briefing_title(briefing)), TITLE_LIMIT),
        budget,
        description=clip(top, DESCRIPTION_LIMIT)
        if briefing.empty
        else "**" + clip(top, DESCRIPTION_LIMIT - 4) + "**",
    )
    embeds: list[tuple[_Embed, int]] = [(header, BRIEFING_COLOR)]
    for topic, items in briefing.sections:
        title = escape_markdown(SECTION_TITLES.get(topic, topic.title()))
        groups = [_story_fields(item, sources) for item in items]
        embeds += [(e, BRIEFING_COLOR) for e in _field_embeds(title, groups, budget)]
    if briefing.deals:
        lines = [_deal_line(row, sources) for row in briefing.deals]
        embeds += [(e, BRIEFING_COLOR) for e in _line_embeds("Deals", lines, budget)]
    if sources and not briefing.empty:
        lines = [_source_line(n, ref) for n, ref in enumerate(sources, 1)]
        embeds += [(e, NOTHING_COLOR) for e in _line_embeds("Sources", lines, budget)]
    message_budget = MESSAGE_EMBED_LIMIT - len(footer) - _PART_RESERVE
    messages: list[list[dict[str, Any]]] = []
    used = 0
    for embed, color in embeds:
        as_dict = embed.as_dict(color)
        size = embed_length(as_dict)
        if not messages or len(messages[-1]) >= EMBEDS_PER_MESSAGE or used + size > message_budget:
            messages.append([])
            used = 0
        messages[-1].append(as_dict)
        used += size
    messages[0][0]["timestamp"] = briefing.generated_at.isoformat()
    for i, message in enumerate(messages, 1):
        part = f" · part {i}/{len(messages)}" if len(messages) > 1 else ""
        message[-1]["footer"] = {"text": footer + part}
    return messages


def briefing_content(briefing: Briefing) -> str:
    """A short plain message content for the notification (at most 2,000 characters):
    the title and the top line, without citations or links."""
    line = " ".join(_CITATION.sub("", briefing.top_line).split())
    text = escape_markdown(f"{briefing_title(briefing)}: {line}")
    return clip(" ".join(text.split()), CONTENT_LIMIT)


def answer_embeds(answer: Answer) -> list[dict[str, Any]]:
    """An answer as one embed (a list, as the adapter sends it): the question as the
    title, the text with its citations as links to the sources and the sources listed
    with their outlets; when nothing was found, the text alone, plain, with no sources.
    The footer names the mode (and why a model's answer was not used)."""
    footer = _plain(f"mode: {answer.mode}" + (f" · {answer.note}" if answer.note else ""), 300)
    title = clip(escape_markdown(answer.question) or "Answer", TITLE_LIMIT)
    budget = EMBED_LIMIT - len(footer)
    if not answer.found:
        text = " ".join(_CITATION.sub("", answer.text).split())
        embed = _Embed(title, budget, description=clip(escape_markdown(text), DESCRIPTION_LIMIT))
        out = embed.as_dict(NOTHING_COLOR)
    else:
        embed = _Embed(title, budget)
        embed.description = clip(render_cited(answer.text, answer.sources), DESCRIPTION_LIMIT)
        lines = [_source_line(n, ref) for n, ref in enumerate(answer.sources, 1)]
        values = pack([("\n", line) for line in lines], FIELD_VALUE_LIMIT)
        for i, value in enumerate(values):
            name = "Sources" if i == 0 else "Sources (continued)"
            if not embed.fits([(name, value)]):
                break
            embed.fields.append((name, value))
        out = embed.as_dict(ANSWER_COLOR)
    out["footer"] = {"text": footer}
    return [out]


_URL_LINE = re.compile(r"^(\s*)(https?://\S+)\s*$")


def text_embed(text: str, *, error: bool = False) -> dict[str, Any]:
    """A command layer's text reply as one embed: each line made inert by
    ``escape_markdown``, except a line holding only a stored URL (``/stories`` lists them),
    which stays a link when :func:`safe_url` accepts it; clipped to the description limit."""
    lines = []
    for line in _visible(text).split("\n"):
        m = _URL_LINE.match(line)
        url = safe_url(m.group(2)) if m else None
        lines.append(f"{m.group(1) if m else ''}{url}" if url else _escape(line))
    body = clip("\n".join(lines).strip(), DESCRIPTION_LIMIT) or "\\-"
    return {"type": "rich", "description": body, "color": NOTHING_COLOR if error else ANSWER_COLOR}


def error_line(text: str) -> str:
    """A refusal or error as one inert line of message content (at most 2,000 characters)."""
    return clip(escape_markdown(" ".join(text.split())), CONTENT_LIMIT) or "Something went wrong."
