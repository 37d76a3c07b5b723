"""Tenant-defined HTTP functions: call them safely (`call_http_tool`); definitions are in `core.http_tools`.

The model chooses the arguments, so everything it controls is checked: arguments against the
declared JSON schema, placeholder values URL-encoded into path/query only (never the host), and
the destination against private networks (SSRF). The connection goes to the address that was
checked (pinned), so a DNS answer that changes between check and connect cannot redirect it;
TLS still verifies the certificate for the original host name (SNI), because httpcore passes the
URL's host to `start_tls`. Redirects are not followed: a 3xx comes back as the result.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
import ssl
import zlib
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any
from urllib.parse import quote

import httpcore
import httpx

# Definitions (validation, storage, listing) live in core so Dash shares them; re-exported here.
from core.http_tools import (
    PLACEHOLDER,
    create_http_tool,
    delete_http_tool,
    get_http_tool_by_name,
    list_http_tools,
    tool_view,
    validate_tool_spec,
)
from core.models import HttpTool
from core.settings import get_settings

__all__ = [
    "MAX_RESPONSE_BYTES",
    "UnsafeDestinationError",
    "call_http_tool",
    "create_http_tool",
    "delete_http_tool",
    "get_http_tool_by_name",
    "is_forbidden_address",
    "list_http_tools",
    "resolve_destination",
    "tool_view",
    "validate_arguments",
    "validate_tool_spec",
]

MAX_RESPONSE_BYTES = 64 * 1024
MAX_BODY_CHARS = 4096
MAX_ARG_CHARS = 2000
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeDestinationError(Exception):
    """The URL may not be requested (private address, bad scheme, unresolvable host)."""


# -- calling ----------------------------------------------------------------------------------------


def private_destinations_allowed() -> bool:
    """The operator's switch for tools on private networks (off by default)."""
    return get_settings().http_tools_allow_private


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


def is_forbidden_address(ip: IPAddress) -> bool:
    """True for addresses a tenant's tool must not reach: anything not plainly on the public internet."""
    if _forbidden_plain(ip):
        return True
    embedded = _embedded_ipv4(ip) if isinstance(ip, ipaddress.IPv6Address) else None
    return embedded is not None and _forbidden_plain(embedded)


def _forbidden_plain(ip: IPAddress) -> bool:
    return (
        not ip.is_global
        or ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or getattr(ip, "is_site_local", False)
    )


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form carries (mapped, 6to4, Teredo client, NAT64, compatible)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64 or int(ip) >> 32 == 0:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


async def resolve_destination(host: str, port: int, *, allow_private: bool) -> list[str]:
    """Every address `host` resolves to, or `UnsafeDestinationError` if any of them is forbidden."""
    try:
        addresses: list[IPAddress] = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise UnsafeDestinationError(f"could not resolve host {host}") from exc
        addresses = list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos))
    # One forbidden answer refuses all: an attacker's DNS could otherwise mix a public address in.
    if not allow_private and any(is_forbidden_address(ip) for ip in addresses):
        raise UnsafeDestinationError(f"refused: {host} resolves to a private or reserved address")
    if not addresses:
        raise UnsafeDestinationError(f"could not resolve host {host}")
    return [str(ip) for ip in addresses]


class _PinnedBackend(httpcore.AsyncNetworkBackend):
    """Connects only to the checked addresses of one host, whatever DNS says at connect time."""

    def __init__(self, host: str, addresses: Sequence[str]) -> None:
        self._host, self._addresses, self._inner = host, addresses, httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if host != self._host:
            raise httpcore.ConnectError(f"connection to unchecked host {host} refused")
        error: Exception = httpcore.ConnectError(f"no address for {host}")
        for address in self._addresses:
            try:
                return await self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        raise error

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


@lru_cache(maxsize=1)
def _ssl_context() -> ssl.SSLContext:
    """One verifying context for all calls (loading the CA bundle costs milliseconds)."""
    return httpx.create_ssl_context(trust_env=False)


class _PinnedTransport(httpx.AsyncHTTPTransport):
    def __init__(self, host: str, addresses: Sequence[str]) -> None:
        super().__init__(verify=_ssl_context(), trust_env=False)
        # httpx has no public parameter for the network backend, so its (httpcore) pool is replaced;
        # the DNS-pinning test in tests/integration/test_records_tools.py fails if this stops working.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=_ssl_context(), network_backend=_PinnedBackend(host, addresses)
        )


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
    if url.scheme not in ("http", "https") or url.userinfo or not url.host:
        return {"error": "the tool's URL is not an http(s) URL without credentials"}
    try:
        async with asyncio.timeout(tool.timeout_seconds):
            host = url.raw_host.decode("ascii")  # IDNA-encoded: what httpcore will connect to
            port = url.port or (443 if url.scheme == "https" else 80)
            addresses = await resolve_destination(host, port, allow_private=allow_private)
            transport = _PinnedTransport(host, addresses)
            async with httpx.AsyncClient(
                transport=transport, timeout=tool.timeout_seconds, follow_redirects=False, trust_env=False
            ) as client:
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
    content = _decompress(bytes(raw), response.headers.get("content-encoding", "").strip().lower())
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


def _decompress(raw: bytes, encoding: str) -> bytes | None:
    """Decode gzip/deflate within the size limit (we asked for identity, but servers may ignore it)."""
    if encoding in ("", "identity"):
        return raw
    if encoding not in ("gzip", "x-gzip", "deflate"):
        return None
    decoder = zlib.decompressobj(47 if "gzip" in encoding else 15)  # 47: gzip or zlib header
    try:
        content = decoder.decompress(raw, MAX_RESPONSE_BYTES + 1)
    except zlib.error:
        return None
    return None if len(content) > MAX_RESPONSE_BYTES or decoder.unconsumed_tail else content
