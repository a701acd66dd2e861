"""A story's deals, merged from its articles' deal candidates.

Each article reports deals sentence by sentence (``bot.core.extract.find_deals``); one
story usually holds several reports of the same deal, worded differently, sometimes
naming an extra company or a running total. Merging is a vote:

1. candidates are grouped by (set of parties, kind); a group's support is the number of
   articles stating it;
2. two groups whose party sets are nested are one deal when their kinds agree, or when the
   less supported one is generic (``partnership`` or ``other``: a report of a specific
   deal in vague words): it folds into the more supported (ties: into the larger party
   set, then into the specific kind), smallest support first, until nothing folds;
3. each deal's amount is the USD value most articles state (ties: the earlier article),
   written as the earliest article with a hedge wrote it ("up to $100 billion"), else as
   the earliest wrote it; its parties are in the order most articles use;
4. in a story of three or more articles, deals only one article states are dropped
   when others are stated twice or more: they are background, and often misread;
5. deals are ordered by support, then amount.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.core.extract import DealCandidate, DealKind, Extraction, Money
from bot.core.records import StoryDeal


@dataclass(frozen=True)
class Report:
    """One article's extraction, for merging: its id and date."""

    article_id: int
    published: datetime | None
    extraction: Extraction


_GENERIC: frozenset[str] = frozenset({"partnership", "other"})


class _Group:
    def __init__(self, parties: frozenset[str], kind: DealKind) -> None:
        self.parties = parties
        self.kind = kind
        self.items: list[tuple[Report, DealCandidate]] = []

    @property
    def articles(self) -> set[int]:
        return {r.article_id for r, _ in self.items}


def _folds_into(group: DealKind, receiver: DealKind) -> bool:
    """A generic report may be a specific deal; a specific deal never becomes generic."""
    return group == receiver or group in _GENERIC


def _receiver_rank(g: _Group) -> tuple[int, int, int]:
    return (len(g.articles), len(g.parties), 0 if g.kind in _GENERIC else 1)


def merge_deals(reports: Sequence[Report]) -> list[StoryDeal]:
    """The story's deals, most reported first (see the module docstring)."""
    groups: dict[tuple[frozenset[str], DealKind], _Group] = {}
    order = {r.article_id: i for i, r in enumerate(reports)}
    for report in reports:
        for cand in report.extraction.deals:
            key = (frozenset(cand.parties), cand.kind)
            groups.setdefault(key, _Group(*key)).items.append((report, cand))
    live = list(groups.values())
    folded = True
    while folded:
        folded = False
        live.sort(key=_receiver_rank)
        for i, group in enumerate(live):
            receivers = [
                other
                for other in live[i + 1 :]
                if _folds_into(group.kind, other.kind)
                and (group.parties <= other.parties or other.parties <= group.parties)
            ]
            if receivers:
                best = max(receivers, key=_receiver_rank)
                best.items.extend(group.items)
                del live[i]
                folded = True
                break
    deals = [_deal(g, order) for g in live]
    if len(reports) >= 3 and any(d.support >= 2 for d in deals):
        # in a well-covered story, a deal only one article mentions is background, often misread
        deals = [d for d in deals if d.support >= 2]
    deals.sort(key=lambda d: (-d.support, -(d.amount.usd or 0.0) if d.amount else 0.0, d.parties))
    return deals


def _deal(group: _Group, order: dict[int, int]) -> StoryDeal:
    votes: dict[float, set[int]] = {}
    forms: dict[float, list[tuple[int, Money]]] = {}
    for report, cand in group.items:
        if cand.amount is None or cand.amount.usd is None:
            continue
        value = cand.amount.usd_high or cand.amount.usd
        votes.setdefault(value, set()).add(report.article_id)
        forms.setdefault(value, []).append((order[report.article_id], cand.amount))
    amount: Money | None = None
    if votes:
        best = max(votes, key=lambda v: (len(votes[v]), -min(r for r, _ in forms[v])))
        # written as the earliest article wrote it, preferring a hedged form: "up to" is news
        amount = min(forms[best], key=lambda rm: (rm[1].qualifier is None, rm[0]))[1]
    orders = Counter(cand.parties for _, cand in group.items if frozenset(cand.parties) == group.parties)
    parties = min(orders, key=lambda p: (-orders[p], p)) if orders else tuple(sorted(group.parties))
    dated = [r.published for r, _ in group.items if r.published is not None]
    sentence = next((c.sentence for _, c in group.items if c.amount is not None), group.items[0][1].sentence)
    ids = tuple(sorted(group.articles, key=lambda a: order[a]))
    return StoryDeal(parties, group.kind, amount, min(dated) if dated else None, ids, len(ids), sentence)
