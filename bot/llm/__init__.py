"""The model layer: calls to an OpenAI-compatible endpoint, their log, cache and budgets.

This package's top level holds only light records and protocols (no SDK import), so the
store and the command line can use them cheaply. The client itself, which loads the
openai SDK, is :class:`bot.llm.client.LLMClient`; build it only when
``Settings.llm_configured`` is true.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

EMBEDDINGS_PROMPT = "embeddings"  # the ``prompt`` of logged embedding requests


@dataclass(frozen=True)
class LlmCall:
    """One logged model call: a completion (possibly several HTTP requests) or a cache hit.

    ``status`` is "ok", "invalid" (the reply never matched the schema), "budget" (refused
    before calling) or "error: <what>" (the endpoint failed).
    """

    at: datetime
    prompt: str
    version: str
    model: str
    input_tokens: int
    output_tokens: int
    duration_ms: int
    cache_hit: bool
    status: str
    attempts: int = 1  # HTTP requests made, counting retries and corrections


@dataclass(frozen=True)
class UsageRow:
    """Model usage on one UTC day. Embedding tokens are counted apart from chat tokens."""

    day: date
    calls: int
    cache_hits: int
    input_tokens: int
    output_tokens: int
    embedding_tokens: int = 0
    feedback_up: int = 0  # 👍 on briefings and answers that day (#7)
    feedback_down: int = 0  # 👎

    def estimated_cost(self, price_input: float, price_output: float) -> float:
        """Chat tokens priced in USD per million input and output tokens (embeddings excluded)."""
        return (self.input_tokens * price_input + self.output_tokens * price_output) / 1_000_000


class LlmStore(Protocol):
    """What the client needs from storage: the call log and the response cache."""

    def log_llm_call(self, call: LlmCall) -> None:
        """Append one call to the log."""
        ...

    def tokens_used_since(self, since: datetime) -> int:
        """Chat tokens (input + output, embeddings excluded) logged at or after ``since``."""
        ...

    def cache_get(self, key: str) -> dict[str, Any] | None:
        """The cached reply for ``key``, or None."""
        ...

    def cache_put(
        self, key: str, model: str, prompt: str, version: str, data: dict[str, Any], *, now: datetime
    ) -> None:
        """Store a validated reply under ``key`` (replacing any older one)."""
        ...


class TokenBudget:
    """A pool of tokens for one job (a briefing): the client refuses calls once it is spent.

    The client checks :attr:`remaining` before each request and calls :meth:`spend` with
    the tokens every request used. Build one per job from ``Settings.llm_tokens_per_briefing``.
    """

    def __init__(self, limit: int, label: str = "this briefing") -> None:
        self.limit = limit
        self.label = label  # named in the BudgetExceeded message
        self.spent = 0

    @property
    def remaining(self) -> int:
        """Tokens left; zero or less means spent."""
        return self.limit - self.spent

    def spend(self, tokens: int) -> None:
        """Count ``tokens`` against the budget."""
        self.spent += tokens


__all__ = ["EMBEDDINGS_PROMPT", "LlmCall", "LlmStore", "TokenBudget", "UsageRow"]
