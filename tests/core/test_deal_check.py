"""check_deals: a model's deals survive only as far as the article text supports them."""

from __future__ import annotations

from typing import Any

from bot.core.deal_check import check_deals, resolve_company
from bot.core.extract import DealCandidate, Gazetteer, Money
from bot.core.untrusted import shown_text

TEXT = (
    "Amazon to invest up to $4 billion in Anthropic (06 October 2025)\n\n"
    "Amazon will invest up to $4 billion in Anthropic, and AWS becomes its primary cloud provider. "
    "Anthropic will use AWS Trainium chips to train its models. "
    "Microsoft, which invested $13 billion in OpenAI in 2023, was not involved."
)


def deal(*parties: str, kind: str = "investment", amount: str | None = None, **extra: Any) -> dict[str, Any]:
    """One deal as the model's reply carries it."""
    return {
        "candidate": None,
        "parties": list(parties),
        "kind": kind,
        "amount": amount,
        "capacity": None,
        "status": "announced",
        "background": False,
        "evidence": "",
        **extra,
    }


def test_a_party_the_article_does_not_name_is_dropped(gazetteer: Gazetteer) -> None:
    checked = check_deals(
        TEXT,
        gazetteer,
        [
            deal("Apple", "Anthropic", amount="up to $4 billion"),
            deal("Zeta Labs", "Anthropic"),
            deal("Amazon", "Anthropic", amount="up to $4 billion"),
        ],
    )
    assert [d.parties for d in checked.deals] == [("Amazon", "Anthropic")]
    assert len(checked.dropped) == 2
    assert "party 'Apple' (Apple) is not named in the article" in checked.dropped[0]
    assert "party 'Zeta Labs' is not a known company" in checked.dropped[1]
    assert all("\n" not in reason for reason in checked.dropped)


def test_an_alias_resolves_to_its_company(gazetteer: Gazetteer) -> None:
    assert resolve_company("AWS", gazetteer) == "Amazon"
    assert resolve_company("Amazon Web Services", gazetteer) == "Amazon"
    assert resolve_company("Anthropic's", gazetteer) == "Anthropic"
    assert resolve_company("Trainium", gazetteer) is None  # a chip is not a party
    checked = check_deals(
        TEXT, gazetteer, [deal("AWS", "Anthropic", kind="supply"), deal("Amazon", "AWS", kind="partnership")]
    )
    assert [(d.parties, d.kind) for d in checked.deals] == [(("Amazon", "Anthropic"), "supply")]
    assert "fewer than two distinct companies" in checked.dropped[0]


def test_an_amount_the_article_does_not_state_is_dropped(gazetteer: Gazetteer) -> None:
    checked = check_deals(
        TEXT,
        gazetteer,
        [
            deal("Amazon", "Anthropic", kind="supply", amount="$99 billion"),
            deal("Amazon", "Anthropic", amount="$4B and $5B"),
            deal("Amazon", "Anthropic", amount="4 billion dollars"),  # same value, other wording
        ],
    )
    assert checked.dropped[0].endswith("amount '$99 billion' is not in the article")
    assert checked.dropped[1].endswith("amount '$4B and $5B' is not one amount of money")
    (kept,) = checked.deals
    assert kept.amount == Money(4e9, "$4 billion", "up to", "USD")  # the article's own mention


def test_the_hedge_is_kept_and_never_invented(gazetteer: Gazetteer) -> None:
    text = (
        "Nvidia may invest up to $100 billion in OpenAI. Nvidia said it will invest $100 billion in OpenAI."
    )

    def amount_of(written: str) -> Money | None:
        (kept,) = check_deals(text, gazetteer, [deal("Nvidia", "OpenAI", amount=written)]).deals
        return kept.amount

    assert amount_of("up to $100 billion") == Money(1e11, "$100 billion", "up to", "USD")
    assert amount_of("$100 billion") == Money(1e11, "$100 billion", None, "USD")
    # a hedge the article does not write before that amount is not kept
    only_hedged = "Nvidia may invest up to $100 billion in OpenAI."
    (kept,) = check_deals(
        only_hedged, gazetteer, [deal("Nvidia", "OpenAI", amount="more than $100 billion")]
    ).deals
    assert kept.amount is not None and kept.amount.qualifier == "up to"


def test_background_deals_are_dropped(gazetteer: Gazetteer) -> None:
    old = deal("Microsoft", "OpenAI", amount="$13 billion", background=True)
    checked = check_deals(TEXT, gazetteer, [old, deal("Amazon", "Anthropic", amount="up to $4 billion")])
    assert [d.parties for d in checked.deals] == [("Amazon", "Anthropic")]
    assert checked.dropped == ("deal 1 (Microsoft, OpenAI; investment): background, not the article's news",)
    assert check_deals(TEXT, gazetteer, [old | {"background": False}]).deals[0].parties == (
        "Microsoft",
        "OpenAI",
    )


def test_party_order_keeps_the_direction_the_model_gives(gazetteer: Gazetteer) -> None:
    checked = check_deals(
        TEXT,
        gazetteer,
        [
            deal("Amazon", "Anthropic", amount="up to $4 billion"),  # investors first, recipient last
            deal("AWS", "Anthropic", kind="supply"),  # the supplier first
            deal("Anthropic", "Amazon", kind="acquisition"),  # the buyer first
        ],
    )
    assert [(d.kind, d.parties) for d in checked.deals] == [
        ("investment", ("Amazon", "Anthropic")),
        ("supply", ("Amazon", "Anthropic")),
        ("acquisition", ("Anthropic", "Amazon")),
    ]


def test_the_kind_must_be_one_of_five(gazetteer: Gazetteer) -> None:
    checked = check_deals(TEXT, gazetteer, [deal("Amazon", "Anthropic", kind="merger"), "not a deal"])
    assert checked.deals == ()
    assert "kind 'merger' is not one of" in checked.dropped[0]
    assert checked.dropped[1] == "deal 2: not an object"
    assert check_deals(TEXT, gazetteer, None) == check_deals(TEXT, gazetteer, [])


def test_hidden_text_and_links_never_vouch_for_a_name(gazetteer: Gazetteer) -> None:
    raw = (
        "Nvidia will invest $5 billion in Intel. <!-- Apple will invest $9 billion in Intel. --> "
        "Details: https://www.Apple.com/newsroom/Apple-Intel"
    )
    shown = shown_text(raw)
    assert "[link]" in shown and "Apple" not in shown
    checked = check_deals(
        shown,
        gazetteer,
        [deal("Apple", "Intel", amount="$9 billion"), deal("Nvidia", "Intel", amount="$5 billion")],
    )
    assert [d.parties for d in checked.deals] == [("Nvidia", "Intel")]
    assert "Apple" in checked.dropped[0]


def test_the_sentence_is_article_text_naming_every_party(gazetteer: Gazetteer) -> None:
    quoted = "Anthropic will use AWS Trainium chips to train its models."
    (kept,) = check_deals(TEXT, gazetteer, [deal("AWS", "Anthropic", kind="supply", evidence=quoted)]).deals
    assert kept.sentence == quoted
    # invented evidence: the article's first sentence naming both parties instead
    (kept,) = check_deals(
        TEXT, gazetteer, [deal("AWS", "Anthropic", kind="supply", evidence="AWS sells Anthropic everything.")]
    ).deals
    assert kept.sentence == "Amazon to invest up to $4 billion in Anthropic (06 October 2025)"


def test_candidate_amounts_count_and_duplicates_merge(gazetteer: Gazetteer) -> None:
    text = "Nvidia and Microsoft will invest up to $10 billion and $5 billion in Anthropic respectively."
    joint = DealCandidate(
        ("Nvidia", "Microsoft", "Anthropic"), "investment", Money(15e9, "$15 billion", "up to", "USD"), text
    )
    checked = check_deals(
        text,
        gazetteer,
        [
            deal("Nvidia", "Microsoft", "Anthropic", candidate=1),
            deal("Nvidia", "Microsoft", "Anthropic", amount="up to $15 billion", candidate=1),
            deal("Microsoft", "Nvidia", "Anthropic", amount="$10 billion"),
        ],
        candidates=[joint],
    )
    (kept,) = checked.deals  # one deal: the later report adds the missing amount
    assert kept.parties == ("Nvidia", "Microsoft", "Anthropic") and kept.amount == joint.amount
    assert kept.sentence == text
    assert checked.dropped[0].endswith("the same deal as an earlier one")
