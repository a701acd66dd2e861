"""Full-text passage search: the query, the hits, the store protocol and query terms.

A question becomes search terms (``query_terms``): lower-case words without stop words or
question words, so "How much did Amazon invest in Anthropic?" searches for ``amazon``,
``invest`` and ``anthropic``. Terms are letters and digits only; nothing a user types can
reach the database's full-text syntax (quotes, ``*``, ``NEAR(``, ``AND``/``OR``, ``:``).
The store stems them (Porter on SQLite FTS5, the English snowball stemmer on PostgreSQL),
so "investing" finds "invests".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

__all__ = ["MAX_TERMS", "SearchHit", "SearchQuery", "SearchStore", "query_terms"]

MAX_TERMS = 16  # terms kept from one question
_MAX_TERM_CHARS = 40  # a longer "word" is noise (a hash, a URL fragment): dropped
_MAX_INPUT_CHARS = 2000  # only the start of an absurdly long question is read

# A word: letters and digits (any script); everything else separates words.
_WORD = re.compile(r"[^\W_]+")

# Words that say nothing about what to find: English function words, question words and
# the filler of questions put to a news bot ("tell me the latest news about ...").
_STOP_WORDS_TEXT = """
    a about above after again against all also am an and any are aren as at be because been
    before being below between both but by can cannot could couldn did didn do does doesn doing
    don down during each either few for from further had hadn has hasn have haven having he her
    here hers herself him himself his i if in into is isn it its itself just let ll me more most
    mustn my myself no nor not now of off on once only or other ought our ours ourselves out over
    own re same shan she should shouldn so some such than that the their theirs them themselves
    then there these they this those through to too under until up upon ve very via was wasn
    we were weren while whilst will with would wouldn yet you your yours yourself yourselves
    what which who whom whose when where why how whether whatever whichever whoever however much
    many tell told show give know explain describe anything something everything anyone someone
    please thanks thank hi hello hey latest recent recently news update updates happened happen
    happening going get got say says said think thought ever really
"""
STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())


@dataclass(frozen=True)
class SearchQuery:
    """A search: the user's words and optional filters.

    ``since``/``until`` bound the article's date (published, else fetched) as
    ``since <= date < until``. ``topic`` and ``company`` keep articles whose story names
    them (case-insensitive); articles not yet analysed have no story and are then left out.
    """

    text: str
    since: datetime | None = None
    until: datetime | None = None
    topic: str | None = None
    company: str | None = None
    limit: int = 10


@dataclass(frozen=True)
class SearchHit:
    """One passage that matches, with the article it comes from.

    ``position`` is the passage's index within its article (0 holds the title).
    ``score`` is higher for better matches; it orders hits of one search and is not
    comparable across backends or searches.
    """

    article_id: int
    passage_id: int
    position: int
    text: str
    score: float
    title: str
    url: str | None
    outlet: str
    published: datetime | None
    story_id: int | None

    def as_json(self) -> dict[str, object]:
        """The hit as JSON data (``--json`` output)."""
        return {
            "article_id": self.article_id,
            "passage_id": self.passage_id,
            "position": self.position,
            "text": self.text,
            "score": round(self.score, 6),
            "title": self.title,
            "url": self.url,
            "outlet": self.outlet,
            "published": self.published.isoformat() if self.published else None,
            "story_id": self.story_id,
        }


class SearchStore(Protocol):
    """The storage passage search needs."""

    def index_passages(self, article_id: int, passages: Sequence[str]) -> None:
        """Replace an article's passages (positions 0, 1, ...) in one transaction."""
        ...

    def index_articles(self, items: Sequence[tuple[int, Sequence[str]]]) -> None:
        """Replace the passages of many articles in one transaction."""
        ...

    def search(self, query: SearchQuery) -> list[SearchHit]:
        """The best passages for ``query``, best first, at most two per article."""
        ...


def query_terms(text: str) -> list[str]:
    """The search terms of a question: lower-case words in order, without duplicates,
    stop words, question words, one-letter words or punctuation; at most ``MAX_TERMS``.

    >>> query_terms("How much did Amazon invest in Anthropic?")
    ['amazon', 'invest', 'anthropic']
    """
    terms: list[str] = []
    seen: set[str] = set()
    for match in _WORD.finditer(text[:_MAX_INPUT_CHARS].lower()):
        word = match.group()
        if word in seen or word in STOP_WORDS or len(word) > _MAX_TERM_CHARS:
            continue
        if len(word) == 1 and not word.isdigit():
            continue
        seen.add(word)
        terms.append(word)
        if len(terms) == MAX_TERMS:
            break
    return terms
