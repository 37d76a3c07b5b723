"""Calling a tenant-defined HTTP tool safely (`call_http_tool`); definitions are in `chat.http_tool_specs`.

The model chooses the arguments, so everything it controls is checked: arguments against the
declared JSON schema, placeholder values URL-encoded into path/query only (never the host), and
the destination against private networks through `core.outbound` (checked, pinned connections).
Redirects are not followed: a 3xx comes back as the result.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

import httpx

from chat.http_tool_specs import PLACEHOLDER
from core.models import HttpTool
from core.outbound import UnsafeDestinationError, decompress, guarded_client

MAX_RESPONSE_BYTES = 64 * 1024
MAX_BODY_CHARS = 4096
MAX_ARG_CHARS = 2000


def validate_arguments(
    parameters: Mapping[str, Any], args: Any, also_required: Iterable[str] = ()
) -> str | None:
    """What is wrong with the model's arguments, in words it can act on, or None if they fit."""
    if not isinstance(args, dict):
        return "arguments must be a JSON object"
    properties: Mapping[str, Any] = parameters.get("properties", {})
    if unknown := sorted(set(args) - set(properties)):
        return f"unknown argument(s) {', '.join(unknown)}; expected: {', '.join(properties) or 'none'}"
    for name in dict.fromkeys([*parameters.get("required", []), *also_required]):
        if args.get(name) is None:
            return f"missing required argument '{name}'"
    for name, value in args.items():
        if value is None:
            continue
        expected = properties[name].get("type")
        if not _has_type(value, expected):
            return f"argument '{name}' must be a {expected}"
        if isinstance(value, str) and len(value) > MAX_ARG_CHARS:
            return f"argument '{name}' is longer than {MAX_ARG_CHARS} characters"
        enum = properties[name].get("enum")
        if enum is not None and value not in enum:
            return f"argument '{name}' must be one of {enum}"
    return None


def _has_type(value: Any, expected: str | None) -> bool:
    if expected == "string":
        return isinstance(value, str)
    if expected == "boolean":
        return isinstance(value, bool)
    if expected == "integer":
        return not isinstance(value, bool) and (
            isinstance(value, int) or (isinstance(value, float) and value.is_integer())
        )
    if expected == "number":
        return not isinstance(value, bool) and isinstance(value, int | float)
    return False


async def call_http_tool(tool: HttpTool, args: dict[str, Any], *, allow_private: bool) -> dict[str, Any]:
    """Call a tenant tool: {"status", "body"} on any HTTP answer, {"error"} for refused or failed calls."""
    if not tool.enabled:
        return {"error": f"the tool {tool.name} is disabled"}
    placeholders = PLACEHOLDER.findall(tool.url_template)
    if problem := validate_arguments(tool.parameters, args, placeholders):
        return {"error": problem}
    given = {k: v for k, v in args.items() if v is not None}
    rest = {k: v for k, v in given.items() if k not in placeholders}
    try:
        url = httpx.URL(PLACEHOLDER.sub(lambda m: _encode_segment(given[m.group(1)]), tool.url_template))
        if tool.method == "GET" and rest:
            url = url.copy_merge_params({k: _text(v) for k, v in rest.items()})
    except httpx.InvalidURL:
        return {"error": "the arguments do not make a valid URL"}
    headers = {
        "Accept": "application/json, text/plain;q=0.9, */*;q=0.5",
        "Accept-Encoding": "identity",
        "User-Agent": "Kefu-HttpTool/1",
    }
    if tool.secret_header_name and tool.secret_header_value:
        headers[tool.secret_header_name] = tool.secret_header_value
    try:
        async with asyncio.timeout(tool.timeout_seconds):
            async with await guarded_client(url, timeout=tool.timeout_seconds, allow_private=allow_private) as client:
                body = rest if tool.method == "POST" else None
                async with client.stream(tool.method, url, headers=headers, json=body) as response:
                    return await _read_response(response)
    except UnsafeDestinationError as exc:
        return {"error": str(exc)}
    except (TimeoutError, httpx.TimeoutException):
        return {"error": f"the request timed out after {tool.timeout_seconds:g} s"}
    except httpx.HTTPError as exc:
        return {"error": f"the request failed ({type(exc).__name__})"}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _encode_segment(value: Any) -> str:
    # safe="" encodes "/", "?", "#", "@" and ":", so a value stays inside its path segment; a bare
    # "." or ".." would be collapsed as a dot segment by URL normalisation, so encode those too.
    text = _text(value)
    return "%2E" * len(text) if text in (".", "..") else quote(text, safe="")


async def _read_response(response: httpx.Response) -> dict[str, Any]:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_RESPONSE_BYTES:
        return {"error": "response too large", "status": response.status_code}
    raw = bytearray()
    async for chunk in response.aiter_raw():
        raw += chunk
        if len(raw) > MAX_RESPONSE_BYTES:
            return {"error": "response too large", "status": response.status_code}
    content = decompress(bytes(raw), response.headers.get("content-encoding", "").strip().lower(), MAX_RESPONSE_BYTES)
    if content is None:
        return {"error": "response too large or in an unsupported encoding", "status": response.status_code}
    result: dict[str, Any] = {"status": response.status_code}
    if response.is_redirect:
        result["location"] = response.headers.get("location", "")
    try:
        text = content.decode(response.charset_encoding or "utf-8", errors="replace")
    except LookupError:
        text = content.decode("utf-8", errors="replace")
    try:
        parsed = (
            json.loads(text)
            if text.lstrip()[:1] in ("{", "[") or "json" in response.headers.get("content-type", "")
            else None
        )
    except (ValueError, RecursionError):  # not JSON after all, or nested too deep to be worth it
        parsed = None
    if parsed is not None:
        text = json.dumps(parsed, ensure_ascii=False, separators=(",", ":"))
        if len(text) <= MAX_BODY_CHARS:
            return result | {"body": parsed}
    truncated = len(text) > MAX_BODY_CHARS
    return result | {"body": text[:MAX_BODY_CHARS]} | ({"truncated": True} if truncated else {})


