"""`briefbot usage`: model calls, cache hits, tokens and estimated cost per UTC day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.llm import EMBEDDINGS_PROMPT, LlmCall
from bot.store import SqlStore, open_engine
from tests.support.cli import run_cli


def _call(
    at: datetime, input_tokens: int, output_tokens: int, *, hit: bool = False, prompt: str = "brief"
) -> LlmCall:
    return LlmCall(at, prompt, "1", "gpt-4o-mini", input_tokens, output_tokens, 5, hit, "ok")


@pytest.fixture
def logged(env: dict[str, str]) -> tuple[str, str, str]:
    """Calls on three days: two days ago, yesterday (with a cache hit) and 40 days ago."""
    now = datetime.now(UTC)
    days = [now - timedelta(days=2), now - timedelta(days=1), now - timedelta(days=40)]
    engine = open_engine(env["BRIEFBOT_DATABASE_URL"])
    store = SqlStore(engine)
    store.log_llm_call(_call(days[0], 1_000_000, 100_000))
    store.log_llm_call(_call(days[0], 500_000, 0))
    store.log_llm_call(_call(days[1], 2_000, 1_000))
    store.log_llm_call(_call(days[1], 0, 0, hit=True))
    store.log_llm_call(_call(days[1], 9_000, 0, prompt=EMBEDDINGS_PROMPT))
    store.log_llm_call(_call(days[2], 7, 7))
    engine.dispose()
    return tuple(d.date().isoformat() for d in days)  # type: ignore[return-value]


def test_usage_sums_tokens_per_day_with_cost(
    logged: tuple[str, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    two_days_ago, yesterday, _old = logged
    out = run_cli(capsys, "usage", "--json")
    assert out.code == 0, out.err
    assert out.json() == [
        {
            "day": two_days_ago,
            "calls": 2,
            "cache_hits": 0,
            "input_tokens": 1_500_000,
            "output_tokens": 100_000,
            "embedding_tokens": 0,
            "estimated_cost_usd": 0.285,  # 1.5 M x $0.15 + 0.1 M x $0.60
            "feedback_up": 0,
            "feedback_down": 0,
        },
        {
            "day": yesterday,
            "calls": 3,
            "cache_hits": 1,
            "input_tokens": 2_000,
            "output_tokens": 1_000,
            "embedding_tokens": 9_000,
            "estimated_cost_usd": 0.0009,
            "feedback_up": 0,
            "feedback_down": 0,
        },
    ]

    text = run_cli(capsys, "usage")
    assert text.code == 0
    lines = text.out.splitlines()
    assert lines[0].split() == [
        "DAY",
        "CALLS",
        "CACHED",
        "INPUT",
        "TOK",
        "OUTPUT",
        "TOK",
        "EMBED",
        "TOK",
        "EST.",
        "COST",
        "UP",
        "DOWN",
    ]
    assert lines[1].split() == [two_days_ago, "2", "0", "1,500,000", "100,000", "0", "$0.2850", "0", "0"]
    assert lines[2].split() == [yesterday, "3", "1", "2,000", "1,000", "9,000", "$0.0009", "0", "0"]
    assert lines[3].split() == ["total", "5", "1", "1,502,000", "101,000", "9,000", "$0.2859", "0", "0"]
    assert "embeddings are not priced" in text.out


def test_usage_since_and_prices(
    logged: tuple[str, str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _two_days_ago, yesterday, old = logged
    every = run_cli(capsys, "usage", "--since", "all", "--json").json()
    assert [row["day"] for row in every] == sorted([old, _two_days_ago, yesterday])

    recent = run_cli(capsys, "usage", "--since", "36h", "--json").json()
    assert [row["day"] for row in recent] == [yesterday]

    monkeypatch.setenv("BRIEFBOT_LLM_PRICE_INPUT", "1")
    monkeypatch.setenv("BRIEFBOT_LLM_PRICE_OUTPUT", "2")
    priced = run_cli(capsys, "usage", "--since", "36h", "--json").json()
    assert priced[0]["estimated_cost_usd"] == 0.004  # 2,000 x $1 + 1,000 x $2 per million

    bad = run_cli(capsys, "usage", "--since", "lately")
    assert bad.code == 1 and "--since 'lately' is not a duration" in bad.err


def test_usage_with_no_calls(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(capsys, "usage", "--json").json() == []
    out = run_cli(capsys, "usage")
    assert out.code == 0 and out.out.startswith("no model calls since 30d")


def test_usage_counts_feedback(
    logged: tuple[str, str, str], env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """👍/👎 from chat buttons are counted per day, one vote per person and key (the last
    click wins); a day with votes and no model calls still gets a row."""
    two_days_ago, _yesterday, _old = logged
    now = datetime.now(UTC)
    engine = open_engine(env["BRIEFBOT_DATABASE_URL"])
    store = SqlStore(engine)
    store.record_feedback("slack", "U1", "digest:slack:C1:x", 1, now - timedelta(days=2))
    store.record_feedback("slack", "U2", "digest:slack:C1:x", 1, now - timedelta(days=2))
    store.record_feedback("slack", "U3", "answer:slack:C1:1.2", 1, now - timedelta(days=2))
    store.record_feedback("slack", "U3", "answer:slack:C1:1.2", -1, now - timedelta(days=2))  # changed
    store.record_feedback("slack", "U1", "answer:slack:C1:3.4", -1, now)
    with pytest.raises(ValueError):
        store.record_feedback("slack", "U1", "k", 2, now)
    engine.dispose()
    rows = {row["day"]: row for row in run_cli(capsys, "usage", "--json").json()}
    assert (rows[two_days_ago]["feedback_up"], rows[two_days_ago]["feedback_down"]) == (2, 1)
    today = rows[now.date().isoformat()]
    assert (today["calls"], today["feedback_up"], today["feedback_down"]) == (0, 0, 1)
    total = run_cli(capsys, "usage").out.splitlines()
    assert next(line for line in total if line.startswith("total")).split()[-2:] == ["2", "2"]
