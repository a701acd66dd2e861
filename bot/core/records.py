"""What the store hands back about stories, deals and chips: plain frozen records."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bot.core.extract import DealKind, Money


@dataclass(frozen=True)
class SourceRef:
    """One article of a story, as a reader sees it in a source list."""

    article_id: int
    url: str | None
    title: str
    outlet: str
    published: datetime | None

    def as_json(self) -> dict[str, object]:
        return {
            "url": self.url,
            "title": self.title,
            "outlet": self.outlet,
            "published": self.published.isoformat() if self.published else None,
        }


@dataclass(frozen=True)
class StoryDeal:
    """A deal as a story reports it, merged over the story's articles.

    ``parties`` are in the order the reports name them most often (the investor or
    supplier usually first). ``support`` is how many of the story's articles state it.
    """

    parties: tuple[str, ...]
    kind: DealKind
    amount: Money | None
    announced: datetime | None
    article_ids: tuple[int, ...]
    support: int
    sentence: str = ""

    def edges(self) -> list[tuple[str, str]]:
        """Who gives to whom: investors to the recipient (the last party), the supplier or
        buyer (the first party) to the others; a partnership links the first to the others."""
        if len(self.parties) < 2:
            return []
        if self.kind == "investment":
            return [(p, self.parties[-1]) for p in self.parties[:-1]]
        return [(self.parties[0], p) for p in self.parties[1:]]

    @property
    def direction(self) -> str:
        """ "Microsoft, Nvidia -> Anthropic", "Amazon -> OpenAI", "Nvidia <-> Amazon"."""
        if self.kind == "investment":
            return ", ".join(self.parties[:-1]) + " -> " + self.parties[-1]
        arrow = " <-> " if self.kind in ("partnership", "other") else " -> "
        return self.parties[0] + arrow + ", ".join(self.parties[1:])

    def describe(self) -> str:
        """ "Amazon -> Anthropic: investment, up to $4 billion"."""
        amount = f", {self.amount_text}" if self.amount_text else ""
        return f"{self.direction}: {self.kind}{amount}"

    @property
    def amount_text(self) -> str | None:
        """The amount as written, with its hedge: "up to $100 billion"."""
        if self.amount is None:
            return None
        return f"{self.amount.qualifier} {self.amount.text}" if self.amount.qualifier else self.amount.text

    def as_json(self) -> dict[str, object]:
        return {
            "parties": list(self.parties),
            "kind": self.kind,
            "amount_usd": self.amount.usd if self.amount else None,
            "amount_usd_high": self.amount.usd_high if self.amount else None,
            "amount": self.amount_text,
            "announced": self.announced.isoformat() if self.announced else None,
            "support": self.support,
        }


@dataclass(frozen=True)
class StoryRecord:
    """A stored story with its facts and sources (newest source last)."""

    id: int
    headline: str
    first_seen: datetime | None
    last_seen: datetime | None
    state: str  # "new" or "updated"
    created_at: datetime
    updated_at: datetime
    topics: tuple[str, ...]
    companies: tuple[str, ...]
    chips: tuple[str, ...]
    deals: tuple[StoryDeal, ...] = ()
    sources: tuple[SourceRef, ...] = ()
    chip_roles: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def entities(self) -> tuple[str, ...]:
        return self.companies + self.chips

    @property
    def when(self) -> datetime:
        """The story's latest date: its newest dated source, else when it was stored."""
        return self.last_seen or self.updated_at


@dataclass(frozen=True)
class DealRecord:
    """A row of the deal ledger: a story's deal with the story it comes from."""

    story_id: int
    headline: str
    deal: StoryDeal
    sources: tuple[SourceRef, ...]


@dataclass(frozen=True)
class ChipStory:
    """One story about a chip and what it says about it (announcement, availability, ...)."""

    story_id: int
    headline: str
    when: datetime
    roles: tuple[str, ...]
    sources: tuple[SourceRef, ...]


@dataclass(frozen=True)
class ChipRecord:
    """A chip in the tracker: gazetteer facts and its stories, newest first."""

    name: str
    vendor: str
    family: str
    generation: str | None
    first_mention: datetime
    latest_mention: datetime
    stories: tuple[ChipStory, ...]
