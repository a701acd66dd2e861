"""The model-backed ``SummaryWriter`` for briefings (``bot.core.briefing``).

One call per story with the ``story_summary`` prompt: the story's most central sentences
(``select_evidence``), grouped by source, go in as untrusted data blocks under a fresh
random marker, links replaced by ``[link]``; the reply
is a JSON object (sentences with citation numbers, why it matters), which the composer
then checks in code. Replies are cached by the story's content, not by the random
marker, so an unchanged story is never sent twice, across runs and restarts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from bot.core.briefing import WriterUnavailable, Written
from bot.core.prompts import Prompt, latest
from bot.core.records import StoryRecord
from bot.core.summarize import SourceText, summarize
from bot.core.untrusted import new_marker, wrap_untrusted
from bot.llm import TokenBudget
from bot.llm.client import BudgetExceeded, LLMClient, LLMError

MAX_SOURCE_CHARS = 4000
EVIDENCE_SENTENCES = 8  # per story: the most central sentences across its sources


def select_evidence(story: StoryRecord, sources: Sequence[SourceText]) -> list[tuple[int, str]]:
    """The sentences the model gets, grouped by source number: each source's title, then
    the story's most central sentences (the extractive summariser's ranking) that it holds.

    Sending these instead of whole articles keeps a story's prompt to about a thousand
    tokens; the grounding check still reads the whole sources.
    """
    salient = [*story.companies, *story.chips, *(d.amount.text for d in story.deals if d.amount)]
    picked = summarize(sources, sentences=EVIDENCE_SENTENCES, salient=salient)
    by_source: dict[int, list[str]] = {}
    for p in picked:
        for n in p.citations[:1]:
            by_source.setdefault(n, []).append(p.text)
    titles = {s.number: s.title for s in sources}
    if not by_source:  # nothing scored (very short sources): their beginnings
        return [(s.number, f"{s.title}\n{s.text[:600]}") for s in sources[:3]]
    return [(n, f"{titles.get(n, '')}\n" + " ".join(sentences)) for n, sentences in sorted(by_source.items())]


def _cited(item: dict[str, Any]) -> str:
    text = " ".join(str(item.get("text", "")).split())
    marks = "".join(f"[{int(n)}]" for n in item.get("citations", []) if isinstance(n, int))
    return f"{text} {marks}".strip()


def facts_block(story: StoryRecord) -> str:
    """The rule-based facts of a story, one per line, for the prompt."""
    lines = []
    if story.companies:
        lines.append("companies: " + ", ".join(story.companies))
    if story.chips:
        lines.append("chips: " + ", ".join(story.chips))
    for d in story.deals:
        amount = f", {d.amount_text}" if d.amount_text else ""
        lines.append(f"deal: {d.direction} ({d.kind}{amount})")
    return "\n".join(lines) or "(none found)"


class LLMSummaryWriter:
    """Summaries from an OpenAI-compatible model, within a per-briefing token budget."""

    def __init__(self, client: LLMClient, *, tokens_per_briefing: int, prompt: Prompt | None = None) -> None:
        self.client = client
        self.prompt = prompt or latest("story_summary")
        self.compose_prompt = latest("briefing_compose")
        self.tokens_per_briefing = tokens_per_briefing
        self.budget = TokenBudget(tokens_per_briefing)
        self.name = client.model

    def session(self) -> LLMSummaryWriter:
        """A writer for one briefing: same client and prompts, a fresh per-briefing budget."""
        return LLMSummaryWriter(self.client, tokens_per_briefing=self.tokens_per_briefing, prompt=self.prompt)

    def summarize(
        self, story: StoryRecord, sources: Sequence[SourceText], *, why: bool, problems: Sequence[str] = ()
    ) -> Written:
        """One story's summary; raises WriterUnavailable on budget or endpoint failure."""
        marker = new_marker()
        evidence = select_evidence(story, sources)
        items = [(str(n), text) for n, text in evidence]
        _, block = wrap_untrusted(items, marker=marker, max_chars=MAX_SOURCE_CHARS)
        _, headline = wrap_untrusted([("headline", story.headline)], marker=marker)
        facts = facts_block(story)
        _, facts_data = wrap_untrusted([("facts", facts)], marker=marker)
        messages = self.prompt.render(marker=marker, headline=headline, facts=facts_data, sources=block)
        if problems:
            messages.append(
                {
                    "role": "user",
                    "content": "Your previous summary failed these checks; write it again so it passes:\n- "
                    + "\n- ".join(problems),
                }
            )
        content = hashlib.sha256(
            "\x00".join(f"{s.number}:{s.title}:{s.text}" for s in sources).encode()
        ).hexdigest()
        key = [str(story.id), story.headline, facts, content, f"why={why}", *problems]
        try:
            result = self.client.complete_json(
                prompt=self.prompt.name,
                version=str(self.prompt.version),
                messages=messages,
                schema=self.prompt.output_schema,
                schema_name=self.prompt.schema,
                cache_key_parts=key,
                budget=self.budget,
            )
        except BudgetExceeded as exc:
            raise WriterUnavailable(f"token budget spent: {exc}") from None
        except LLMError as exc:
            if exc.log_status == "invalid":
                return Written((), None)  # the composer names the failure and retries once
            raise WriterUnavailable(f"model unavailable: {exc}") from None
        data = result.data
        sentences = tuple(
            _cited(s) for s in data.get("sentences", []) if isinstance(s, dict) and s.get("text")
        )
        why_item = data.get("why_it_matters")
        why_text = _cited(why_item) if why and isinstance(why_item, dict) and why_item.get("text") else None
        return Written(sentences, why_text)

    def top_line(self, period: str, stories: Sequence[tuple[int, str]]) -> str | None:
        """The briefing's top line from the written summaries (the reduce step)."""
        marker = new_marker()
        _, block = wrap_untrusted([(str(sid), text) for sid, text in stories], marker=marker)
        prompt = self.compose_prompt
        messages = prompt.render(marker=marker, period=period, stories=block)
        key = [period, *(f"{sid}:{text}" for sid, text in stories)]
        try:
            result = self.client.complete_json(
                prompt=prompt.name,
                version=str(prompt.version),
                messages=messages,
                schema=prompt.output_schema,
                schema_name=prompt.schema,
                cache_key_parts=key,
                budget=self.budget,
            )
        except BudgetExceeded as exc:
            raise WriterUnavailable(f"token budget spent: {exc}") from None
        except LLMError as exc:
            if exc.log_status == "invalid":
                return None
            raise WriterUnavailable(f"model unavailable: {exc}") from None
        line = result.data.get("top_line")
        return line.strip() if isinstance(line, str) and line.strip() else None
