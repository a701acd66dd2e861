"""Discord rendering: briefings and answers as embeds within Discord's limits, inert
feed text, and links only to stored source URLs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import discord

from bot.adapters.discord.render import (
    answer_embeds,
    briefing_content,
    briefing_embeds,
    escape_markdown,
    masked_link,
)
from bot.core.ask import Answer
from bot.core.briefing import Briefing, BriefItem, DealRow
from bot.core.extract import Money
from bot.core.records import SourceRef, StoryDeal

NOW = datetime(2025, 10, 7, 9, tzinfo=UTC)
HOSTILE = (
    "@everyone @here <@123> <@!77> <@&456> <#789> [click](https://evil.example) ||spoiler|| **loud** "
    "@Everyones _https://evil.example/a <https://evil.example/b>"
)
# what Discord would turn into a ping, a channel link or a link
PING = re.compile(r"@everyone|@here|<@!?\d+>|<@&\d+>|<#\d+>", re.I)
URL = re.compile(r"https?://[^\s()<>\]]+", re.I)
MASKED = re.compile(r"(?<!\\)\[((?:\[[^\]]*\]|[^\[\]])*)\]\(([^()\s]*)\)")
CITATION_LINK = re.compile(r"\[\[\d+\]\]\(https?://[^\s()<>]+\)")


def ref(n: int, url: str | None = "", outlet: str | None = None) -> SourceRef:
    """Source n; its URL is https://newsN.example/ai/N unless ``url`` says otherwise."""
    return SourceRef(
        n,
        url if url != "" else f"https://news{n}.example/ai/{n}",
        f"Title {n}",
        outlet or f"Outlet {n}",
        NOW - timedelta(hours=n),
    )


def item(story_id: int, headline: str, section: str, sentences: tuple[str, ...], **kw: Any) -> BriefItem:
    return BriefItem(
        story_id=story_id,
        headline=headline,
        section=section,
        sentences=sentences,
        why=kw.get("why"),
        update=kw.get("update", False),
        score=1.0,
        deals=(),
        written_by="extractive",
        note=kw.get("note"),
    )


def briefing(
    sections: tuple[tuple[str, tuple[BriefItem, ...]], ...],
    sources: tuple[SourceRef, ...],
    deals: tuple[DealRow, ...] = (),
    top_line: str = "3 stories: AMD and OpenAI; Intel; Nvidia [1].",
) -> Briefing:
    return Briefing(
        generated_at=NOW,
        since=NOW - timedelta(days=1),
        top_line=top_line,
        sections=sections,
        deals=deals,
        sources=sources,
        mode="extractive",
        footer="briefbot · 3 stories from 3 sources · extractive summaries (no LLM configured)",
    )


# ---- what a user would see --------------------------------------------------------------


def discord_length(embed: dict[str, Any]) -> int:
    """Discord's count towards the 6,000 characters of an embed (and of a message)."""
    return (
        len(embed.get("title", ""))
        + len(embed.get("description", ""))
        + sum(len(f["name"]) + len(f["value"]) for f in embed.get("fields", []))
        + len(embed.get("footer", {}).get("text", ""))
        + len(embed.get("author", {}).get("name", ""))
    )


def assert_within_limits(messages: list[list[dict[str, Any]]]) -> None:
    for message in messages:
        assert 1 <= len(message) <= 10
        assert sum(discord_length(e) for e in message) <= 6000
        for embed in message:
            assert discord_length(embed) <= 6000
            assert 0 < len(embed["title"]) <= 256
            assert len(embed.get("description", "")) <= 4096
            assert len(embed.get("fields", [])) <= 25
            for f in embed.get("fields", []):
                assert 0 < len(f["name"]) <= 256
                assert len(f["value"].strip()) > 0 and len(f["value"]) <= 1024
            assert len(embed.get("footer", {}).get("text", "")) <= 2048


def texts(embeds: list[dict[str, Any]]) -> Iterator[str]:
    """Every string of the embeds that Discord shows."""
    for e in embeds:
        yield e.get("title", "")
        yield e.get("description", "")
        for f in e.get("fields", []):
            yield f["name"]
            yield f["value"]
        yield e.get("footer", {}).get("text", "")
        yield e.get("author", {}).get("name", "")


def flat(messages: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [e for message in messages for e in message]


def linked_urls(strings: Iterator[str] | list[str]) -> list[str]:
    """Every URL Discord would make clickable: masked link targets and bare URLs."""
    urls: list[str] = []
    for s in strings:
        urls += [m.group(2) for m in MASKED.finditer(s)]
        urls += URL.findall(MASKED.sub("", s))
    return urls


def shown(text: str) -> str:
    """Roughly what a reader sees: escapes and zero-width spaces gone."""
    return re.sub(r"\\(.)", r"\1", text).replace("\u200b", "")


# ---- escaping ---------------------------------------------------------------------------


def test_hostile_text_is_escaped_into_plain_visible_text() -> None:
    out = escape_markdown(HOSTILE + "\n> quoted\n# heading\n- item\x00\u202e\u200bend\\*")
    assert not PING.search(out)
    assert "https://" not in out  # no bare URL Discord could link
    assert not MASKED.search(out)
    for raw in ("[click]", "||spoiler||", "**loud**"):
        assert raw not in out
    assert "\\[click\\]" in out and "\\|\\|spoiler\\|\\|" in out and "\\*\\*loud\\*\\*" in out
    assert "\n\\> quoted\n\\# heading\n\\- item" in out
    assert "\x00" not in out and "\u202e" not in out and "itemend" in out
    assert out.endswith("\\\\\\*")  # a backslash in the feed cannot un-escape what follows
    assert shown(out).startswith("@everyone @here <@123>")  # the reader still reads it


def test_masked_links_only_for_safe_http_urls() -> None:
    assert (
        masked_link("AMD [and] OpenAI", "https://a.example/x?y=1")
        == "[AMD (and) OpenAI](https://a.example/x?y=1)"
    )
    for bad in (
        None,
        "",
        "javascript:alert(1)",
        "ftp://a.example/x",
        "https://a.example/x)y",
        "https://a.example/a b",
        "https://a.example/<x>",
        "https://",
        "https://a.example/" + "x" * 600,
    ):
        assert masked_link("*Title*", bad) == "\\*Title\\*", bad


# ---- briefings --------------------------------------------------------------------------


def test_hostile_feed_text_in_a_briefing_renders_inert_with_only_stored_links() -> None:
    sources = (ref(1), ref(2, "javascript:alert(1)"), ref(3, outlet="@everyone news"))
    hostile = item(
        1,
        f"{HOSTILE} buys GPUs",
        "chips",
        (f"Read {HOSTILE} now [1].", "It said [2] and [3] and [9]."),
        why=f"Because <@123> said so [1]. {HOSTILE}",
        note="@here extractive",
    )
    deal = StoryDeal(("@everyone", "<@&456>"), "partnership", None, NOW, (1,), 1)
    b = briefing(
        (("chips", (hostile,)),),
        sources,
        deals=(DealRow(deal, 1, (1, 3)),),
        top_line=f"1 story: {HOSTILE} [1].",
    )
    messages = briefing_embeds(b)
    assert_within_limits(messages)
    strings = [*texts(flat(messages)), briefing_content(b)]
    assert not any(PING.search(s) for s in strings)
    assert set(linked_urls(strings)) == {s.url for s in (sources[0], sources[2])}
    assert "evil.example" in shown(" ".join(strings))  # shown as text, never linked
    value = flat(messages)[1]["fields"][0]["value"]
    assert "[[1]](https://news1.example/ai/1)" in value and "[[3]](https://news3.example/ai/3)" in value
    assert "\\[2\\]" in value and "\\[9\\]" in value  # no stored URL to link: the number alone


def test_a_small_briefing_is_one_message_with_sections_deals_sources_and_the_mode() -> None:
    sources = (ref(1), ref(2), ref(3))
    amd = item(
        1,
        "AMD and OpenAI sign 6 GW GPU deal",
        "alliance",
        ("OpenAI will deploy 6 gigawatts of AMD GPUs [1][2].",),
        why="A second supplier beside Nvidia [2].",
    )
    gaudi = item(2, "Intel ships Gaudi 3", "chips", ("Gaudi 3 ships in volume [3].",), update=True)
    deal = StoryDeal(("AMD", "OpenAI"), "supply", Money(1e10, "$10 billion", "up to", "USD"), NOW, (1,), 2)
    b = briefing((("alliance", (amd,)), ("chips", (gaudi,))), sources, deals=(DealRow(deal, 1, (1, 2)),))
    messages = briefing_embeds(b)
    assert_within_limits(messages)
    assert len(messages) == 1
    header, alliances, chips, deals, listed = messages[0]
    assert header["title"] == "AI infrastructure briefing, 7 Oct 2025"
    assert (
        header["description"].startswith("**3 stories")
        and "[[1]](https://news1.example/ai/1)" in header["description"]
    )
    assert alliances["title"] == "Alliances"
    field = alliances["fields"][0]
    assert field["name"] == "AMD and OpenAI sign 6 GW GPU deal"
    assert field["value"] == (
        "OpenAI will deploy 6 gigawatts of AMD GPUs [[1]](https://news1.example/ai/1)"
        "[[2]](https://news2.example/ai/2).\n**Why it matters:** A second supplier beside Nvidia "
        "[[2]](https://news2.example/ai/2)."
    )
    assert chips["fields"][0]["name"] == "Update: Intel ships Gaudi 3"
    assert deals["title"] == "Deals"
    assert deals["description"].startswith("2025-10-07 · AMD -> OpenAI (supply) · up to $10 billion [[1]](")
    assert listed["title"] == "Sources"
    assert listed["description"].splitlines()[0] == (
        "\\[1\\] [Title 1](https://news1.example/ai/1) — Outlet 1, 2025-10-07"
    )
    assert "mode: extractive" in listed["footer"]["text"] and "part" not in listed["footer"]["text"]
    assert set(linked_urls(texts(messages[0]))) == {s.url for s in sources}
    content = briefing_content(b)
    assert content.startswith("AI infrastructure briefing, 7 Oct 2025: 3 stories")
    assert "http" not in content and "[1]" not in content


def test_an_empty_briefing_is_one_embed_with_its_top_line_and_footer() -> None:
    b = briefing((), (), top_line="Nothing new since 06 Oct 09:00 UTC in the news briefbot follows.")
    messages = briefing_embeds(b)
    assert_within_limits(messages)
    assert len(messages) == 1 and len(messages[0]) == 1
    embed = messages[0][0]
    assert embed["description"] == b.top_line
    assert embed["footer"]["text"].endswith("mode: extractive")


def _long_briefing() -> tuple[Briefing, int]:
    """40 stories of long cited sentences over eight sections, one story far longer than a
    field (a single sentence longer than a field, too), long and unlinkable URLs, 30
    deals; and how many citations of linkable sources the stories hold."""
    sources = [ref(n) for n in range(1, 81)]
    sources[4] = ref(5, "https://long.example/" + "p/" * 230)  # 481 characters: still linked
    sources[5] = ref(6, "https://long.example/" + "q" * 600)  # too long to link
    sources[6] = ref(7, None)
    sources[7] = ref(8, "https://x.example/a)b")
    linkable = {n for n, s in enumerate(sources, 1) if s.url and len(s.url) <= 500 and ")" not in s.url}
    topics = ("alliance", "investment", "chips", "datacenter", "cloud", "models", "policy", "earnings")
    cited = 0
    sections = []
    for t, topic in enumerate(topics):
        items = []
        for k in range(5):
            sid = t * 5 + k + 1
            cites = [(sid * 3 + j) % 80 + 1 for j in range(6)]
            sentences = tuple(
                f"Story{sid} sentence{j} says the cluster grows by {j + 1} gigawatts across several "
                f"regions while suppliers race to ship accelerators, memory and networking gear in volume "
                f"before the end of the fiscal year, according to filings and people [{c}][{cites[0]}]."
                for j, c in enumerate(cites)
            )
            if sid == 7:  # far longer than a field; one sentence alone longer than a field
                sentences += tuple(
                    f"Story7 extra{j} adds detail on power and cooling [{(j % 8) + 1}]." for j in range(60)
                )
                sentences += (
                    " ".join(f"Story7 clause{j} with a source [{(j % 8) + 1}]" for j in range(40)) + ".",
                )
            why = f"Story{sid} why: it shifts the balance of compute supply [{cites[1]}]." if k < 2 else None
            items.append(
                item(sid, f"Story {sid}: a long headline " + "x" * 20 * (sid % 15), topic, sentences, why=why)
            )
            cited += sum(
                int(n) in linkable for s in (*sentences, why or "") for n in re.findall(r"\[(\d+)\]", s)
            )
        sections.append((topic, tuple(items)))
    deals = tuple(
        DealRow(StoryDeal((f"Investor{n}", f"Lab{n}"), "investment", None, NOW, (n,), 1), n, (n, n + 1))
        for n in range(1, 31)
    )
    return briefing(tuple(sections), tuple(sources), deals=deals, top_line="40 stories [1]. " * 400), cited


def test_a_40_story_briefing_splits_into_messages_within_every_limit() -> None:
    b, cited = _long_briefing()
    messages = briefing_embeds(b)
    assert_within_limits(messages)
    assert len(messages) > 1
    for i, message in enumerate(messages, 1):
        footer = message[-1]["footer"]["text"]
        assert "mode: extractive" in footer and footer.endswith(f"part {i}/{len(messages)}")
    embeds = flat(messages)
    strings = list(texts(embeds))
    # no masked link cut in half: every "[[n]](" opens a whole link to a stored URL
    for s in strings:
        assert s.count("[[") == len(CITATION_LINK.findall(s)), s
    stored = {s.url for s in b.sources}
    assert set(linked_urls(strings)) <= stored
    assert b.sources[4].url in linked_urls(strings)
    # nothing lost: every story's headline and sentences are shown, every citation linked
    fields = [f for e in embeds for f in e.get("fields", [])]
    names = " ".join(f["name"] for f in fields)
    values = " ".join(f["value"] for f in fields)
    for story in b.items:
        assert story.headline[:40] in names
        for sentence in story.sentences:
            assert sentence.split(" ")[0] + " " + sentence.split(" ")[1] in values
    assert len(CITATION_LINK.findall(values)) == cited
    story7 = [f for f in fields if f["name"].startswith("Story 7:")]
    assert len(story7) > 4 and all(f["name"].endswith("(continued)") for f in story7[1:])
    assert (
        sum(len(e.get("description", "").splitlines()) for e in embeds if e["title"].startswith("Deals"))
        == 30
    )
    assert len(embeds[0]["description"]) <= 4096 and embeds[0]["description"].endswith("…**")
    assert len(briefing_content(b)) <= 2000
    for embed in embeds:  # discord.py reads each one and counts as the helper does
        assert len(discord.Embed.from_dict(embed)) == discord_length(embed)


# ---- answers ----------------------------------------------------------------------------


def test_an_answer_links_its_citations_and_lists_sources_with_outlets() -> None:
    sources = (ref(1, outlet="Reuters"), ref(2, outlet="The Information"), ref(3, None, outlet="Blog"))
    answer = Answer(
        question="How much did Nvidia invest in OpenAI?",
        query="Nvidia invest OpenAI",
        text="Nvidia plans to invest up to $100 billion in OpenAI [1][2]. A blog agreed [3].",
        found=True,
        sources=sources,
        mode="llm",
    )
    embeds = answer_embeds(answer)
    assert_within_limits([embeds])
    (embed,) = embeds
    assert embed["title"] == "How much did Nvidia invest in OpenAI?"
    assert embed["description"] == (
        "Nvidia plans to invest up to $100 billion in OpenAI [[1]](https://news1.example/ai/1)"
        "[[2]](https://news2.example/ai/2). A blog agreed \\[3\\]."
    )
    listed = embed["fields"][0]
    assert listed["name"] == "Sources"
    assert [line.split(" — ")[1].split(",")[0] for line in listed["value"].splitlines()] == [
        "Reuters",
        "The Information",
        "Blog",
    ]
    assert set(linked_urls(texts(embeds))) == {"https://news1.example/ai/1", "https://news2.example/ai/2"}
    assert embed["footer"]["text"] == "mode: llm"


def test_an_answer_that_found_nothing_is_plain_text_without_sources() -> None:
    answer = Answer(
        question="Did Apple invest in xAI?",
        query="Apple xAI",
        text="I found nothing in the news I follow about that.",
        found=False,
        sources=(ref(1),),
        mode="extractive",
        note="no LLM configured",
    )
    (embed,) = answer_embeds(answer)
    assert embed["description"] == "I found nothing in the news I follow about that."
    assert "fields" not in embed and not linked_urls(texts([embed]))
    assert embed["footer"]["text"] == "mode: extractive · no LLM configured"


def test_a_hostile_long_answer_is_inert_and_fits_one_message() -> None:
    sources = tuple(ref(n, outlet=f"<@{n}> @everyone outlet") for n in range(1, 41))
    answer = Answer(
        question=f"{HOSTILE}?",
        query="x",
        text=" ".join(f"{HOSTILE} sentence {n} [{n}]." for n in range(1, 41)) * 3,
        found=True,
        sources=sources,
        mode="llm",
    )
    embeds = answer_embeds(answer)
    assert_within_limits([embeds])
    strings = list(texts(embeds))
    assert not any(PING.search(s) for s in strings)
    assert set(linked_urls(strings)) <= {s.url for s in sources}
    for s in strings:
        assert s.count("[[") == len(CITATION_LINK.findall(s))
