"""LLMClient: JSON completions and embeddings from an OpenAI-compatible endpoint.

Built on the official ``openai`` SDK with the SDK's own retries off; this module retries
429, 5xx, timeouts and connection errors itself (exponential backoff from 0.5 s with
jitter, Retry-After honoured up to 30 s) so every failure ends as one :class:`LLMError`
with a one-line message, and so each attempt is counted.

Structured output is asked for in the best form the endpoint accepts, remembered per
client: a strict ``json_schema`` response format, else ``json_object``, else no response
format and an instruction to answer with JSON only. Every reply is validated against the
schema (:mod:`bot.llm.validate`); a reply that is not valid JSON, does not fit the schema
or was cut off at the token limit gets ONE corrective request naming the problem.

Every call is logged (``LlmStore.log_llm_call``), validated replies are cached in the
database by request, and a daily token budget (plus an optional per-job
:class:`~bot.llm.TokenBudget`) is checked before each request.
"""

from __future__ import annotations

import email.utils
import json
import random
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
from functools import partial
from typing import Any, TypeVar, cast

import httpx
import openai

from bot.config import Settings
from bot.core.ports import Clock
from bot.errors import BriefbotError
from bot.llm import EMBEDDINGS_PROMPT, LlmCall, LlmStore, TokenBudget
from bot.llm.cache import cache_key, canonical_json
from bot.llm.validate import schema_error

DEFAULT_MODEL = "gpt-4o-mini"
PLACEHOLDER_KEY = "briefbot-no-key"  # sent when only a base URL is configured
BACKOFF_START = 0.5  # seconds before the first retry; doubles each time
MAX_WAIT = 30.0  # the longest we wait before a retry, whatever Retry-After says
EMBED_BATCH = 128  # texts per embeddings request

# Ways of asking for JSON, best first.
JSON_SCHEMA = "json_schema"
JSON_OBJECT = "json_object"
PROMPT_ONLY = "prompt"
MODES = (JSON_SCHEMA, JSON_OBJECT, PROMPT_ONLY)

_T = TypeVar("_T")


class LLMError(BriefbotError):
    """A model call failed; ``str(err)`` is one line. ``log_status`` is what the call log says."""

    def __init__(self, message: str, *, log_status: str = "error") -> None:
        super().__init__(message)
        self.log_status = log_status


class BudgetExceeded(LLMError):
    """The daily token budget, or the budget of the current job, is spent; nothing was sent."""

    def __init__(self, message: str) -> None:
        super().__init__(message, log_status="budget")


@dataclass(frozen=True)
class LLMResult:
    """A validated JSON reply. Tokens are as the endpoint reported them (0 for a cache hit)."""

    data: dict[str, Any]
    input_tokens: int
    output_tokens: int
    cached: bool
    model: str


class _ModeRejected(Exception):
    """The endpoint answered 400 to the response format we asked for."""


class _MaxTokensRejected(Exception):
    """The endpoint wants ``max_completion_tokens`` instead of ``max_tokens``."""


@dataclass
class _Tally:
    """What one logical call has cost so far."""

    attempts: int = 0
    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class LLMClient:
    """Calls the configured OpenAI-compatible endpoint; build it only when ``settings.llm_configured``.

    ``sleep`` waits between retries (tests pass a recorder); ``http_client`` replaces the
    SDK's httpx client.
    """

    def __init__(
        self,
        settings: Settings,
        store: LlmStore,
        clock: Clock,
        *,
        sleep: Callable[[float], None] = time.sleep,
        http_client: httpx.Client | None = None,
    ) -> None:
        if not settings.llm_configured:
            raise LLMError("no model endpoint is configured: set OPENAI_API_KEY or OPENAI_BASE_URL")
        self.settings = settings
        self.store = store
        self.clock = clock
        self.model = settings.openai_model or DEFAULT_MODEL
        self._sleep = sleep
        self._sdk = openai.OpenAI(
            api_key=settings.openai_api_key or PLACEHOLDER_KEY,
            base_url=settings.openai_base_url,
            timeout=settings.openai_timeout,
            max_retries=0,
            http_client=http_client,
        )
        self.endpoint = str(self._sdk.base_url).rstrip("/")
        self.mode = JSON_SCHEMA  # the best response format this endpoint has accepted so far
        self._max_tokens_param = "max_tokens"

    def close(self) -> None:
        """Close the HTTP connections."""
        self._sdk.close()

    # -- budgets ---------------------------------------------------------------

    def tokens_used_today(self) -> int:
        """Chat tokens logged since midnight UTC (embeddings are not counted)."""
        now = self.clock.now().astimezone(UTC)
        return self.store.tokens_used_since(now.replace(hour=0, minute=0, second=0, microsecond=0))

    def _check_budget(self, tally: _Tally, budget: TokenBudget | None) -> None:
        limit = self.settings.llm_tokens_per_day
        used = self.tokens_used_today() + tally.tokens
        if used >= limit:
            raise BudgetExceeded(
                f"the daily model budget is spent: {used:,} of {limit:,} tokens used today "
                "(BRIEFBOT_LLM_TOKENS_PER_DAY)"
            )
        if budget is not None and budget.remaining <= 0:
            raise BudgetExceeded(
                f"the token budget for {budget.label} is spent: {budget.spent:,} of {budget.limit:,} tokens"
            )

    # -- JSON completions ------------------------------------------------------

    def complete_json(
        self,
        *,
        prompt: str,
        version: str,
        messages: list[dict[str, Any]],
        schema: dict[str, Any],
        schema_name: str,
        max_tokens: int | None = None,
        cache_key_parts: Sequence[str] | None = None,
        budget: TokenBudget | None = None,
    ) -> LLMResult:
        """A JSON object that fits ``schema``, from the cache or the model.

        ``prompt`` and ``version`` name the prompt for the log and the cache (bump the
        version when the prompt changes). The cache key is the model, prompt, version,
        schema name and ``messages`` (or ``cache_key_parts`` when given). Raises
        :class:`BudgetExceeded` before sending anything when a budget is spent, and
        :class:`LLMError` when the endpoint fails or the reply stays unusable.
        """
        started = time.monotonic()
        key = cache_key(
            model=self.model,
            prompt=prompt,
            version=version,
            schema_name=schema_name,
            messages=messages,
            parts=cache_key_parts,
        )
        cached = self.store.cache_get(key)
        if cached is not None and schema_error(cached, schema) is None:
            self._log(prompt, version, self.model, _Tally(), started, status="ok", cache_hit=True)
            return LLMResult(cached, 0, 0, cached=True, model=self.model)

        tally = _Tally()
        status = "error: internal"
        try:
            data = self._converse(messages, schema, schema_name, max_tokens, tally, budget)
            self.store.cache_put(key, self.model, prompt, version, data, now=self.clock.now())
            status = "ok"
            return LLMResult(data, tally.input_tokens, tally.output_tokens, cached=False, model=self.model)
        except LLMError as exc:
            status = exc.log_status
            raise
        finally:
            self._log(prompt, version, self.model, tally, started, status=status, cache_hit=False)

    def _converse(
        self,
        messages: list[dict[str, Any]],
        schema: dict[str, Any],
        schema_name: str,
        max_tokens: int | None,
        tally: _Tally,
        budget: TokenBudget | None,
    ) -> dict[str, Any]:
        """Ask, validate, and correct once; returns the validated object."""
        mode = self.mode
        conversation = list(messages)
        corrected = False
        while True:
            self._check_budget(tally, budget)
            kwargs = self._chat_kwargs(conversation, mode, schema, schema_name, max_tokens)
            try:
                response = self._send(
                    partial(self._sdk.chat.completions.create, **kwargs),
                    tally,
                    format_sent=mode != PROMPT_ONLY,
                )
            except _ModeRejected:
                mode = MODES[MODES.index(mode) + 1]
                self.mode = max(self.mode, mode, key=MODES.index)  # the endpoint refuses the stronger one
                continue
            except _MaxTokensRejected:
                self._max_tokens_param = "max_completion_tokens"
                continue
            content, finish_reason, used_in, used_out = self._read_chat(response, kwargs)
            tally.input_tokens += used_in
            tally.output_tokens += used_out
            if budget is not None:
                budget.spend(used_in + used_out)
            data, problem = _check_reply(content, finish_reason, schema, used_out)
            if problem is None and data is not None:
                if MODES.index(mode) > MODES.index(self.mode):
                    self.mode = mode  # the weaker format worked where the stronger did not
                return data
            if corrected:
                raise LLMError(
                    f"the model's reply was unusable after a correction: {problem}", log_status="invalid"
                )
            corrected = True
            if mode == JSON_SCHEMA and finish_reason != "length":
                mode = JSON_OBJECT  # a strict-schema endpoint never breaks its schema: it ignored it
            conversation = [
                *conversation,
                {"role": "assistant", "content": content or ""},
                {"role": "user", "content": _correction(problem or "the reply was unusable", finish_reason)},
            ]

    def _chat_kwargs(
        self,
        messages: list[dict[str, Any]],
        mode: str,
        schema: dict[str, Any],
        schema_name: str,
        max_tokens: int | None,
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"model": self.model, "messages": messages}
        if mode == JSON_SCHEMA:
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": schema_name, "schema": schema, "strict": True},
            }
        else:
            kwargs["messages"] = _with_json_instruction(messages, schema)
            if mode == JSON_OBJECT:
                kwargs["response_format"] = {"type": "json_object"}
        if max_tokens is not None:
            kwargs[self._max_tokens_param] = max_tokens
        return kwargs

    def _read_chat(self, response: Any, kwargs: Mapping[str, Any]) -> tuple[str | None, str | None, int, int]:
        """Content, finish reason and token counts of a chat completion."""
        try:
            choice = response.choices[0]
            message = choice.message
            content: str | None = message.content
            finish_reason: str | None = choice.finish_reason
            refusal = getattr(message, "refusal", None)
            usage = getattr(response, "usage", None)
        except (AttributeError, IndexError, TypeError):
            raise LLMError(
                f"the model endpoint at {self.endpoint} sent a reply that is not a chat completion",
                log_status="error: reply",
            ) from None
        if refusal:
            raise LLMError(
                f"the model refused to answer: {_one_line(str(refusal))}", log_status="error: refused"
            )
        if usage is not None and getattr(usage, "prompt_tokens", None) is not None:
            return content, finish_reason, int(usage.prompt_tokens or 0), int(usage.completion_tokens or 0)
        # No usage reported: estimate (4 characters a token) so budgets still hold.
        sent = sum(len(str(m.get("content") or "")) for m in kwargs["messages"])
        return content, finish_reason, sent // 4, len(content or "") // 4

    # -- embeddings ------------------------------------------------------------

    def embed(self, texts: list[str], model: str) -> list[list[float]]:
        """One vector per text, in order, from ``/v1/embeddings`` in batches of 128.

        Logged as one call with prompt "embeddings"; not counted against the daily chat budget.
        """
        if not texts:
            return []
        started = time.monotonic()
        tally = _Tally()
        status = "error: internal"
        vectors: list[list[float]] = []
        try:
            for start in range(0, len(texts), EMBED_BATCH):
                batch = [text or " " for text in texts[start : start + EMBED_BATCH]]
                request = partial(
                    self._sdk.embeddings.create, model=model, input=batch, encoding_format="float"
                )
                response = self._send(request, tally)
                vectors.extend(self._read_embeddings(response, len(batch)))
                usage = getattr(response, "usage", None)
                used = getattr(usage, "prompt_tokens", None)
                tally.input_tokens += int(used) if used is not None else sum(len(t) for t in batch) // 4
            status = "ok"
            return vectors
        except LLMError as exc:
            status = exc.log_status
            raise
        finally:
            self._log(EMBEDDINGS_PROMPT, "", model, tally, started, status=status, cache_hit=False)

    def _read_embeddings(self, response: Any, expected: int) -> list[list[float]]:
        try:
            items = sorted(response.data, key=lambda item: item.index)
            vectors = [[float(x) for x in item.embedding] for item in items]
        except (AttributeError, TypeError, ValueError):
            raise LLMError(
                f"the model endpoint at {self.endpoint} sent a reply that is not a list of embeddings",
                log_status="error: reply",
            ) from None
        if len(vectors) != expected:
            raise LLMError(
                f"the model endpoint at {self.endpoint} sent {len(vectors)} embeddings for {expected} texts",
                log_status="error: reply",
            )
        return vectors

    # -- HTTP with retries -----------------------------------------------------

    def _send(self, request: Callable[[], _T], tally: _Tally, *, format_sent: bool = False) -> _T:
        """Run one SDK request, retrying 429, 5xx, timeouts and connection errors.

        With ``format_sent`` a 400 about the response format raises ``_ModeRejected``.
        """
        failures: list[str] = []
        retries = self.settings.openai_max_retries
        for attempt in range(retries + 1):
            tally.attempts += 1
            wait: float | None = None
            try:
                response = request()
            except openai.APIStatusError as exc:
                self._raise_if_final(exc, format_sent=format_sent)
                failures.append(str(exc.status_code))
                wait = retry_after_seconds(exc.response.headers, time.time())
            except openai.APITimeoutError:
                failures.append("timeout")
            except openai.APIConnectionError:
                failures.append("connection")
            except (openai.OpenAIError, ValueError) as exc:
                raise LLMError(
                    f"the model endpoint at {self.endpoint} sent a reply that cannot be read: "
                    f"{_one_line(str(exc))}",
                    log_status="error: reply",
                ) from None
            else:
                if isinstance(response, str):  # the SDK hands back non-JSON bodies as text
                    raise LLMError(
                        f"the model endpoint at {self.endpoint} answered with something that is not JSON",
                        log_status="error: reply",
                    )
                return response
            if attempt < retries:
                self._sleep(wait if wait is not None else backoff_seconds(attempt))
        raise self._exhausted(failures)

    def _raise_if_final(self, exc: openai.APIStatusError, *, format_sent: bool) -> None:
        """Turn a status that retrying cannot fix into the right exception."""
        status = exc.status_code
        detail = _error_message(exc)
        code = exc.code if isinstance(getattr(exc, "code", None), str) else ""
        if status == 429 and code == "insufficient_quota":
            raise LLMError(
                f"the model endpoint at {self.endpoint} says the account has no quota left: {detail}",
                log_status="error: 429",
            )
        if status == 429 or status == 408 or status >= 500:
            return
        lowered = detail.lower()
        if status in (400, 422):
            if "max_completion_tokens" in lowered and self._max_tokens_param == "max_tokens":
                raise _MaxTokensRejected
            about_format = any(word in lowered for word in ("response_format", "json_schema", "json_object"))
            if about_format and format_sent and "invalid schema" not in lowered:
                raise _ModeRejected
        if status == 401:
            message = (
                f"the model endpoint at {self.endpoint} rejected the API key (401); check OPENAI_API_KEY"
            )
        elif status == 404:
            message = (
                f"the model endpoint at {self.endpoint} answered 404 for model {self.model!r}; "
                "check OPENAI_MODEL and OPENAI_BASE_URL"
            )
        else:
            message = f"the model endpoint at {self.endpoint} refused the request ({status}): {detail}"
        raise LLMError(message, log_status=f"error: {status}")

    def _exhausted(self, failures: list[str]) -> LLMError:
        """The error after the last retry, naming what went wrong each time."""
        n = len(failures)
        tries = f" ({n} attempts)" if n > 1 else ""
        kinds = set(failures)
        if kinds == {"timeout"}:
            timeout = f"{self.settings.openai_timeout:g}"
            return LLMError(
                f"the model endpoint at {self.endpoint} timed out after {timeout} s{tries}",
                log_status="error: timeout",
            )
        if kinds == {"connection"}:
            return LLMError(
                f"cannot reach the model endpoint at {self.endpoint}{tries}", log_status="error: connection"
            )
        if len(kinds) == 1:
            return LLMError(
                f"the model endpoint at {self.endpoint} answered {failures[0]} {_times(n)}",
                log_status=f"error: {failures[0]}",
            )
        return LLMError(
            f"the model endpoint at {self.endpoint} failed {_times(n)}: {', '.join(failures)}",
            log_status=f"error: {failures[-1]}",
        )

    # -- log -------------------------------------------------------------------

    def _log(
        self,
        prompt: str,
        version: str,
        model: str,
        tally: _Tally,
        started: float,
        *,
        status: str,
        cache_hit: bool,
    ) -> None:
        self.store.log_llm_call(
            LlmCall(
                at=self.clock.now(),
                prompt=prompt,
                version=version,
                model=model,
                input_tokens=tally.input_tokens,
                output_tokens=tally.output_tokens,
                duration_ms=round((time.monotonic() - started) * 1000),
                cache_hit=cache_hit,
                status=status[:200],
                attempts=tally.attempts,
            )
        )


# -- helpers -------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelsProbe:
    """What ``GET /models`` on the configured endpoint said (for ``briefbot doctor``).

    ``outcome`` is "ok" (``models`` listed), "refused" (bad key), "no-list" (404: the
    server does not list models), "status" (another error ``status``) or "unreachable"
    (``error`` names the connection or timeout failure).
    """

    url: str
    outcome: str
    models: tuple[str, ...] = ()
    status: int | None = None
    error: BaseException | None = None


def probe_models(settings: Settings, *, timeout: float) -> ModelsProbe:
    """List the endpoint's models once, without retries; never raises for HTTP failures."""
    sdk = openai.OpenAI(
        api_key=settings.openai_api_key or "not-needed",
        base_url=settings.openai_base_url,
        timeout=timeout,
        max_retries=0,
    )
    url = str(sdk.base_url).rstrip("/")
    try:
        return ModelsProbe(url, "ok", tuple(m.id for m in sdk.models.list()))
    except openai.AuthenticationError as exc:
        return ModelsProbe(url, "refused", status=exc.status_code, error=exc)
    except openai.APIStatusError as exc:
        return ModelsProbe(
            url, "no-list" if exc.status_code == 404 else "status", status=exc.status_code, error=exc
        )
    except (openai.APIConnectionError, openai.APITimeoutError) as exc:
        return ModelsProbe(url, "unreachable", error=exc)
    finally:
        sdk.close()


def backoff_seconds(attempt: int) -> float:
    """The wait before retry ``attempt + 1``: 0.5 s doubling, plus up to 25 % jitter."""
    base = BACKOFF_START * float(2**attempt)
    return min(MAX_WAIT, base + random.uniform(0, base / 4))


def retry_after_seconds(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds the server asked us to wait (``retry-after-ms``, or Retry-After in seconds or
    as an HTTP date), capped at 30 s; None when it did not say."""
    raw_ms = headers.get("retry-after-ms")
    seconds: float | None = None
    if raw_ms is not None:
        try:
            seconds = float(raw_ms) / 1000
        except ValueError:
            seconds = None
    raw = headers.get("retry-after")
    if seconds is None and raw is not None:
        try:
            seconds = float(raw)
        except ValueError:
            try:
                seconds = email.utils.parsedate_to_datetime(raw).timestamp() - now
            except (TypeError, ValueError, IndexError):
                seconds = None
    if seconds is None or seconds != seconds:  # missing or NaN
        return None
    return max(0.0, min(MAX_WAIT, seconds))


def _check_reply(
    content: str | None, finish_reason: str | None, schema: dict[str, Any], output_tokens: int
) -> tuple[dict[str, Any] | None, str | None]:
    """The reply's object, or the problem with it (one line)."""
    if finish_reason == "length":
        return (
            None,
            f"the reply was cut off at the token limit ({output_tokens} tokens) before the JSON ended",
        )
    if not content or not content.strip():
        return None, "the reply was empty"
    try:
        data = json.loads(_strip_fences(content))
    except json.JSONDecodeError as exc:
        return None, f"the reply is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
    error = schema_error(data, schema)
    if error is not None:
        return None, f"the reply does not match the schema: {error}"
    return cast(dict[str, Any], data), None


_FENCE = re.compile(r"^```[a-zA-Z]*\s*\n?(.*?)\n?```\s*$", re.S)


def _strip_fences(content: str) -> str:
    """Models asked for JSON in plain prose sometimes wrap it in a Markdown code fence."""
    text = content.strip()
    match = _FENCE.match(text)
    return match.group(1) if match else text


def _with_json_instruction(messages: list[dict[str, Any]], schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The messages with a system instruction to answer with JSON that fits ``schema``."""
    instruction = (
        "Answer with one JSON object and nothing else: no prose, no code fences. "
        f"It must match this JSON schema exactly: {canonical_json(schema)}"
    )
    if messages and messages[0].get("role") == "system" and isinstance(messages[0].get("content"), str):
        first = {**messages[0], "content": f"{messages[0]['content']}\n\n{instruction}"}
        return [first, *messages[1:]]
    return [{"role": "system", "content": instruction}, *messages]


def _correction(problem: str, finish_reason: str | None) -> str:
    shorter = " Keep it shorter so it fits." if finish_reason == "length" else ""
    return (
        f"Your reply could not be used: {problem}. Answer again with only the JSON object, "
        f"matching the schema exactly.{shorter}"
    )


def _error_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return _one_line(body["message"])
    return _one_line(str(exc.message))


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _times(n: int) -> str:
    return {1: "once", 2: "twice", 3: "three times", 4: "four times", 5: "five times"}.get(n, f"{n} times")
