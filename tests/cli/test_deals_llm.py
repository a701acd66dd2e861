"""`briefbot ingest` with a model: deals refined through the real openai SDK against a local
OpenAI-compatible server, and checked against the article text before they are stored.

The scripted model corrects two rule-based misreadings the text supports (a valuation
taken for the deal's amount, an investment read as a partnership) and invents a party
and an amount, which never reach the deal ledger.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from tests.cli.test_story_commands import DAY, rss
from tests.support.cli import run_cli
from tests.support.feedserver import FeedServer
from tests.support.openai_server import OpenAIServer, Reply

BLOCK = re.compile(r"<<<(DATA-[0-9a-f]+) id=([\w.:#/-]+)>>>\n(.*?)\n<<<END \1>>>", re.S)

WIRE = [
    (
        "nv-openai",
        "Nvidia to back OpenAI's 10-gigawatt buildout",
        "Nvidia will invest up to $100 billion in OpenAI, which was valued at $500 billion this month, "
        "as the ChatGPT maker deploys 10 gigawatts of Nvidia systems.",
        DAY,
    ),
    (
        "nv-intel",
        "Nvidia and Intel to co-develop data center products",
        "Nvidia and Intel announced a partnership to co-develop data center products, and Nvidia is "
        "putting $5 billion into Intel common stock at $23.28 a share.",
        DAY - timedelta(days=3),
    ),
    (
        "amzn",
        "Amazon to invest up to $4 billion in Anthropic",
        "Amazon will invest up to $4 billion in Anthropic, and AWS becomes its primary cloud provider. "
        "Anthropic will use AWS Trainium and Inferentia chips to build its future models.",
        DAY - timedelta(days=6),
    ),
    (
        "gaudi",
        "Intel ships Gaudi 3 to datacenter customers",
        "Intel said Gaudi 3 accelerators are now shipping to datacenter customers in volume.",
        DAY - timedelta(days=9),
    ),
]


def deal(*parties: str, kind: str, amount: str | None, candidate: int | None = 1) -> dict[str, Any]:
    return {
        "candidate": candidate,
        "parties": list(parties),
        "kind": kind,
        "amount": amount,
        "capacity": None,
        "status": "announced",
        "background": False,
        "evidence": "",
    }


# The model's answer for each article, by its title.
ANSWERS: dict[str, list[dict[str, Any]]] = {
    WIRE[0][1]: [deal("Nvidia", "OpenAI", kind="investment", amount="up to $100 billion")],
    WIRE[1][1]: [deal("Nvidia", "Intel", kind="investment", amount="$5 billion")],
    WIRE[2][1]: [
        deal("Amazon", "Anthropic", kind="investment", amount="up to $4 billion"),
        deal("Apple", "Anthropic", kind="investment", amount="up to $4 billion", candidate=None),
        deal("AWS", "Anthropic", kind="supply", amount="$99 billion", candidate=2),
    ],
}


def scripted(request: dict[str, Any]) -> Reply:
    data = {m.group(2): m.group(3) for m in BLOCK.finditer(request["messages"][1]["content"])}
    assert "1" in data, "the rule-based candidates arrive as numbered data blocks"
    title = data["article"].split("\n", 1)[0].rsplit(" (", 1)[0]
    return Reply.json({"deals": ANSWERS[title], "rejected": []})


@pytest.fixture
def api() -> Iterator[OpenAIServer]:
    with OpenAIServer() as server:
        yield server


@pytest.fixture
def wired(
    env: dict[str, str],
    feed_server: FeedServer,
    api: OpenAIServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> OpenAIServer:
    """One feed of four articles (three with deal candidates) and a model endpoint configured."""
    feed_server.feed("/wire.xml", rss("Wire", WIRE), etag=True)
    monkeypatch.setenv("BRIEFBOT_PARSE_WORKERS", "1")
    monkeypatch.setenv("OPENAI_BASE_URL", api.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("OPENAI_MODEL", "test-model")
    monkeypatch.setenv("BRIEFBOT_OPENAI_MAX_RETRIES", "0")
    assert run_cli(capsys, "feeds", "add", feed_server.url("/wire.xml")).code == 0
    return api


def ledger(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    out = run_cli(capsys, "deals", "--json")
    assert out.code == 0, out.err
    return [
        {k: d[k] for k in ("parties", "kind", "amount", "amount_usd")}
        for d in sorted(out.json(), key=lambda d: d["parties"])
    ]


def test_the_model_refines_deals_and_its_inventions_are_dropped(
    wired: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    wired.respond_with(scripted)
    ingest = run_cli(capsys, "ingest", "--json")
    assert ingest.code == 0, ingest.err
    analysis = ingest.json()["analysis"]
    assert analysis["deals_refined"] == 3 and analysis["refiner_note"] is None
    assert len(wired.chat_requests) == 3  # the article without a deal candidate costs nothing
    deals = ledger(capsys)
    assert deals == [
        {
            "parties": ["Amazon", "Anthropic"],
            "kind": "investment",
            "amount": "up to $4 billion",
            "amount_usd": 4e9,
        },
        # the rules read a partnership; the text says Nvidia puts $5 billion into Intel
        {"parties": ["Nvidia", "Intel"], "kind": "investment", "amount": "$5 billion", "amount_usd": 5e9},
        # the rules took the valuation for the amount
        {
            "parties": ["Nvidia", "OpenAI"],
            "kind": "investment",
            "amount": "up to $100 billion",
            "amount_usd": 1e11,
        },
    ]
    full = run_cli(capsys, "deals", "--json").out
    assert "Apple" not in full and "$99 billion" not in full and "99000000000" not in full
    assert "Apple" not in run_cli(capsys, "stories", "--since", "all", "--json").out

    # unchanged articles cost no call: nothing new on the next pass, cache hits on a rebuild
    assert run_cli(capsys, "ingest").code == 0
    rebuilt = run_cli(capsys, "analyze", "--rebuild", "--json")
    assert rebuilt.code == 0 and rebuilt.json()["deals_refined"] == 3
    assert len(wired.chat_requests) == 3
    assert ledger(capsys) == deals
    usage = run_cli(capsys, "usage", "--json").json()
    assert usage[0]["cache_hits"] >= 3


def test_an_endpoint_that_fails_leaves_the_rule_based_deals(
    wired: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    wired.respond_with(lambda request: Reply.fail(500))
    out = run_cli(capsys, "ingest")
    assert out.code == 0, out.err
    assert "deal refiner unavailable, rule-based deals kept (model unavailable:" in out.out
    assert len(wired.chat_requests) == 1  # not called again in this run
    assert [(d["parties"], d["kind"], d["amount"]) for d in ledger(capsys)] == [
        (["Amazon", "Anthropic"], "investment", "up to $4 billion"),
        (["Amazon", "Anthropic"], "supply", None),
        (["Nvidia", "Intel"], "partnership", "$5 billion"),
        (["Nvidia", "OpenAI"], "investment", "$500 billion"),  # the rules' reading stands
    ]
