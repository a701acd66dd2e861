"""The analyze step on the real store (SQLite and PostgreSQL): stories persist and grow across runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.core.analysis import Analyzer
from bot.core.extract import default_gazetteer, default_taxonomy
from bot.core.models import ParsedEntry
from bot.store import SqlStore

DAY = datetime(2025, 10, 6, 12, tzinfo=UTC)

AMD_1 = (
    "AMD and OpenAI announce strategic partnership to deploy 6 gigawatts of AMD GPUs",
    "AMD and OpenAI announced a multi-year agreement under which OpenAI will deploy 6 gigawatts "
    "of AMD Instinct GPUs, starting with 1 gigawatt of MI450 chips in the second half of 2026. "
    "AMD issued OpenAI a warrant for up to 160 million shares.",
)
AMD_2 = (
    "OpenAI taps AMD for 6GW of Instinct chips in multi-year deal",
    "OpenAI agreed to deploy 6 gigawatts of AMD Instinct GPUs over several years, the first "
    "gigawatt of MI450 arriving in late 2026. "
    "The deal gives OpenAI a warrant for up to 160 million AMD shares.",
)
AMD_3 = (
    "AMD-OpenAI chip deal worth tens of billions, AMD says",
    "AMD said its agreement to supply OpenAI with 6 gigawatts of Instinct MI450 GPUs will bring more than "
    "$100 billion in revenue. OpenAI will deploy the first gigawatt of MI450 chips in 2026, AMD said.",
)
OTHER = (
    "Intel ships Gaudi 3 to datacenter customers",
    "Intel said Gaudi 3 accelerators are now shipping to datacenter customers in volume, with Dell and "
    "Supermicro systems available this quarter.",
)


def entries(*items: tuple[str, str, str, datetime]) -> list[ParsedEntry]:
    return [
        ParsedEntry(
            item_id=key,
            url=f"https://news.example/{key}",
            canonical_url=f"https://news.example/{key}",
            title=title,
            text=text,
            summary=text[:100],
            published=when,
        )
        for key, title, text, when in items
    ]


class Clock:
    def __init__(self, now: datetime) -> None:
        self.value = now

    def now(self) -> datetime:
        return self.value


def test_stories_persist_and_grow_across_runs(store: SqlStore) -> None:
    clock = Clock(DAY + timedelta(hours=6))
    analyzer = Analyzer(store, default_taxonomy(), default_gazetteer(), clock)
    feed, _ = store.add_feed("https://news.example/feed", topic=None, title="Example News", now=DAY)
    store.store_entries(
        feed,
        entries(
            ("a1", *AMD_1, DAY),
            ("a2", *AMD_2, DAY + timedelta(hours=2)),
            ("o1", *OTHER, DAY + timedelta(hours=1)),
        ),
        now=DAY,
        backfill=False,
    )
    first = analyzer.run()
    assert (first.analyzed, first.new_stories, first.updated_stories) == (3, 2, 0)
    assert store.articles_to_analyze(0) == []

    stories = {s.headline: s for s in store.list_stories()}
    amd = stories[AMD_1[0]]  # the earliest report names the story
    assert [s.url for s in amd.sources] == ["https://news.example/a1", "https://news.example/a2"]
    assert amd.sources[0].outlet == "Example News"
    assert {"AMD", "OpenAI"} <= set(amd.companies) and "MI450" in amd.chips
    assert amd.state == "new" and amd.first_seen == DAY and amd.last_seen == DAY + timedelta(hours=2)
    assert any(set(d.parties) == {"AMD", "OpenAI"} for d in amd.deals)
    assert [s.id for s in store.list_stories(company="intel")] == [stories[OTHER[0]].id]
    assert [s.id for s in store.list_stories(topic="chips", chip="MI450")] == [amd.id]
    assert len(store.member_reasons(amd.id)) == 2

    # A later run: a third report adds an amount to the AMD story, which becomes "updated".
    clock.value = DAY + timedelta(days=1)
    store.store_entries(
        feed, entries(("a3", *AMD_3, DAY + timedelta(hours=20))), now=clock.value, backfill=False
    )
    second = analyzer.run()
    assert (second.analyzed, second.new_stories, second.updated_stories, second.joined) == (1, 0, 1, 1)
    again = {s.id: s for s in store.list_stories()}
    assert len(again) == 2
    grown = again[amd.id]
    assert len(grown.sources) == 3 and grown.state == "updated" and grown.updated_at == clock.value
    assert grown.created_at == amd.created_at
    assert again[stories[OTHER[0]].id].state == "new"

    # Rebuilding from scratch gives the same grouping.
    rebuilt = analyzer.rebuild()
    assert rebuilt.analyzed == 3 + 1 and rebuilt.new_stories == 2
    groups = sorted(sorted(s.url or "" for s in st.sources) for st in store.list_stories())
    assert groups == [
        ["https://news.example/a1", "https://news.example/a2", "https://news.example/a3"],
        ["https://news.example/o1"],
    ]


def test_since_filter_uses_the_latest_source(store: SqlStore) -> None:
    analyzer = Analyzer(store, default_taxonomy(), default_gazetteer(), Clock(DAY))
    feed, _ = store.add_feed("https://news.example/feed", topic=None, title=None, now=DAY)
    old = DAY - timedelta(days=30)
    store.store_entries(feed, entries(("o1", *OTHER, old), ("a1", *AMD_1, DAY)), now=DAY, backfill=True)
    analyzer.run()
    recent = store.list_stories(since=DAY - timedelta(days=7))
    assert [s.headline for s in recent] == [AMD_1[0]]
    assert recent[0].sources[0].outlet == "news.example"  # no feed title: the host
