"""LLMClient through the real openai SDK against the local OpenAI-compatible server."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import openai
import pytest

from bot.config import Settings
from bot.llm import EMBEDDINGS_PROMPT, LlmCall, TokenBudget
from bot.llm.client import (
    JSON_OBJECT,
    PROMPT_ONLY,
    BudgetExceeded,
    LLMClient,
    LLMError,
    retry_after_seconds,
)
from bot.llm.validate import schema_error
from bot.store import SqlStore, open_engine
from tests.support.openai_server import OpenAIServer, Reply, count_tokens

NOW = datetime(2025, 11, 3, 15, 30, tzinfo=UTC)

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "headline": {"type": "string"},
        "score": {"type": "integer"},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["headline", "score", "tags"],
    "additionalProperties": False,
}
GOOD = {"headline": "Nvidia ships Rubin samples", "score": 3, "tags": ["chips"]}
MESSAGES = [
    {"role": "system", "content": "You write one-line headlines about AI infrastructure."},
    {"role": "user", "content": "Story: Nvidia has started sampling Rubin GPUs to hyperscalers."},
]


class FrozenClock:
    """A clock tests move by hand."""

    def __init__(self, now: datetime = NOW) -> None:
        self.at = now

    def now(self) -> datetime:
        return self.at


@pytest.fixture
def api() -> Iterator[OpenAIServer]:
    with OpenAIServer() as server:
        yield server


@pytest.fixture
def quick_store(tmp_path: Path) -> Iterator[SqlStore]:
    """A SQLite store, for tests about HTTP behaviour rather than storage."""
    engine = open_engine(f"sqlite:///{tmp_path / 'llm.db'}")
    yield SqlStore(engine)
    engine.dispose()


def make_client(
    api: OpenAIServer,
    store: SqlStore,
    *,
    clock: FrozenClock | None = None,
    sleeps: list[float] | None = None,
    **settings: Any,
) -> LLMClient:
    """A client for the local server; with ``sleeps`` retry waits are recorded, not slept."""
    values: dict[str, Any] = {
        "openai_base_url": api.base_url,
        "openai_api_key": "test-key",
        "openai_timeout": 5.0,
        "openai_max_retries": 3,
        **settings,
    }
    sleep = sleeps.append if sleeps is not None else time.sleep
    return LLMClient(Settings(**values), store, clock or FrozenClock(), sleep=sleep)


def ask(client: LLMClient, messages: list[dict[str, Any]] = MESSAGES, **kwargs: Any) -> Any:
    return client.complete_json(
        prompt="headline", version="1", messages=messages, schema=SCHEMA, schema_name="headline", **kwargs
    )


def prompt_tokens(messages: list[dict[str, Any]]) -> int:
    return sum(count_tokens(m["content"]) for m in messages)


# -- structured output ---------------------------------------------------------------


def test_structured_output_happy_path(api: OpenAIServer, store: SqlStore) -> None:
    api.reply(Reply.json(GOOD))
    client = make_client(api, store)
    result = ask(client, max_tokens=200)

    assert result.data == GOOD
    assert result.cached is False and result.model == "gpt-4o-mini"
    assert result.input_tokens == prompt_tokens(MESSAGES)
    assert result.output_tokens == count_tokens(json.dumps(GOOD))

    [request] = api.chat_requests
    assert request.headers["authorization"] == "Bearer test-key"
    assert request.body["model"] == "gpt-4o-mini" and request.body["max_tokens"] == 200
    assert request.body["messages"] == MESSAGES
    assert request.body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "headline", "schema": SCHEMA, "strict": True},
    }
    [call] = store.list_llm_calls()
    assert call == LlmCall(
        at=NOW,
        prompt="headline",
        version="1",
        model="gpt-4o-mini",
        input_tokens=result.input_tokens,
        output_tokens=result.output_tokens,
        duration_ms=call.duration_ms,
        cache_hit=False,
        status="ok",
        attempts=1,
    )
    assert client.tokens_used_today() == result.input_tokens + result.output_tokens


def test_falls_back_to_json_object_when_json_schema_is_rejected(api: OpenAIServer, store: SqlStore) -> None:
    def no_json_schema(request: dict[str, Any]) -> Reply:
        if request.get("response_format", {}).get("type") == "json_schema":
            return Reply.reject_json_schema()
        return Reply.json(GOOD)

    api.respond_with(no_json_schema)
    client = make_client(api, store)
    assert ask(client).data == GOOD

    rejected, accepted = api.chat_requests
    assert rejected.body["response_format"]["type"] == "json_schema"
    assert accepted.body["response_format"] == {"type": "json_object"}
    system = accepted.body["messages"][0]
    assert system["role"] == "system" and "JSON schema" in system["content"]
    assert system["content"].startswith(MESSAGES[0]["content"])
    assert client.mode == JSON_OBJECT

    # Remembered: the next call goes straight to json_object.
    ask(client, [{"role": "user", "content": "Another story."}])
    third = api.chat_requests[2]
    assert third.body["response_format"] == {"type": "json_object"}
    assert third.body["messages"][0]["role"] == "system"  # the JSON instruction comes first
    [first_call, second_call] = store.list_llm_calls()
    assert first_call.attempts == 2 and first_call.status == "ok" and second_call.attempts == 1


def test_falls_back_to_a_prompt_instruction_when_no_response_format_is_accepted(
    api: OpenAIServer, quick_store: SqlStore
) -> None:
    client = make_client(api, quick_store)
    api.reply(Reply.reject_json_schema(), Reply.fail(400, "response_format json_object is not supported"))
    # the model wraps its JSON in a code fence, as chat models asked in prose do
    api.reply(Reply.text("```json\n" + json.dumps(GOOD) + "\n```"))
    assert ask(client).data == GOOD
    assert [("response_format" in r.body) for r in api.chat_requests] == [True, True, False]
    assert "JSON schema" in api.chat_requests[-1].body["messages"][0]["content"]
    assert client.mode == PROMPT_ONLY


def test_an_invalid_schema_is_not_taken_for_a_missing_feature(
    api: OpenAIServer, quick_store: SqlStore
) -> None:
    api.reply(
        Reply.fail(400, "Invalid schema for response_format 'headline': 'additionalProperties' is required")
    )
    client = make_client(api, quick_store)
    with pytest.raises(LLMError, match=r"refused the request \(400\): Invalid schema"):
        ask(client)
    assert len(api.chat_requests) == 1 and client.mode == "json_schema"


@pytest.mark.parametrize(
    ("bad", "named"),
    [
        (Reply.invalid_json(), "not valid JSON"),
        (
            Reply.json({"headline": "x", "score": "three", "tags": []}),
            "$.score: expected integer, got string",
        ),
        (Reply.json({"headline": "x", "score": 1}), "missing required property 'tags'"),
    ],
)
def test_one_corrective_retry_names_the_problem(
    api: OpenAIServer, store: SqlStore, bad: Reply, named: str
) -> None:
    api.reply(bad, Reply.json(GOOD))
    client = make_client(api, store)
    result = ask(client)
    assert result.data == GOOD

    first, second = api.chat_requests
    assert first.body["messages"] == MESSAGES
    # an endpoint that broke a strict schema ignored it: the correction asks for a JSON object,
    # with the schema in the system message
    assert second.body["response_format"] == {"type": "json_object"}
    assert second.body["messages"][0]["content"].startswith(MESSAGES[0]["content"] + "\n\n")
    assert second.body["messages"][1 : len(MESSAGES)] == MESSAGES[1:]
    assistant, correction = second.body["messages"][-2:]
    assert assistant == {"role": "assistant", "content": bad.content}
    assert correction["role"] == "user" and named in correction["content"]
    # both requests' tokens count
    assert result.input_tokens == sum(prompt_tokens(r.body["messages"]) for r in api.chat_requests)
    assert result.output_tokens == count_tokens(bad.content or "") + count_tokens(json.dumps(GOOD))
    [call] = store.list_llm_calls()
    assert call.attempts == 2 and call.status == "ok"
    assert call.input_tokens == result.input_tokens


def test_a_cut_off_reply_fails_after_one_correction(api: OpenAIServer, store: SqlStore) -> None:
    api.reply(Reply.truncated(GOOD), Reply.truncated(GOOD))
    client = make_client(api, store)
    with pytest.raises(LLMError) as info:
        ask(client, max_tokens=10)
    message = str(info.value)
    assert "cut off at the token limit" in message and "\n" not in message
    assert len(api.chat_requests) == 2
    assert "shorter" in api.chat_requests[1].body["messages"][-1]["content"]
    # a cut-off reply says nothing about the response format: it stays json_schema
    assert api.chat_requests[1].body["response_format"]["type"] == "json_schema"
    [call] = store.list_llm_calls()
    assert call.status == "invalid" and call.attempts == 2 and call.output_tokens > 0
    assert store.cache_get("anything") is None


def test_a_refusal_is_an_error(api: OpenAIServer, quick_store: SqlStore) -> None:
    api.reply(Reply(content=None, refusal="I can't help with that."))
    with pytest.raises(LLMError, match=r"^the model refused to answer: I can't help with that\.$"):
        ask(make_client(api, quick_store))


# -- retries and failures ------------------------------------------------------------


def test_429_waits_as_long_as_retry_after_says(api: OpenAIServer, quick_store: SqlStore) -> None:
    api.reply(Reply.rate_limited(retry_after="1"), Reply.json(GOOD))
    client = make_client(api, quick_store)
    assert ask(client).data == GOOD
    first, second = api.chat_requests
    assert 1.0 <= second.at - first.at < 5.0
    [call] = quick_store.list_llm_calls()
    assert call.status == "ok" and call.attempts == 2


def test_retry_after_in_seconds_as_a_date_or_in_ms_and_capped() -> None:
    now = 1_700_000_000.0
    date = "Tue, 14 Nov 2023 22:13:25 GMT"  # now + 5 s
    assert retry_after_seconds({"retry-after": "2"}, now) == 2.0
    assert retry_after_seconds({"retry-after": date}, now) == pytest.approx(5.0)
    assert retry_after_seconds({"retry-after-ms": "250", "retry-after": "9"}, now) == 0.25
    assert retry_after_seconds({"retry-after": "3600"}, now) == 30.0
    assert retry_after_seconds({"retry-after": "Tue, 14 Nov 2000 22:13:25 GMT"}, now) == 0.0
    assert retry_after_seconds({"retry-after": "soon"}, now) is None
    assert retry_after_seconds({}, now) is None


def test_server_errors_are_retried_with_backoff_then_one_line_error(
    api: OpenAIServer, store: SqlStore
) -> None:
    api.reply(Reply.fail(500), Reply.fail(500), Reply.fail(500))
    sleeps: list[float] = []
    client = make_client(api, store, sleeps=sleeps, openai_max_retries=2)
    with pytest.raises(LLMError) as info:
        ask(client)
    assert str(info.value) == f"the model endpoint at {api.base_url} answered 500 three times"
    assert len(api.chat_requests) == 3
    assert 0.5 <= sleeps[0] <= 0.625 and 1.0 <= sleeps[1] <= 1.25 and len(sleeps) == 2
    [call] = store.list_llm_calls()
    assert call.status == "error: 500" and call.attempts == 3 and call.input_tokens == 0


def test_a_503_then_success(api: OpenAIServer, quick_store: SqlStore) -> None:
    api.reply(Reply.fail(503), Reply.fail(502), Reply.json(GOOD))
    sleeps: list[float] = []
    assert ask(make_client(api, quick_store, sleeps=sleeps)).data == GOOD
    assert len(sleeps) == 2 and len(api.chat_requests) == 3


def test_mixed_failures_are_all_named(api: OpenAIServer, quick_store: SqlStore) -> None:
    api.reply(Reply.fail(503), Reply.rate_limited(retry_after=None))
    client = make_client(api, quick_store, sleeps=[], openai_max_retries=1)
    with pytest.raises(LLMError, match=r"failed twice: 503, 429$"):
        ask(client)


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (Reply.fail(401, "Incorrect API key provided"), "rejected the API key (401); check OPENAI_API_KEY"),
        (Reply.fail(404, "The model does not exist"), "answered 404 for model 'gpt-4o-mini'"),
        (
            Reply.fail(400, "messages must not be empty"),
            "refused the request (400): messages must not be empty",
        ),
        (Reply.rate_limited(code="insufficient_quota"), "says the account has no quota left"),
    ],
)
def test_client_errors_are_not_retried(
    api: OpenAIServer, quick_store: SqlStore, reply: Reply, message: str
) -> None:
    api.reply(reply)
    client = make_client(api, quick_store, sleeps=[])
    with pytest.raises(LLMError) as info:
        ask(client)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert len(api.chat_requests) == 1


def test_a_hanging_endpoint_times_out(api: OpenAIServer, quick_store: SqlStore) -> None:
    api.reply(Reply.hang(30))
    client = make_client(api, quick_store, openai_timeout=1.0, openai_max_retries=0)
    started = time.monotonic()
    with pytest.raises(LLMError) as info:
        ask(client)
    assert time.monotonic() - started < 4
    assert str(info.value) == f"the model endpoint at {api.base_url} timed out after 1 s"
    assert quick_store.list_llm_calls()[0].status == "error: timeout"


def test_a_timeout_is_retried(api: OpenAIServer, quick_store: SqlStore) -> None:
    api.reply(Reply.hang(30), Reply.json(GOOD))
    sleeps: list[float] = []
    client = make_client(api, quick_store, sleeps=sleeps, openai_timeout=0.5)
    assert ask(client).data == GOOD
    assert len(api.chat_requests) == 2 and len(sleeps) == 1


def test_an_unreachable_endpoint(quick_store: SqlStore) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once closed
    settings = Settings(openai_base_url=f"http://127.0.0.1:{port}/v1", openai_max_retries=1)
    client = LLMClient(settings, quick_store, FrozenClock(), sleep=lambda s: None)
    with pytest.raises(
        LLMError, match=rf"^cannot reach the model endpoint at http://127.0.0.1:{port}/v1 \(2 "
    ):
        ask(client)


def test_a_base_url_without_a_key_sends_a_placeholder(api: OpenAIServer, quick_store: SqlStore) -> None:
    api.reply(Reply.json(GOOD))
    client = LLMClient(
        Settings(openai_base_url=api.base_url, openai_model="local"), quick_store, FrozenClock()
    )
    assert ask(client).model == "local"
    assert api.chat_requests[0].headers["authorization"].startswith("Bearer ")
    assert api.chat_requests[0].body["model"] == "local"
    with pytest.raises(LLMError, match="no model endpoint is configured"):
        LLMClient(Settings(), quick_store, FrozenClock())


# -- cache ---------------------------------------------------------------------------


def test_the_same_call_is_answered_from_the_cache_even_after_a_restart(
    api: OpenAIServer, store: SqlStore, db_url: str
) -> None:
    api.reply(Reply.json(GOOD))
    client = make_client(api, store)
    first = ask(client)
    second = ask(client)
    assert len(api.chat_requests) == 1
    assert first.cached is False and second.cached is True
    assert second.data == GOOD and (second.input_tokens, second.output_tokens) == (0, 0)
    calls = store.list_llm_calls()
    assert [(c.cache_hit, c.status, c.attempts) for c in calls] == [(False, "ok", 1), (True, "ok", 0)]
    assert calls[1].input_tokens == calls[1].output_tokens == 0

    # A new process: new engine, new store, new client.
    engine = open_engine(db_url)
    try:
        restarted = make_client(api, SqlStore(engine))
        again = ask(restarted)
        assert again.cached is True and again.data == GOOD
        assert len(api.chat_requests) == 1
        # another version of the prompt is another request
        api.reply(Reply.json({**GOOD, "score": 4}))
        fresh = restarted.complete_json(
            prompt="headline", version="2", messages=MESSAGES, schema=SCHEMA, schema_name="headline"
        )
        assert fresh.cached is False and fresh.data["score"] == 4
    finally:
        engine.dispose()


def test_cache_key_parts_replace_the_messages_in_the_key(api: OpenAIServer, store: SqlStore) -> None:
    api.reply(Reply.json(GOOD))
    client = make_client(api, store)
    ask(client, cache_key_parts=["story:42", "2025-11-03T10:00"])
    reworded = [{"role": "user", "content": "The same story, worded differently."}]
    assert ask(client, reworded, cache_key_parts=["story:42", "2025-11-03T10:00"]).cached is True
    assert len(api.chat_requests) == 1


def test_a_cached_reply_that_no_longer_fits_the_schema_is_asked_again(
    api: OpenAIServer, quick_store: SqlStore
) -> None:
    api.reply(Reply.json(GOOD), Reply.json({**GOOD, "extra": True}))
    client = make_client(api, quick_store)
    ask(client)
    wider = {**SCHEMA, "properties": {**SCHEMA["properties"], "extra": {"type": "boolean"}}}
    wider["required"] = [*SCHEMA["required"], "extra"]
    result = client.complete_json(
        prompt="headline", version="1", messages=MESSAGES, schema=wider, schema_name="headline"
    )
    assert result.cached is False and result.data["extra"] is True


# -- budgets -------------------------------------------------------------------------


def test_the_daily_budget_stops_calls_before_any_request(api: OpenAIServer, store: SqlStore) -> None:
    clock = FrozenClock()
    yesterday = NOW - timedelta(days=1)
    store.log_llm_call(LlmCall(yesterday, "headline", "1", "gpt-4o-mini", 900, 900, 10, False, "ok"))
    store.log_llm_call(LlmCall(NOW, EMBEDDINGS_PROMPT, "", "emb", 5000, 0, 10, False, "ok"))
    client = make_client(api, store, clock=clock, llm_tokens_per_day=1000)
    assert client.tokens_used_today() == 0  # yesterday's and embedding tokens do not count

    store.log_llm_call(
        LlmCall(NOW - timedelta(hours=2), "headline", "1", "gpt-4o-mini", 600, 400, 10, False, "ok")
    )
    with pytest.raises(BudgetExceeded) as info:
        ask(client)
    assert "daily model budget is spent: 1,000 of 1,000 tokens" in str(info.value)
    assert api.requests == []
    assert store.list_llm_calls()[-1].status == "budget"

    clock.at = NOW + timedelta(days=1)  # a new UTC day
    api.reply(Reply.json(GOOD))
    assert ask(client).data == GOOD


def test_a_job_budget_is_spent_by_its_calls(api: OpenAIServer, store: SqlStore) -> None:
    api.respond_with(lambda request: GOOD)
    client = make_client(api, store)
    budget = TokenBudget(30, label="the morning briefing")
    first = ask(client, budget=budget)
    assert budget.spent == first.input_tokens + first.output_tokens > 30
    with pytest.raises(BudgetExceeded, match="the token budget for the morning briefing is spent"):
        ask(client, [{"role": "user", "content": "Another story."}], budget=budget)
    assert len(api.chat_requests) == 1
    # a cache hit costs nothing and is still served
    assert ask(client, budget=budget).cached is True


# -- embeddings ----------------------------------------------------------------------


def test_embeddings_in_batches(api: OpenAIServer, store: SqlStore) -> None:
    texts = [f"passage number {i} about GPUs" for i in range(300)]
    texts[7] = texts[3]
    client = make_client(api, store)
    vectors = client.embed(texts, "text-embedding-3-small")

    assert len(vectors) == 300 and all(len(v) == 8 for v in vectors)
    assert vectors[7] == vectors[3] and vectors[3] != vectors[4]
    assert sum(x * x for x in vectors[0]) == pytest.approx(1.0, abs=1e-6)
    sizes = [len(r.body["input"]) for r in api.embedding_requests]
    assert sizes == [128, 128, 44]
    assert api.embedding_requests[0].body["model"] == "text-embedding-3-small"
    assert client.embed(texts[:1], "text-embedding-3-small")[0] == vectors[0]  # deterministic

    first = store.list_llm_calls()[0]
    assert first.prompt == EMBEDDINGS_PROMPT and first.attempts == 3 and first.status == "ok"
    assert first.input_tokens == sum(count_tokens(t) for t in texts)
    assert client.tokens_used_today() == 0  # embeddings do not spend the chat budget
    assert client.embed([], "text-embedding-3-small") == []


def test_embedding_failures_are_retried_and_reported(api: OpenAIServer, quick_store: SqlStore) -> None:
    api.embeddings_reply(Reply.fail(503), Reply(), Reply.fail(500), Reply.fail(500))
    client = make_client(api, quick_store, sleeps=[], openai_max_retries=1)
    assert len(client.embed(["a"], "emb")) == 1
    with pytest.raises(LLMError, match="answered 500 twice"):
        client.embed(["b"], "emb")
    assert [c.status for c in quick_store.list_llm_calls()] == ["ok", "error: 500"]


# -- the pieces ----------------------------------------------------------------------


def test_the_validator_covers_the_subset_prompts_use() -> None:
    schema = {
        "type": "object",
        "properties": {
            "kind": {"enum": ["investment", "supply"]},
            "amount": {"type": ["number", "null"]},
            "flag": {"type": "boolean"},
            "items": {"type": "array", "items": {"type": "object", "properties": {"n": {"type": "integer"}}}},
        },
        "required": ["kind"],
        "additionalProperties": False,
    }
    assert schema_error({"kind": "supply", "amount": None, "flag": True, "items": [{"n": 1}]}, schema) is None
    assert schema_error({"kind": "supply", "amount": 2}, schema) is None  # an integer is a number
    assert schema_error({"kind": "loan"}, schema) == '$.kind: "loan" is not one of "investment", "supply"'
    assert schema_error({"kind": "supply", "flag": 1}, schema) == "$.flag: expected boolean, got integer"
    assert schema_error({"kind": "supply", "items": [{"n": True}]}, schema) == (
        "$.items[0].n: expected integer, got boolean"
    )
    assert schema_error({"kind": "supply", "x": 1}, schema) == "$: unexpected property 'x'"
    assert schema_error([], schema) == "$: expected object, got array"


def test_the_server_streams_for_the_sdk(api: OpenAIServer) -> None:
    api.reply(Reply.text("Rubin samples are shipping to hyperscalers."))
    sdk = openai.OpenAI(base_url=api.base_url, api_key="test", max_retries=0)
    stream = sdk.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "What shipped?"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces, usage, finish = [], None, None
    for chunk in stream:
        if chunk.choices:
            pieces.append(chunk.choices[0].delta.content or "")
            finish = chunk.choices[0].finish_reason or finish
        if chunk.usage:
            usage = chunk.usage
    assert "".join(pieces) == "Rubin samples are shipping to hyperscalers."
    assert finish == "stop"
    assert usage is not None and usage.completion_tokens == count_tokens("".join(pieces))
    assert [m.id for m in sdk.models.list()] == api.models
    # the SDK asks for base64 embeddings unless told otherwise; the server speaks both
    default = sdk.embeddings.create(model="text-embedding-3-small", input=["Rubin"])
    model = "text-embedding-3-small"
    as_floats = sdk.embeddings.create(model=model, input=["Rubin"], encoding_format="float")
    assert api.embedding_requests[0].body["encoding_format"] == "base64"
    assert default.data[0].embedding == pytest.approx(as_floats.data[0].embedding, abs=1e-6)
    sdk.close()
