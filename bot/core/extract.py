"""Rule-based story intelligence for one article: topics, entities, money, power, deals.

Everything here is pure and standard-library only. The word lists live in two TOML files
users can edit (``bot/data/taxonomy.toml`` and ``bot/data/gazetteer.toml``, formats
documented at their tops); :func:`default_taxonomy` and :func:`default_gazetteer` read
the shipped copies. Loading compiles the regular expressions once, so :func:`extract`
runs a handful of regex scans per article:

- topics: one regex over every keyword and phrase of the taxonomy (case-insensitive,
  word boundaries, plural "s"/"es" accepted);
- companies and chips: one regex each for the gazetteer, longest alias first, with
  case-sensitive aliases for names that are common words ("Arm", "Meta", "Apple");
- money and power: fixed regexes for the forms news uses ("$4B", "US$38bn",
  "38 billion dollars", "up to $100 billion", "6 gigawatts", "500 MW", "6-gigawatt");
- deal candidates: per sentence naming two or more companies and a deal word.
"""

from __future__ import annotations

import bisect
import math
import os
import re
import tomllib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal, TypeVar

from bot.errors import ConfigError

_T = TypeVar("_T")
DealKind = Literal["investment", "partnership", "supply", "acquisition", "other"]

# ---- data objects ----------------------------------------------------------------------


@dataclass(frozen=True)
class Topic:
    """One taxonomy topic: lower-case single-word ``keywords`` and multi-word ``phrases``."""

    name: str
    keywords: tuple[str, ...]
    phrases: tuple[str, ...]


@dataclass(frozen=True)
class Taxonomy:
    """Topics plus the one compiled regex that finds all of their terms."""

    topics: tuple[Topic, ...]
    pattern: re.Pattern[str]
    term_topics: Mapping[str, frozenset[str]]

    def topic_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.topics)


@dataclass(frozen=True)
class Company:
    name: str
    aliases: tuple[str, ...] = ()
    case_sensitive: bool = False


@dataclass(frozen=True, order=True)
class Chip:
    """A chip with its canonical ``name`` and the canonical name of its ``vendor``."""

    name: str
    vendor: str
    family: str
    generation: str | None = None
    aliases: tuple[str, ...] = ()
    case_sensitive: bool = False


@dataclass(frozen=True)
class _Matcher:
    """A compiled alternation of aliases and the lookup from a matched key to a name."""

    pattern: re.Pattern[str]
    exact: Mapping[str, str]  # case-sensitive aliases, by _key(alias)
    folded: Mapping[str, str]  # case-insensitive aliases, by _key(alias).casefold()

    def find(self, text: str) -> list[tuple[int, str]]:
        """(offset, canonical name) of every mention, in order."""
        found: list[tuple[int, str]] = []
        for m in self.pattern.finditer(text):
            raw = m.group(1)
            key = _key(raw)
            name = self.exact.get(key) or self.folded.get(key.casefold())
            if name is not None:
                found.append((m.start(), name))
        return found

    def find_spans(self, text: str) -> list[tuple[int, int, str]]:
        """(start, end, canonical name) of every mention, in order."""
        found: list[tuple[int, int, str]] = []
        for m in self.pattern.finditer(text):
            key = _key(m.group(1))
            name = self.exact.get(key) or self.folded.get(key.casefold())
            if name is not None:
                found.append((m.start(), m.end(), name))
        return found

    def lookup(self, text: str) -> str | None:
        """The canonical name for a whole alias typed by a user ("aws" -> "Amazon"), or None."""
        key = _key(text.strip())
        if not key:
            return None
        folded = {k.casefold(): v for k, v in self.exact.items()}
        return self.exact.get(key) or self.folded.get(key.casefold()) or folded.get(key.casefold())


@dataclass(frozen=True)
class Gazetteer:
    """Companies and chips with their compiled matchers (one regex each)."""

    companies: tuple[Company, ...]
    chips: tuple[Chip, ...]
    company_matcher: _Matcher
    chip_matcher: _Matcher

    def chip(self, name: str) -> Chip:
        for c in self.chips:
            if c.name == name:
                return c
        raise KeyError(name)


@dataclass(frozen=True)
class Money:
    """An amount of money as written. ``usd`` is None for other currencies.

    ``text`` is the amount as written ("$100 billion"); a hedge before it ("up to",
    "about", "more than", ...) is in ``qualifier``, lower-case. A range ("$20-25 billion",
    "$5 to $10 billion") has its low end in ``usd`` and its high end in ``usd_high``.
    """

    usd: float | None
    text: str
    qualifier: str | None
    currency: str
    usd_high: float | None = None


@dataclass(frozen=True)
class Power:
    """A power figure ("6 gigawatts", "500 MW") in watts."""

    watts: float
    text: str


@dataclass(frozen=True)
class DealCandidate:
    """Two or more companies named in one sentence with a deal word; ``amount`` is the
    sentence's largest dollar amount (else its first amount), if any.

    Party order carries direction: for an investment the recipient is last (investors
    first), for supply the supplier is first, for an acquisition the buyer is first.
    """

    parties: tuple[str, ...]
    kind: DealKind
    amount: Money | None
    sentence: str = ""


@dataclass(frozen=True)
class Extraction:
    topics: frozenset[str]
    companies: frozenset[str]
    chips: tuple[Chip, ...]
    money: tuple[Money, ...]
    power: tuple[Power, ...]
    deals: tuple[DealCandidate, ...]

    @property
    def chip_names(self) -> frozenset[str]:
        return frozenset(c.name for c in self.chips)


# ---- loading ---------------------------------------------------------------------------

Source = str | os.PathLike[str]


def _read_toml(source: Source, what: str) -> dict[str, object]:
    """A path (``PathLike``, or a ``str`` without newline or "=") is read; other text parsed."""
    if isinstance(source, str) and ("\n" in source or "=" in source):
        text, where = source, f"{what} text"
    else:
        path = Path(source)
        where = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where} is not valid TOML: {exc}") from exc


def _str_list(value: object, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f"{where} must be a list of non-empty strings")
    return tuple(v.strip() for v in value)


_SEP = r"[\s\-]*"


def _atoms(term: str, cased: bool) -> list[str]:
    """Regex atoms for a term: one per character, a flexible separator per run of spaces/hyphens."""
    atoms: list[str] = []
    for i, part in enumerate(p for p in re.split(r"[\s\-]+", term.strip()) if p):
        if i:
            atoms.append(_SEP)
        for ch in part:
            lo, up = ch.lower(), ch.upper()
            if cased or lo == up or len(lo) != 1 or len(up) != 1:
                atoms.append(re.escape(ch))
            else:
                atoms.append(f"[{re.escape(lo)}{re.escape(up)}]")
    return atoms


class _Trie(dict[str, "_Trie"]):
    """A prefix-tree node: regex atom -> child; the key "" marks the end of a term."""


def _trie_regex(terms: Iterable[list[str]]) -> str:
    """One alternation for many terms, factored by common prefix so the regex engine tries
    a handful of branches per position instead of every term. Deeper branches come first,
    so the longest term wins as with a longest-first alternation."""
    root = _Trie()
    for atoms in terms:
        node = root
        for atom in atoms:
            node = node.setdefault(atom, _Trie())
        node[""] = _Trie()

    def depth(node: _Trie) -> int:
        return max((1 + depth(child) for k, child in node.items() if k), default=0)

    def render(node: _Trie) -> str:
        kids = sorted(((k, c) for k, c in node.items() if k), key=lambda kc: -depth(kc[1]))
        alts = [atom + render(child) for atom, child in kids]
        ends = "" in node
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 and not ends else "(?:" + "|".join(alts) + ")"
        return body + "?" if ends else body

    return render(root)


def _key(text: str) -> str:
    return re.sub(r"[\s\-]+", "", text)


def load_taxonomy(source: Source) -> Taxonomy:
    """Read a taxonomy from a path or from TOML text (see ``bot/data/taxonomy.toml``)."""
    return _taxonomy_from(_read_toml(source, "taxonomy"))


def _taxonomy_from(data: dict[str, object]) -> Taxonomy:
    raw = data.get("topics")
    if not isinstance(raw, dict) or not raw:
        raise ConfigError("taxonomy needs at least one [topics.<name>] table")
    topics: list[Topic] = []
    term_topics: dict[str, set[str]] = {}
    for name, body in raw.items():
        if not isinstance(body, dict):
            raise ConfigError(f"taxonomy topic {name!r} must be a table")
        unknown = set(body) - {"keywords", "phrases"}
        if unknown:
            raise ConfigError(f"taxonomy topic {name!r} has unknown keys: {', '.join(sorted(unknown))}")
        keywords = tuple(k.lower() for k in _str_list(body.get("keywords"), f"topics.{name}.keywords"))
        phrases = tuple(p.lower() for p in _str_list(body.get("phrases"), f"topics.{name}.phrases"))
        if not keywords and not phrases:
            raise ConfigError(f"taxonomy topic {name!r} has no keywords or phrases")
        topics.append(Topic(name, keywords, phrases))
        for term in keywords + phrases:
            term_topics.setdefault(_key(term), set()).add(name)
    terms = sorted({t for topic in topics for t in topic.keywords + topic.phrases})
    pattern = re.compile(r"(?<!\w)(" + _trie_regex(_atoms(t, False) for t in terms) + r")(?:e?s)?(?!\w)")
    return Taxonomy(tuple(topics), pattern, {k: frozenset(v) for k, v in term_topics.items()})


def _matcher(entries: Iterable[tuple[str, tuple[str, ...], bool]], plural: bool, what: str) -> _Matcher:
    exact: dict[str, str] = {}
    folded: dict[str, str] = {}
    alts: list[list[str]] = []
    for name, aliases, cased in entries:
        for alias in dict.fromkeys((name, *aliases)):
            key = _key(alias)
            table, k = (exact, key) if cased else (folded, key.casefold())
            if table.get(k, name) != name:
                raise ConfigError(f"gazetteer {what} alias {alias!r} names both {table[k]!r} and {name!r}")
            table[k] = name
            alts.append(_atoms(alias, cased))
    tail = r"(?:s)?(?!\w)" if plural else r"(?!\w)"
    pattern = re.compile(r"(?<!\w)(" + _trie_regex(alts) + ")" + tail)
    return _Matcher(pattern, exact, folded)


def _opt_str(value: object, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ConfigError(f"{where} must be a string")
    return str(value)


def load_gazetteer(source: Source) -> Gazetteer:
    """Read a gazetteer from a path or from TOML text (see ``bot/data/gazetteer.toml``)."""
    return _gazetteer_from(_read_toml(source, "gazetteer"))


def _gazetteer_from(data: dict[str, object]) -> Gazetteer:
    raw_companies = data.get("company", [])
    raw_chips = data.get("chip", [])
    if not isinstance(raw_companies, list) or not isinstance(raw_chips, list):
        raise ConfigError("gazetteer [[company]] and [[chip]] must be arrays of tables")
    companies: list[Company] = []
    for i, body in enumerate(raw_companies):
        if not isinstance(body, dict):
            raise ConfigError(f"gazetteer company #{i + 1} must be a table")
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"gazetteer company #{i + 1} needs a name")
        companies.append(
            Company(
                name.strip(),
                _str_list(body.get("aliases"), f"company {name!r} aliases"),
                bool(body.get("case_sensitive", False)),
            )
        )
    names = {c.name for c in companies}
    if len(names) != len(companies):
        raise ConfigError("gazetteer names a company twice")
    chips: list[Chip] = []
    for i, body in enumerate(raw_chips):
        if not isinstance(body, dict):
            raise ConfigError(f"gazetteer chip #{i + 1} must be a table")
        name, vendor, family = (
            _opt_str(body.get(k), f"chip #{i + 1} {k}") for k in ("name", "vendor", "family")
        )
        if not name or not vendor:
            raise ConfigError(f"gazetteer chip #{i + 1} needs a name and a vendor")
        if vendor not in names:
            raise ConfigError(f"gazetteer chip {name!r} has vendor {vendor!r}, which is not a [[company]]")
        chips.append(
            Chip(
                name,
                vendor,
                family or name,
                _opt_str(body.get("generation"), f"chip {name!r} generation"),
                _str_list(body.get("aliases"), f"chip {name!r} aliases"),
                bool(body.get("case_sensitive", False)),
            )
        )
    if len({c.name for c in chips}) != len(chips):
        raise ConfigError("gazetteer names a chip twice")
    return Gazetteer(
        tuple(companies),
        tuple(chips),
        _matcher(((c.name, c.aliases, c.case_sensitive) for c in companies), False, "company"),
        _matcher(((c.name, c.aliases, c.case_sensitive) for c in chips), True, "chip"),
    )


def _data_text(name: str) -> str:
    return resources.files("bot.data").joinpath(name).read_text(encoding="utf-8")


def default_taxonomy() -> Taxonomy:
    """The taxonomy shipped in ``bot/data/taxonomy.toml``."""
    return load_taxonomy(_data_text("taxonomy.toml"))


def default_gazetteer() -> Gazetteer:
    """The gazetteer shipped in ``bot/data/gazetteer.toml``."""
    return load_gazetteer(_data_text("gazetteer.toml"))


def extended_taxonomy(source: Source | None) -> Taxonomy:
    """The shipped taxonomy extended by a user's file: its topics are added, and a topic
    with a shipped topic's name replaces it. ``None`` gives the shipped taxonomy."""
    if source is None:
        return default_taxonomy()
    base = _read_toml(_data_text("taxonomy.toml"), "taxonomy")
    extra = _read_toml(source, "taxonomy")
    topics = dict(base.get("topics", {}))  # type: ignore[call-overload]
    extra_topics = extra.get("topics")
    if not isinstance(extra_topics, dict):
        raise ConfigError("the taxonomy file needs at least one [topics.<name>] table")
    topics.update(extra_topics)
    return _taxonomy_from({"topics": topics})


def extended_gazetteer(source: Source | None) -> Gazetteer:
    """The shipped gazetteer extended by a user's file: its [[company]] and [[chip]] entries
    are added, and an entry with a shipped entry's name replaces it."""
    if source is None:
        return default_gazetteer()
    base = _read_toml(_data_text("gazetteer.toml"), "gazetteer")
    extra = _read_toml(source, "gazetteer")
    merged: dict[str, object] = {}
    for key in ("company", "chip"):
        entries: dict[str, object] = {}
        for part in (base.get(key, []), extra.get(key, [])):
            if not isinstance(part, list):
                raise ConfigError(f"gazetteer [[{key}]] must be an array of tables")
            for i, body in enumerate(part):
                name = body.get("name") if isinstance(body, dict) else None
                entries[str(name) if name else f"#{key}{i}"] = body
        merged[key] = list(entries.values())
    return _gazetteer_from(merged)


# ---- money and power -------------------------------------------------------------------

_NUMBER = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_SCALES: dict[str, float] = {
    "trillion": 1e12,
    "tn": 1e12,
    "t": 1e12,
    "billion": 1e9,
    "bn": 1e9,
    "b": 1e9,
    "million": 1e6,
    "mn": 1e6,
    "mln": 1e6,
    "m": 1e6,
    "thousand": 1e3,
    "k": 1e3,
}
_SCALE = r"trillion|billion|million|thousand|mln|tn|bn|mn|t|b|m|k"
_QUALIFIERS = (
    "up to",
    "as much as",
    "as many as",
    "more than",
    "less than",
    "fewer than",
    "at least",
    "at most",
    "nearly",
    "almost",
    "about",
    "around",
    "approximately",
    "roughly",
    "some",
    "over",
    "under",
    "close to",
    "an estimated",
    "upwards of",
    "north of",
)
_QUALIFIER = "|".join(re.escape(q).replace(r"\ ", r"\s+") for q in sorted(_QUALIFIERS, key=len, reverse=True))
# symbol or code before the number -> ISO currency
_PREFIXES: dict[str, str] = {
    "us$": "USD",
    "usd": "USD",
    "$": "USD",
    "a$": "AUD",
    "au$": "AUD",
    "c$": "CAD",
    "ca$": "CAD",
    "hk$": "HKD",
    "s$": "SGD",
    "nt$": "TWD",
    "€": "EUR",
    "eur": "EUR",
    "£": "GBP",
    "gbp": "GBP",
    "¥": "JPY",
    "jpy": "JPY",
    "cny": "CNY",
    "rmb": "CNY",
    "₩": "KRW",
    "krw": "KRW",
    "₹": "INR",
    "inr": "INR",
    "aed": "AED",
    "sar": "SAR",
    "chf": "CHF",
}
# word or code after the number -> ISO currency
_SUFFIXES: dict[str, str] = {
    "dollars": "USD",
    "dollar": "USD",
    "us dollars": "USD",
    "u.s. dollars": "USD",
    "usd": "USD",
    "euros": "EUR",
    "euro": "EUR",
    "eur": "EUR",
    "pounds": "GBP",
    "pounds sterling": "GBP",
    "gbp": "GBP",
    "yen": "JPY",
    "jpy": "JPY",
    "yuan": "CNY",
    "renminbi": "CNY",
    "cny": "CNY",
    "krw": "KRW",
    "rupees": "INR",
    "inr": "INR",
    "dirhams": "AED",
    "aed": "AED",
    "riyals": "SAR",
    "swiss francs": "CHF",
    "chf": "CHF",
}


def _alts(words: Iterable[str]) -> str:
    return "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in sorted(words, key=len, reverse=True))


_QUAL_BEFORE = re.compile(rf"(?<![\w$])(?P<qual>{_QUALIFIER})\s+$", re.IGNORECASE)
_MONEY = re.compile(
    rf"(?=[$€£¥₩₹\d]|[a-z]{{2,3}}\$?\s?\d)"
    rf"(?P<amount>"
    rf"(?<![\w$€£¥₩₹])(?P<pre>{_alts(_PREFIXES)})\s?(?P<num1>{_NUMBER})"
    rf"(?:\s?(?:[-–—]|to)\s?(?:{_alts(_PREFIXES)})?(?P<hi1>{_NUMBER}))?"
    rf"(?:\s?(?P<sc1>{_SCALE})(?!\w))?(?![\w.,]\d)"
    rf"|(?<![\w.,])(?P<num2>{_NUMBER})(?:\s?(?:[-–—]|to)\s?(?P<hi2>{_NUMBER}))?(?:\s?(?P<sc2>{_SCALE}))?\s+(?:of\s+)?(?P<suf>{_alts(_SUFFIXES)})(?!\w)"
    rf")",
    re.IGNORECASE,
)

_POWER_UNITS: dict[str, float] = {
    "terawatt": 1e12,
    "tw": 1e12,
    "gigawatt": 1e9,
    "gw": 1e9,
    "megawatt": 1e6,
    "mw": 1e6,
    "kilowatt": 1e3,
    "kw": 1e3,
}
_NUMBER_WORDS: dict[str, float] = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "fifteen": 15,
    "twenty": 20,
    "hundred": 100,
}
_POWER = re.compile(
    rf"(?<![\w.,])(?P<num>{_NUMBER}|{_alts(_NUMBER_WORDS)}|an?(?=\s(?:tera|giga|mega|kilo)watt))"
    r"\s?[-‑–]?\s?(?P<unit>terawatts?|gigawatts?|megawatts?|kilowatts?|tw|gw|mw|kw)(?!\w)",
    re.IGNORECASE,
)


def _number(text: str) -> float:
    word = _NUMBER_WORDS.get(text.lower())
    return word if word is not None else float(text.replace(",", ""))


def find_money(text: str) -> list[Money]:
    """Every amount of money in ``text``, in order."""
    return [money for _, money in _money_at(text)]


def _money_at(text: str) -> list[tuple[int, Money]]:
    found: list[tuple[int, Money]] = []
    for m in _MONEY.finditer(text):
        if m.group("pre") is not None:
            currency = _PREFIXES[m.group("pre").lower()]
            num, high, scale = m.group("num1"), m.group("hi1"), m.group("sc1")
        else:
            currency = _SUFFIXES[re.sub(r"\s+", " ", m.group("suf").lower())]
            num, high, scale = m.group("num2"), m.group("hi2"), m.group("sc2")
        factor = _SCALES[scale.lower()] if scale else 1.0
        value = _number(num) * factor
        top = _number(high) * factor if high else None
        usd = currency == "USD" and math.isfinite(value)
        before = _QUAL_BEFORE.search(text, max(0, m.start() - 40), m.start())
        qual = before.group("qual") if before else None
        found.append(
            (
                m.start(),
                Money(
                    usd=value if usd else None,
                    text=m.group("amount"),
                    qualifier=re.sub(r"\s+", " ", qual.lower()) if qual else None,
                    currency=currency,
                    usd_high=top if usd else None,
                ),
            )
        )
    return found


def find_power(text: str) -> list[Power]:
    """Every power figure in ``text`` ("6 gigawatts", "500 MW", "6-gigawatt"), in order."""
    found: list[Power] = []
    for m in _POWER.finditer(text):
        unit = m.group("unit").lower().removesuffix("s")
        num = m.group("num")
        value = 1.0 if num.lower() in ("a", "an") else _number(num)  # "more than a gigawatt"
        found.append(Power(value * _POWER_UNITS[unit], m.group(0)))
    return found


# ---- sentences and deals ---------------------------------------------------------------

_ABBREVIATIONS = frozenset(
    [
        "u.s",
        "u.k",
        "e.u",
        "inc",
        "corp",
        "co",
        "ltd",
        "llc",
        "plc",
        "mr",
        "mrs",
        "ms",
        "dr",
        "st",
        "vs",
        "e.g",
        "i.e",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "no",
        "fig",
        "approx",
        "est",
        "dept",
        "gov",
        "sen",
        "rep",
    ]
)
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"”’)\]]*\s+(?=[\"“‘(\[]?[A-Z0-9$€£])|\n+")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of plain text, without surrounding white space; no
    split after "U.S.", "Inc." and similar abbreviations; a line break always splits."""
    spans: list[tuple[int, int]] = []
    start = 0

    def add(begin: int, end: int) -> None:
        chunk = text[begin:end]
        stripped = chunk.strip()
        if stripped:
            lead = len(chunk) - len(chunk.lstrip())
            spans.append((begin + lead, begin + lead + len(stripped)))

    for m in _SENTENCE_END.finditer(text):
        if "\n" not in m.group(0):
            chunk = text[start : m.start()]
            last = chunk.rsplit(None, 1)[-1] if chunk.strip() else ""
            if last.rstrip(".").lower() in _ABBREVIATIONS or re.fullmatch(r"(?:[A-Z]\.)+", last):
                continue
        add(start, m.start())
        start = m.end()
    add(start, len(text))
    return spans


def split_sentences(text: str) -> list[str]:
    """The sentences of plain text (see :func:`sentence_spans`)."""
    return [text[a:b] for a, b in sentence_spans(text)]


_ACQUISITION = re.compile(
    r"\b(?:acquir(?:e|es|ed|ing)|acquisition|takeover|buyout|merger|merge[sd]?|to buy|buys|bought)\b", re.I
)
_INVESTMENT = re.compile(
    r"\b(?:invest(?:s|ed|ing|ment|ments|or|ors)?|stakes?|funding|funds|backs|backed|backing|"
    r"pledg(?:e|es|ed)|warrants?|equity|pour(?:s|ed|ing)?)\b",
    re.I,
)
_SUPPLY_VERB = re.compile(
    r"\b(?:suppl(?:y|ies|ied|ying|ier)|deploy(?:s|ed|ing|ment)?|purchas(?:e|es|ed|ing)|buy(?:s|ing)?|"
    r"use|using|rent(?:s|ing)?|access|provid(?:e|es|ing)|commit(?:s|ted|ment)?|orders?|secure[sd]?)\b",
    re.I,
)
_SUPPLY_OBJECT = re.compile(
    r"\b(?:gpus?|chips?|accelerators?|compute|capacity|gigawatts?|gw|megawatts?|processors?|servers?|"
    r"instances|tpus?|infrastructure|superchips?|ultraservers?|silicon)\b",
    re.I,
)
_PARTNERSHIP = re.compile(
    r"\b(?:partner(?:s|ed|ing|ship|ships)?|allian(?:ce|ces)|collaborat(?:e|es|ed|ing|ion)|"
    r"team(?:s|ed)?\s+up|tie-?up|joint\s+venture|pact)\b",
    re.I,
)
_GENERIC = re.compile(r"\b(?:agreements?|deals?|contracts?|agreed|signed|signs)\b", re.I)


def _deal_kind(sentence: str, has_chip: bool) -> DealKind | None:
    investment = _INVESTMENT.search(sentence) is not None
    acquisition = _ACQUISITION.search(sentence) is not None
    supply_verb = _SUPPLY_VERB.search(sentence) is not None
    supply_obj = has_chip or _SUPPLY_OBJECT.search(sentence) is not None
    partnership = _PARTNERSHIP.search(sentence) is not None
    generic = _GENERIC.search(sentence) is not None
    if (
        acquisition
        and not investment
        and not (supply_obj and re.search(r"\bbu(?:y|ys|ying)\b", sentence, re.I))
    ):
        return "acquisition"
    if investment:
        return "investment"
    if supply_obj and (supply_verb or generic):
        return "supply"
    if partnership:
        return "partnership"
    if generic:
        return "other"
    return None


def _main_amount(money: list[Money]) -> Money | None:
    dollars = [m for m in money if m.usd is not None]
    if dollars:
        return max(dollars, key=lambda m: m.usd or 0.0)
    return money[0] if money else None


_EACH_AMOUNT = re.compile(
    r"\b(?:billion|million|bn|[bm])\s+and\s+(?:[A-Z][\w.&-]*\s+){1,3}(?:up\s+to\s+|as\s+much\s+as\s+)?(?:US)?\$"
)


def _joint_amount(sentence: str, money: list[Money]) -> Money | None:
    """The total of a joint investment stated investor by investor: "A and B will invest up
    to $10 billion and $5 billion respectively", "A will invest $10 billion and B $5 billion"."""
    dollars = [m for m in money if m.usd is not None]
    if len(dollars) < 2 or not (re.search(r"\brespectively\b", sentence) or _EACH_AMOUNT.search(sentence)):
        return None
    total = sum((m.usd_high or m.usd or 0.0) for m in dollars)
    scale, unit = (1e9, "billion") if total >= 1e9 else (1e6, "million")
    return Money(total, f"${total / scale:g} {unit}", dollars[0].qualifier, "USD")


def _in_span(items: list[tuple[int, _T]], start: int, end: int) -> list[_T]:
    lo = bisect.bisect_left(items, start, key=lambda it: it[0])
    hi = bisect.bisect_left(items, end, key=lambda it: it[0])
    return [item for _, item in items[lo:hi]]


# A company named only as someone's rival ("OpenAI rival Anthropic", "a competitor to
# OpenAI", "founded by former OpenAI staff") or as the maker of a product ("Nvidia GPUs",
# "NVIDIA GB200") is not a party to the deal the sentence reports.
_RIVAL_AFTER = re.compile(r"^(?:['’]s)?[\s-]*(?:backed\s+)?(?:rivals?|competitors?|challengers?)\b", re.I)
_RIVAL_BEFORE = re.compile(
    r"(?:\b(?:rivals?|competitors?|challengers?)\s+(?:to|of|like|such\s+as|including)|\bformer|\bex-|"
    r"\bbacking\s+rival)\s*$",
    re.I,
)
_BACKED_AFTER = re.compile(r"^-backed\b", re.I)
_PRODUCT_AFTER = re.compile(
    r"^(?:['’]s)?\s*(?:-?(?:powered|based)\b|(?:gpus?|chips?|accelerators?|processors?|superchips?|"
    r"hardware|servers?|systems|racks?)\b)",
    re.I,
)
_SUBJECT_GLUE = re.compile(
    r"^(?:\s*(?:corp|corporation|inc|co|ltd|plc|llc)\.?)?\s*(?:,\s*(?:and\s+)?|and\s+|&\s*)$", re.I
)
_INVEST_VERB = re.compile(
    r"\b(?:invest(?:s|ed|ing|ment|ments)?|stakes?|pour(?:s|ed|ing)?|fund(?:s|ed|ing)?|back(?:s|ed|ing))\b",
    re.I,
)


def _incidental(sentence: str, start: int, end: int, chip_starts: set[int], kind: DealKind) -> bool:
    after = sentence[end : end + 40]
    before = sentence[max(0, start - 40) : start]
    if _RIVAL_AFTER.match(after) or _RIVAL_BEFORE.search(before) or _BACKED_AFTER.match(after):
        return True
    if kind == "investment":
        return False
    gap = len(after) - len(after.lstrip(" '’s"))
    return bool(_PRODUCT_AFTER.match(after)) or any(end <= c <= end + max(gap, 1) for c in chip_starts)


_SUPPLIER_AFTER = re.compile(
    r"^(?:['’]s)?\s*(?:compute|cloud|capacity|infrastructure|servers?|chips?|gpus?|tpus?|data\s*cent(?:er|re)s?|"
    r"azure|services|ultraservers?|will\s+(?:supply|provide|deliver|sell|build)|(?:supplies|provides|delivers|sells))\b",
    re.I,
)
_BUYER_AFTER = re.compile(
    r"^\s*(?:will\s+|has\s+|have\s+|is\s+|also\s+)*(?:us(?:e|es|ing)|sign(?:s|ed)?|agree[sd]?|commit(?:s|ted)?|"
    r"purchas\w*|buy(?:s|ing)?|access\w*|tap(?:s|ped)?|rent\w*|strikes?|struck|taps)\b",
    re.I,
)


def _supplier_first(
    sentence: str, parties: tuple[str, ...], vendors: set[str], gazetteer: Gazetteer
) -> tuple[str, ...]:
    """Supply deal parties with the supplier first: the vendor of a chip the sentence names,
    a company followed by what it sells ("AWS compute", "Microsoft's Azure") or named after
    "from"; a company followed by a buying verb ("OpenAI signed", "Anthropic will use") last."""
    score: dict[str, int] = {p: 0 for p in parties}
    for start, end, name in gazetteer.company_matcher.find_spans(sentence):
        if name not in score:
            continue
        after = sentence[end : end + 40]
        if _SUPPLIER_AFTER.match(after) or re.search(
            r"\bfrom\s+(?:the\s+)?$", sentence[max(0, start - 12) : start]
        ):
            score[name] += 2
        if _BUYER_AFTER.match(after):
            score[name] -= 2
    for name in vendors & set(parties):
        score[name] += 3
    return tuple(sorted(parties, key=lambda p: -score[p]))


def _deal_parties(sentence: str, kind: DealKind, gazetteer: Gazetteer) -> tuple[str, ...]:
    """The parties of the deal a sentence reports, in order (investors first for investments).

    Companies named only as rivals or as the makers of a product are left out when at
    least two parties remain. For investments, "A and B invest ... in C" and "C raised
    ... from A" are read structurally; otherwise every remaining company is a party.
    """
    named = gazetteer.company_matcher.find_spans(sentence)
    actors = {start for start, _ in _actors(sentence, named)}
    spans = [sp for sp in named if sp[0] in actors]
    chip_starts = {s for s, _, _ in gazetteer.chip_matcher.find_spans(sentence)}
    kept = [sp for sp in spans if not _incidental(sentence, sp[0], sp[1], chip_starts, kind)]
    if len({n for _, _, n in kept}) < 2:
        kept = spans
    if kind == "investment":
        structured = _investment_parties(sentence, kept)
        if structured:
            return structured
    return tuple(dict.fromkeys(n for _, _, n in kept))


def _investment_parties(sentence: str, spans: list[tuple[int, int, str]]) -> tuple[str, ...] | None:
    for verb in _INVEST_VERB.finditer(sentence):
        before = [sp for sp in spans if sp[1] <= verb.start()]
        after = [sp for sp in spans if sp[0] >= verb.end()]
        if not before or not after:
            continue
        # the subject: the last company before the verb and those joined to it by "and" / ","
        group = [before[-1]]
        for sp in reversed(before[:-1]):
            if not _SUBJECT_GLUE.match(sentence[sp[1] : group[-1][0]]):
                break
            group.append(sp)
        subject = [n for _, _, n in reversed(group)]
        for sp in after:
            gap = sentence[verb.end() : sp[0]]
            if re.search(r"\b(?:in|into)\b", gap, re.I):
                return tuple(dict.fromkeys([*subject, sp[2]]))
            if re.search(r"\bfrom\b", gap, re.I):
                return tuple(dict.fromkeys([sp[2], *subject]))
    return None


def find_deals(
    text: str,
    gazetteer: Gazetteer,
    *,
    companies: list[tuple[int, str]] | None = None,
    chips: list[tuple[int, str]] | None = None,
    money: list[tuple[int, Money]] | None = None,
) -> list[DealCandidate]:
    """Deal candidates, one per (set of parties, kind); a later sentence adds a missing amount.

    Mentions already found in ``text`` (offset, value) may be passed in to avoid a rescan.
    """
    companies = gazetteer.company_matcher.find(text) if companies is None else companies
    chips = gazetteer.chip_matcher.find(text) if chips is None else chips
    money = _money_at(text) if money is None else money
    deals: dict[tuple[frozenset[str], DealKind], DealCandidate] = {}
    for start, end in sentence_spans(text):
        parties = tuple(dict.fromkeys(_in_span(companies, start, end)))
        if len(parties) < 2:
            continue
        sentence = text[start:end]
        sentence_chips = _in_span(chips, start, end)
        kind = _deal_kind(sentence, bool(sentence_chips))
        if kind is None:
            continue
        parties = _deal_parties(sentence, kind, gazetteer)
        if len(parties) < 2:
            continue
        if kind == "supply":
            parties = _supplier_first(
                sentence, parties, {gazetteer.chip(c).vendor for c in sentence_chips}, gazetteer
            )
        sentence_money = _in_span(money, start, end)
        amount = _joint_amount(sentence, sentence_money) if kind == "investment" else None
        amount = amount or _main_amount(sentence_money)
        key = (frozenset(parties), kind)
        seen = deals.get(key)
        if seen is None:
            deals[key] = DealCandidate(parties, kind, amount, sentence)
        elif seen.amount is None and amount is not None:
            deals[key] = DealCandidate(seen.parties, kind, amount, sentence)
    return list(deals.values())


# ---- the whole article -----------------------------------------------------------------


def find_topics(text: str, taxonomy: Taxonomy, *, title: str = "") -> frozenset[str]:
    """The topics an article is about: a topic term in the title, or at least two distinct
    terms of the topic in the text, or one term twice. A single passing mention
    ("our data centers") does not make a topic."""
    hits: dict[str, Counter[str]] = {}
    for m in taxonomy.pattern.finditer(text):
        term = _key(m.group(1)).lower()
        for topic in taxonomy.term_topics.get(term, frozenset()):
            hits.setdefault(topic, Counter())[term] += 1
    topics = {t for t, terms in hits.items() if len(terms) >= 2 or max(terms.values()) >= 2}
    if title:
        for m in taxonomy.pattern.finditer(title):
            topics |= taxonomy.term_topics.get(_key(m.group(1)).lower(), frozenset())
    return frozenset(topics)


def _actors(text: str, spans: list[tuple[int, int, str]]) -> list[tuple[int, str]]:
    """Company mentions, without a name that directly follows another company's name: in
    "NVIDIA MGX" or "Microsoft Azure" the second name is a product, not a company."""
    out: list[tuple[int, str]] = []
    previous_end = -10
    for start, end, name in spans:
        if not (0 <= start - previous_end <= 1 and text[previous_end:start].strip() == ""):
            out.append((start, name))
        previous_end = end
    return out


def extract(title: str, text: str, taxonomy: Taxonomy, gazetteer: Gazetteer) -> Extraction:
    """Topics, companies, chips, money, power and deal candidates of one article.

    The title is treated as the first sentence of the text. Companies are the ones named
    (a chip does not add its vendor); chips are sorted by name. A chip mention adds the
    taxonomy's "chips" topic, an investment deal "investment", and a partnership or
    supply deal "alliance", when the taxonomy has them.
    """
    title = title.strip()
    body = f"{title}\n\n{text}" if title else text
    company_hits = _actors(body, gazetteer.company_matcher.find_spans(body))
    chip_hits = gazetteer.chip_matcher.find(body)
    money_hits = _money_at(body)
    chips = tuple(sorted(gazetteer.chip(n) for n in {name for _, name in chip_hits}))
    topics = find_topics(text, taxonomy, title=title)
    if chips and "chips" in taxonomy.topic_names():
        topics |= {"chips"}
    deals = tuple(find_deals(body, gazetteer, companies=company_hits, chips=chip_hits, money=money_hits))
    # a deal between companies is an alliance or an investment, whatever words report it
    implied = {"investment": "investment", "partnership": "alliance", "supply": "alliance"}
    topics |= {implied[d.kind] for d in deals if d.kind in implied} & set(taxonomy.topic_names())
    return Extraction(
        topics=topics,
        companies=frozenset(name for _, name in company_hits),
        chips=chips,
        money=tuple(m for _, m in money_hits),
        power=tuple(find_power(body)),
        deals=deals,
    )
