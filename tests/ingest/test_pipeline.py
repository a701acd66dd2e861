"""Ingestion end to end through the CLI: local feed server, real fetcher, parser and store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.store import SqlStore, open_engine
from tests.support.cli import run_cli
from tests.support.feeds import numbered, rss
from tests.support.feedserver import FeedServer

Cap = pytest.CaptureFixture[str]


def open_store(env: dict[str, str]) -> SqlStore:
    return SqlStore(open_engine(env["BRIEFBOT_DATABASE_URL"]))


def test_first_pass_stores_backfill_then_only_new_items(
    env: dict[str, str], feed_server: FeedServer, capsys: Cap
) -> None:
    feed_server.feed("/rss", rss(numbered("a", 3)), etag=True)
    assert run_cli(capsys, "feeds", "add", feed_server.url("/rss"), "--topic", "chips").code == 0

    first = run_cli(capsys, "ingest", "--json")
    assert first.code == 0
    report = first.json()
    assert {k: report[k] for k in ("feeds", "fetched", "not_modified", "failed", "new_articles")} == {
        "feeds": 1,
        "fetched": 1,
        "not_modified": 0,
        "failed": 0,
        "new_articles": 3,
    }
    assert isinstance(report["seconds"], float)

    # Nothing is due right after a successful fetch; --all fetches anyway and gets a 304.
    assert run_cli(capsys, "ingest", "--json").json()["feeds"] == 0
    again = run_cli(capsys, "ingest", "--all", "--json").json()
    assert again["not_modified"] == 1 and again["new_articles"] == 0
    assert feed_server.requests_for("/rss")[-1].headers.get("if-none-match")

    feed_server.update("/rss", rss(numbered("a", 4)))
    third = run_cli(capsys, "ingest", "--all", "--json").json()
    assert third["new_articles"] == 1

    store = open_store(env)
    arts = store.recent_articles(10)
    assert len(arts) == 4
    backfill = {a.title: a.backfill for a in arts}
    assert backfill["a story 3"] is False
    assert all(backfill[f"a story {i}"] for i in range(3))
    assert all("<" not in a.text for a in arts)


def test_a_new_post_that_differs_from_an_old_one_only_by_its_fragment_is_kept(
    env: dict[str, str], feed_server: FeedServer, capsys: Cap
) -> None:
    """Only a changed feed's new items are parsed, but a post like day.html#b still gets its
    own article beside day.html#a: whether the fragment counts depends on the other items."""
    morning = ("a", "Morning notes", "https://news.example/day.html#a")
    evening = ("b", "Evening notes", "https://news.example/day.html#b")
    feed_server.feed("/rss", rss([morning]), etag=True)
    assert run_cli(capsys, "feeds", "add", feed_server.url("/rss")).code == 0
    assert run_cli(capsys, "ingest", "--json").json()["new_articles"] == 1
    feed_server.update("/rss", rss([morning, evening]))  # morning byte for byte as before
    assert run_cli(capsys, "ingest", "--all", "--json").json()["new_articles"] == 1
    titles = {a.title: a.url for a in open_store(env).recent_articles(10)}
    assert titles == {"Morning notes": morning[2], "Evening notes": evening[2]}


def test_a_changed_feed_stores_its_new_items_whole(
    env: dict[str, str], feed_server: FeedServer, capsys: Cap
) -> None:
    """A new item read without the feed's old ones is stored as it reads in the whole feed:
    relative links resolved against the channel's xml:base, text and dates intact."""

    def doc(guids: list[str]) -> bytes:
        items = "".join(
            f"<item><guid>{g}</guid><title>Story {g}</title><link>stories/{g}.html</link>"
            f"<pubDate>Tue, 02 Dec 2025 10:00:00 GMT</pubDate><dc:creator>Ada</dc:creator>"
            f"<description>&lt;p&gt;Body of {g}.&lt;/p&gt;</description></item>"
            for g in guids
        )
        return (
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/" xml:base="https://wire.example/news/">'
            f"<channel><title>Wire</title><lastBuildDate>{len(guids)}</lastBuildDate>{items}</channel></rss>"
        ).encode()

    feed_server.feed("/rss", doc(["1", "2"]), etag=True)
    assert run_cli(capsys, "feeds", "add", feed_server.url("/rss")).code == 0
    assert run_cli(capsys, "ingest", "--json").json()["new_articles"] == 2
    feed_server.update("/rss", doc(["3", "1", "2"]))
    assert run_cli(capsys, "ingest", "--all", "--json").json()["new_articles"] == 1
    new = next(a for a in open_store(env).recent_articles(10) if a.title == "Story 3")
    assert new.url == "https://wire.example/news/stories/3.html"
    assert (new.text, new.author, new.backfill) == ("Body of 3.", "Ada", False)
    assert new.published == datetime(2025, 12, 2, 10, tzinfo=UTC)


def test_unchanged_body_without_validators_is_not_reparsed(
    env: dict[str, str], feed_server: FeedServer, capsys: Cap
) -> None:
    feed_server.feed("/plain", rss(numbered("p", 2)))  # no ETag, no Last-Modified
    run_cli(capsys, "feeds", "add", feed_server.url("/plain"))
    assert run_cli(capsys, "ingest", "--json").json()["fetched"] == 1
    second = run_cli(capsys, "ingest", "--all", "--json").json()
    assert second["fetched"] == 0 and second["not_modified"] == 1 and second["new_articles"] == 0


def test_same_article_from_two_feeds_is_stored_once(
    env: dict[str, str], feed_server: FeedServer, capsys: Cap
) -> None:
    shared = ("x-1", "Shared story", "https://News.Example/shared?utm_source=rss&id=7#top")
    feed_server.feed("/one", rss([shared]))
    feed_server.feed(
        "/two", rss([("other-guid", "Shared story", "https://news.example/shared?id=7&fbclid=abc")])
    )
    run_cli(capsys, "feeds", "add", feed_server.url("/one"))
    run_cli(capsys, "feeds", "add", feed_server.url("/two"))
    report = run_cli(capsys, "ingest", "--json").json()
    assert report["fetched"] == 2 and report["new_articles"] == 1
    assert open_store(env).count_articles() == 1


def test_permanent_redirect_updates_the_stored_url(
    env: dict[str, str], feed_server: FeedServer, capsys: Cap
) -> None:
    feed_server.feed("/new", rss(numbered("r", 1)))
    feed_server.redirect("/old", "/new", status=301)
    run_cli(capsys, "feeds", "add", feed_server.url("/old"))
    assert run_cli(capsys, "ingest", "--json").json()["new_articles"] == 1
    listed = run_cli(capsys, "feeds", "list", "--json").json()
    assert [f["url"] for f in listed] == [feed_server.url("/new")]


def test_temporary_redirect_keeps_the_url(env: dict[str, str], feed_server: FeedServer, capsys: Cap) -> None:
    feed_server.feed("/real", rss(numbered("t", 1)))
    feed_server.redirect("/tmp", "/real", status=302)
    run_cli(capsys, "feeds", "add", feed_server.url("/tmp"))
    run_cli(capsys, "ingest", "--json")
    assert [f["url"] for f in run_cli(capsys, "feeds", "list", "--json").json()] == [feed_server.url("/tmp")]


def test_rate_limited_feed_backs_off_for_retry_after(
    env: dict[str, str], feed_server: FeedServer, capsys: Cap
) -> None:
    feed_server.status("/busy", 429, retry_after="7200")
    run_cli(capsys, "feeds", "add", feed_server.url("/busy"))
    before = datetime.now(UTC)
    outcome = run_cli(capsys, "ingest", "--json")
    assert outcome.code == 1 and outcome.json()["failed"] == 1
    (feed,) = run_cli(capsys, "feeds", "list", "--json").json()
    assert feed["status"] == "failing" and feed["error_count"] == 1 and "429" in feed["last_error"]
    assert datetime.fromisoformat(feed["next_fetch"]) >= before + timedelta(hours=2) - timedelta(seconds=5)
    # Not due again yet: the next pass leaves it alone.
    assert run_cli(capsys, "ingest", "--json").json()["feeds"] == 0


def test_failing_for_seven_days_disables_the_feed_and_records_an_event(
    env: dict[str, str], feed_server: FeedServer, capsys: Cap
) -> None:
    feed_server.status("/gone", 500)
    run_cli(capsys, "feeds", "add", feed_server.url("/gone"))
    store = open_store(env)
    feed = store.get_feed(feed_server.url("/gone"))
    assert feed is not None
    feed.failing_since = datetime.now(UTC) - timedelta(days=7)
    feed.error_count = 12
    store.save_feed_state(feed)

    run_cli(capsys, "ingest", "--all", "--json")
    (listed,) = run_cli(capsys, "feeds", "list", "--json").json()
    assert listed["status"] == "disabled" and listed["enabled"] is False
    assert "HTTP 500" in listed["last_error"]
    (event,) = store.list_events(unreported_only=True)
    assert event.kind == "feed_disabled" and feed_server.url("/gone") in event.message
    text = run_cli(capsys, "feeds", "list").out
    assert "disabled" in text and "HTTP 500" in text
    # A disabled feed is not fetched again, even with --all.
    assert run_cli(capsys, "ingest", "--all", "--json").json()["feeds"] == 0


def test_broken_bodies_fail_the_feed_with_a_reason_and_keep_others(
    env: dict[str, str], feed_server: FeedServer, capsys: Cap
) -> None:
    feed_server.feed("/good", rss(numbered("g", 2)))
    feed_server.feed("/junk", b"\x00\x01 this is not a feed at all", content_type="application/octet-stream")
    feed_server.truncated("/cut", rss(numbered("c", 5)), sent=100)
    for path in ("/good", "/junk", "/cut"):
        run_cli(capsys, "feeds", "add", feed_server.url(path))
    outcome = run_cli(capsys, "ingest")
    assert outcome.code == 1
    assert "2 failed" in outcome.out and "2 new articles" in outcome.out
    failures = [line for line in outcome.out.splitlines() if line.startswith("failed:")]
    assert len(failures) == 2 and all("Traceback" not in line for line in failures)


def test_hostile_urls_are_refused_at_add(
    env: dict[str, str], capsys: Cap, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BRIEFBOT_ALLOW_PRIVATE_FEEDS", "false")
    for url in (
        "http://127.0.0.1/feed",
        "http://2130706433/",
        "file:///etc/passwd",
        "http://user:pw@example.com/",
    ):
        outcome = run_cli(capsys, "feeds", "add", url)
        assert outcome.code == 1
        assert outcome.err.startswith("briefbot: error: ") and outcome.err.count("\n") == 1
    assert run_cli(capsys, "feeds", "list", "--json").json() == []


def test_import_export_remove(env: dict[str, str], tmp_path, capsys: Cap) -> None:  # type: ignore[no-untyped-def]
    opml = tmp_path / "in.opml"
    opml.write_text(
        '<opml version="2.0"><body><outline text="chips">'
        '<outline type="rss" text="A" xmlUrl="https://a.example/feed"/>'
        '<outline type="rss" text="B" xmlUrl="ftp://b.example/feed"/>'
        "</outline></body></opml>"
    )
    result = run_cli(capsys, "feeds", "import", str(opml), "--json").json()
    assert result["added"] == ["https://a.example/feed"]
    assert result["refused"][0]["url"] == "ftp://b.example/feed"
    exported = run_cli(capsys, "feeds", "export").out
    assert 'xmlUrl="https://a.example/feed"' in exported and 'category="chips"' in exported
    assert run_cli(capsys, "feeds", "remove", "https://a.example/feed").code == 0
    missing = run_cli(capsys, "feeds", "remove", "https://a.example/feed")
    assert missing.code == 1 and "no feed with URL" in missing.err
    assert run_cli(capsys, "feeds", "import", str(tmp_path / "nope.opml")).code == 1
