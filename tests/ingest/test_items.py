"""Item layouts: a changed feed parses only its new items, and they read as in the whole document."""

from __future__ import annotations

import xml.parsers.expat
from datetime import UTC, datetime

import pytest

import bot.ingest.process as process
from bot.core.models import Feed
from bot.ingest.items import item_layout
from bot.ingest.parse import parse_feed, without_lead_in
from bot.ingest.process import ingest_body
from tests.support.corpus import feed_bytes, feed_names
from tests.support.feeds import numbered, rss

XML_FEEDS = [n for n in feed_names() if not n.endswith(".json")]


def test_most_real_feeds_have_a_layout() -> None:
    with_layout = [n for n in XML_FEEDS if item_layout(without_lead_in(feed_bytes(n))) is not None]
    assert len(with_layout) >= len(XML_FEEDS) - 3, sorted(set(XML_FEEDS) - set(with_layout))


@pytest.mark.parametrize("name", XML_FEEDS)
def test_every_item_of_a_real_feed_reads_alone_as_it_does_in_the_whole_document(name: str) -> None:
    body = without_lead_in(feed_bytes(name))  # as ingest_body hands it over
    url = f"https://feeds.example/{name}"
    layout = item_layout(body)
    if layout is None:  # malformed for expat: such feeds are always parsed whole
        with pytest.raises((xml.parsers.expat.ExpatError, ValueError)):  # ValueError: gb2312
            xml.parsers.expat.ParserCreate(namespace_separator=" ").Parse(body, True)
        return
    whole = parse_feed(body, url, {}).entries
    assert len(layout.spans) >= len(whole)  # a repeated guid is one entry
    assert parse_feed(layout.only(body, range(len(layout.spans))), url, {}).entries == whole
    by_id = {e.item_id: e for e in whole}
    for index in range(len(layout.spans)):
        alone = parse_feed(layout.only(body, [index]), url, {}).entries
        assert len(alone) == 1
        entry = alone[0]
        if entry.url and "#" in entry.url:
            continue  # its canonical URL depends on the other items (ingest_body reads all then)
        assert by_id[entry.item_id] == entry


def test_only_new_items_are_new_and_a_channel_change_does_not_hide_them() -> None:
    def doc(items: list[str], built: str) -> bytes:
        entries = "".join(
            f"<item><guid>{g}</guid><title>{g} title</title><link>https://n.example/{g}</link></item>"
            for g in items
        )
        return (
            f'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
            f"<lastBuildDate>{built}</lastBuildDate>{entries}</channel></rss>"
        ).encode()

    before = item_layout(doc(["a", "b", "c"], "Mon, 01 Dec 2025 10:00:00 GMT"))
    after = item_layout(doc(["d", "a", "b"], "Tue, 02 Dec 2025 10:00:00 GMT"))
    assert before is not None and after is not None
    assert after.new_items(before.encode()) == [0]
    assert after.new_items(None) is None
    assert after.new_items(after.encode()) == []


class RecordingStore:
    """Records what ingest_body stores (the FeedStore half it uses)."""

    def __init__(self) -> None:
        self.stored: list[list[str]] = []

    def store_entries(self, feed: object, entries: list[object], *, now: object, backfill: bool) -> int:
        self.stored.append([e.title for e in entries])  # type: ignore[attr-defined]
        return len(entries)


def test_a_changed_feed_parses_only_the_items_it_did_not_have(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed_sizes: list[int] = []
    real_parse = process.parse_feed

    def counting(body: bytes, url: str, headers: dict[str, str]) -> object:
        result = real_parse(body, url, headers)
        parsed_sizes.append(len(result.entries))
        return result

    monkeypatch.setattr(process, "parse_feed", counting)
    store = RecordingStore()
    feed = Feed(id=1, url="https://news.example/rss")
    now = datetime(2025, 12, 2, tzinfo=UTC)
    ingest_body(store, feed, rss(numbered("a", 20)), feed.url, {}, now=now, backfill=True)  # type: ignore[arg-type]
    assert feed.item_digests is not None and len(feed.item_digests.split()) == 20
    ingest_body(store, feed, rss(numbered("a", 21)), feed.url, {}, now=now, backfill=False)  # type: ignore[arg-type]
    ingest_body(store, feed, rss(numbered("a", 21), title="Renamed"), feed.url, {}, now=now, backfill=False)  # type: ignore[arg-type]
    # the whole first document, then the one new item, then nothing (same items, new channel title)
    assert parsed_sizes == [20, 1]
    assert store.stored[1] == ["a story 20"] and store.stored[2] == []
