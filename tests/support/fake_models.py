"""Scriptable local servers speaking Anthropic's Messages API and Gemini's generateContent wire
protocols, for driving the real `anthropic` and `google-genai` SDKs over HTTP on 127.0.0.1.

They take the same scripted responses as `tests.support.fake_openai` (`text(...)`,
`tool_calls(...)`, `error(...)`, `hang(...)`), served one per request in order:

- Anthropic: `POST /v1/messages` with `stream: true` answers Server-Sent Events as the API does
  (`message_start`, `content_block_start`/`_delta`/`_stop` with `text_delta` and
  `input_json_delta`, `ping`, `message_delta` with the output tokens, `message_stop`); errors are
  `{"type": "error", "error": {...}}` bodies with the API's error types and `retry-after`.
- Gemini: `POST /v1beta/models/{model}:streamGenerateContent?alt=sse` answers `data:` lines of
  `GenerateContentResponse` JSON (text parts, whole `functionCall` parts with a
  `thoughtSignature`, `usageMetadata`, `finishReason`); errors are Google RPC status bodies, a 429
  carrying a `RetryInfo` detail.

`text(..., hang_after=n, hang_seconds=0)` cuts the stream after n pieces without ending it.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections import deque
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.support.fake_openai import ErrorResponse, ScriptedResponse, TextResponse, ToolCallsResponse, _split

__all__ = ["FakeAnthropic", "FakeGemini", "fake_anthropic_fixture", "fake_gemini_fixture"]

SIGNATURE = "c2lnbmF0dXJlLW9mLXRoZS10aG91Z2h0"  # what the fake Gemini signs its function calls with


class _FakeServer:
    """The running server: its `base_url`, the scripted queue and the requests it received."""

    handler: type[BaseHTTPRequestHandler]

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.headers: list[dict[str, str]] = []
        self._queue: deque[ScriptedResponse] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = _Server(("127.0.0.1", 0), self.handler)
        self._server.fake = self
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.01,), daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def last_request(self) -> dict[str, Any]:
        return self.requests[-1]

    def script(self, *responses: ScriptedResponse) -> None:
        with self._lock:
            self._queue.extend(responses)

    def start(self) -> _FakeServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def next(self, path: str, body: dict[str, Any], headers: dict[str, str]) -> ScriptedResponse:
        with self._lock:
            self.requests.append(body)
            self.paths.append(path)
            self.headers.append(headers)
            if self._queue:
                return self._queue.popleft()
        return TextResponse("Echo")

    def wait(self, seconds: float) -> bool:
        """Sleep unless the server stops first; True if it is still running."""
        return not self._stopping.wait(seconds) if seconds > 0 else True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: _FakeServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that time out close their sockets under us


class _StreamingHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        if not self.route_ok():
            self.send_json(404, {"error": {"message": f"no route {self.path}"}})
            return
        fake = self.server.fake
        response = fake.next(self.path, body, {k.lower(): v for k, v in self.headers.items()})
        if not fake.wait(response.delay):
            self.close_connection = True
            return
        try:
            if isinstance(response, ErrorResponse):
                self.send_error_body(response)
            else:
                self.stream(response, body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def route_ok(self) -> bool:
        raise NotImplementedError

    def events(self, response: TextResponse | ToolCallsResponse, body: dict[str, Any]) -> Iterator[bytes]:
        raise NotImplementedError

    def send_error_body(self, response: ErrorResponse) -> None:
        raise NotImplementedError

    def stream(self, response: TextResponse | ToolCallsResponse, body: dict[str, Any]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for event in self.events(response, body):
            self.write_chunk(event)
        self.wfile.write(b"0\r\n\r\n")

    def cut(self, response: TextResponse, piece: int) -> bool:
        """Whether the stream stops here: stall for `hang_seconds`, then drop the connection."""
        if response.hang_after is None or piece != response.hang_after:
            return False
        self.server.fake.wait(response.hang_seconds)
        self.close_connection = True
        return True

    def write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def send_json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        raw = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(raw)


class _Cut(Exception):
    """The scripted stream is cut here."""


# ---------------------------------------------------------------- Anthropic Messages API

_ANTHROPIC_ERRORS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


class _AnthropicHandler(_StreamingHandler):
    def route_ok(self) -> bool:
        return self.path.split("?")[0].rstrip("/") == "/v1/messages"

    def send_error_body(self, response: ErrorResponse) -> None:
        kind = _ANTHROPIC_ERRORS.get(response.status, "api_error")
        headers = {"retry-after": response.retry_after} if response.retry_after is not None else {}
        self.send_json(
            response.status, {"type": "error", "error": {"type": kind, "message": response.message}}, headers
        )

    def stream(self, response: TextResponse | ToolCallsResponse, body: dict[str, Any]) -> None:
        try:
            super().stream(response, body)
        except _Cut:
            return

    def events(self, response: TextResponse | ToolCallsResponse, body: dict[str, Any]) -> Iterator[bytes]:
        prompt, completion = response.usage or (max(1, len(json.dumps(body.get("messages"))) // 4), 0)
        model = body.get("model", "claude-fake")
        yield _sse(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": f"msg_{uuid.uuid4().hex[:20]}",
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": prompt, "output_tokens": 1},
                },
            },
        )
        yield _sse("ping", {"type": "ping"})
        index = 0
        produced = ""
        content = response.content or ""
        if content:
            yield _sse(
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            )
            pieces = _split(content, response.pieces if isinstance(response, TextResponse) else 1)
            for number, piece in enumerate(pieces):
                if isinstance(response, TextResponse) and self.cut(response, number):
                    raise _Cut
                produced += piece
                yield _sse(
                    "content_block_delta",
                    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}},
                )
            yield _sse("content_block_stop", {"type": "content_block_stop", "index": 0})
            index = 1
        if isinstance(response, ToolCallsResponse):
            for call in response.calls:
                tool_id = call.id if call.id.startswith("toolu_") else f"toolu_{call.id}"
                yield _sse(
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {"type": "tool_use", "id": tool_id, "name": call.name, "input": {}},
                    },
                )
                for piece in _split(call.raw_arguments, response.argument_pieces):
                    produced += piece
                    yield _sse(
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": index,
                            "delta": {"type": "input_json_delta", "partial_json": piece},
                        },
                    )
                yield _sse("content_block_stop", {"type": "content_block_stop", "index": index})
                index += 1
        stop = "tool_use" if isinstance(response, ToolCallsResponse) else "end_turn"
        output = completion or max(1, len(produced) // 4)
        yield _sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": {"output_tokens": output},
            },
        )
        yield _sse("message_stop", {"type": "message_stop"})


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


class FakeAnthropic(_FakeServer):
    handler = _AnthropicHandler


# ---------------------------------------------------------------- Gemini generateContent

_GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


class _GeminiHandler(_StreamingHandler):
    def route_ok(self) -> bool:
        path = self.path.split("?")[0]
        return re.match(r"^/v1(beta)?/models/[^/:]+:streamGenerateContent$", path) is not None

    def send_error_body(self, response: ErrorResponse) -> None:
        error: dict[str, Any] = {
            "code": response.status,
            "message": response.message,
            "status": _GOOGLE_STATUS.get(response.status, "UNKNOWN"),
        }
        if response.retry_after is not None:
            error["details"] = [
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{response.retry_after}s"}
            ]
        self.send_json(response.status, {"error": error})

    def stream(self, response: TextResponse | ToolCallsResponse, body: dict[str, Any]) -> None:
        try:
            super().stream(response, body)
        except _Cut:
            return

    def events(self, response: TextResponse | ToolCallsResponse, body: dict[str, Any]) -> Iterator[bytes]:
        model = self.path.split("/models/")[1].split(":")[0]
        prompt, completion = response.usage or (max(1, len(json.dumps(body.get("contents"))) // 4), 0)
        produced = ""

        def chunk(parts: list[dict[str, Any]], finish: str | None = None) -> bytes:
            candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
            usage = {"promptTokenCount": prompt}
            if finish:
                candidate["finishReason"] = finish
                output = completion or max(1, len(produced) // 4)
                usage = {"promptTokenCount": prompt, "candidatesTokenCount": output, "totalTokenCount": prompt + output}
            payload = {
                "candidates": [candidate],
                "usageMetadata": usage,
                "modelVersion": model,
                "responseId": uuid.uuid4().hex[:16],
            }
            return f"data: {json.dumps(payload)}\r\n\r\n".encode()

        content = response.content or ""
        if isinstance(response, TextResponse):
            pieces = _split(content, response.pieces)
            for number, piece in enumerate(pieces):
                if self.cut(response, number):
                    raise _Cut
                produced += piece
                yield chunk([{"text": piece}], "STOP" if number == len(pieces) - 1 else None)
            return
        if content:
            produced += content
            yield chunk([{"text": content}])
        parts = []
        for call in response.calls:
            arguments = call.arguments if isinstance(call.arguments, dict) else {"_raw": call.arguments}
            produced += call.name + json.dumps(arguments)
            parts.append(
                {"functionCall": {"name": call.name, "args": arguments, "id": call.id}, "thoughtSignature": SIGNATURE}
            )
        yield chunk(parts, "STOP")


class FakeGemini(_FakeServer):
    handler = _GeminiHandler


@pytest.fixture(name="fake_anthropic")
def fake_anthropic_fixture() -> Iterator[FakeAnthropic]:
    server = FakeAnthropic().start()
    yield server  # type: ignore[misc]
    server.stop()


@pytest.fixture(name="fake_gemini")
def fake_gemini_fixture() -> Iterator[FakeGemini]:
    server = FakeGemini().start()
    yield server  # type: ignore[misc]
    server.stop()
