"""The question analysis behind `ask`: time windows, unknown names, what kind of answer."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.core.ask import Asker, _QuestionKind, time_window
from bot.core.extract import Gazetteer, Taxonomy

NOW = datetime(2026, 3, 18, 15, 30, tzinfo=UTC)  # a Wednesday


def test_time_windows() -> None:
    assert time_window("deals involving Nvidia this month", NOW) == (datetime(2026, 3, 1, tzinfo=UTC), None)
    assert time_window("what happened today", NOW)[0] == datetime(2026, 3, 18, tzinfo=UTC)
    assert time_window("anything this week?", NOW)[0] == datetime(2026, 3, 16, tzinfo=UTC)
    assert time_window("chips since May", NOW) == (datetime(2025, 5, 1, tzinfo=UTC), None)
    assert time_window("investments since 2024", NOW) == (datetime(2024, 1, 1, tzinfo=UTC), None)
    # "in 2019" is a search word, not a filter: later articles recall earlier events
    assert time_window("Microsoft's first investment in OpenAI in 2019", NOW) == (None, None)


def test_unknown_names_are_required(taxonomy: Taxonomy, gazetteer: Gazetteer) -> None:
    asker = Asker(None, None, None, taxonomy, gazetteer, None)  # type: ignore[arg-type]
    assert asker._proper_nouns("How much did Meta pay for Scale AI?", ["Meta"]) == ["Scale AI"]
    assert asker._proper_nouns("How much money is going into Stargate?", []) == ["Stargate"]
    # "Trn3" is a gazetteer alias of Trainium3 and "EC2" a lone acronym: neither is an unknown name
    assert asker._proper_nouns("What does a Trn3 UltraServer cost on EC2?", []) == ["UltraServer"]
    # the first word, question words, periods and lone acronyms are not names
    assert asker._proper_nouns("What did Nvidia report for Q3 FY2026 AI revenue?", ["Nvidia"]) == []


def test_question_kinds() -> None:
    money = _QuestionKind("What revenue did AMD report for Q3 2025?")
    assert money.amount and money.money and money.period
    assert not money.answers_amount("AMD expects tens of billions of dollars in revenue from the deal.")
    assert money.answers_amount("Revenue was $9.2 billion in the third quarter.")
    faster = _QuestionKind("How much faster is Ironwood than Trillium?")
    assert faster.amount and not faster.money and faster.has_amount("It is four times faster.")
    assert _QuestionKind("Which chips will OpenAI get from AMD?").chips
    assert _QuestionKind("Who fabs the MTIA?").who
    assert _QuestionKind("When does the rollout start?").when
