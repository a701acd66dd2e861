"""Checks on the deals a model reports for one article (the ``deal_extraction`` prompt).

A model's deals are untrusted: it may name a company the article never mentions, write
an amount the article never states, or report an old deal as news. :func:`check_deals`
keeps a deal only when

1. it is the article's news (``background`` is not true);
2. its kind is one of the five (investment, partnership, supply, acquisition, other);
3. every party resolves through the gazetteer to a canonical company (its name or an
   alias: "AWS" is Amazon) that the article text names, and at least two distinct
   companies remain;
4. its amount, if it gives one, is one amount of money whose USD value (or, for other
   currencies, whose written form) the article states, or that a rule-based candidate
   gives (the rules add up a joint investment stated investor by investor).

What is kept is rebuilt from the article's own material: canonical company names in the
model's order (the order carries direction: investors first and the recipient last,
the supplier first, the buyer first), the article's own mention of the amount (with the
hedge the model wrote, "up to", when the article writes it before that amount), and as
the deal's sentence the model's evidence only when the article states it word for word
and it names every party.

``text`` must be the text the model was shown (``bot.core.untrusted.shown_text``: hidden
HTML removed, links turned into "[link]", capped), so that nothing the model never saw
vouches for a name or an amount. Every dropped deal gets a one-line reason.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import cast

from bot.core.extract import DealCandidate, DealKind, Gazetteer, Money, find_money, split_sentences

DEAL_KINDS: frozenset[str] = frozenset({"investment", "partnership", "supply", "acquisition", "other"})
MAX_DEALS = 20  # more from one article is noise; the rest are dropped

# What may follow a company's name without making it another name: "Nvidia Corp.", "Intel's".
_SUFFIX = re.compile(
    r"(?:['’]s|,?\s+(?:inc|incorporated|corp|corporation|co|company|ltd|limited|plc|llc|group|holdings)\.?)\Z",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class CheckedDeals:
    """The deals that passed, as candidates, and why each other one was dropped."""

    deals: tuple[DealCandidate, ...]
    dropped: tuple[str, ...]


def _one_line(value: object, limit: int = 80) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def resolve_company(name: str, gazetteer: Gazetteer) -> str | None:
    """The canonical company a name written by a model stands for ("AWS" -> "Amazon"), or None.

    The whole name must be a gazetteer name or alias, allowing a corporate suffix
    ("Nvidia Corp.") or a possessive ("Intel's").
    """
    name = " ".join(name.split())
    found = gazetteer.company_matcher.lookup(name)
    if found is None:
        stripped = _SUFFIX.sub("", name).strip(" ,")
        if stripped and stripped != name:
            found = gazetteer.company_matcher.lookup(stripped)
    return found


def _close(a: float, b: float | None) -> bool:
    return b is not None and math.isclose(a, b, rel_tol=1e-9)


def _same_amount(stated: Money, written: Money) -> bool:
    """True when the article's ``stated`` amount is the one the model ``written``."""
    if written.usd is not None and stated.usd is not None:
        values = (stated.usd, stated.usd_high)
        if any(_close(written.usd, v) for v in values) and (
            written.usd_high is None or any(_close(written.usd_high, v) for v in values)
        ):
            return True
    return stated.currency == written.currency and _squash(stated.text) == _squash(written.text)


def _squash(text: str) -> str:
    return " ".join(text.split()).casefold()


def _amount(raw: str, stated: Sequence[Money]) -> tuple[Money | None, str | None]:
    """The article's mention of the amount the model wrote, or why there is none."""
    found = find_money(raw)
    if len(found) != 1:
        return None, f"amount {_one_line(raw)!r} is not one amount of money"
    written = found[0]
    matches = [m for m in stated if _same_amount(m, written)]
    if not matches:
        return None, f"amount {_one_line(raw)!r} is not in the article"
    # the model's hedge when the article writes it before this amount, else the article's
    hedged = [m for m in matches if m.qualifier == written.qualifier]
    return (hedged or matches)[0], None


def _names(text: str, gazetteer: Gazetteer) -> set[str]:
    return {name for _, name in gazetteer.company_matcher.find(text)}


def _sentence(
    evidence: object,
    text: str,
    parties: tuple[str, ...],
    gazetteer: Gazetteer,
    candidate: DealCandidate | None,
) -> str:
    """The deal's sentence: the model's evidence when the article states it word for word
    and it names every party, else the article's first sentence naming every party, else
    the rule-based candidate's sentence."""
    wanted = set(parties)
    if isinstance(evidence, str):
        quoted = " ".join(evidence.split())
        if (
            quoted
            and "[link]" not in quoted
            and quoted in " ".join(text.split())
            and wanted <= _names(quoted, gazetteer)
        ):
            return quoted
    for sentence in split_sentences(text):
        if "[link]" not in sentence and wanted <= _names(sentence, gazetteer):
            return " ".join(sentence.split())
    return candidate.sentence if candidate is not None else ""


def check_deals(
    text: str,
    gazetteer: Gazetteer,
    deals: object,
    *,
    candidates: Sequence[DealCandidate] = (),
) -> CheckedDeals:
    """The model's ``deals`` (the ``deals`` list of a ``deal_extraction`` reply) that the
    article ``text`` supports, as deal candidates; see the module docstring.

    ``candidates`` are the rule-based candidates the model was shown, numbered from 1:
    their amounts count as stated, and a deal naming one by number may fall back on its
    sentence. Deals with the same parties and kind are one deal: the first is kept, a
    later one may add a missing amount.
    """
    items = deals if isinstance(deals, list) else []
    named = _names(text, gazetteer)
    stated = [*find_money(text), *(c.amount for c in candidates if c.amount is not None)]
    kept: dict[tuple[frozenset[str], str], DealCandidate] = {}
    dropped: list[str] = []
    for number, item in enumerate(items, 1):
        where = f"deal {number}"
        if number > MAX_DEALS:
            dropped.append(f"{where}: more than {MAX_DEALS} deals in one article")
            continue
        if not isinstance(item, Mapping):
            dropped.append(f"{where}: not an object")
            continue
        raw_parties = item.get("parties")
        parties_list = raw_parties if isinstance(raw_parties, list) else []
        named_as = _one_line(", ".join(str(p) for p in parties_list))
        where = f"deal {number} ({named_as}; {_one_line(item.get('kind'))})"
        if item.get("background") is True:
            dropped.append(f"{where}: background, not the article's news")
            continue
        kind = item.get("kind")
        if not isinstance(kind, str) or kind not in DEAL_KINDS:
            dropped.append(f"{where}: kind {_one_line(kind)!r} is not one of {', '.join(sorted(DEAL_KINDS))}")
            continue
        problem: str | None = None
        parties: list[str] = []
        for party in parties_list:
            name = resolve_company(party, gazetteer) if isinstance(party, str) else None
            if name is None:
                problem = f"party {_one_line(party)!r} is not a known company"
                break
            if name not in named:
                problem = f"party {_one_line(party)!r} ({name}) is not named in the article"
                break
            if name not in parties:
                parties.append(name)
        if problem is None and len(parties) < 2:
            problem = "fewer than two distinct companies"
        amount: Money | None = None
        raw_amount = item.get("amount")
        if problem is None and isinstance(raw_amount, str) and raw_amount.strip():
            amount, problem = _amount(raw_amount, stated)
        if problem is not None:
            dropped.append(f"{where}: {problem}")
            continue
        index = item.get("candidate")
        candidate = (
            candidates[index - 1]
            if isinstance(index, int) and not isinstance(index, bool) and 1 <= index <= len(candidates)
            else None
        )
        ordered = tuple(parties)
        sentence = _sentence(item.get("evidence"), text, ordered, gazetteer, candidate)
        key = (frozenset(ordered), kind)
        seen = kept.get(key)
        if seen is None:
            kept[key] = DealCandidate(ordered, cast(DealKind, kind), amount, sentence)
        elif seen.amount is None and amount is not None:
            kept[key] = DealCandidate(seen.parties, seen.kind, amount, sentence)
        else:
            dropped.append(f"{where}: the same deal as an earlier one")
    return CheckedDeals(tuple(kept.values()), tuple(dropped))
