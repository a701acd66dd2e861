"""The model-backed ``AnswerWriter`` for questions (``bot.core.ask``).

Two prompts, each one call:

- ``answer_question``: the question (through ``clean_untrusted``), the deal-ledger lines
  with their ``[n]`` marks and the evidence sentences of each numbered source go in; the
  ledger and the sources as data blocks under a fresh random marker, links replaced by
  ``[link]``. The reply (found, sentences with citation numbers) comes back as sentences
  ending in ``[n]`` marks, which the asker then checks in code.
- ``rewrite_question``: a follow-up and the thread's last turns (a data block) become one
  standalone question for the search; the asker validates it.

Replies are cached by content (question, date, ledger, evidence, problems; or question
and thread), never by the random marker, so asking the same question twice on one day
sends one request. A spent budget or a failing endpoint raises ``WriterUnavailable``; a
reply that stays invalid after the client's correction counts as a failed attempt.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from bot.core.ask import Drafted, Turn
from bot.core.briefing import WriterUnavailable
from bot.core.grounding import CITATION
from bot.core.prompts import Prompt, latest
from bot.core.summarize import SourceText
from bot.core.untrusted import clean_untrusted, new_marker, wrap_untrusted
from bot.llm.client import BudgetExceeded, LLMClient, LLMError

MAX_QUESTION_CHARS = 1000  # of the question, in the prompt
MAX_PASSAGE_CHARS = 2500  # of one source's evidence block
MAX_LEDGER_CHARS = 3000
HISTORY_TURNS = 6  # the thread's last turns shown to the rewriter
MAX_TURN_CHARS = 400  # of one turn
ANSWER_MAX_TOKENS = 800
REWRITE_MAX_TOKENS = 150


def _cited(item: dict[str, Any]) -> str:
    """A reply sentence with its citations as ``[n]`` marks (each once, in order)."""
    text = " ".join(CITATION.sub(" ", str(item.get("text", ""))).split())
    numbers = [n for n in item.get("citations", []) if isinstance(n, int) and not isinstance(n, bool)]
    marks = "".join(f"[{n}]" for n in dict.fromkeys(numbers))
    return f"{text} {marks}".strip()


def _digest(parts: Sequence[str]) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


class LLMAnswerWriter:
    """Answers and follow-up rewrites from an OpenAI-compatible model (within the client's
    daily token budget)."""

    def __init__(
        self,
        client: LLMClient,
        *,
        answer_prompt: Prompt | None = None,
        rewrite_prompt: Prompt | None = None,
    ) -> None:
        self.client = client
        self.answer_prompt = answer_prompt or latest("answer_question")
        self.rewrite_prompt = rewrite_prompt or latest("rewrite_question")
        self.name = client.model

    def _complete(
        self, prompt: Prompt, messages: list[dict[str, Any]], key: list[str], max_tokens: int
    ) -> dict[str, Any] | None:
        """The validated reply, or None when it stayed invalid; raises WriterUnavailable."""
        try:
            result = self.client.complete_json(
                prompt=prompt.name,
                version=str(prompt.version),
                messages=messages,
                schema=prompt.output_schema,
                schema_name=prompt.schema,
                max_tokens=max_tokens,
                cache_key_parts=key,
            )
        except BudgetExceeded as exc:
            raise WriterUnavailable(f"token budget spent: {exc}") from None
        except LLMError as exc:
            if exc.log_status == "invalid":
                return None
            raise WriterUnavailable(f"model unavailable: {exc}") from None
        return result.data

    def answer(
        self,
        question: str,
        today: str,
        ledger_lines: Sequence[str],
        passages: Sequence[SourceText],
        problems: Sequence[str] = (),
    ) -> Drafted:
        """The model's answer from the ledger lines and the numbered passages; an invalid
        reply is an answer without sentences (the asker names that and asks again)."""
        marker = new_marker()
        asked = clean_untrusted(question, MAX_QUESTION_CHARS)
        ledger = "\n".join(ledger_lines)
        if ledger.strip():
            _, ledger_block = wrap_untrusted([("ledger", ledger)], marker=marker, max_chars=MAX_LEDGER_CHARS)
        else:
            ledger_block = "(none)"
        items = [(str(p.number), f"{p.title}\n\n{p.text}") for p in passages]
        _, passage_blocks = wrap_untrusted(items, marker=marker, max_chars=MAX_PASSAGE_CHARS)
        messages: list[dict[str, Any]] = list(
            self.answer_prompt.render(
                marker=marker, today=today, question=asked, ledger=ledger_block, passages=passage_blocks
            )
        )
        if problems:
            messages.append(
                {
                    "role": "user",
                    "content": "Your previous answer failed these checks; answer again so it passes:\n- "
                    + "\n- ".join(problems),
                }
            )
        evidence = _digest([f"{p.number}:{p.title}:{p.text}" for p in passages])
        key = [asked, today, ledger, evidence, *problems]
        data = self._complete(self.answer_prompt, messages, key, ANSWER_MAX_TOKENS)
        if data is None:
            return Drafted(True, ())
        sentences = tuple(
            _cited(s)
            for s in data.get("sentences", [])
            if isinstance(s, dict) and str(s.get("text", "")).strip()
        )
        return Drafted(bool(data.get("found")), sentences)

    def rewrite(self, question: str, history: Sequence[Turn]) -> str:
        """``question`` as a standalone question given the thread's last turns; "" when the
        reply stayed invalid (the asker then carries the thread's names over itself)."""
        marker = new_marker()
        asked = clean_untrusted(question, MAX_QUESTION_CHARS)
        turns = [
            ("user" if t.role == "user" else "briefbot", CITATION.sub("", t.text))
            for t in history[-HISTORY_TURNS:]
        ]
        lines = [f"{who}: {' '.join(clean_untrusted(text, MAX_TURN_CHARS).split())}" for who, text in turns]
        thread = "\n".join(lines)
        _, block = wrap_untrusted(
            [("thread", thread)], marker=marker, max_chars=HISTORY_TURNS * MAX_TURN_CHARS + 200
        )
        messages: list[dict[str, Any]] = list(
            self.rewrite_prompt.render(marker=marker, history=block, question=asked)
        )
        data = self._complete(self.rewrite_prompt, messages, [asked, thread], REWRITE_MAX_TOKENS)
        if data is None:
            return ""
        return str(data.get("query", ""))
