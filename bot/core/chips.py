"""What an article says about each chip it names: announcement, availability, customers, deals.

The chip tracker (``briefbot chips``) lists each chip's stories with these roles, so a
reader watching Trainium's cadence sees "announced", "available", "customer" at a
glance. A role comes from the sentences that name the chip: announcement and
availability words, a company other than the chip's vendor with a usage verb
(customer), or a deal word with a party or amount (deal).
"""

from __future__ import annotations

import re

from bot.core.extract import Gazetteer, sentence_spans

ROLES = ("announcement", "availability", "customers", "deals")

_ANNOUNCE = re.compile(
    r"\b(?:unveil\w*|announc\w*|introduc\w*|launch\w*|debut\w*|reveal\w*|preview\w*|next[- ]generation|"
    r"roadmap|tape[sd]?[- ]out|successor)\b",
    re.I,
)
_AVAILABLE = re.compile(
    r"\b(?:generally\s+available|general\s+availability|now\s+available|available\s+(?:now|today|to\s+customers)|"
    r"ship(?:s|ping|ped)?|in\s+(?:volume\s+)?production|rolls?\s+out|rolling\s+out|GA)\b",
    re.I,
)
_CUSTOMER = re.compile(
    r"\b(?:us(?:e|es|ed|ing)|train(?:s|ed|ing)?|deploy\w*|adopt\w*|customers?|run(?:s|ning)?|rent\w*|"
    r"access\w*|tap(?:s|ped)?|buy(?:s|ing)?|bought|order\w*|purchas\w*|secur\w*)\b",
    re.I,
)
_DEAL = re.compile(
    r"\b(?:deal|agreement|contract|partnership|invest\w*|supply|commit\w*|billion|gigawatts?|GW)\b|\$\s?\d",
    re.I,
)


def chip_roles(title: str, text: str, gazetteer: Gazetteer) -> dict[str, list[str]]:
    """For each chip the article names, the roles its sentences give it (in ``ROLES`` order)."""
    body = f"{title.strip()}\n\n{text}" if title.strip() else text
    chip_hits = gazetteer.chip_matcher.find(body)
    if not chip_hits:
        return {}
    company_hits = gazetteer.company_matcher.find(body)
    roles: dict[str, set[str]] = {}
    for start, end in sentence_spans(body):
        chips = {name for pos, name in chip_hits if start <= pos < end}
        if not chips:
            continue
        sentence = body[start:end]
        companies = {name for pos, name in company_hits if start <= pos < end}
        for name in chips:
            found = roles.setdefault(name, set())
            if _ANNOUNCE.search(sentence):
                found.add("announcement")
            if _AVAILABLE.search(sentence):
                found.add("availability")
            vendor = gazetteer.chip(name).vendor
            if companies - {vendor} and _CUSTOMER.search(sentence):
                found.add("customers")
            if _DEAL.search(sentence) and (companies - {vendor} or "$" in sentence):
                found.add("deals")
    for _, name in chip_hits:
        roles.setdefault(name, set())
    return {name: [r for r in ROLES if r in found] for name, found in sorted(roles.items())}
