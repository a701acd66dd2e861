"""A local stand-in for the OpenAI API, good enough for the official SDK.

It listens on 127.0.0.1 on a free port, serves each connection in its own thread and
records every request. It speaks ``POST /v1/chat/completions`` (JSON, or server-sent
events with ``"stream": true``), ``POST /v1/embeddings`` (deterministic vectors from a
hash, as floats or base64) and ``GET /v1/models``. Token counts are deterministic: a
quarter of the characters (``len(text) // 4``).

Tests script the chat replies, as a queue or a function of the request::

    with OpenAIServer() as server:
        server.reply(Reply.rate_limited(retry_after="1"), Reply.json({"title": "ok"}))
        server.respond_with(lambda request: Reply.json({"echo": request["model"]}))
        client = OpenAI(base_url=server.base_url, api_key="test")
        ...
        assert server.chat_requests[-1].body["response_format"]["type"] == "json_schema"

Queued replies are used first, then the function; with neither the server answers 500.
Failures to inject: :meth:`Reply.fail` (any status), :meth:`Reply.rate_limited` (429 with
Retry-After), :meth:`Reply.hang` (answer nothing for a while), :meth:`Reply.invalid_json`,
:meth:`Reply.truncated` (cut-off JSON with ``finish_reason: "length"``) and
:meth:`Reply.reject_json_schema` (the 400 an endpoint without structured outputs sends).
Embedding requests take failures from their own queue (:meth:`OpenAIServer.embeddings_reply`);
an ``ok`` reply there means "answer normally".
"""

from __future__ import annotations

import array
import base64
import hashlib
import json
import math
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

CHAT_PATH = "/v1/chat/completions"
EMBEDDINGS_PATH = "/v1/embeddings"
MODELS_PATH = "/v1/models"


def count_tokens(text: str) -> int:
    """The server's deterministic token count: a quarter of the characters."""
    return len(text) // 4


@dataclass
class Reply:
    """One scripted answer. A 200 carries ``content``; any other status carries ``error``."""

    content: str | None = None
    status: int = 200
    finish_reason: str = "stop"
    retry_after: str | None = None
    error: dict[str, Any] | None = None  # the OpenAI error object of a non-200 answer
    hang_for: float | None = None  # wait this long (or until the server stops), answer nothing
    refusal: str | None = None
    prompt_tokens: int | None = None  # override the counted usage
    completion_tokens: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None  # send these bytes as the 200 body instead of a completion

    @property
    def ok(self) -> bool:
        """True for an answer that is not a failure."""
        return self.status == 200 and self.hang_for is None and self.raw is None

    @classmethod
    def json(cls, data: Any) -> Reply:
        """A completion whose content is ``data`` as JSON."""
        return cls(content=json.dumps(data))

    @classmethod
    def text(cls, content: str, *, finish_reason: str = "stop") -> Reply:
        """A completion with this exact content."""
        return cls(content=content, finish_reason=finish_reason)

    @classmethod
    def fail(cls, status: int, message: str | None = None, **error: Any) -> Reply:
        """An error status with an OpenAI-style error body."""
        body = {"message": message or f"test server error {status}", "type": "server_error", **error}
        return cls(status=status, error=body)

    @classmethod
    def rate_limited(cls, retry_after: str | None = "1", *, code: str | None = None) -> Reply:
        """429 Too Many Requests, with Retry-After (seconds or an HTTP date)."""
        reply = cls.fail(429, "Rate limit reached for requests", type="requests", code=code)
        reply.retry_after = retry_after
        return reply

    @classmethod
    def hang(cls, seconds: float = 30.0) -> Reply:
        """Say nothing for ``seconds`` (longer than the client's timeout), then hang up."""
        return cls(hang_for=seconds)

    @classmethod
    def invalid_json(cls, content: str = '{"headline": "Nvidia ships') -> Reply:
        """A completion whose content is not valid JSON."""
        return cls(content=content)

    @classmethod
    def truncated(cls, data: Any) -> Reply:
        """``data`` as JSON cut in half, with ``finish_reason: "length"``."""
        text = json.dumps(data)
        return cls(content=text[: max(1, len(text) // 2)], finish_reason="length")

    @classmethod
    def reject_json_schema(cls) -> Reply:
        """The 400 of an endpoint that does not support ``response_format: json_schema``."""
        return cls(
            status=400,
            error={
                "message": "Invalid parameter: 'response_format' of type 'json_schema' is not supported "
                "with this model.",
                "type": "invalid_request_error",
                "param": "response_format",
                "code": None,
            },
        )


@dataclass(frozen=True)
class RecordedRequest:
    """A request the server received: header names are lower-case, ``body`` is parsed JSON."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    at: float


Handler = Callable[[dict[str, Any]], "Reply | dict[str, Any] | str"]


class OpenAIServer:
    """A threaded OpenAI-compatible HTTP server on 127.0.0.1:<free port>; a context manager."""

    def __init__(self, host: str = "127.0.0.1", *, embedding_dimensions: int = 8) -> None:
        self._httpd = _Server((host, 0), _Handler)
        self._httpd.api = self
        self.host = host
        self.port: int = self._httpd.server_port
        self.embedding_dimensions = embedding_dimensions
        self.models = ["gpt-4o-mini", "text-embedding-3-small"]
        self.requests: list[RecordedRequest] = []
        self.stopping = threading.Event()
        self._replies: deque[Reply] = deque()
        self._embedding_replies: deque[Reply] = deque()
        self._handler: Handler | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> OpenAIServer:
        """Start serving in a daemon thread."""
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="openai-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; wakes handlers that are hanging."""
        self.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> OpenAIServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/v1``: what OPENAI_BASE_URL should be."""
        return f"http://{self.host}:{self.port}/v1"

    # -- scripting -------------------------------------------------------------------

    def reply(self, *replies: Reply | dict[str, Any] | str) -> None:
        """Queue chat replies (a dict is sent as JSON content, a str as content)."""
        with self._lock:
            self._replies.extend(_as_reply(r) for r in replies)

    def respond_with(self, handler: Handler | None) -> None:
        """Answer chat requests the queue does not cover with ``handler(request_json)``."""
        with self._lock:
            self._handler = handler

    def embeddings_reply(self, *replies: Reply) -> None:
        """Queue answers for embedding requests (failures; ``Reply()`` answers normally)."""
        with self._lock:
            self._embedding_replies.extend(replies)

    # -- what happened ---------------------------------------------------------------

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        """The chat completion requests, oldest first."""
        return self.requests_for(CHAT_PATH)

    @property
    def embedding_requests(self) -> list[RecordedRequest]:
        """The embedding requests, oldest first."""
        return self.requests_for(EMBEDDINGS_PATH)

    def requests_for(self, path: str) -> list[RecordedRequest]:
        """The recorded requests for ``path``."""
        with self._lock:
            return [r for r in self.requests if r.path == path]

    # -- internals used by the handler -----------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _next_chat_reply(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            if self._replies:
                return self._replies.popleft()
            handler = self._handler
        if handler is None:
            return Reply.fail(500, "the test server has no reply scripted")
        return _as_reply(handler(body))

    def _next_embedding_reply(self) -> Reply:
        with self._lock:
            return self._embedding_replies.popleft() if self._embedding_replies else Reply()

    def _vector(self, text: str, dimensions: int) -> list[float]:
        """A unit vector that depends only on ``text``."""
        values: list[float] = []
        counter = 0
        while len(values) < dimensions:
            digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
            values.extend((b - 127.5) / 127.5 for b in digest)
            counter += 1
        values = values[:dimensions]
        norm = math.sqrt(sum(v * v for v in values)) or 1.0
        return [v / norm for v in values]


def _as_reply(value: Reply | dict[str, Any] | str) -> Reply:
    if isinstance(value, Reply):
        return value
    if isinstance(value, str):
        return Reply.text(value)
    return Reply.json(value)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    api: OpenAIServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that give up (timeouts) are expected; stay quiet about them."""
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request log line."""

    # -- routing ---------------------------------------------------------------------

    def do_GET(self) -> None:
        self._record(None)
        if self.path.rstrip("/") == MODELS_PATH:
            models = [
                {"id": m, "object": "model", "created": 0, "owned_by": "test"} for m in self.server.api.models
            ]
            self._send_json(200, {"object": "list", "data": models})
        else:
            self._send_error(404, f"no route {self.path}")

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._record(raw.decode("utf-8", "replace"))
            self._send_error(400, "the body is not JSON")
            return
        self._record(body)
        path = self.path.split("?", 1)[0].rstrip("/")
        try:
            if path == CHAT_PATH:
                self._chat(body)
            elif path == EMBEDDINGS_PATH:
                self._embeddings(body)
            else:
                self._send_error(404, f"no route {self.path}")
        except (ConnectionError, TimeoutError):
            self.close_connection = True

    def _record(self, body: Any) -> None:
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.server.api._record(RecordedRequest(self.command, self.path, headers, body, time.monotonic()))

    # -- endpoints -------------------------------------------------------------------

    def _chat(self, body: dict[str, Any]) -> None:
        reply = self.server.api._next_chat_reply(body)
        if self._failed(reply):
            return
        content = reply.content or ""
        prompt_tokens = reply.prompt_tokens
        if prompt_tokens is None:
            prompt_tokens = sum(count_tokens(_text(m.get("content"))) for m in body.get("messages", []))
        completion_tokens = reply.completion_tokens
        if completion_tokens is None:
            completion_tokens = count_tokens(content)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        model = body.get("model", "unknown")
        created = int(time.time())
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            self._stream(model, created, reply, usage if include_usage else None)
            return
        message: dict[str, Any] = {"role": "assistant", "content": reply.content, "refusal": reply.refusal}
        self._send_json(
            200,
            {
                "id": f"chatcmpl-test-{created}",
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "message": message, "finish_reason": reply.finish_reason}],
                "usage": usage,
            },
        )

    def _stream(self, model: str, created: int, reply: Reply, usage: dict[str, int] | None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def chunk(choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
            return {
                "id": f"chatcmpl-test-{created}",
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": choices,
                **extra,
            }

        content = reply.content or ""
        events = [chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])]
        for start in range(0, len(content), 16):
            piece = content[start : start + 16]
            events.append(chunk([{"index": 0, "delta": {"content": piece}, "finish_reason": None}]))
        events.append(chunk([{"index": 0, "delta": {}, "finish_reason": reply.finish_reason}]))
        if usage is not None:
            events.append(chunk([], usage=usage))
        for event in events:
            self._write_chunk(f"data: {json.dumps(event)}\n\n".encode())
        self._write_chunk(b"data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")

    def _embeddings(self, body: dict[str, Any]) -> None:
        reply = self.server.api._next_embedding_reply()
        if self._failed(reply):
            return
        raw_input = body.get("input", [])
        texts = [raw_input] if isinstance(raw_input, str) else [str(t) for t in raw_input]
        dimensions = int(body.get("dimensions") or self.server.api.embedding_dimensions)
        as_base64 = body.get("encoding_format") == "base64"
        data = []
        for index, text in enumerate(texts):
            vector = self.server.api._vector(text, dimensions)
            embedding: Any = (
                base64.b64encode(array.array("f", vector).tobytes()).decode() if as_base64 else vector
            )
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        tokens = sum(count_tokens(t) for t in texts)
        self._send_json(
            200,
            {
                "object": "list",
                "data": data,
                "model": body.get("model", "unknown"),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
        )

    # -- output ----------------------------------------------------------------------

    def _failed(self, reply: Reply) -> bool:
        """Send a scripted failure; False when the reply is a normal answer."""
        if reply.hang_for is not None:
            self.server.api.stopping.wait(reply.hang_for)
            self.close_connection = True
            return True
        if reply.raw is not None:
            self._send(200, reply.raw, "text/plain", reply.headers)
            return True
        if reply.status != 200:
            headers = dict(reply.headers)
            if reply.retry_after is not None:
                headers["Retry-After"] = reply.retry_after
            error = reply.error or {"message": f"error {reply.status}", "type": "server_error"}
            self._send_json(reply.status, {"error": {"param": None, "code": None, **error}}, headers)
            return True
        return False

    def _send_error(self, status: int, message: str) -> None:
        self._send_json(status, {"error": {"message": message, "type": "invalid_request_error"}})

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json", headers)

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))


def _text(content: Any) -> str:
    """The text of a message's content (a string, or a list of text parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""
