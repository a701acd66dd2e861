"""An article's extracted facts as plain JSON-ready data, and back.

The store keeps each analysed article's :class:`~bot.core.extract.Extraction` as JSON, so
that rebuilding a story (for clustering across runs, or for its deals) never re-runs
extraction. Chips are stored with their vendor, family and generation, so a chip that
was since removed from the gazetteer still reads back.
"""

from __future__ import annotations

from typing import Any

from bot.core.extract import Chip, DealCandidate, Extraction, Money, Power


def _money(m: Money) -> dict[str, Any]:
    return {
        "usd": m.usd,
        "text": m.text,
        "qualifier": m.qualifier,
        "currency": m.currency,
        "usd_high": m.usd_high,
    }


def _money_from(d: dict[str, Any]) -> Money:
    return Money(
        d.get("usd"),
        str(d.get("text", "")),
        d.get("qualifier"),
        str(d.get("currency", "USD")),
        d.get("usd_high"),
    )


def facts_to_json(ex: Extraction) -> dict[str, Any]:
    """The extraction as a dict of lists, strings and numbers (sorted, so stable)."""
    return {
        "topics": sorted(ex.topics),
        "companies": sorted(ex.companies),
        "chips": [
            {"name": c.name, "vendor": c.vendor, "family": c.family, "generation": c.generation}
            for c in ex.chips
        ],
        "money": [_money(m) for m in ex.money],
        "power": [{"watts": p.watts, "text": p.text} for p in ex.power],
        "deals": [
            {
                "parties": list(d.parties),
                "kind": d.kind,
                "amount": _money(d.amount) if d.amount else None,
                "sentence": d.sentence,
            }
            for d in ex.deals
        ],
    }


def facts_from_json(data: dict[str, Any]) -> Extraction:
    """The inverse of :func:`facts_to_json`; unknown keys are ignored."""
    return Extraction(
        topics=frozenset(data.get("topics", ())),
        companies=frozenset(data.get("companies", ())),
        chips=tuple(
            sorted(
                Chip(c["name"], c["vendor"], c.get("family") or c["name"], c.get("generation"))
                for c in data.get("chips", ())
            )
        ),
        money=tuple(_money_from(m) for m in data.get("money", ())),
        power=tuple(Power(float(p["watts"]), str(p["text"])) for p in data.get("power", ())),
        deals=tuple(
            DealCandidate(
                tuple(d["parties"]),
                d["kind"],
                _money_from(d["amount"]) if d.get("amount") else None,
                str(d.get("sentence", "")),
            )
            for d in data.get("deals", ())
        ),
    )
