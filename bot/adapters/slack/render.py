"""Block Kit rendering of briefings, answers and command replies: pure functions, no SDK.

Everything that comes from feeds or a model is escaped for Slack's mrkdwn (``&``, ``<``,
``>``), with control and invisible characters removed, so ``<!channel>``, ``<!here>``,
``<!everyone>``, ``<@U123>``, ``<#C1>`` or ``<https://evil.example|click>`` in an article
stay inert text. The only ``<…>`` sequences in the output are links built by :func:`link`
from stored source URLs (http or https, nothing that could break out of the link).
Messages must be posted without ``link_names`` (bare ``@here`` is defused as well, in case).

Slack's limits are respected: at most 50 blocks per message, 3,000 characters per section
text (long text is split at a line, sentence or word boundary, never inside a link or an
entity), 150 characters per header, 10 elements per context block, and each message's
blocks stay under about 40,000 characters of JSON. A briefing that does not fit one
message continues in further messages, meant to be posted in the first one's thread.

With ``with_buttons``, a briefing ends with an actions block (👍/👎 carrying the briefing's
key, "Subscribe: <topic>" per section topic) and an answer with 👍/👎 and "Ask a follow-up";
the adapter handles the action ids :data:`FEEDBACK_UP`, :data:`FEEDBACK_DOWN`,
:data:`SUBSCRIBE_TOPIC` (a prefix: ``subscribe_topic_<n>``) and :data:`ASK_FOLLOWUP`.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from bot.core.ask import Answer
from bot.core.briefing import SECTION_TITLES, Briefing, BriefItem, DealRow
from bot.core.grounding import CITATION
from bot.core.records import SourceRef

__all__ = [
    "ASK_FOLLOWUP",
    "FEEDBACK_DOWN",
    "FEEDBACK_UP",
    "HOME_TOGGLE",
    "MAX_BLOCKS",
    "MAX_CONTEXT_ELEMENTS",
    "MAX_FALLBACK_CHARS",
    "MAX_HEADER_CHARS",
    "MAX_MESSAGE_JSON",
    "MAX_TEXT_CHARS",
    "SUBSCRIBE_TOPIC",
    "Block",
    "actions_block",
    "answer_blocks",
    "briefing_blocks",
    "briefing_fallback_text",
    "briefing_key",
    "escape_mrkdwn",
    "home_toggle_value",
    "home_view",
    "link",
    "reply_blocks",
    "split_mrkdwn",
]

Block = dict[str, Any]

MAX_BLOCKS = 50  # blocks per message
MAX_TEXT_CHARS = 3000  # a section's text, a context element's text
MAX_HEADER_CHARS = 150  # a header block's plain text
MAX_CONTEXT_ELEMENTS = 10  # elements per context block
MAX_MESSAGE_JSON = 40_000  # characters of a message's blocks as JSON (Slack's size limit, with margin)
MAX_FALLBACK_CHARS = 3000  # the notification text
MAX_URL_CHARS = 2000  # a longer stored URL is not linked (its label is shown instead)
MAX_HEADLINE_CHARS = 300  # before escaping
MAX_LABEL_CHARS = 100  # a link's label, before escaping (a link stays well under a section's limit)

MAX_BUTTON_VALUE = 2000  # a button's value
MAX_SUBSCRIBE_BUTTONS = 5  # "Subscribe: <topic>" buttons under a briefing

FEEDBACK_UP = "feedback_up"
FEEDBACK_DOWN = "feedback_down"
SUBSCRIBE_TOPIC = "subscribe_topic"  # action ids subscribe_topic_0, subscribe_topic_1, ...
ASK_FOLLOWUP = "ask_followup"
HOME_TOGGLE = "home_toggle"  # checkboxes home_toggle_0, ... (each option's value: kind and value as JSON)
MAX_OPTIONS = 10  # options per checkboxes element
MAX_OPTION_VALUE = 150  # an option's value
MAX_OPTION_TEXT = 75  # an option's text, before escaping
MAX_HOME_BLOCKS = 100  # a Home tab view
MAX_HOME_SUBSCRIPTIONS = 40
MAX_HOME_CHANNELS = 15
_CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{2,20}")

_URL = re.compile(r"https?://[^\s|<>]+", re.IGNORECASE)
_MASS_PING = re.compile(r"@(?=(?:everyone|here|channel)\b)", re.IGNORECASE)
# What must not be cut: a link ``<url|label>`` (the only ``<`` left after escaping) or an entity.
_UNCUTTABLE = re.compile(r"<[^<>]*>|&[a-z]+;")
_SENTENCE_END = re.compile(r"[.!?][\"'”’)_*]*\s")
_CONTINUED = "continued"


# ---- escaping and links --------------------------------------------------------------------


def _clean(text: str) -> str:
    """``text`` without control, format (zero-width) or unassigned characters; newlines are
    kept, other whitespace becomes a space."""
    out = []
    for ch in text.replace("\r\n", "\n"):
        if ch == "\n":
            out.append(ch)
        elif ch.isspace():
            out.append(" ")
        elif unicodedata.category(ch)[0] != "C":
            out.append(ch)
    return "".join(out)


def escape_mrkdwn(text: str) -> str:
    """Feed or model text made inert for Slack mrkdwn: control and zero-width characters
    removed, ``&``, ``<`` and ``>`` escaped as entities, and a bare ``@here``,
    ``@channel`` or ``@everyone`` split by a word joiner."""
    escaped = _clean(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MASS_PING.sub("@\u2060", escaped)


def _one_line(text: str) -> str:
    return " ".join(_clean(text).split())


def _safe_url(url: str | None) -> str | None:
    """``url`` ready for a ``<url|label>`` link, or None when it is not one we link: only
    http(s), no whitespace, ``|``, ``<``, ``>`` or invisible characters, not absurdly long."""
    if not url or _clean(url) != url or not _URL.fullmatch(url):
        return None
    safe = url.replace("&", "&amp;")
    return safe if len(safe) <= MAX_URL_CHARS else None


def link(url: str | None, label: str) -> str:
    """A mrkdwn link ``<url|label>`` with the label escaped (a ``|`` in it shown as ``¦``);
    the escaped label alone when ``url`` is not a plain http(s) URL (see :func:`_safe_url`)."""
    text = escape_mrkdwn(_capped(label, MAX_LABEL_CHARS)).replace("|", "¦") or "link"
    safe = _safe_url(url)
    return f"<{safe}|{text}>" if safe else text


def _cited(text: str, sources: Sequence[SourceRef]) -> str:
    """One line of ``text`` escaped, each ``[n]`` a link to source ``n``'s stored URL
    (plain ``[n]`` when there is no such source or it has no URL we link)."""
    line = _one_line(text)
    out: list[str] = []
    pos = 0
    for m in CITATION.finditer(line):
        out.append(escape_mrkdwn(line[pos : m.start()]))
        n = int(m.group(1))
        url = sources[n - 1].url if 1 <= n <= len(sources) else None
        out.append(link(url, f"[{n}]"))
        pos = m.end()
    out.append(escape_mrkdwn(line[pos:]))
    return "".join(out)


def _capped(text: str, limit: int) -> str:
    text = _one_line(text)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# ---- splitting -----------------------------------------------------------------------------


def _cut_point(text: str, limit: int) -> int:
    """Where to cut ``text`` (longer than ``limit``) so the head fits: the last line break,
    else sentence end, else space before ``limit`` that is not inside a link or an entity;
    else the last position outside them."""
    blocked: set[int] = set()
    for m in _UNCUTTABLE.finditer(text):
        if m.start() >= limit:
            break
        blocked.update(range(m.start() + 1, m.end()))

    def best(candidates: Iterable[int]) -> int | None:
        ok = [i for i in candidates if 0 < i <= limit and i not in blocked]
        return max(ok) if ok else None

    window = text[: limit + 1]
    floor = limit // 3
    for candidates in (
        (i + 1 for i, ch in enumerate(window) if ch == "\n"),
        (m.end() for m in _SENTENCE_END.finditer(window)),
        (i + 1 for i, ch in enumerate(window) if ch == " "),
    ):
        cut = best(candidates)
        if cut is not None and cut >= floor:
            return cut
    cut = best(range(1, limit + 1))
    return cut if cut is not None else limit


def split_mrkdwn(text: str, limit: int = MAX_TEXT_CHARS) -> list[str]:
    """``text`` (already escaped mrkdwn) in pieces of at most ``limit`` characters, cut at
    line, sentence or word boundaries and never inside a ``<url|label>`` link or an entity."""
    pieces: list[str] = []
    text = text.strip()
    while len(text) > limit:
        cut = _cut_point(text, limit)
        head, text = text[:cut].rstrip(), text[cut:].lstrip()
        if head:
            pieces.append(head)
    if text:
        pieces.append(text)
    return pieces


# ---- blocks --------------------------------------------------------------------------------


def _section(text: str) -> list[Block]:
    return [{"type": "section", "text": {"type": "mrkdwn", "text": piece}} for piece in split_mrkdwn(text)]


def _context(parts: Sequence[str], sep: str = " · ") -> list[Block]:
    """Context blocks holding ``parts`` (escaped mrkdwn), joined into elements of at most
    ``MAX_TEXT_CHARS`` characters and at most ``MAX_CONTEXT_ELEMENTS`` elements a block."""
    elements: list[str] = []
    current = ""
    for part in parts:
        for piece in split_mrkdwn(part):
            joined = f"{current}{sep}{piece}" if current else piece
            if len(joined) <= MAX_TEXT_CHARS:
                current = joined
            else:
                elements.append(current)
                current = piece
    if current:
        elements.append(current)
    return [
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": e} for e in elements[i : i + MAX_CONTEXT_ELEMENTS]],
        }
        for i in range(0, len(elements), MAX_CONTEXT_ELEMENTS)
    ]


def _header(text: str) -> Block:
    return {
        "type": "header",
        "text": {"type": "plain_text", "text": _capped(text, MAX_HEADER_CHARS) or "briefbot", "emoji": True},
    }


def _size(blocks: Sequence[Block]) -> int:
    return len(json.dumps(list(blocks), ensure_ascii=False))


def _pack(units: Sequence[list[Block]]) -> list[list[Block]]:
    """Blocks grouped in units (kept together when they fit) packed into messages of at most
    ``MAX_BLOCKS`` blocks and ``MAX_MESSAGE_JSON`` characters. A continuation message
    begins with a "continued" context line; dividers are dropped at message edges."""
    marker = _context(["_(continued)_"])[0]
    messages: list[list[Block]] = []
    current: list[Block] = []

    def fits(blocks: list[Block]) -> bool:
        return len(blocks) <= MAX_BLOCKS and _size(blocks) <= MAX_MESSAGE_JSON

    def flush() -> None:
        nonlocal current
        if current in ([], [marker]):
            return
        while current and current[-1]["type"] == "divider":
            current.pop()
        if current:
            messages.append(current)
        current = [marker]

    for unit in units:
        if not fits(current + unit):
            flush()
        for block in unit:
            if block["type"] == "divider" and current in ([], [marker]):
                continue
            if not fits([*current, block]):
                flush()
            current.append(block)
    if current and current != [marker]:
        while current and current[-1]["type"] == "divider":
            current.pop()
        messages.append(current)
    return messages


def _numbers(texts: Iterable[str]) -> list[int]:
    seen: list[int] = []
    for text in texts:
        for m in CITATION.finditer(text):
            n = int(m.group(1))
            if n not in seen:
                seen.append(n)
    return seen


def _source_label(n: int, source: SourceRef) -> str:
    return f"{escape_mrkdwn(f'[{n}]')} {link(source.url, source.outlet or source.title or 'source')}"


def _story_blocks(item: BriefItem, briefing: Briefing) -> list[Block]:
    """A story: a section (bold headline, cited sentences, "why it matters") and a context
    line with "Update" when it is one, its sources with outlets linked, the mode that wrote
    it, and any note."""
    prefix = "Update: " if item.update else ""
    headline = escape_mrkdwn(_capped(prefix + item.headline, MAX_HEADLINE_CHARS))
    lines = [f"*{headline}*"]
    body = " ".join(_cited(s, briefing.sources) for s in item.sentences if s.strip())
    if body:
        lines.append(body)
    if item.why:
        lines.append(f"_Why it matters:_ {_cited(item.why, briefing.sources)}")
    blocks = _section("\n".join(lines))
    rows = [r for r in briefing.deals if r.story_id == item.story_id]
    cited = _numbers([*item.sentences, item.why or ""])
    cited += [n for r in rows for n in r.citations if n not in cited]
    parts: list[str] = []
    if item.update:
        parts.append("*Update:* new facts since the last briefing")
    labels = [_source_label(n, briefing.sources[n - 1]) for n in cited if 1 <= n <= len(briefing.sources)]
    if labels:
        parts.append("Sources: " + ", ".join(labels))
    if item.written_by:
        parts.append(escape_mrkdwn(_written_by(item.written_by)))
    if item.note:
        parts.append(f"_{escape_mrkdwn(_one_line(item.note))}_")
    return blocks + _context(parts)


def _written_by(writer: str) -> str:
    """The mode that wrote a story, for its context line."""
    if writer == "extractive":
        return "extractive summary"
    return f"written by {_capped(writer, 60)}, checked against its sources"


def _deal_line(row: DealRow, sources: Sequence[SourceRef]) -> str:
    """ "• 2025-10-06 — AMD <-> OpenAI (supply), $10 billion [1][2]"."""
    d = row.deal
    when = d.announced.strftime("%Y-%m-%d") if d.announced else "undated"
    amount = f", {d.amount_text}" if d.amount_text else ""
    cites = "".join(f"[{n}]" for n in row.citations)
    text = f"{when} — {d.direction} ({d.kind}){amount}"
    return "• " + _cited(f"{text} {cites}".strip(), sources)


def _title(briefing: Briefing) -> str:
    day = briefing.generated_at.strftime("%d %b %Y").lstrip("0")
    return f"AI infrastructure briefing, {day}"


def _footer(briefing: Briefing) -> str:
    footer = _one_line(briefing.footer)
    if briefing.mode and briefing.mode not in footer:
        footer = f"{footer} · mode: {briefing.mode}" if footer else f"mode: {briefing.mode}"
    return escape_mrkdwn(footer)


def _button(text: str, action_id: str, value: str) -> Block:
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": _capped(text, 75) or "…", "emoji": True},
        "action_id": action_id,
        "value": value[:MAX_BUTTON_VALUE],
    }


def actions_block(key: str, *, topics: Sequence[str] = (), follow_up: bool = False) -> Block:
    """The buttons under a briefing or an answer: 👍 and 👎 whose value is ``key`` (what is
    rated), "Subscribe: <topic>" per topic (value: the topic), and "Ask a follow-up"."""
    elements = [_button("👍 Useful", FEEDBACK_UP, key), _button("👎 Not useful", FEEDBACK_DOWN, key)]
    for i, topic in enumerate(list(dict.fromkeys(topics))[:MAX_SUBSCRIBE_BUTTONS]):
        title = SECTION_TITLES.get(topic, topic.title())
        elements.append(_button(f"Subscribe: {title}", f"{SUBSCRIBE_TOPIC}_{i}", topic))
    if follow_up:
        elements.append(_button("Ask a follow-up", ASK_FOLLOWUP, key))
    return {"type": "actions", "block_id": "briefbot_actions", "elements": elements}


def briefing_key(briefing: Briefing) -> str:
    """A briefing's feedback key when it has no delivery key: ``briefing:<generated_at>``."""
    return f"briefing:{briefing.generated_at.isoformat()}"


def briefing_blocks(
    briefing: Briefing, *, with_buttons: bool = False, key: str | None = None
) -> list[list[Block]]:
    """The briefing as Block Kit messages (each a list of blocks): the first to post in the
    channel, the others to post in its thread. Header, top line, per section a bold title
    and per story its section and context line, dividers between sections, the deals as
    bullet lines, and the footer saying which mode wrote it. With ``with_buttons`` the last
    message ends with :func:`actions_block` (feedback on ``key``, subscribe per topic)."""
    units: list[list[Block]] = [
        [_header(_title(briefing)), *_section(_cited(briefing.top_line, briefing.sources))]
    ]
    for topic, items in briefing.sections:
        title = _section(f"*{escape_mrkdwn(SECTION_TITLES.get(topic, topic.title()))}*")
        units.append([{"type": "divider"}])
        for i, item in enumerate(items):
            story = _story_blocks(item, briefing)
            units.append(title + story if i == 0 else story)
    if briefing.deals:
        units.append([{"type": "divider"}])
        lines = [_deal_line(row, briefing.sources) for row in briefing.deals]
        units.append(_section("*Deals*\n" + "\n".join(lines)))
    units.append([{"type": "divider"}, *_context([_footer(briefing)])])
    if with_buttons:
        topics = [topic for topic, items in briefing.sections if items]
        units.append([actions_block(key or briefing_key(briefing), topics=topics)])
    return _pack(units)


def briefing_fallback_text(briefing: Briefing) -> str:
    """The notification text of a briefing: plain words (no formatting, no links, no
    citations), escaped so nothing in it is a mention, at most 3,000 characters."""
    heads = [item.headline for item in briefing.items]
    more = f" Stories: {'; '.join(heads)}." if heads else ""
    plain = _one_line(CITATION.sub("", f"{_title(briefing)}: {briefing.top_line}{more}"))
    text = escape_mrkdwn(plain)
    if len(text) <= MAX_FALLBACK_CHARS:
        return text
    return split_mrkdwn(text, MAX_FALLBACK_CHARS - 1)[0] + "…"


def _limited(blocks: list[Block]) -> list[Block]:
    """One message's blocks: when they exceed Slack's limits, the first that fit and a
    context line saying the rest was cut."""
    if len(blocks) <= MAX_BLOCKS and _size(blocks) <= MAX_MESSAGE_JSON:
        return blocks
    cut = _context(["_(too long for one message: the rest was cut)_"])
    kept: list[Block] = []
    for block in blocks:
        if len(kept) + 2 > MAX_BLOCKS or _size([*kept, block, *cut]) > MAX_MESSAGE_JSON:
            break
        kept.append(block)
    return kept + cut


def answer_blocks(answer: Answer, *, with_buttons: bool = False, key: str | None = None) -> list[Block]:
    """An answer as one message: its text with each ``[n]`` linked to its source, the
    numbered sources (titles linked, outlets) as context, and the mode that wrote it. An
    answer that found nothing is a plain section. With ``with_buttons`` (and a ``key``) it
    ends with 👍/👎 and "Ask a follow-up"."""
    blocks = _answer_blocks(answer)
    if not (with_buttons and key):
        return blocks
    actions = actions_block(key, follow_up=True)
    while blocks and (len(blocks) >= MAX_BLOCKS or _size([*blocks, actions]) > MAX_MESSAGE_JSON):
        blocks = blocks[:-1]
    return [*blocks, actions]


def _answer_blocks(answer: Answer) -> list[Block]:
    if not answer.found:
        return _limited(_section(escape_mrkdwn(answer.text)))
    paragraphs = [_cited(p, answer.sources) for p in answer.text.split("\n") if p.strip()]
    blocks = _section("\n".join(paragraphs))
    labels = [
        f"{escape_mrkdwn(f'[{n}]')} {link(s.url, s.title or s.outlet or 'source')}"
        + (f" — {escape_mrkdwn(_one_line(s.outlet))}" if s.outlet else "")
        for n, s in enumerate(answer.sources, 1)
    ]
    if labels:
        blocks += _context(labels, sep="\n")
    mode = "written by the model, checked against the sources" if answer.mode == "llm" else answer.mode
    meta = [f"briefbot · {escape_mrkdwn(_one_line(mode))}"]
    if answer.note:
        meta.append(f"_{escape_mrkdwn(_one_line(answer.note))}_")
    blocks += _context(meta)
    return _limited(blocks)


def reply_blocks(text: str) -> list[Block]:
    """A command's text reply as sections (escaped, lines kept), within one message."""
    return _limited(_section(escape_mrkdwn(text)) or _section("…"))


def _channel_ref(channel_id: str) -> str:
    """``<#C123>`` for a plausible Slack channel id, the person's own digest (``user:U…``)
    in words, else the id escaped."""
    if channel_id.startswith("user:"):
        return "your own digest (direct message)"
    return f"<#{channel_id}>" if _CHANNEL_ID.fullmatch(channel_id) else escape_mrkdwn(channel_id)


def home_toggle_value(kind: str, value: str) -> str:
    """The value of a Home tab toggle: what it follows, as JSON."""
    return json.dumps({"kind": kind, "value": value}, ensure_ascii=False)


def _toggles(
    title: str, options: Sequence[tuple[str, str, str]], checked: set[tuple[str, str]], first: int
) -> list[Block]:
    """A bold ``title`` and checkboxes of ``options`` ((kind, value, label)), 10 to an
    element (Slack's limit), ticked where ``checked``; action ids ``home_toggle_<n>`` from
    ``first``."""
    made = []
    for kind, value, label in options:
        toggle = home_toggle_value(kind, value)
        if len(toggle) > MAX_OPTION_VALUE:
            continue  # cannot be carried by a toggle; /subscriptions still lists it
        text = {"type": "mrkdwn", "text": escape_mrkdwn(_capped(label, MAX_OPTION_TEXT))}
        made.append(({"text": text, "value": toggle}, (kind, value) in checked))
    blocks: list[Block] = _section(f"*{escape_mrkdwn(title)}*")
    for n, i in enumerate(range(0, len(made), MAX_OPTIONS)):
        chunk = made[i : i + MAX_OPTIONS]
        element: Block = {
            "type": "checkboxes",
            "action_id": f"{HOME_TOGGLE}_{first + n}",
            "options": [option for option, _ in chunk],
        }
        ticked = [option for option, on in chunk if on]
        if ticked:
            element["initial_options"] = ticked
        blocks.append({"type": "actions", "elements": [element]})
    return blocks


def home_view(
    subscriptions: Sequence[tuple[str, str, str]],
    channels: Sequence[tuple[str, str]],
    briefings: Sequence[tuple[str, datetime, str]],
    topics: Sequence[str] = (),
) -> Block:
    """The App Home tab: toggles for the person's subscriptions ((kind, value, label)): every
    topic of ``topics``, ticked when followed, then the companies, chips and keywords they
    follow; the digests they receive ((channel id, schedule); ``user:U…`` is their own) and
    the latest of those briefings ((channel id, when, top line)). All text escaped; within
    100 blocks."""
    blocks: list[Block] = [_header("briefbot"), *_section("*Your subscriptions*")]
    followed = {(kind, value) for kind, value, _ in subscriptions}
    if topics:
        options = [("topic", t, SECTION_TITLES.get(t, t.title())) for t in topics]
        blocks += _toggles("Topics", options, followed, 0)
    others = [s for s in subscriptions if s[0] != "topic" or s[1] not in topics]
    if others:
        first = -(-len(topics) // MAX_OPTIONS)  # the topics' elements come first
        shown = others[:MAX_HOME_SUBSCRIPTIONS]
        blocks += _toggles("Companies, chips and keywords", shown, followed, first)
        if len(others) > len(shown):
            blocks += _context([f"…and {len(others) - len(shown)} more (/subscriptions)"])
    hint = "Untick to stop following; /subscribe AWS, /subscribe Ironwood or /subscribe keyword"
    blocks += _context([escape_mrkdwn(hint + ' "liquid cooling" add more.')])
    blocks += [{"type": "divider"}, *_section("*Your digests*")]
    if channels:
        lines = [
            f"• {_channel_ref(c)}: {escape_mrkdwn(_one_line(when))}"
            for c, when in channels[:MAX_HOME_CHANNELS]
        ]
        blocks += _section("\n".join(lines))
    else:
        blocks += _context(
            ["No digest reaches you yet: /digest me 08:00 Europe/Paris, or join a channel that has one."]
        )
    blocks += [{"type": "divider"}, *_section("*Latest briefings*")]
    if briefings:
        for channel, at, top in briefings:
            day = at.strftime("%d %b %Y %H:%M UTC").lstrip("0")
            top_line = escape_mrkdwn(_capped(CITATION.sub("", top), 600))
            text = f"*{escape_mrkdwn(day)}* · {_channel_ref(channel)}\n{top_line}"
            blocks += _section(text)
    else:
        blocks += _context(["No briefings yet."])
    return {"type": "home", "blocks": blocks[:MAX_HOME_BLOCKS]}
