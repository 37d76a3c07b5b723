"""What a request may look like before any handler parses it: size, encoding, nesting, NUL characters.

Litestar parses JSON with msgspec, which turns invalid UTF-8 into a UnicodeDecodeError and deep
nesting into a RecursionError, and PostgreSQL refuses the NUL character in text: without this
guard each of those is a 500. Checking the raw bytes once, here, gives every route (including
ones added later) the same clear 4xx. Multipart uploads are left to the upload limit
(`request_max_body_size`) and to the parsers, which read files as data, not as JSON.
"""

from __future__ import annotations

import json
import re
from typing import Any

from litestar.types import ASGIApp, Message, Receive, Scope, Send

from core.errors import KefuError, PayloadTooLarge
from core.settings import get_settings

MAX_JSON_DEPTH = 32
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")
# An escaped NUL: \u0000 preceded by an even number of backslashes (so not the text "\\u0000").
_ESCAPED_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000", re.IGNORECASE)


class Refused(Exception):
    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail = status, title, detail


def json_depth(body: bytes) -> int:
    """How deeply arrays and objects nest in a JSON text (strings are skipped, brackets in them don't count)."""
    if body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH:
        return 0  # cannot nest deeper than it has openers; the common case costs two counts
    depth = deepest = 0
    for bracket in _BRACKET.findall(_STRING.sub(b'""', body)):
        depth += 1 if bracket in (b"[", b"{") else -1
        deepest = max(deepest, depth)
    return deepest


def check_json_body(body: bytes) -> None:
    """Raise `Refused` for a body no JSON route could store."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Refused(400, "Invalid encoding", f"The request body is not valid UTF-8 (byte {exc.start}); "
                      "send JSON encoded as UTF-8.") from exc
    if json_depth(body) > MAX_JSON_DEPTH:
        raise Refused(400, "JSON nested too deeply",
                      f"The JSON nests arrays or objects more than {MAX_JSON_DEPTH} levels deep; flatten it.")
    if b"u0000" in body.lower() and _ESCAPED_NUL.search(body):
        raise Refused(400, "Invalid character", "Text may not contain the NUL character (\\u0000); remove it.")


def read_socket_frame(raw: str | bytes) -> Any:
    """Decode a WebSocket text frame by the same rules as a JSON body; `KefuError` (400/413) otherwise."""
    data = raw.encode("utf-8", errors="surrogatepass") if isinstance(raw, str) else raw
    limit = get_settings().max_json_body_bytes
    if len(data) > limit:
        raise PayloadTooLarge(_too_large(limit).detail)
    try:
        check_json_body(data)
        return json.loads(data)
    except Refused as refused:
        raise KefuError(refused.detail) from refused
    except ValueError as exc:
        raise KefuError('The frame is not valid JSON; send {"type": "message", "message": "..."}.') from exc


def _is_json_like(content_type: str) -> bool:
    return not content_type.startswith(("multipart/", "application/x-www-form-urlencoded"))


def _header(scope: Scope, name: bytes) -> str:
    return next((v.decode("latin-1") for k, v in scope["headers"] if k == name), "")


async def _read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    declared = _header(scope, b"content-length")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _too_large(limit: int) -> Refused:
    return Refused(413, "Payload too large", f"The request body is larger than {limit // 1024} KB, "
                   "the limit for JSON requests; send less data per request (files go to the upload routes).")


async def _refuse(send: Send, refused: Refused) -> None:
    body = json.dumps({"type": "about:blank", "title": refused.title, "status": refused.status,
                       "detail": refused.detail}).encode()
    await send({"type": "http.response.start", "status": refused.status,
                "headers": [(b"content-type", b"application/problem+json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def request_limits(app: ASGIApp) -> ASGIApp:
    """Middleware: refuse NUL in the URL, and oversized, non-UTF-8, too deeply nested or NUL-bearing JSON bodies."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        try:
            if "\x00" in scope["path"] or b"%00" in scope.get("query_string", b""):
                raise Refused(400, "Invalid character", "The URL may not contain the NUL character (%00).")
            content_type = _header(scope, b"content-type").lower()
            if scope["method"] not in _BODY_METHODS or not _is_json_like(content_type):
                await app(scope, receive, send)
                return
            body = await _read_body(scope, receive, get_settings().max_json_body_bytes)
            check_json_body(body)
        except Refused as refused:
            await _refuse(send, refused)
            return
        await app(scope, _replay(body, receive), send)

    return middleware


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive callable that yields the already-read body once, then defers to the server."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            message: dict[str, Any] = {"type": "http.request", "body": body, "more_body": False}
            return message  # type: ignore[return-value]
        return await receive()

    return replay
