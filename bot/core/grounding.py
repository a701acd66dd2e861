"""Grounding checks, enforced in code on anything a model writes before it is shown.

A summary sentence passes when:

- it cites at least one source, and every ``[n]`` is a source of that story;
- every company and chip it names occurs in the story's sources;
- every amount of money, power figure and other number it states occurs in the sources
  ("$4 billion" matches "$4B" and "4 billion dollars"; "6 GW" matches "6 gigawatts");
- it holds no link, and no bare domain the sources do not write themselves ("Amazon.com"
  is a name when a source says it): links come only from stored article URLs.

``check_sentences`` returns one-line problems (empty when everything passes), so a
failed summary can be regenerated with the failure named.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.core.extract import Gazetteer, find_money, find_power

CITATION = re.compile(r"\[(\d{1,3})\]")
_LINK = re.compile(
    r"(?:https?://|www\.)\S+|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|net|org|io|ai|co|example|news|dev|app|xyz)\b",
    re.I,
)
_NUMBER = re.compile(r"(?<![\w.])(\d+(?:[.,]\d+)*)(?![\w])")


def _numbers(text: str) -> set[str]:
    return {n.replace(",", "") for n in _NUMBER.findall(text)}


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-6 * max(abs(a), abs(b), 1.0)


def check_sentences(
    sentences: Sequence[str], sources: Sequence[str], gazetteer: Gazetteer, *, require_citation: bool = True
) -> list[str]:
    """Problems with model-written ``sentences`` given the story's numbered ``sources``
    (``sources[0]`` is source [1]); empty when all checks pass."""
    problems: list[str] = []
    corpus = "\n".join(sources)
    corpus_lower = corpus.lower()
    companies = {n for _, n in gazetteer.company_matcher.find(corpus)}
    chips = {n for _, n in gazetteer.chip_matcher.find(corpus)}
    money = [m for m in find_money(corpus) if m.usd is not None]
    watts = [p.watts for p in find_power(corpus)]
    numbers = _numbers(corpus)
    for i, sentence in enumerate(sentences, 1):
        where = f"sentence {i}"
        cited = [int(n) for n in CITATION.findall(sentence)]
        if require_citation and not cited:
            problems.append(f"{where} cites no source")
        for n in cited:
            if not 1 <= n <= len(sources):
                problems.append(f"{where} cites [{n}] but the story has {len(sources)} sources")
        text = CITATION.sub(" ", sentence)
        for link in _LINK.finditer(text):
            written = link.group(0)
            if not written.lower().startswith(("http", "www.")) and written.lower() in corpus_lower:
                continue  # a name the sources write this way ("Amazon.com"), not a link to follow
            problems.append(f"{where} contains a link or domain ({written!r}); links are not allowed")
            break
        for _, name in gazetteer.company_matcher.find(text):
            if name not in companies:
                problems.append(f"{where} names {name}, which no source names")
        for _, name in gazetteer.chip_matcher.find(text):
            if name not in chips:
                problems.append(f"{where} names the chip {name}, which no source names")
        covered: set[str] = set()
        for m in find_money(text):
            if m.usd is None:
                continue
            value = m.usd_high or m.usd
            if not any(
                _close(value, s.usd_high or s.usd or 0.0) or _close(m.usd, s.usd or 0.0) for s in money
            ):
                problems.append(f"{where} states {m.text}, which no source states")
            covered |= _numbers(m.text)
        for p in find_power(text):
            if not any(_close(p.watts, w) for w in watts):
                problems.append(f"{where} states {p.text}, which no source states")
            covered |= _numbers(p.text)
        for number in _numbers(text) - covered:
            if number not in numbers:
                problems.append(f"{where} states the number {number}, which no source states")
    return problems
