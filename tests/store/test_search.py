"""Passage search on the real store (SQLite FTS5 and PostgreSQL tsvector)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, insert, select

from bot.core.models import ParsedEntry
from bot.core.passages import split_passages
from bot.core.search import SearchQuery
from bot.store import SqlStore, open_engine
from bot.store import migrations as migrations_module
from bot.store.schema import articles, stories, story_entities, story_members

DAY = datetime(2025, 11, 3, 9, tzinfo=UTC)

AMAZON_ANTHROPIC = (
    "Amazon deepens its Anthropic partnership",
    "Amazon and Anthropic said on Friday that their partnership will expand across cloud "
    "infrastructure, with the startup naming AWS its primary training partner for new models.\n\n"
    "Amazon will invest another $4 billion in Anthropic, bringing its total commitment to $8 billion, "
    "while keeping a minority stake in the company, according to a statement.\n\n"
    "Anthropic will train its largest foundation models on Trainium chips in AWS data centers, "
    "and will work with Annapurna Labs on future generations of the accelerator.",
)
AMAZON_STORES = (
    "Amazon opens more grocery stores",
    "Amazon said it will open more grocery stores next year. Amazon executives said Amazon "
    "shoppers want faster delivery, and Amazon will add drivers in twelve cities.\n\n"
    "The company did not say how much it would invest in the stores or how many people Amazon "
    "would hire for them across the new locations this year.",
)
ANTHROPIC_MODEL = (
    "Anthropic releases a new Claude model",
    "Anthropic released a new version of its Claude model on Tuesday, saying it writes code "
    "faster and makes fewer mistakes on long tasks than the previous release.\n\n"
    "The model is available through Anthropic's own apps and through cloud marketplaces run "
    "by Amazon and Google, the company said in a blog post about the launch.",
)
NVIDIA = (
    "Nvidia invests in a robotics startup",
    "Nvidia invests $50 million in a robotics startup building humanoid machines for "
    "warehouses, the companies said, as the chipmaker widens its bets beyond data centers.",
)


def add(
    store: SqlStore,
    *items: tuple[str, str, str, datetime | None],
    feed_title: str | None = "Example News",
    index: bool = True,
) -> dict[str, int]:
    """Store articles (key, title, text, published) and index their passages; ids by key."""
    feed, _ = store.add_feed(f"https://news.example/{feed_title}/feed", topic=None, title=feed_title, now=DAY)
    store.store_entries(
        feed,
        [
            ParsedEntry(
                item_id=key,
                url=f"https://www.news.example/{key}",
                canonical_url=f"https://news.example/{key}",
                title=title,
                text=text,
                summary=text[:100],
                published=published,
            )
            for key, title, text, published in items
        ],
        now=DAY,
        backfill=False,
    )
    by_key = {a.url.rsplit("/", 1)[1]: a for a in store.articles_for_feed(feed.id) if a.url}
    if index:
        store.index_articles([(a.id, split_passages(a.title, a.text)) for a in by_key.values()])
    return {key: a.id for key, a in by_key.items()}


def add_story(store: SqlStore, story_id: int, article_ids: list[int], **entities: list[str]) -> None:
    """A story row with members and entities, written directly (no analyzer)."""
    with store.engine.begin() as conn:
        conn.execute(
            insert(stories).values(
                id=story_id,
                headline=f"story {story_id}",
                seen_at=DAY,
                state="new",
                created_at=DAY,
                updated_at=DAY,
                article_count=len(article_ids),
                topics=entities.get("topic", []),
                companies=entities.get("company", []),
                chips=[],
                chip_roles={},
            )
        )
        conn.execute(
            insert(story_members),
            [
                {
                    "article_id": a,
                    "story_id": story_id,
                    "position": i,
                    "facts": {},
                    "reason": "test",
                    "analyzed_at": DAY,
                }
                for i, a in enumerate(article_ids)
            ],
        )
        rows = [{"story_id": story_id, "kind": k, "name": n} for k, names in entities.items() for n in names]
        if rows:
            conn.execute(insert(story_entities), rows)


def test_a_question_finds_the_passage_that_answers_it(store: SqlStore) -> None:
    ids = add(
        store,
        ("aa", *AMAZON_ANTHROPIC, DAY),
        ("stores", *AMAZON_STORES, DAY),
        ("model", *ANTHROPIC_MODEL, DAY),
    )
    hits = store.search(SearchQuery("How much did Amazon invest in Anthropic?"))
    assert hits, "no hits"
    best = hits[0]
    assert best.article_id == ids["aa"]
    assert "$4 billion" in best.text
    assert best.position == 1  # the second paragraph holds the amount
    assert best.title == AMAZON_ANTHROPIC[0]
    assert best.url == "https://www.news.example/aa"
    assert best.outlet == "Example News"
    assert best.published == DAY
    assert best.story_id is None  # not analysed
    # passages that merely mention Amazon or Anthropic come later, if at all
    assert all("$4 billion" not in h.text for h in hits[1:])


def test_passages_cite_their_paragraph_and_the_title_opens_the_first(store: SqlStore) -> None:
    ids = add(store, ("aa", *AMAZON_ANTHROPIC, DAY))
    assert store.article_passages(ids["aa"])[0].startswith("Amazon deepens its Anthropic partnership. ")
    trainium = store.search(SearchQuery("Trainium accelerator Annapurna"))
    assert (trainium[0].article_id, trainium[0].position) == (ids["aa"], 2)
    title_only = store.search(SearchQuery("deepens"))
    assert (title_only[0].article_id, title_only[0].position) == (ids["aa"], 0)


def test_stemming_matches_other_forms_of_a_word(store: SqlStore) -> None:
    ids = add(store, ("nv", *NVIDIA, DAY), ("model", *ANTHROPIC_MODEL, DAY))
    for question in ("investing in robotics", "invested", "who invests in robot startups"):
        hits = store.search(SearchQuery(question))
        assert hits and hits[0].article_id == ids["nv"], question


def test_at_most_two_passages_per_article_and_the_limit(store: SqlStore) -> None:
    text = "\n\n".join(
        f"Paragraph {i} says that Microsoft builds datacenters for model training, in detail, "
        f"with enough words to stand on its own as a passage of this test article number {i}."
        for i in range(6)
    )
    ids = add(store, ("ms", "Microsoft datacenters", text, DAY), ("nv", *NVIDIA, DAY))
    assert len(store.article_passages(ids["ms"])) == 6
    hits = store.search(SearchQuery("Microsoft datacenters"))
    assert [h.article_id for h in hits] == [ids["ms"], ids["ms"]]
    assert len(store.search(SearchQuery("Microsoft datacenters", limit=1))) == 1
    assert store.search(SearchQuery("Microsoft datacenters", limit=0)) == []


def test_passages_with_some_terms_fill_in_after_those_with_all(store: SqlStore) -> None:
    ids = add(store, ("nv", *NVIDIA, DAY), ("model", *ANTHROPIC_MODEL, DAY))
    hits = store.search(SearchQuery("Nvidia Claude"))  # no passage has both
    assert {h.article_id for h in hits} == {ids["nv"], ids["model"]}
    assert store.search(SearchQuery("Nvidia humanoid", limit=1))[0].article_id == ids["nv"]


def test_date_filters_use_published_else_fetched(store: SqlStore) -> None:
    ids = add(
        store,
        ("old", *NVIDIA, DAY - timedelta(days=30)),
        ("new", "Nvidia invests again", "Nvidia invests in a second robotics startup this week.", DAY),
        ("undated", "Nvidia invests a third time", "Nvidia invests in yet another robotics startup.", None),
    )
    # the undated article counts as fetched at DAY (the store_entries "now")

    def found(**filters: datetime) -> set[int]:
        return {h.article_id for h in store.search(SearchQuery("Nvidia invests robotics", **filters))}

    assert found() == set(ids.values())
    assert found(since=DAY - timedelta(days=1)) == {ids["new"], ids["undated"]}
    assert found(until=DAY - timedelta(days=1)) == {ids["old"]}
    assert found(since=DAY - timedelta(days=40), until=DAY) == {ids["old"]}
    assert found(since=DAY + timedelta(days=1)) == set()


def test_topic_and_company_filters_follow_the_story(store: SqlStore) -> None:
    ids = add(store, ("aa", *AMAZON_ANTHROPIC, DAY), ("model", *ANTHROPIC_MODEL, DAY), ("nv", *NVIDIA, DAY))
    add_story(store, 1, [ids["aa"]], topic=["funding"], company=["Amazon", "Anthropic"])
    add_story(store, 2, [ids["model"]], topic=["models"], company=["Anthropic"])

    def found(**filters: str) -> set[int]:
        return {h.article_id for h in store.search(SearchQuery("Anthropic Amazon", **filters))}

    assert found() == {ids["aa"], ids["model"]}
    assert found(topic="models") == {ids["model"]}
    assert found(topic="FUNDING") == {ids["aa"]}
    assert found(company="amazon") == {ids["aa"]}
    assert found(company="Anthropic") == {ids["aa"], ids["model"]}
    assert found(company="Anthropic", topic="models") == {ids["model"]}
    assert found(company="Nvidia") == set()
    assert found(company="  ", topic="") == found()  # blank filters filter nothing
    hit = store.search(SearchQuery("Claude model", company="Anthropic"))[0]
    assert hit.story_id == 2


def test_reindexing_an_article_replaces_its_passages(store: SqlStore) -> None:
    ids = add(store, ("nv", *NVIDIA, DAY))
    before = store.passage_count()
    store.index_passages(ids["nv"], ["Nvidia sells GPUs.", "Its quarterly revenue rose sharply."])
    store.index_passages(ids["nv"], ["Nvidia sells GPUs.", "Its quarterly revenue rose sharply."])
    assert store.passage_count() == before - 1 + 2
    assert store.search(SearchQuery("humanoid")) == []
    hits = store.search(SearchQuery("quarterly revenue"))
    assert [(h.article_id, h.position) for h in hits] == [(ids["nv"], 1)]
    store.index_articles([(ids["nv"], [])])
    assert store.passage_count() == 0
    assert store.search(SearchQuery("revenue")) == []


def test_deleting_an_article_deletes_its_passages(store: SqlStore) -> None:
    ids = add(store, ("nv", *NVIDIA, DAY), ("model", *ANTHROPIC_MODEL, DAY))
    with store.engine.begin() as conn:
        conn.execute(delete(articles).where(articles.c.id == ids["nv"]))
        left = conn.execute(select(articles.c.id)).scalars().all()
    assert left == [ids["model"]]
    assert store.article_passages(ids["nv"]) == []
    assert store.passage_count() == len(store.article_passages(ids["model"]))
    assert store.search(SearchQuery("robotics")) == []
    if store.engine.dialect.name == "sqlite":  # the FTS index followed the cascade
        with store.engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO passages_fts(passages_fts, rank) VALUES ('integrity-check', 1)")


@pytest.mark.parametrize(
    "question",
    [
        "",
        "   ",
        "what is the",
        '"',
        '"NEAR(',
        "NEAR(Nvidia robotics, 2)",
        "*",
        "Nvidia*",
        "AND OR NOT",
        "Nvidia AND OR robotics",
        "text:Nvidia",
        "^Nvidia",
        "{text}: Nvidia",
        "-robotics !Nvidia & | <-> :*",
        "'; DROP TABLE articles; --",
        "1' OR '1'='1",
        "Nvidia\x00robotics\x1b[31m",
        "Nvidiа rоbotics",  # Cyrillic look-alikes
        "机器人 Nvidia 投资",
        "x" * 100_000,
        "Nvidia " * 5_000,
        " ".join(f"word{i}" for i in range(500)),
    ],
)
def test_hostile_questions_give_results_or_nothing(store: SqlStore, question: str) -> None:
    ids = add(store, ("nv", *NVIDIA, DAY))
    hits = store.search(SearchQuery(question))
    assert all(h.article_id == ids["nv"] for h in hits)
    assert store.count_articles() == 1


def test_outlet_falls_back_to_the_host(store: SqlStore) -> None:
    add(store, ("nv", *NVIDIA, DAY), feed_title=None)
    assert store.search(SearchQuery("robotics"))[0].outlet == "news.example"


def test_migration_indexes_articles_stored_before_it(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(migrations_module, "MIGRATIONS", migrations_module.MIGRATIONS[:2])
        engine = open_engine(db_url)
        add(SqlStore(engine), ("aa", *AMAZON_ANTHROPIC, DAY), ("nv", *NVIDIA, DAY), index=False)
        engine.dispose()
    engine = open_engine(db_url)  # applies migration 3 now
    try:
        store = SqlStore(engine)
        assert store.passage_count() == 4
        hits = store.search(SearchQuery("How much did Amazon invest in Anthropic?"))
        assert "$4 billion" in hits[0].text
        ids = add(store, ("new", "Intel ships Gaudi 3", "Intel ships Gaudi 3 accelerators in volume.", DAY))
        assert store.search(SearchQuery("Gaudi"))[0].article_id == ids["new"]
    finally:
        engine.dispose()


def test_large_archive_rules_keep_the_answer(store: SqlStore) -> None:
    """The limits for large archives (common words left out, unknown words left out,
    date bounds, a ranking window) do not change what a clear question finds."""
    ids = add(
        store,
        ("aa", *AMAZON_ANTHROPIC, DAY),
        ("stores", *AMAZON_STORES, DAY - timedelta(days=3)),
        ("model", *ANTHROPIC_MODEL, DAY - timedelta(days=2)),
        ("nv", *NVIDIA, DAY - timedelta(days=1)),
    )
    store.common_min_passages = 1  # probe word frequencies even in this tiny archive
    store.sample_passages = 1000
    store.common_fraction = 0.5
    if store.engine.dialect.name == "postgresql":  # PostgreSQL reads word shares from statistics
        with store.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE passages")
    with store.engine.connect() as conn:
        # of 8 passages, 5 hold "amazon" and "anthropic", 3 "invest", 1 "trainium", none "zzqx"
        assert store.passage_count() == 8
        assert store._informative(conn, ["amazon", "zzqx", "invest", "trainium"]) == ["invest", "trainium"]
        assert store._informative(conn, ["amazon", "anthropic"]) == ["amazon"]  # the rarest stays
        assert store._informative(conn, ["zzqx", "qqzx"]) == []
    best = store.search(SearchQuery("Does Anthropic train on Trainium chips? zzqx"))[0]
    assert (best.article_id, best.position) == (ids["aa"], 2)
    assert store.search(SearchQuery("zzqx qqzx")) == []

    store.common_min_passages = 20_000
    for scan in (1, 10_000):  # date bounds unused (too many passages) or used
        store.date_scan = scan
        found = {
            h.article_id
            for h in store.search(SearchQuery("Anthropic robotics", since=DAY - timedelta(days=2)))
        }
        assert found == {ids["aa"], ids["model"], ids["nv"]}
        found = {
            h.article_id
            for h in store.search(SearchQuery("Anthropic robotics", until=DAY - timedelta(days=1)))
        }
        assert found == {ids["model"]}
        assert store.search(SearchQuery("Anthropic", since=DAY + timedelta(days=1))) == []


def test_only_the_newest_matches_are_ranked_when_the_window_is_small(store: SqlStore) -> None:
    add(store, ("old", *NVIDIA, DAY - timedelta(days=1)))
    new = add(store, ("new", "Nvidia again", "Nvidia said robotics demand grew.", DAY), feed_title="Other")
    store.rank_window = 1
    hits = store.search(SearchQuery("Nvidia robotics", limit=1))
    assert [h.article_id for h in hits] == [new["new"]]
    store.rank_window = 5000
    assert len(store.search(SearchQuery("Nvidia robotics"))) == 2
