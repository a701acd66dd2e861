"""Retention and vacuum on both databases: old articles go with their passages and emptied stories."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, insert, select

from bot.core.search import SearchQuery
from bot.llm import LlmCall
from bot.store import SqlStore, retention_sql
from bot.store.schema import articles, deals, feed_items, stories, story_entities, story_members
from tests.store.test_search import AMAZON_STORES, ANTHROPIC_MODEL, DAY, NVIDIA, add

BEFORE = DAY - timedelta(days=365)
OLD = BEFORE - timedelta(days=30)


def story(store: SqlStore, story_id: int, article_ids: list[int], seen_at: datetime) -> None:
    """A story seen at ``seen_at`` with these members, one entity and one deal."""
    with store.engine.begin() as conn:
        conn.execute(
            insert(stories).values(
                id=story_id, headline=f"story {story_id}", seen_at=seen_at, state="new",
                created_at=seen_at, updated_at=seen_at, article_count=len(article_ids),
                topics=[], companies=["Nvidia"], chips=[], chip_roles={},
            )
        )  # fmt: skip
        conn.execute(
            insert(story_members),
            [
                {"article_id": a, "story_id": story_id, "position": i, "facts": {}, "reason": "test",
                 "analyzed_at": seen_at}
                for i, a in enumerate(article_ids)
            ],
        )  # fmt: skip
        conn.execute(insert(story_entities).values(story_id=story_id, kind="company", name="Nvidia"))
        conn.execute(
            insert(deals).values(
                story_id=story_id, position=0, kind="investment", parties=["Nvidia"], support=1,
                article_ids=article_ids, sentence="Nvidia invests.",
            )
        )  # fmt: skip


def count(store: SqlStore, table: object, *where: object) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar() or 0)  # type: ignore[arg-type]


def test_an_old_article_of_an_old_story_goes_with_its_passages_and_the_story(store: SqlStore) -> None:
    ids = add(store, ("nv", *NVIDIA, OLD), ("model", *ANTHROPIC_MODEL, DAY), ("loose", *AMAZON_STORES, OLD))
    story(store, 1, [ids["nv"]], OLD)
    story(store, 2, [ids["model"]], DAY)
    assert store.search(SearchQuery("robotics"))

    assert store.prune(BEFORE) == {"articles": 2, "stories": 1, "llm_calls": 0}

    with store.engine.connect() as conn:
        assert list(conn.execute(select(articles.c.id)).scalars()) == [ids["model"]]
        assert list(conn.execute(select(stories.c.id)).scalars()) == [2]
    assert store.search(SearchQuery("robotics")) == []
    assert store.search(SearchQuery("grocery stores")) == []
    assert store.search(SearchQuery("Claude model"))
    assert store.article_passages(ids["nv"]) == []
    assert count(store, feed_items) == 1
    assert count(store, story_entities, story_entities.c.story_id == 1) == 0
    assert count(store, deals, deals.c.story_id == 1) == 0
    assert count(store, deals, deals.c.story_id == 2) == 1
    if store.engine.dialect.name == "sqlite":  # the FTS index followed the cascade
        with store.engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO passages_fts(passages_fts, rank) VALUES ('integrity-check', 1)")


def test_an_old_article_of_a_story_seen_recently_is_kept(store: SqlStore) -> None:
    ids = add(store, ("nv", *NVIDIA, OLD), ("model", *ANTHROPIC_MODEL, DAY))
    story(store, 1, [ids["nv"], ids["model"]], DAY)

    assert store.delete_old_articles(BEFORE) == 0
    assert count(store, articles) == 2
    assert count(store, stories) == 1
    assert store.search(SearchQuery("robotics"))


def test_recent_articles_are_kept(store: SqlStore) -> None:
    add(store, ("nv", *NVIDIA, DAY), ("model", *ANTHROPIC_MODEL, None))  # undated: fetched at DAY
    assert store.delete_old_articles(BEFORE) == 0
    assert count(store, articles) == 2


def test_old_articles_go_in_chunks(store: SqlStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retention_sql, "RETENTION_CHUNK", 2)
    old = [(f"n{i}", f"{NVIDIA[0]} {i}", NVIDIA[1], OLD) for i in range(5)]
    ids = add(store, *old, ("model", *ANTHROPIC_MODEL, DAY))
    story(store, 1, [ids["n0"], ids["n3"]], OLD)
    assert store.delete_old_articles(BEFORE) == 5
    assert count(store, articles) == 1
    assert count(store, stories) == 0


def test_old_model_calls_go_and_the_cache_stays(store: SqlStore) -> None:
    for at in (OLD, DAY):
        store.log_llm_call(
            LlmCall(at=at, prompt="briefing", version="1", model="m", input_tokens=10, output_tokens=5,
                    duration_ms=1, cache_hit=False, status="ok", attempts=1)
        )  # fmt: skip
    store.cache_put("k" * 64, "m", "briefing", "1", {"a": 1}, now=OLD)
    assert store.prune(BEFORE)["llm_calls"] == 1
    assert [c.at for c in store.list_llm_calls()] == [DAY]
    assert store.cache_get("k" * 64) == {"a": 1}


def test_vacuum_runs_on_both_backends(store: SqlStore, caplog: pytest.LogCaptureFixture) -> None:
    ids = add(store, ("nv", *NVIDIA, OLD), ("model", *ANTHROPIC_MODEL, DAY))
    store.delete_old_articles(BEFORE)
    with caplog.at_level(logging.WARNING, logger="bot.store.retention_sql"):
        store.vacuum()
        store.vacuum()
    assert caplog.records == []
    assert store.article_passages(ids["model"])
    assert store.search(SearchQuery("Claude model"))
