"""`briefbot ask`: cited answers from the stored news and the deal ledger, follow-ups, refusals."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.cli.test_story_commands import DAY, WIRE_A, WIRE_B, rss
from tests.support.cli import run_cli
from tests.support.feedserver import FeedServer

LATER = [
    (
        "amzn-2",
        "Amazon invests another $4 billion in Anthropic",
        "Amazon will invest an additional $4 billion in Anthropic, bringing its total investment to "
        "$8 billion. Anthropic named AWS its primary training partner and will train future models "
        "on Trainium chips.",
        DAY + timedelta(days=400),
    ),
]


@pytest.fixture
def news(env: dict[str, str], feed_server: FeedServer, capsys: pytest.CaptureFixture[str]) -> None:
    feed_server.feed("/a.xml", rss("Wire A", WIRE_A + LATER))
    feed_server.feed("/b.xml", rss("Wire B", WIRE_B))
    for path in ("/a.xml", "/b.xml"):
        assert run_cli(capsys, "feeds", "add", feed_server.url(path)).code == 0
    assert run_cli(capsys, "ingest").code == 0


def test_answers_cite_their_sources(news: None, capsys: pytest.CaptureFixture[str]) -> None:
    out = run_cli(capsys, "ask", "How much did Amazon invest in Anthropic?", "--json").json()
    assert set(out) >= {"answer", "found", "sources", "mode"}
    assert out["found"] is True and out["mode"] == "extractive"
    assert "$4 billion" in out["answer"] and "[1]" in out["answer"]
    assert out["sources"][0]["url"].startswith("https://amzn-")
    assert set(out["sources"][0]) == {"url", "title", "outlet", "published"}
    cited = {int(n) for n in __import__("re").findall(r"\[(\d+)\]", out["answer"])}
    assert cited <= set(range(1, len(out["sources"]) + 1))  # every citation points into the list

    text = run_cli(capsys, "ask", "How much did Amazon invest in Anthropic?")
    assert text.code == 0 and "\n[1] " in text.out and "Wire A" in text.out


def test_totals_come_from_the_deal_ledger(news: None, capsys: pytest.CaptureFixture[str]) -> None:
    out = run_cli(capsys, "ask", "How much has Amazon put into Anthropic in total?", "--json").json()
    assert "From the deal ledger:" in out["answer"]
    assert "In total: Amazon -> Anthropic: up to $8 billion across 2 investments." in out["answer"]
    deals = run_cli(capsys, "ask", "deals involving AMD", "--json").json()
    assert "AMD -> OpenAI" in deals["answer"] or "OpenAI" in deals["answer"]


def test_nothing_relevant_is_said_plainly(news: None, capsys: pytest.CaptureFixture[str]) -> None:
    for question in (
        "Did Apple invest in xAI?",
        "How much did Meta pay for Scale AI?",
        "What is the price of Gaudi 3?",
    ):
        out = run_cli(capsys, "ask", question, "--json").json()
        assert out["found"] is False, (question, out["answer"])
        assert out["answer"].startswith("I found nothing about") and out["sources"] == []


def test_follow_ups_keep_the_thread_context(news: None, capsys: pytest.CaptureFixture[str]) -> None:
    first = run_cli(
        capsys, "ask", "How much did Amazon invest in Anthropic?", "--thread", "t1", "--json"
    ).json()
    assert first["found"]
    follow = run_cli(capsys, "ask", "and which chips?", "--thread", "t1", "--json").json()
    assert follow["found"] and "Trainium" in follow["answer"]
    assert "Amazon" in follow["query"] and "Anthropic" in follow["query"]
    alone = run_cli(capsys, "ask", "and which chips?", "--thread", "other", "--json").json()
    assert alone["query"] == "and which chips?"


def test_a_thread_seeded_from_a_chat_platform_gives_context(
    news: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """Turns a chat adapter re-read from the platform's thread carry no entities: the
    companies of the last person's message are found in its text and carried."""
    import asyncio
    from datetime import UTC, datetime

    from bot.config import Settings
    from bot.core.ask import Turn
    from bot.runtime.wiring import build

    app = build(Settings.load())
    try:
        now = datetime.now(UTC)
        app.store.add_turns(
            "cli:seeded",  # the thread `ask --thread seeded` reads
            [
                Turn("user", "Amazon is putting money into Anthropic again", (), now),
                Turn("bot", "ok", (), now),
            ],
        )
    finally:
        asyncio.run(app.aclose())
    follow = run_cli(capsys, "ask", "and which chips?", "--thread", "seeded", "--json").json()
    assert "Amazon" in follow["query"] and "Anthropic" in follow["query"]
    assert follow["found"] and "Trainium" in follow["answer"]


def test_hostile_questions_get_one_line_errors_or_answers(
    news: None, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = run_cli(capsys, "ask", "   ")
    assert empty.code == 1 and empty.err.startswith("briefbot: error:") and empty.err.count("\n") == 1
    for noise in ('"* () AND OR :', "x" * 5000):  # no word to look for
        outcome = run_cli(capsys, "ask", noise)
        assert outcome.code == 1 and outcome.err.count("\n") == 1 and "Traceback" not in outcome.err
    for question in (
        'NEAR(" Nvidia * AND',
        "'; DROP TABLE articles; -- Amazon",
        "Amazon\x00 Anthropic " * 300,
    ):
        outcome = run_cli(capsys, "ask", question, "--json")
        assert outcome.code == 0, outcome.err
        assert isinstance(outcome.json()["found"], bool)
    assert run_cli(capsys, "stories", "--since", "all", "--json").json()  # the data is intact
