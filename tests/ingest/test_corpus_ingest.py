"""Every real feed of ../shared/corpus goes through the whole pipeline: served, fetched, parsed, stored."""

from __future__ import annotations

import pytest

from tests.support.cli import run_cli
from tests.support.corpus import corpus_dir
from tests.support.feedserver import FeedServer

CONTENT_TYPES = {".json": "application/feed+json", ".rdf": "application/rdf+xml", ".xml": "application/xml"}


def test_every_corpus_feed_ingests(
    env: dict[str, str], feed_server: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    feeds = sorted(p for p in (corpus_dir() / "feeds").iterdir() if p.is_file())
    assert len(feeds) >= 30
    for path in feeds:
        feed_server.feed(
            f"/{path.name}", path.read_bytes(), etag=True, content_type=CONTENT_TYPES[path.suffix]
        )
        assert run_cli(capsys, "feeds", "add", feed_server.url(f"/{path.name}")).code == 0

    outcome = run_cli(capsys, "ingest", "--json")
    report = outcome.json()
    assert report["failures"] == [] and report["fetched"] == len(feeds)
    assert report["new_articles"] > 500
    listed = run_cli(capsys, "feeds", "list", "--json").json()
    assert all(f["status"] == "ok" for f in listed)
    titles = {f["title"] for f in listed}
    assert "Anthropic News" in " ".join(t or "" for t in titles)

    # The same documents again: conditional GETs, nothing new, nothing failed.
    again = run_cli(capsys, "ingest", "--all", "--json").json()
    assert again["not_modified"] == len(feeds) and again["new_articles"] == 0
