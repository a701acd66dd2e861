"""Deal merging, ranking, chip roles, facts round trip and --since parsing."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.core.chips import chip_roles
from bot.core.deals import Report, merge_deals
from bot.core.extract import Extraction, Gazetteer, Taxonomy, extract
from bot.core.facts import facts_from_json, facts_to_json
from bot.core.ranking import rank_stories
from bot.core.records import SourceRef, StoryDeal, StoryRecord
from bot.core.since import parse_since
from bot.errors import UsageError

DAY = datetime(2024, 11, 22, 12, tzinfo=UTC)


def report(n: int, text: str, taxonomy: Taxonomy, gazetteer: Gazetteer) -> Report:
    return Report(n, DAY + timedelta(hours=n), extract("", text, taxonomy, gazetteer))


# ---- deals -----------------------------------------------------------------------------


def test_deal_amount_is_the_one_most_articles_state(taxonomy: Taxonomy, gazetteer: Gazetteer) -> None:
    reports = [
        report(1, "Amazon will invest another $4 billion in Anthropic.", taxonomy, gazetteer),
        report(2, "Amazon is investing an additional $4 billion in Anthropic.", taxonomy, gazetteer),
        report(3, "Amazon invests $8 billion in Anthropic in total.", taxonomy, gazetteer),
    ]
    deals = merge_deals(reports)
    assert len(deals) == 1
    deal = deals[0]
    assert deal.parties == ("Amazon", "Anthropic") and deal.kind == "investment"
    assert deal.amount is not None and deal.amount.usd == 4e9
    assert deal.support == 3 and deal.article_ids == (1, 2, 3)
    assert deal.announced == DAY + timedelta(hours=1)


def test_nested_party_sets_merge_into_the_best_supported(taxonomy: Taxonomy, gazetteer: Gazetteer) -> None:
    joint = [
        report(1, "Microsoft and Nvidia will invest up to $15 billion in Anthropic.", taxonomy, gazetteer),
        report(2, "Microsoft and Nvidia are investing up to $15 billion in Anthropic.", taxonomy, gazetteer),
        report(3, "Nvidia will invest in Anthropic.", taxonomy, gazetteer),
    ]
    top = merge_deals(joint)[0]
    assert set(top.parties) == {"Microsoft", "Nvidia", "Anthropic"}
    assert top.support == 3 and top.amount_text == "up to $15 billion"

    incidental = [
        report(1, "Amazon will invest $4 billion in Anthropic.", taxonomy, gazetteer),
        report(2, "Amazon is investing $4 billion in Anthropic.", taxonomy, gazetteer),
        report(
            3, "Regulators cleared investments from Amazon and Google into Anthropic.", taxonomy, gazetteer
        ),
    ]
    deals = merge_deals(incidental)
    assert [(d.parties, d.support) for d in deals] == [(("Amazon", "Anthropic"), 3)]


def test_joint_investment_amounts_add_up(taxonomy: Taxonomy, gazetteer: Gazetteer) -> None:
    for text in (
        "Nvidia and Microsoft will invest up to $10 billion and up to $5 billion respectively in Anthropic.",
        "Nvidia will invest up to $10 billion and Microsoft up to $5 billion in Anthropic.",
    ):
        deal = merge_deals([report(1, text, taxonomy, gazetteer)])[0]
        assert deal.amount is not None and deal.amount.usd == 15e9 and deal.amount.qualifier == "up to"


def test_rivals_and_product_makers_are_not_parties(taxonomy: Taxonomy, gazetteer: Gazetteer) -> None:
    rival = report(1, "Amazon is doubling its investment in OpenAI rival Anthropic.", taxonomy, gazetteer)
    assert [d.parties for d in rival.extraction.deals] == [("Amazon", "Anthropic")]
    product = report(
        1,
        "OpenAI signed a $38 billion deal to access AWS compute with Nvidia GB200 chips.",
        taxonomy,
        gazetteer,
    )
    assert [set(d.parties) for d in product.extraction.deals] == [{"OpenAI", "Amazon"}]
    passive = report(1, "Anthropic secured a $4 billion investment from Amazon.", taxonomy, gazetteer)
    assert [d.parties for d in passive.extraction.deals] == [("Amazon", "Anthropic")]


def test_generic_agreement_folds_into_the_specific_deal(taxonomy: Taxonomy, gazetteer: Gazetteer) -> None:
    reports = [
        report(1, "OpenAI signed a $38 billion agreement with AWS for compute.", taxonomy, gazetteer),
        report(2, "OpenAI and Amazon signed a deal.", taxonomy, gazetteer),
    ]
    deals = merge_deals(reports)
    assert len(deals) == 1
    assert (deals[0].parties, deals[0].kind, deals[0].support) == (("Amazon", "OpenAI"), "supply", 2)
    assert deals[0].amount is not None and deals[0].amount.usd == 38e9


def test_no_deal_sentences_no_deals(taxonomy: Taxonomy, gazetteer: Gazetteer) -> None:
    assert merge_deals([report(1, "Nvidia reported record revenue.", taxonomy, gazetteer)]) == []


# ---- ranking ---------------------------------------------------------------------------


def story(
    sid: int,
    *,
    outlets: int = 1,
    usd: float | None = None,
    topics: tuple[str, ...] = ("chips",),
    hours: float = 0,
) -> StoryRecord:
    from bot.core.extract import Money

    when = DAY - timedelta(hours=hours)
    sources = tuple(
        SourceRef(sid * 100 + i, f"https://o{i}.example/{sid}", "t", f"Outlet {i}", when)
        for i in range(outlets)
    )
    deals: tuple[StoryDeal, ...] = ()
    if usd is not None:
        deals = (StoryDeal(("A", "B"), "investment", Money(usd, f"${usd:g}", None, "USD"), when, (1,), 1),)
    return StoryRecord(
        sid, f"story {sid}", when, when, "new", when, when, topics, ("Amazon",), (), deals, sources
    )


def test_more_outlets_and_bigger_deals_rank_higher() -> None:
    ranked = rank_stories([story(1), story(2, outlets=6), story(3, usd=1e11)], DAY)
    assert [r.story.id for r in ranked][-1] == 1
    by_id = {r.story.id: r for r in ranked}
    assert by_id[2].parts["sources"] > by_id[1].parts["sources"]
    assert by_id[3].parts["deal"] > 1.5 and by_id[1].parts["deal"] == 0


def test_older_stories_decay_and_explain_adds_up() -> None:
    fresh, old = story(1), story(2, hours=72)
    ranked = rank_stories([old, fresh], DAY)
    assert [r.story.id for r in ranked] == [1, 2]
    r = ranked[1]
    p = r.parts
    assert p["recency"] == pytest.approx(0.25, abs=0.01)
    base = p["sources"] + p["deal"] + p["entities"] + p["topics"]
    assert r.score == pytest.approx(base * p["recency"], rel=1e-2)


def test_alliance_outranks_earnings_all_else_equal() -> None:
    ranked = rank_stories([story(1, topics=("earnings",)), story(2, topics=("alliance",))], DAY)
    assert ranked[0].story.id == 2


# ---- chip roles, facts, since ------------------------------------------------------------


def test_chip_roles(gazetteer: Gazetteer) -> None:
    roles = chip_roles(
        "Google unveils Ironwood",
        "Google unveiled Ironwood, its seventh-generation TPU. Anthropic will use Ironwood to train Claude. "
        "Trainium2 is now generally available.",
        gazetteer,
    )
    assert "announcement" in roles["Ironwood"] and "customers" in roles["Ironwood"]
    assert roles["Trainium2"] == ["availability"]


def test_facts_round_trip(taxonomy: Taxonomy, gazetteer: Gazetteer) -> None:
    ex = extract(
        "AMD and OpenAI sign 6 GW deal",
        "OpenAI will deploy 6 gigawatts of AMD MI450 GPUs; AMD gives a warrant worth up to $100 billion.",
        taxonomy,
        gazetteer,
    )
    back = facts_from_json(facts_to_json(ex))
    assert isinstance(back, Extraction)
    assert replace(back, chips=ex.chips) == ex  # chips come back without their aliases
    chips = [(c.name, c.vendor, c.family, c.generation) for c in back.chips]
    assert chips == [("MI450", "AMD", "Instinct", "MI450")]


def test_parse_since() -> None:
    now = DAY
    assert parse_since("24h", now) == now - timedelta(hours=24)
    assert parse_since("7d", now) == now - timedelta(days=7)
    assert parse_since("2w", now) == now - timedelta(weeks=2)
    assert parse_since("2025-11-01", now) == datetime(2025, 11, 1, tzinfo=UTC)
    assert parse_since("all", now) is None
    with pytest.raises(UsageError, match="--since 'yesterday'"):
        parse_since("yesterday", now)
