"""A scriptable OpenAI-compatible chat server, for driving the real `openai` client over HTTP.

Tests queue the responses the "model" gives, in order:

    fake_openai.script(
        tool_calls(tool_call("lookup_record", {"collection": "orders", "key": "10023"})),
        text("Order 10023 ships tomorrow.", usage=(120, 8)),
    )

Each is one of `text(...)`, `tool_calls(...)`, `error(status, ...)` or `hang(seconds)`. Streamed
responses are SSE chunks in several pieces (chunked HTTP/1.1), with a usage chunk when the request
asked for it; non-streamed requests get one JSON body. With the queue empty the server answers
"Echo: <last user message>". Every request body is kept in `fake_openai.requests`.

The fixture is `fake_openai`; make it available in a test module with

    from tests.support.fake_openai import fake_openai_fixture  # noqa: F401

or everywhere with `pytest_plugins = ["tests.support.fake_openai"]` in tests/conftest.py.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

__all__ = ["ErrorResponse", "FakeOpenAI", "TextResponse", "ToolCall", "ToolCallsResponse", "error",
           "fake_openai_fixture", "hang", "text", "tool_call", "tool_calls"]


@dataclass(frozen=True)
class TextResponse:
    """A plain answer, streamed in `pieces` chunks.

    `usage` (prompt, completion) overrides the computed counts; `send_usage=False` behaves like a
    server that ignores `stream_options`. `delay` waits before answering; `hang_after=n` streams
    n pieces and then stalls for `hang_seconds` before dropping the connection.
    """

    content: str
    pieces: int = 4
    usage: tuple[int, int] | None = None
    send_usage: bool = True
    delay: float = 0.0
    hang_after: int | None = None
    hang_seconds: float = 10.0


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any] | str  # a str is sent verbatim (e.g. to send invalid JSON)
    id: str = field(default_factory=lambda: f"call_{uuid.uuid4().hex[:12]}")

    @property
    def raw_arguments(self) -> str:
        return self.arguments if isinstance(self.arguments, str) else json.dumps(self.arguments)


@dataclass(frozen=True)
class ToolCallsResponse:
    """The model calls tools: each call streamed as its name, then its arguments in pieces."""

    calls: tuple[ToolCall, ...]
    content: str | None = None
    argument_pieces: int = 3
    usage: tuple[int, int] | None = None
    send_usage: bool = True
    delay: float = 0.0


@dataclass(frozen=True)
class ErrorResponse:
    status: int
    message: str = "scripted error"
    retry_after: str | None = None
    delay: float = 0.0


ScriptedResponse = TextResponse | ToolCallsResponse | ErrorResponse


def text(content: str, **options: Any) -> TextResponse:
    """A text answer; options as in `TextResponse`."""
    return TextResponse(content, **options)


def tool_call(name: str, arguments: dict[str, Any] | str, id: str | None = None) -> ToolCall:
    """One call for `tool_calls(...)`; a str `arguments` is sent as is."""
    return ToolCall(name, arguments) if id is None else ToolCall(name, arguments, id)


def tool_calls(*calls: ToolCall, **options: Any) -> ToolCallsResponse:
    """A response calling one or more tools; options as in `ToolCallsResponse`."""
    return ToolCallsResponse(tuple(calls), **options)


def error(status: int, message: str = "scripted error", *,
          retry_after: str | float | None = None) -> ErrorResponse:
    """An HTTP error with an OpenAI-style JSON body (and a Retry-After header if given)."""
    return ErrorResponse(status, message, None if retry_after is None else str(retry_after))


def hang(seconds: float) -> TextResponse:
    """Answer only after `seconds` — longer than the client's timeout, so it times out."""
    return TextResponse("(too late)", delay=seconds)


class FakeOpenAI:
    """The running server: its `base_url`, the scripted queue and the requests it received."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []  # lower-cased names
        self._queue: deque[ScriptedResponse] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        # A short poll interval: shutdown() waits for the next poll, and every test stops a server.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.01,), name="fake-openai",
                                        daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/v1"

    @property
    def last_request(self) -> dict[str, Any]:
        return self.requests[-1]

    @property
    def pending(self) -> int:
        """Scripted responses not yet served."""
        return len(self._queue)

    def script(self, *responses: ScriptedResponse) -> None:
        """Queue responses, served one per request in order."""
        with self._lock:
            self._queue.extend(responses)

    def start(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers that are hanging on purpose
        self._server.shutdown()
        self._server.server_close()

    def _next(self, body: dict[str, Any], headers: dict[str, str]) -> ScriptedResponse:
        with self._lock:
            self.requests.append(body)
            self.headers.append(headers)
            if self._queue:
                return self._queue.popleft()
        return TextResponse(f"Echo: {_last_user_text(body.get('messages') or [])}")

    def _wait(self, seconds: float) -> bool:
        """Sleep unless the server stops first; True if it is still running."""
        return not self._stopping.wait(seconds) if seconds > 0 else True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeOpenAI

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that time out close their sockets under us; that is the point of those tests


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and chunked streams, as real servers do
    disable_nagle_algorithm = True  # small SSE writes would otherwise wait on delayed ACKs (~40 ms)
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send_json(404, {"error": {"message": f"no route {self.path}",
                                            "type": "invalid_request_error"}})
            return
        fake = self.server.fake
        response = fake._next(body, {name.lower(): value for name, value in self.headers.items()})
        if not fake._wait(response.delay):
            self.close_connection = True
            return
        try:
            if isinstance(response, ErrorResponse):
                self._send_error(response)
            elif body.get("stream"):
                self._stream(response, body)
            else:
                self._send_json(200, _completion(response, body))
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _send_error(self, response: ErrorResponse) -> None:
        kind = "rate_limit_error" if response.status == 429 else "api_error"
        headers = {"Retry-After": response.retry_after} if response.retry_after is not None else {}
        self._send_json(response.status, {"error": {"message": response.message, "type": kind, "code": None}},
                        headers)

    def _send_json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        raw = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(raw)

    def _stream(self, response: TextResponse | ToolCallsResponse, body: dict[str, Any]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        fake = self.server.fake
        want_usage = bool((body.get("stream_options") or {}).get("include_usage")) and response.send_usage
        for number, chunk in enumerate(_chunks(response, body, want_usage)):
            if isinstance(response, TextResponse) and number == response.hang_after:
                fake._wait(response.hang_seconds)
                self.close_connection = True  # drop mid-stream: no final chunk, no [DONE]
                return
            self._write_chunk(f"data: {json.dumps(chunk)}\n\n".encode())
        self._write_chunk(b"data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


def _chunks(response: TextResponse | ToolCallsResponse, body: dict[str, Any],
            want_usage: bool) -> Iterator[dict[str, Any]]:
    """The `chat.completion.chunk` objects of one streamed response, in order."""
    base = {"id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion.chunk",
            "created": int(time.time()), "model": body.get("model", "fake-model")}
    null_usage = {"usage": None} if want_usage else {}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **null_usage}

    if isinstance(response, TextResponse):
        for number, piece in enumerate(_split(response.content, response.pieces)):
            yield chunk({"role": "assistant", "content": piece} if number == 0 else {"content": piece})
        finish = "stop"
    else:
        yield chunk({"role": "assistant", "content": response.content})
        for index, call in enumerate(response.calls):
            yield chunk({"tool_calls": [{"index": index, "id": call.id, "type": "function",
                                         "function": {"name": call.name, "arguments": ""}}]})
            for piece in _split(call.raw_arguments, response.argument_pieces):
                yield chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
        finish = "tool_calls"
    yield chunk({}, finish)
    if want_usage:
        yield {**base, "choices": [], "usage": _usage(response, body)}


def _completion(response: TextResponse | ToolCallsResponse, body: dict[str, Any]) -> dict[str, Any]:
    """The non-streamed `chat.completion` body."""
    message: dict[str, Any] = {"role": "assistant", "content": response.content}
    if isinstance(response, ToolCallsResponse):
        message["tool_calls"] = [{"id": c.id, "type": "function",
                                  "function": {"name": c.name, "arguments": c.raw_arguments}}
                                 for c in response.calls]
    return {"id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion",
            "created": int(time.time()), "model": body.get("model", "fake-model"),
            "choices": [{"index": 0, "message": message,
                         "finish_reason": "tool_calls" if "tool_calls" in message else "stop"}],
            "usage": _usage(response, body)}


def _usage(response: TextResponse | ToolCallsResponse, body: dict[str, Any]) -> dict[str, int]:
    if response.usage is not None:
        prompt, completion = response.usage
    else:
        prompt = max(1, len(json.dumps(body.get("messages") or [])) // 4)
        produced = response.content or ""
        if isinstance(response, ToolCallsResponse):
            produced += "".join(c.name + c.raw_arguments for c in response.calls)
        completion = max(1, len(produced) // 4)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _split(value: str, pieces: int) -> list[str]:
    """`value` in up to `pieces` consecutive non-empty parts (at least one part, even if empty)."""
    if not value:
        return [""]
    size = -(-len(value) // max(1, pieces))
    return [value[start : start + size] for start in range(0, len(value), size)]


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):  # content parts
                return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
            return str(content or "")
    return ""


# Named apart from its function so test parameters called `fake_openai` do not shadow the import.
@pytest.fixture(name="fake_openai")
def fake_openai_fixture() -> Iterator[FakeOpenAI]:
    """A fresh fake OpenAI-compatible server for one test."""
    server = FakeOpenAI().start()
    yield server
    server.stop()
