"""The model-backed ``DealRefiner`` for the analyze step (``bot.core.analysis``).

One call per article whose rules found a deal candidate, with the ``deal_extraction``
prompt: the article (title and date, then its text), the gazetteer companies the rules
recognised in it and the numbered rule-based candidates go in as untrusted data blocks
under a fresh random marker, links replaced by ``[link]``. The reply's deals pass
through :func:`bot.core.deal_check.check_deals` against the text the model was shown,
so a party or an amount the article does not state never reaches the deal ledger; the
refined extraction keeps everything else the rules found.

Replies are cached by the article's content and its candidates, never by the random
marker, so re-analysing an unchanged article (``analyze --rebuild``) costs no call.
A spent budget or a failing endpoint raises ``RefinerUnavailable`` (the analyzer then
keeps the rule-based deals for the rest of the run); a reply that stays unusable keeps
the rule-based deals of that one article.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Sequence

from bot.core.analysis import RefinerUnavailable
from bot.core.deal_check import check_deals
from bot.core.extract import DealCandidate, Extraction, Gazetteer
from bot.core.models import Article
from bot.core.prompts import Prompt, latest
from bot.core.untrusted import new_marker, shown_text, wrap_untrusted
from bot.llm.client import BudgetExceeded, LLMClient, LLMError

log = logging.getLogger(__name__)

MAX_ARTICLE_CHARS = 8000  # of the article's text in the prompt
MAX_SENTENCE_CHARS = 600  # of each candidate's sentence
# LLMError statuses that concern one article, not the endpoint: keep its rule-based deals.
_PER_ARTICLE = frozenset({"invalid", "error: refused"})
_DIRECTION = {
    "investment": " (investors first, the recipient last)",
    "supply": " (the supplier first)",
    "acquisition": " (the buyer first)",
}


def article_text(article: Article) -> str:
    """The article as the prompt shows it: title and date on the first line, a blank line, the text."""
    head = " ".join(article.title.split())
    if article.published is not None:
        head += f" ({article.published:%d %B %Y})"
    return f"{head}\n\n{article.text}"


def candidate_text(candidate: DealCandidate) -> str:
    """One rule-based candidate for the prompt: parties in direction order, kind, amount, sentence."""
    amount = candidate.amount
    written = "none"
    if amount is not None:
        written = f"{amount.qualifier} {amount.text}" if amount.qualifier else amount.text
    return "\n".join(
        [
            f"parties: {', '.join(candidate.parties)}{_DIRECTION.get(candidate.kind, '')}",
            f"kind: {candidate.kind}",
            f"amount: {written}",
            f"sentence: {' '.join(candidate.sentence.split())}",
        ]
    )


class LLMDealRefiner:
    """Deal candidates checked and corrected by an OpenAI-compatible model, then checked in code."""

    def __init__(
        self,
        client: LLMClient,
        gazetteer: Gazetteer,
        *,
        prompt: Prompt | None = None,
        max_chars: int = MAX_ARTICLE_CHARS,
    ) -> None:
        self.client = client
        self.gazetteer = gazetteer
        self.prompt = prompt or latest("deal_extraction")
        self.max_chars = max_chars
        self.name = client.model
        self.dropped: tuple[str, ...] = ()  # why the last article's model deals were dropped

    def refine(self, article: Article, extraction: Extraction) -> Extraction:
        """``extraction`` with the deals the model reports and the article supports.

        Raises RefinerUnavailable when the budget is spent or the endpoint fails; returns
        ``extraction`` itself (rule-based deals) when the reply stays unusable.
        """
        self.dropped = ()
        if not extraction.deals:
            return extraction
        marker = new_marker()
        text = article_text(article)
        lines = [candidate_text(c) for c in extraction.deals]
        companies = "\n".join(sorted(extraction.companies)) or "(none)"
        _, article_block = wrap_untrusted([("article", text)], marker=marker, max_chars=self.max_chars)
        _, companies_block = wrap_untrusted([("companies", companies)], marker=marker)
        _, candidates_block = wrap_untrusted(
            [(str(n), line) for n, line in enumerate(lines, 1)], marker=marker, max_chars=MAX_SENTENCE_CHARS
        )
        messages = self.prompt.render(
            marker=marker, article=article_block, companies=companies_block, candidates=candidates_block
        )
        content = hashlib.sha256(text.encode("utf-8")).hexdigest()
        key = [content, f"max_chars={self.max_chars}", companies, *lines]
        try:
            result = self.client.complete_json(
                prompt=self.prompt.name,
                version=str(self.prompt.version),
                messages=messages,
                schema=self.prompt.output_schema,
                schema_name=self.prompt.schema,
                cache_key_parts=key,
            )
        except BudgetExceeded as exc:
            raise RefinerUnavailable(f"token budget spent: {exc}") from None
        except LLMError as exc:
            if exc.log_status in _PER_ARTICLE:
                self.dropped = (f"the model's reply was not used: {exc}",)
                log.info("article %s: rule-based deals kept: %s", article.id, exc)
                return extraction
            raise RefinerUnavailable(f"model unavailable: {exc}") from None
        shown = self._shown(text, extraction.deals, marker)
        checked = check_deals(shown, self.gazetteer, result.data.get("deals"), candidates=extraction.deals)
        self.dropped = checked.dropped
        for reason in checked.dropped:
            log.info("article %s: dropped the model's %s", article.id, reason)
        return dataclasses.replace(extraction, deals=checked.deals)

    def _shown(self, text: str, candidates: Sequence[DealCandidate], marker: str) -> str:
        """The article text the model was shown, with the candidates' sentences (article text
        too, and whole even where the article was cut)."""
        parts = [shown_text(text, marker=marker, max_chars=self.max_chars)]
        parts += [shown_text(c.sentence, marker=marker, max_chars=MAX_SENTENCE_CHARS) for c in candidates]
        return "\n\n".join(p for p in parts if p)
