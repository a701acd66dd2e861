"""The extractive summariser: a story's best sentences, from its own sources, cited.

Centroid scoring with redundancy removal (in the spirit of Radev's MEAD and MMR):

1. every sentence of every source is a candidate (the headline and very short or very
   long sentences are not);
2. a sentence scores by the cosine of its TF-IDF vector (IDF over the story's sentences)
   with the centroid of all of them, plus bonuses for the story's companies, chips and
   amounts, and for coming early in its article (news puts the facts first);
3. sentences are taken best first, skipping any too similar (word Jaccard >= 0.5) to one
   already taken; each cites its own source, and the other sources that say nearly the
   same thing.

Everything a summary says is a sentence of a source, so it is grounded by construction.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from bot.core.extract import split_sentences

_WORD = re.compile(r"[a-z0-9]+(?:[.'][a-z0-9]+)*")
_STOP_WORDS = """a an the and or but of to in on for with at by from as is are was were be been it its
    this that
    these those has have had will would can could may might not no than then so such into over about after
    before up out more most also just said says say he she they we you i our their his her them who which
    what when where while how all any some per via"""
_STOP = frozenset(_STOP_WORDS.split())
_CUE = re.compile(
    r"\b(?:first|largest|biggest|record|marks?|signals?|means?|because|could|would|allow\w*|help\w*|"
    r"compet\w*|rival\w*|strateg\w*|bet|shift|challenge\w*|depend\w*|reduc\w*|boost\w*)\b",
    re.I,
)


@dataclass(frozen=True)
class SourceText:
    """One numbered source of a story: its number in the story (1-based) and its text."""

    number: int
    title: str
    text: str


@dataclass(frozen=True)
class Picked:
    """A chosen sentence and the sources (numbers) that state it."""

    text: str
    citations: tuple[int, ...]


_LINK = re.compile(r"(?:https?://|www\.)\S+|\b[a-z0-9-]+\.(?:com|net|org|io|ai|example|xyz)\b", re.I)
_FIGURE = re.compile(r"\$?\d+(?:[.,]\d+)*\s?(?:%|x|billion|million|bn|gw|mw|gigawatts?|megawatts?)?", re.I)


def _figures(text: str) -> set[str]:
    return {re.sub(r"\s+", "", f.lower()) for f in _FIGURE.findall(text) if any(ch.isdigit() for ch in f)}


def _mostly_latin(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    return bool(letters) and sum(c.isascii() for c in letters) >= 0.7 * len(letters)


def _terms(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 1]


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


@dataclass(frozen=True)
class _Candidate:
    text: str
    source: int
    position: int
    terms: frozenset[str]
    vector: dict[str, float]


def summarize(
    sources: Sequence[SourceText],
    *,
    sentences: int = 2,
    salient: Sequence[str] = (),
    cue: bool = False,
    exclude: Sequence[str] = (),
) -> list[Picked]:
    """The story's ``sentences`` best sentences with their citations.

    ``salient`` names (companies, chips, amounts) earn a bonus; ``cue`` prefers sentences
    that say why something matters ("the first", "signals", "could"); sentences too close
    to one in ``exclude`` are skipped.
    """
    raw: list[tuple[str, int, int]] = []
    for src in sources:
        title = src.title.strip().lower().rstrip(".")
        for position, sentence in enumerate(split_sentences(src.text)):
            sentence = " ".join(sentence.split())
            if not 40 <= len(sentence) <= 400 or (title and sentence.lower().startswith(title)):
                continue
            if sentence.endswith(("?", ":")) or sentence.count('"') % 2 or _LINK.search(sentence):
                continue  # questions, broken quotes, and anything carrying a link or domain
            raw.append((sentence, src.number, position))
    latin = [r for r in raw if _mostly_latin(r[0])]
    if latin:  # a reader of an English briefing gets English sentences when there are any
        raw = latin
    if not raw:
        return []
    df: Counter[str] = Counter()
    term_lists = [_terms(s) for s, _, _ in raw]
    for terms in term_lists:
        df.update(set(terms))
    n = len(raw)
    candidates: list[_Candidate] = []
    centroid: Counter[str] = Counter()
    for (sentence, source, position), terms in zip(raw, term_lists, strict=True):
        tf = Counter(terms)
        vector = {t: c * math.log((n + 1) / (df[t] + 0.5)) for t, c in tf.items()}
        norm = math.sqrt(sum(v * v for v in vector.values())) or 1.0
        vector = {t: v / norm for t, v in vector.items()}
        centroid.update(vector)
        candidates.append(_Candidate(sentence, source, position, frozenset(terms), vector))
    cnorm = math.sqrt(sum(v * v for v in centroid.values())) or 1.0
    lowered_salient = [s.lower() for s in salient if s]
    excluded = [frozenset(_terms(e)) for e in exclude]

    def score(c: _Candidate) -> float:
        sim = sum(v * centroid[t] for t, v in c.vector.items()) / cnorm
        lower = c.text.lower()
        bonus = 0.08 * sum(1 for s in lowered_salient if s in lower)
        bonus += 0.1 if re.search(r"\$\s?\d|\d\s?(?:gw|gigawatts?|billion|million)\b", lower) else 0.0
        bonus += 0.15 / (1 + c.position)
        if cue and _CUE.search(c.text):
            bonus += 0.25
        return sim + bonus

    ranked = sorted(candidates, key=lambda c: (-score(c), c.source, c.position))
    picked: list[Picked] = []
    taken: list[frozenset[str]] = list(excluded)
    said: set[str] = set()
    for c in ranked:
        if len(picked) >= sentences:
            break
        if any(_jaccard(c.terms, t) >= 0.5 for t in taken):
            continue
        figures = _figures(c.text)
        if figures and figures <= said and any(_jaccard(c.terms, t) >= 0.1 for t in taken):
            continue  # the same figures in other words: "a joint $15 billion" after "invest $15 billion"
        also = sorted(
            {o.source for o in candidates if o.source != c.source and _jaccard(o.terms, c.terms) >= 0.6}
        )
        picked.append(Picked(c.text, (c.source, *also[:2])))
        taken.append(c.terms)
        said |= figures
    return picked
