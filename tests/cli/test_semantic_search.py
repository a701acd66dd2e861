"""Optional semantic retrieval: passages embedded once each, rankings fused, failures harmless."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bot.core.ask import Asker
from bot.core.extract import default_gazetteer, default_taxonomy
from bot.core.search import SearchHit, SearchQuery
from tests.cli.test_story_commands import WIRE_A, WIRE_B, rss
from tests.support.cli import run_cli
from tests.support.feedserver import FeedServer
from tests.support.openai_server import OpenAIServer, Reply


@pytest.fixture
def api() -> Any:
    with OpenAIServer() as server:
        yield server


def test_passages_are_embedded_once_and_questions_use_them(
    env: dict[str, str],
    feed_server: FeedServer,
    api: OpenAIServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", api.base_url)
    monkeypatch.setenv("BRIEFBOT_EMBEDDINGS_MODEL", "test-embedder")
    monkeypatch.setenv("BRIEFBOT_OPENAI_MAX_RETRIES", "0")
    api.respond_with(lambda request: Reply.fail(500))  # no chat model: extractive answers
    feed_server.feed("/a.xml", rss("Wire A", WIRE_A))
    feed_server.feed("/b.xml", rss("Wire B", WIRE_B))
    for path in ("/a.xml", "/b.xml"):
        assert run_cli(capsys, "feeds", "add", feed_server.url(path)).code == 0
    first = run_cli(capsys, "ingest", "--json").json()["analysis"]
    assert first["passages_embedded"] >= 4 and first["embeddings_note"] is None
    embedded = len(api.embedding_requests)
    again = run_cli(capsys, "analyze", "--json").json()
    assert again["passages_embedded"] == 0 and len(api.embedding_requests) == embedded  # once per passage

    answer = run_cli(capsys, "ask", "How much did Amazon invest in Anthropic?", "--json").json()
    assert answer["found"] and "$4 billion" in answer["answer"]
    assert len(api.embedding_requests) == embedded + 1  # the question's vector

    api.embeddings_reply(Reply.fail(500))  # the embeddings endpoint fails: full-text search alone
    still = run_cli(capsys, "ask", "How much did Amazon invest in Anthropic?", "--json").json()
    assert still["found"] and "$4 billion" in still["answer"]


def hit(pid: int, article: int) -> SearchHit:
    return SearchHit(
        article, pid, 0, f"text {pid}", 1.0, f"t{article}", None, "o", datetime(2025, 1, 1, tzinfo=UTC), None
    )


class Search:
    def search(self, query: SearchQuery) -> list[SearchHit]:
        return [hit(1, 10), hit(2, 20)]


class Ranker:
    def ranked_hits(self, question: str, k: int = 20) -> list[SearchHit]:
        return [hit(3, 30), hit(1, 10), hit(4, 30), hit(5, 30)]


def test_rankings_are_fused_with_two_passages_per_article_at_most() -> None:
    asker = Asker(Search(), None, None, default_taxonomy(), default_gazetteer(), None, semantic=Ranker())  # type: ignore[arg-type]
    fused = asker._retrieve("question", None, None)
    assert [h.passage_id for h in fused][:2] == [1, 3]  # in both rankings first; then the semantic best
    assert [h.article_id for h in fused].count(30) == 2  # a third passage of article 30 is dropped
    assert {h.passage_id for h in fused} == {1, 2, 3, 4}
