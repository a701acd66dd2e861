"""Cutting articles into passages, and turning questions into search terms."""

from __future__ import annotations

import time

import pytest

from bot.core.passages import split_passages
from bot.core.search import MAX_TERMS, SearchHit, SearchQuery, query_terms

LONG_PARAGRAPH = " ".join(
    f"Sentence number {i} explains one more detail of the data-center deal and its financing."
    for i in range(30)
)


def words(texts: list[str]) -> list[str]:
    return " ".join(texts).split()


def test_paragraphs_become_passages_and_the_title_opens_the_first() -> None:
    first = "Amazon will invest another $4 billion in Anthropic, according to a statement on Friday. " * 2
    second = "Anthropic will train its largest models on Trainium chips in AWS data centers, it said. " * 2
    out = split_passages("Amazon deepens Anthropic tie", f"{first.strip()}\n\n{second.strip()}")
    assert out == [f"Amazon deepens Anthropic tie. {first.strip()}", second.strip()]


def test_a_title_with_its_own_punctuation_gets_no_extra_period() -> None:
    assert split_passages("Is Nvidia a bank now?", "No.") == ["Is Nvidia a bank now? No."]
    assert split_passages("Nvidia beats: ", "Revenue rose.") == ["Nvidia beats: Revenue rose."]
    assert split_passages("Nvidia beats", "Revenue rose.") == ["Nvidia beats. Revenue rose."]


def test_short_paragraphs_are_merged() -> None:
    para = ("Long enough paragraph. " * 8).strip()
    text = f"One short line.\nAnother short line.\n\n{para}\n\n{para}"
    out = split_passages("T", text)
    assert out == [f"T. One short line.\nAnother short line.\n{para}", para]


def test_a_short_last_paragraph_joins_the_passage_before() -> None:
    body = "A paragraph long enough to be a passage of its own, with more than enough words in it. " * 2
    out = split_passages("T", f"{body}\n\nThe end.")
    assert len(out) == 1 and out[0].endswith("\nThe end.")


def test_long_paragraphs_split_between_sentences_within_the_limit() -> None:
    out = split_passages("Deal", LONG_PARAGRAPH)
    assert len(out) >= 4
    assert all(len(p) <= 700 for p in out)
    assert all(p.rstrip().endswith(".") for p in out)  # cut after a sentence
    assert words(out) == words(["Deal.", LONG_PARAGRAPH])
    lengths = [len(p) for p in out]
    assert max(lengths) - min(lengths) < 200  # balanced, not 700 + a scrap


def test_a_sentence_longer_than_a_passage_is_cut_between_words() -> None:
    sentence = " ".join(f"word{i}" for i in range(400))  # one sentence, no period
    out = split_passages("T", sentence, max_chars=300)
    assert all(len(p) <= 300 for p in out)
    assert words(out) == words(["T.", sentence])  # no word was cut in half


def test_text_without_spaces_is_cut_anywhere() -> None:
    out = split_passages("", "x" * 2000, max_chars=700)
    assert [len(p) for p in out] == [700, 700, 600]


def test_empty_text_gives_the_title_alone() -> None:
    assert split_passages("Just a headline", "") == ["Just a headline"]
    assert split_passages("Just a headline", " \n\n \t ") == ["Just a headline"]
    assert split_passages("", "") == []
    assert split_passages("", "Body only.") == ["Body only."]


def test_deterministic() -> None:
    text = f"{LONG_PARAGRAPH}\n\nShort.\n\n{LONG_PARAGRAPH}"
    assert split_passages("T", text) == split_passages("T", text)


def test_control_and_invisible_characters_are_removed() -> None:
    out = split_passages(
        "Ti\x00tle\u200b", "Nvidia\x1b[31m invests\u202e in\x07\tchips.\r\nNext line.\rLast."
    )
    assert out == ["Ti tle. Nvidia [31m invests in chips.\nNext line.\nLast."]


@pytest.mark.parametrize(
    "text",
    [
        "x" * 1_000_000,
        "word " * 200_000,
        ". " * 500_000,
        "." * 1_000_000,
        "!?" * 500_000,
        "\n" * 1_000_000,
        " \n" * 500_000,
        "\x00\x01\u200b" * 300_000,
        "a." * 500_000,
    ],
)
def test_hostile_text_stays_bounded(text: str) -> None:
    started = time.perf_counter()
    out = split_passages("T" * 100_000, text)
    assert time.perf_counter() - started < 2.0
    assert 1 <= len(out) <= 200
    assert all(0 < len(p) <= 700 for p in out)
    assert out[0].startswith("TTTT")


def test_limits_are_parameters() -> None:
    out = split_passages("T", LONG_PARAGRAPH, max_chars=200, min_chars=50, max_passages=3)
    assert len(out) == 3 and all(len(p) <= 200 for p in out)
    with pytest.raises(ValueError):
        split_passages("T", "text", max_chars=5)


# ---- query terms ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "terms"),
    [
        ("How much did Amazon invest in Anthropic?", ["amazon", "invest", "anthropic"]),
        ("Which chips does Anthropic use?", ["chips", "anthropic", "use"]),
        ("What's the latest news about Nvidia's H200?", ["nvidia", "h200"]),
        ("Tell me who won the TPU contract", ["won", "tpu", "contract"]),
        ("US export rules for GB200 (2025)", ["us", "export", "rules", "gb200", "2025"]),
        ("Amazon amazon AMAZON", ["amazon"]),
        ("$4 billion", ["4", "billion"]),
        ("data-center capacity", ["data", "center", "capacity"]),
        ("Münchner Rechenzentrum", ["münchner", "rechenzentrum"]),
    ],
)
def test_query_terms(question: str, terms: list[str]) -> None:
    assert query_terms(question) == terms


@pytest.mark.parametrize(
    "question",
    ["", "   ", "what is the", "how much?", "?!.,", '"', "*", "AND OR NOT", "a b c", "___"],
)
def test_questions_without_terms(question: str) -> None:
    assert query_terms(question) == []


@pytest.mark.parametrize(
    "question",
    ['"NEAR(Nvidia', "Nvidia*", "text:Nvidia", "^Nvidia", "{text}: Nvidia", "Nvidia AND (OR", "'Nvidia'--"],
)
def test_query_terms_strip_full_text_syntax(question: str) -> None:
    terms = query_terms(question)
    assert "nvidia" in terms
    assert all(t.isalnum() for t in terms)
    assert not {"and", "or", "not"} & set(terms)


def test_query_terms_are_bounded() -> None:
    terms = query_terms(" ".join(f"term{i}" for i in range(1000)) + " " + "y" * 1_000_000)
    assert len(terms) == MAX_TERMS
    assert query_terms("z" * 41) == []  # absurd "words" are dropped


def test_search_records() -> None:
    q = SearchQuery("nvidia")
    assert (q.limit, q.since, q.topic) == (10, None, None)
    hit = SearchHit(1, 2, 0, "text", 1.5, "Title", None, "Outlet", None, None)
    assert hit.as_json()["outlet"] == "Outlet"
