"""OPML import and export."""

from __future__ import annotations

import pytest

from bot.core.models import Feed
from bot.errors import ParseError
from bot.ingest.opml import export_opml, parse_opml

OPML = b"""<?xml version="1.0"?>
<opml version="2.0"><head><title>mine</title></head><body>
  <outline text="Chips">
    <outline type="rss" text="NVIDIA" xmlUrl="https://blogs.nvidia.com/feed/"/>
    <outline type="rss" text="AMD" xmlUrl="https://amd.example/rss" category="silicon"/>
  </outline>
  <outline type="rss" text="Loose" xmlUrl="https://loose.example/feed"/>
  <outline text="empty folder"/>
</body></opml>"""


def test_import_reads_urls_titles_and_folders_as_topics() -> None:
    specs = parse_opml(OPML)
    assert [(s.url, s.title, s.topic) for s in specs] == [
        ("https://blogs.nvidia.com/feed/", "NVIDIA", "Chips"),
        ("https://amd.example/rss", "AMD", "silicon"),
        ("https://loose.example/feed", "Loose", None),
    ]


def test_export_round_trips_through_import() -> None:
    feeds = [
        Feed(id=1, url="https://a.example/feed?x=1&y=2", title='A & "B"', topic="chips"),
        Feed(id=2, url="https://b.example/feed"),
    ]
    specs = parse_opml(export_opml(feeds).encode())
    assert [(s.url, s.title, s.topic) for s in specs] == [
        ("https://a.example/feed?x=1&y=2", 'A & "B"', "chips"),
        ("https://b.example/feed", None, None),
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not xml at all", "not a readable OPML file"),
        (b"<rss><channel/></rss>", "not an OPML file"),
        (b'<!DOCTYPE x [<!ENTITY a "aaaa">]><opml><body/></opml>', "DTD or entities"),
    ],
)
def test_bad_opml_is_refused_with_a_reason(data: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse_opml(data)
