"""Slack Block Kit rendering: hostile text stays inert, links come only from stored
URLs, and briefings of any size fit Slack's limits; the app manifest has what #7 needs."""

from __future__ import annotations

import importlib
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.slack.app import SLASH_COMMANDS
from bot.adapters.slack.render import (
    MAX_BLOCKS,
    MAX_CONTEXT_ELEMENTS,
    MAX_HEADER_CHARS,
    MAX_MESSAGE_JSON,
    MAX_TEXT_CHARS,
    Block,
    answer_blocks,
    briefing_blocks,
    briefing_fallback_text,
    escape_mrkdwn,
    link,
    reply_blocks,
    split_mrkdwn,
)
from bot.core.ask import Answer
from bot.core.briefing import Briefing, BriefItem, DealRow
from bot.core.extract import Money
from bot.core.records import SourceRef, StoryDeal

NOW = datetime(2025, 10, 7, 9, tzinfo=UTC)
HOSTILE = "<!channel> ping <!here> <!everyone> <@U123> <#C1> <https://evil.example|click me> &amp; done"
MANIFEST = Path(__file__).resolve().parents[2] / "bot" / "adapters" / "slack" / "manifest.yml"

# Anything Slack would turn into a mention, a channel link or a link.
ACTIVE = re.compile(r"<[!@#]|<https?://evil")
LINK = re.compile(r"<([^<>|]*)\|([^<>]*)>")


def ref(n: int, outlet: str = "Wire") -> SourceRef:
    return SourceRef(n, f"https://news{n}.example/story?id={n}&ref=rss", f"title {n}", outlet, NOW)


def item(story_id: int, section: str = "chips", *, sentences: tuple[str, ...] = (), **kw: Any) -> BriefItem:
    fields: dict[str, Any] = {
        "story_id": story_id,
        "headline": f"Story {story_id}",
        "section": section,
        "sentences": sentences or (f"Something happened [{story_id}].",),
        "why": None,
        "update": False,
        "score": 1.0,
        "deals": (),
        "written_by": "extractive",
    }
    fields.update(kw)
    return BriefItem(**fields)


def briefing(
    sections: tuple[tuple[str, tuple[BriefItem, ...]], ...],
    sources: tuple[SourceRef, ...],
    *,
    top_line: str = "Two stories [1].",
    deals: tuple[DealRow, ...] = (),
    footer: str = "briefbot · 2 stories from 2 sources · extractive summaries",
    mode: str = "extractive",
) -> Briefing:
    return Briefing(NOW, NOW - timedelta(days=1), top_line, sections, deals, sources, mode, footer)


def hostile_briefing() -> Briefing:
    sources = (
        ref(1, f"Outlet {HOSTILE}"),
        SourceRef(2, "javascript:alert(1)", "bad scheme", "Bad <!here>", NOW),
        SourceRef(3, "https://x.example/a|b", "pipe", "Piped", NOW),
        ref(4),
    )
    deal = StoryDeal(
        ("AMD <!channel>", "OpenAI"), "supply", Money(1e10, "$10 billion", None, "USD"), NOW, (1,), 1
    )
    return briefing(
        (
            (
                "chips",
                (
                    item(
                        1,
                        headline=f"Headline {HOSTILE}",
                        sentences=(f"Sentence {HOSTILE} [1].", "Bad links [2][3][9]. Good [4]."),
                        why=f"Because {HOSTILE} [1]",
                        update=True,
                        note=f"note {HOSTILE}",
                    ),
                ),
            ),
        ),
        sources,
        top_line=f"Top {HOSTILE} [1]",
        deals=(DealRow(deal, 1, (1, 4)),),
        footer=f"footer {HOSTILE}",
    )


def texts(blocks: list[Block]) -> list[str]:
    """Every text a user sees in the blocks (section texts, header, context elements, buttons)."""
    out: list[str] = []
    for block in blocks:
        if "text" in block:
            out.append(block["text"]["text"])
        for element in block.get("elements", []):
            text = element["text"]
            out.append(text["text"] if isinstance(text, dict) else text)
    return out


def unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def assert_within_limits(message: list[Block]) -> None:
    assert 0 < len(message) <= MAX_BLOCKS
    assert len(json.dumps(message, ensure_ascii=False)) <= MAX_MESSAGE_JSON
    for block in message:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= MAX_TEXT_CHARS
        if block["type"] == "header":
            assert block["text"]["type"] == "plain_text"
            assert len(block["text"]["text"]) <= MAX_HEADER_CHARS
        if block["type"] == "context":
            assert 0 < len(block["elements"]) <= MAX_CONTEXT_ELEMENTS
            assert all(len(e["text"]) <= MAX_TEXT_CHARS for e in block["elements"])
    for text in texts(message):
        assert_links_whole(text)


def assert_links_whole(text: str) -> None:
    """Every ``<`` opens a complete ``<url|label>`` link and every ``>`` closes one."""
    stripped = LINK.sub("", text)
    assert "<" not in stripped and ">" not in stripped, text


# ---- escaping and links --------------------------------------------------------------------


def test_escape_makes_mentions_and_links_inert() -> None:
    out = escape_mrkdwn(HOSTILE)
    assert "<" not in out and ">" not in out
    assert "&lt;!channel&gt;" in out and "&lt;@U123&gt;" in out and "&lt;#C1&gt;" in out
    assert "&amp;amp;" in out  # a literal "&amp;" shows as written
    assert unescape(out) == HOSTILE


def test_escape_strips_control_and_zero_width_characters() -> None:
    out = escape_mrkdwn("a\u200bb\u202ec\x07d\ufeffe\tf\nline")
    assert out == "abcde f\nline"
    assert escape_mrkdwn("<!chan\u200bnel>") == "&lt;!channel&gt;"


def test_bare_mass_mentions_are_defused() -> None:
    out = escape_mrkdwn("hi @here and @channel and @everyone, mail a@b.example")
    assert "@here" not in out and "@channel" not in out and "@everyone" not in out
    assert "a@b.example" in out


def test_link_only_for_plain_http_urls() -> None:
    assert link("https://ok.example/a?b=1&c=2", "Wire <!here>") == (
        "<https://ok.example/a?b=1&amp;c=2|Wire &lt;!here&gt;>"
    )
    assert link("https://ok.example/", "a|b") == "<https://ok.example/|a¦b>"
    for bad in (
        "javascript:alert(1)",
        "https://x.example/a|b",
        "https://x.example/<!channel>",
        "https://x.example/a b",
        "https://x.example/\u200b",
        "ftp://x.example/",
        None,
        "",
        "https://x.example/" + "a" * 3000,
    ):
        assert link(bad, "label <@U1>") == "label &lt;@U1&gt;", bad


def test_split_never_cuts_a_link_or_an_entity() -> None:
    piece = "Word &amp; more " + link("https://a.example/" + "x" * 200, "[1]") + " "
    text = piece * 200
    parts = split_mrkdwn(text, 1000)
    assert len(parts) > 1
    for part in parts:
        assert len(part) <= 1000
        assert_links_whole(part)
        assert not re.search(r"&[a-z]*$", part) and not re.match(r"^[a-z]*;", part)
    assert " ".join(parts).split() == text.split()


# ---- briefings -----------------------------------------------------------------------------


def test_hostile_feed_text_is_inert_in_every_block() -> None:
    messages = briefing_blocks(hostile_briefing())
    shown = [t for message in messages for t in texts(message)]
    assert shown
    for text in shown:
        assert not ACTIVE.search(text), text
        assert_links_whole(text)
    joined = "\n".join(shown)
    assert "&lt;!channel&gt;" in joined and "&lt;@U123&gt;" in joined and "&amp;amp;" in joined


def test_every_link_points_to_a_stored_source_url() -> None:
    b = hostile_briefing()
    stored = {s.url for s in b.sources}
    links = [m for message in briefing_blocks(b) for t in texts(message) for m in LINK.findall(t)]
    assert links
    for url, _label in links:
        assert unescape(url) in stored
        assert unescape(url).startswith("https://")
    # the citations resolve to their own source; bad URLs and unknown numbers are not links
    cited = {label: unescape(url) for url, label in links if label.startswith("[")}
    assert cited == {"[1]": b.sources[0].url, "[4]": b.sources[3].url}
    joined = "\n".join(t for message in briefing_blocks(b) for t in texts(message))
    assert "[2][3][9]" in joined  # plain text, not links
    assert "javascript" not in joined


def test_briefing_layout() -> None:
    b = hostile_briefing()
    (message,) = briefing_blocks(b)
    assert message[0]["type"] == "header"
    assert message[0]["text"]["text"] == "AI infrastructure briefing, 7 Oct 2025"
    assert message[1]["type"] == "section" and message[1]["text"]["text"].startswith("Top ")
    sections = [t for t in texts(message) if t.startswith("*")]
    assert "*Chips*" in sections
    story = next(t for t in texts(message) if t.startswith("*Update: Headline"))
    assert "_Why it matters:_ Because" in story
    context = next(
        e["text"]
        for blk in message
        if blk["type"] == "context"
        for e in blk["elements"]
        if "Sources:" in e["text"]
    )
    assert "*Update:*" in context and "|Outlet &lt;!channel&gt;" in context
    assert "extractive summary" in context  # the mode that wrote the story
    deals = next(t for t in texts(message) if t.startswith("*Deals*"))
    assert re.search(
        r"• 2025-10-07 — AMD &lt;!channel&gt; -&gt; OpenAI \(supply\), \$10 billion <[^>]+\|\[1\]>", deals
    )
    assert message[-1]["type"] == "context" and message[-1]["elements"][0]["text"].startswith("footer")
    assert "mode: extractive" in message[-1]["elements"][0]["text"]
    assert [blk["type"] for blk in message].count("divider") == 3


def test_each_story_says_which_mode_wrote_it() -> None:
    """With a model, a story the checks rejected falls back to extractive: each context line
    says which wrote it."""
    by_model = item(1, written_by="gpt-4o-mini")
    fallback = item(2, written_by="extractive")
    (message,) = briefing_blocks(briefing((("chips", (by_model, fallback)),), (ref(1), ref(2))))
    lines = [e["text"] for blk in message if blk["type"] == "context" for e in blk["elements"]]
    assert any("written by gpt-4o-mini, checked against its sources" in line for line in lines)
    assert any("extractive summary" in line for line in lines)


def test_empty_briefing_is_one_short_message() -> None:
    b = briefing((), (), top_line="Nothing new since 6 Oct 09:00 UTC.")
    (message,) = briefing_blocks(b)
    assert [blk["type"] for blk in message] == ["header", "section", "divider", "context"]
    assert briefing_fallback_text(b).endswith("Nothing new since 6 Oct 09:00 UTC.")


def test_a_huge_briefing_splits_into_messages_within_slack_limits() -> None:
    sources = tuple(ref(n, f"Outlet {n}") for n in range(1, 81))
    long_sentence = " ".join(
        f"Clause {k} about gigawatts and GPUs <!here> & co [{k % 80 + 1}]." for k in range(60)
    )
    items = tuple(
        item(
            n,
            ("chips", "cloud", "models", "policy")[n % 4],
            headline=f"Story {n} " + "very long headline " * 20,
            sentences=(long_sentence, f"Short one [{n}]."),
            why=f"It matters [{n + 1}].",
        )
        for n in range(1, 41)
    )
    by_section = tuple(
        (s, tuple(i for i in items if i.section == s)) for s in ("chips", "cloud", "models", "policy")
    )
    deal = StoryDeal(
        ("Nvidia", "OpenAI"), "investment", Money(1e11, "$100 billion", "up to", "USD"), NOW, (1,), 1
    )
    rows = tuple(DealRow(deal, n, (n, n + 1)) for n in range(1, 41))
    b = briefing(by_section, sources, deals=rows, top_line="Forty stories [1]. " + "x " * 2000)
    messages = briefing_blocks(b)
    assert len(messages) > 2
    for message in messages:
        assert_within_limits(message)
        assert message[0]["type"] != "divider" and message[-1]["type"] != "divider"
    assert messages[0][0]["type"] == "header"
    assert all(m[0]["type"] == "context" and "continued" in m[0]["elements"][0]["text"] for m in messages[1:])
    flat = [t for m in messages for t in texts(m)]
    # nothing lost: every story's headline, every deal line, the footer
    assert all(any(f"Story {n} very" in t for t in flat) for n in range(1, 41))
    assert sum(t.count("• 2025-10-07") for t in flat) == 40
    assert messages[-1][-1]["elements"][0]["text"].endswith("extractive summaries")
    stored = {s.url for s in sources}
    for t in flat:
        assert not ACTIVE.search(t)
        assert all(unescape(url) in stored for url, _ in LINK.findall(t))


def test_an_overlong_header_is_capped() -> None:
    b = briefing((("chips", (item(1, headline="H" * 5000),)),), (ref(1),))
    (message,) = briefing_blocks(b)
    assert_within_limits(message)


def test_fallback_text_is_plain_and_short() -> None:
    b = hostile_briefing()
    text = briefing_fallback_text(b)
    assert "<" not in text and ">" not in text
    assert "[1]" not in text and "*" not in text
    assert text.startswith("AI infrastructure briefing, 7 Oct 2025: Top")
    long = briefing((("chips", tuple(item(n, headline="<!here> " * 100) for n in range(1, 40))),), (ref(1),))
    text = briefing_fallback_text(long)
    assert len(text) <= 3000 and "<" not in text and text.endswith("…")


# ---- answers and replies -------------------------------------------------------------------


def answer(**kw: Any) -> Answer:
    fields: dict[str, Any] = {
        "question": "who invested?",
        "query": "invested",
        "text": f"Nvidia invested {HOSTILE} [1]. Also [2] and [7].",
        "found": True,
        "sources": (ref(1, "Wire <!here>"), SourceRef(2, "data:text/html,x", "t2", "Wire B", None)),
        "mode": "llm",
    }
    fields.update(kw)
    return Answer(**fields)


def test_answer_blocks_link_citations_and_list_sources() -> None:
    a = answer(note=f"why {HOSTILE}")
    blocks = answer_blocks(a)
    assert_within_limits(blocks)
    assert blocks[0]["type"] == "section"
    shown = texts(blocks)
    for t in shown:
        assert not ACTIVE.search(t)
    body = shown[0]
    assert body.startswith("Nvidia invested &lt;!channel&gt;")
    assert [unescape(u) for u, _ in LINK.findall(body)] == [a.sources[0].url]
    assert "[2]" in body and "[7]" in body
    sources = next(e["text"] for blk in blocks if blk["type"] == "context" for e in blk["elements"])
    assert "|title 1> — Wire &lt;!here&gt;" in sources and "[2] t2 — Wire B" in sources
    assert any("checked against the sources" in t for t in shown)


def test_an_answer_that_found_nothing_is_a_plain_section() -> None:
    blocks = answer_blocks(
        answer(found=False, text="I found nothing about <!channel> in the news.", sources=())
    )
    assert blocks == [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": "I found nothing about &lt;!channel&gt; in the news."},
        }
    ]


def test_a_very_long_answer_stays_one_message_within_limits() -> None:
    blocks = answer_blocks(answer(text="Long sentence about chips [1]. " * 8000))
    assert_within_limits(blocks)
    assert "the rest was cut" in texts(blocks)[-1]


def test_reply_blocks_escape_and_keep_lines() -> None:
    blocks = reply_blocks('Following:\n• keyword "<!here>"\n• AMD')
    assert blocks == [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": 'Following:\n• keyword "&lt;!here&gt;"\n• AMD'},
        }
    ]
    many = reply_blocks("line\n" * 5000)
    assert_within_limits(many)
    assert len(many) > 1


# ---- the manifest --------------------------------------------------------------------------


def _scalar(text: str) -> Any:
    text = text.strip()
    if text.startswith('"') and text.endswith('"'):
        return json.loads(text)
    if text in ("true", "false"):
        return text == "true"
    return int(text) if text.isdigit() else text


_KEY = re.compile(r"([A-Za-z_][\w.-]*):(?:\s+(.*))?$")


def mini_yaml(source: str) -> Any:
    """A parser for the block-style YAML subset the manifest uses: nested mappings, lists
    of scalars or mappings, quoted or plain scalars, comments (used without PyYAML)."""
    lines: list[tuple[int, str]] = []
    for raw in source.splitlines():
        if raw.strip() and not raw.lstrip().startswith("#"):
            lines.append((len(raw) - len(raw.lstrip(" ")), raw.strip()))

    def block(i: int, indent: int) -> tuple[Any, int]:
        if lines[i][1].startswith("- "):
            items: list[Any] = []
            while i < len(lines) and lines[i][0] == indent and lines[i][1].startswith("- "):
                rest = lines[i][1][2:]
                if _KEY.match(rest):
                    lines[i] = (indent + 2, rest)
                    value, i = block(i, indent + 2)
                else:
                    value, i = _scalar(rest), i + 1
                items.append(value)
            return items, i
        mapping: dict[str, Any] = {}
        while i < len(lines) and lines[i][0] == indent and not lines[i][1].startswith("- "):
            match = _KEY.match(lines[i][1])
            assert match, f"not a mapping entry: {lines[i][1]}"
            key, rest = match.group(1), match.group(2) or ""
            if rest.strip():
                mapping[key] = _scalar(rest)
                i += 1
            else:
                mapping[key], i = block(i + 1, lines[i + 1][0])
        return mapping, i

    parsed, end = block(0, 0)
    assert end == len(lines), f"unparsed line: {lines[end]}"
    return parsed


def load_manifest() -> Any:
    source = MANIFEST.read_text(encoding="utf-8")
    try:
        yaml = importlib.import_module("yaml")
    except ImportError:
        return mini_yaml(source)
    parsed = yaml.safe_load(source)
    assert parsed == mini_yaml(source)
    return parsed


def test_the_manifest_has_every_command_event_and_scope_the_app_needs() -> None:
    m = load_manifest()
    commands = {c["command"]: c for c in m["features"]["slash_commands"]}
    assert set(commands) == {
        "/brief",
        "/ask",
        "/subscribe",
        "/unsubscribe",
        "/subscriptions",
        "/deals",
        "/stories",
        "/feeds",
        "/schedule",
        "/followups",
        "/quiet",
        "/digest",
        "/briefbot",
    }
    assert "/mute" not in commands  # Slack's own /mute: muting is /briefbot mute WORD
    assert all(c["description"] and c["should_escape"] is False for c in commands.values())
    assert commands["/ask"]["usage_hint"] == "QUESTION"
    assert "graph" in commands["/deals"]["usage_hint"]
    events = set(m["settings"]["event_subscriptions"]["bot_events"])
    assert {"app_mention", "message.im", "message.channels", "app_home_opened"} <= events
    scopes = set(m["oauth_config"]["scopes"]["bot"])
    assert {
        "app_mentions:read",
        "chat:write",
        "commands",
        "im:history",
        "channels:history",
        "files:write",
    } <= scopes
    assert not any(s.startswith("admin") for s in scopes)
    assert "user" not in m["oauth_config"]["scopes"]  # no user-token scopes
    assert m["settings"]["socket_mode_enabled"] is True
    assert m["settings"]["interactivity"]["is_enabled"] is True
    home = m["features"]["app_home"]
    assert home["home_tab_enabled"] is True and home["messages_tab_enabled"] is True
    assert m["features"]["bot_user"]["display_name"] == "briefbot"


def test_the_manifest_registers_exactly_the_commands_the_app_listens_to() -> None:
    """Every slash command of the manifest has a listener, and every listener a command."""
    commands = [c["command"] for c in load_manifest()["features"]["slash_commands"]]
    assert len(commands) == len(set(commands))
    assert set(commands) == {f"/{name}" for name in SLASH_COMMANDS}
    hints = {c["command"]: c.get("usage_hint", "") for c in load_manifest()["features"]["slash_commands"]}
    assert "mute nvidia" in hints["/briefbot"] and "off" in hints["/quiet"] and "me" in hints["/digest"]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('a:\n  b: 1\n  c: "x: y"\n', {"a": {"b": 1, "c": "x: y"}}),
        ("l:\n  - one\n  - k: v\n    w: true\n", {"l": ["one", {"k": "v", "w": True}]}),
    ],
)
def test_mini_yaml_parses_the_manifest_subset(source: str, expected: Any) -> None:
    assert mini_yaml(source) == expected
