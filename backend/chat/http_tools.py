"""Tenant-defined HTTP functions: define, list, delete, and call them safely (`call_http_tool`).

The model chooses the arguments, so everything it controls is checked: arguments against the
declared JSON schema, placeholder values URL-encoded into path/query only (never the host), and
the destination against private networks (SSRF). The connection goes to the address that was
checked (pinned), so a DNS answer that changes between check and connect cannot redirect it;
TLS still verifies the certificate for the original host name (SNI), because httpcore passes the
URL's host to `start_tls`. Redirects are not followed: a 3xx comes back as the result.
"""

from __future__ import annotations

import asyncio
import copy
import ipaddress
import json
import re
import socket
import ssl
import uuid
import zlib
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any
from urllib.parse import quote

import httpcore
import httpx
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core.errors import Conflict, NotFound, ValidationFailed
from core.models import HttpTool
from core.settings import get_settings

BUILTIN_TOOL_NAMES = frozenset({"search_knowledge", "lookup_record", "call_http_tool", "request_human"})
TOOL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]{0,63}$")
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,200}$")
PARAM_TYPES = ("string", "number", "integer", "boolean")
METHODS = ("GET", "POST")
MIN_TIMEOUT, MAX_TIMEOUT = 0.5, 30.0
MAX_RESPONSE_BYTES = 64 * 1024
MAX_BODY_CHARS = 4096
MAX_ARG_CHARS = 2000
# Headers the transport owns; letting a tenant set them would break framing or the pinned Host.
_RESERVED_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "content-type",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "upgrade",
        "proxy-authorization",
        "proxy-connection",
        "accept-encoding",
    }
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeDestinationError(Exception):
    """The URL may not be requested (private address, bad scheme, unresolvable host)."""


# -- definitions ------------------------------------------------------------------------------------


def validate_tool_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Check a tool definition and return the column values to store; raises `ValidationFailed`."""
    known = {
        "name",
        "description",
        "parameters",
        "url_template",
        "method",
        "timeout_seconds",
        "secret_header_name",
        "secret_header_value",
        "enabled",
    }
    if unknown := sorted(set(spec) - known):
        raise ValidationFailed(f"Unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(known))}.")
    name = spec.get("name")
    if not isinstance(name, str) or not TOOL_NAME.fullmatch(name):
        raise ValidationFailed("name must be 1-64 letters, digits or '_', not starting with a digit.")
    if name.lower() in BUILTIN_TOOL_NAMES:
        raise ValidationFailed(f"'{name}' is a built-in tool name; choose another.")
    description = spec.get("description")
    if not isinstance(description, str) or not description.strip() or len(description) > 1024:
        raise ValidationFailed("description is required (at most 1024 characters): the model reads it.")
    parameters = _check_parameters(spec.get("parameters"))
    url_template = _check_url_template(spec.get("url_template"), parameters["properties"])
    method = str(spec.get("method") or "GET").upper()
    if method not in METHODS:
        raise ValidationFailed("method must be GET or POST.")
    timeout = spec.get("timeout_seconds", 5.0)
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not MIN_TIMEOUT <= timeout <= MAX_TIMEOUT
    ):
        raise ValidationFailed(f"timeout_seconds must be between {MIN_TIMEOUT} and {MAX_TIMEOUT}.")
    header_name, header_value = (
        spec.get("secret_header_name") or None,
        spec.get("secret_header_value") or None,
    )
    if (header_name is None) != (header_value is None):
        raise ValidationFailed("Give both secret_header_name and secret_header_value, or neither.")
    if header_name is not None:
        if (
            not isinstance(header_name, str)
            or not HEADER_NAME.fullmatch(header_name)
            or header_name.lower() in _RESERVED_HEADERS
        ):
            raise ValidationFailed(
                "secret_header_name must be a valid HTTP header name other than "
                "Host, Content-Type or other transport headers."
            )
        if (
            not isinstance(header_value, str)
            or len(header_value) > 4096
            or re.search(r"[\r\n\x00]", header_value)
        ):
            raise ValidationFailed("secret_header_value must be one line of at most 4096 characters.")
    return {
        "name": name,
        "description": description.strip(),
        "parameters": parameters,
        "url_template": url_template,
        "method": method,
        "timeout_seconds": float(timeout),
        "secret_header_name": header_name,
        "secret_header_value": header_value,
        "enabled": bool(spec.get("enabled", True)),
    }


def create_http_tool(session: Session, tenant_id: uuid.UUID, spec: Mapping[str, Any]) -> HttpTool:
    """Store a new tool for the tenant; `Conflict` if the name is taken."""
    values = validate_tool_spec(spec)
    if get_http_tool_by_name(session, tenant_id, values["name"]) is not None:
        raise Conflict(f"A tool named '{values['name']}' already exists; delete it first to replace it.")
    tool = HttpTool(id=uuid.uuid4(), tenant_id=tenant_id, **values)
    session.add(tool)
    session.flush()
    return tool


def tool_view(tool: HttpTool) -> dict[str, Any]:
    """What admins and the model may see of a tool: everything except the secret's value."""
    return {
        "name": tool.name,
        "description": tool.description,
        "parameters": tool.parameters,
        "url_template": tool.url_template,
        "method": tool.method,
        "timeout_seconds": tool.timeout_seconds,
        "secret_header_name": tool.secret_header_name,
        "has_secret": bool(tool.secret_header_value),
        "enabled": tool.enabled,
        "created_at": tool.created_at,
    }


def list_http_tools(
    session: Session, tenant_id: uuid.UUID, *, enabled_only: bool = False
) -> list[dict[str, Any]]:
    """The tenant's tools as `tool_view` dicts, by name."""
    query = select(HttpTool).where(HttpTool.tenant_id == tenant_id).order_by(HttpTool.name)
    if enabled_only:
        query = query.where(HttpTool.enabled.is_(True))
    return [tool_view(tool) for tool in session.scalars(query)]


def get_http_tool_by_name(session: Session, tenant_id: uuid.UUID, name: str) -> HttpTool | None:
    """The stored tool, secret included: for calling it, never for showing it (use `tool_view`)."""
    return session.scalars(
        select(HttpTool).where(HttpTool.tenant_id == tenant_id, HttpTool.name == name)
    ).first()


def delete_http_tool(session: Session, tenant_id: uuid.UUID, name: str) -> None:
    deleted = session.execute(
        delete(HttpTool).where(HttpTool.tenant_id == tenant_id, HttpTool.name == name).returning(HttpTool.id)
    ).first()
    if deleted is None:
        raise NotFound(f"No tool named '{name}' in this tenant.")


def _check_parameters(parameters: Any) -> dict[str, Any]:
    if (
        not isinstance(parameters, dict)
        or parameters.get("type") != "object"
        or not isinstance(parameters.get("properties", {}), dict)
    ):
        raise ValidationFailed(
            'parameters must be a JSON schema object: {"type": "object", "properties": {...}}.'
        )
    parameters = copy.deepcopy(parameters)  # the caller's dict stays as it was
    properties = parameters.setdefault("properties", {})
    for name, schema in properties.items():
        if not TOOL_NAME.fullmatch(name):
            raise ValidationFailed(f"Parameter name {name!r} must be letters, digits or '_'.")
        if not isinstance(schema, dict) or schema.get("type") not in PARAM_TYPES:
            raise ValidationFailed(f"Parameter '{name}' needs a type: one of {', '.join(PARAM_TYPES)}.")
        if "enum" in schema and not isinstance(schema["enum"], list):
            raise ValidationFailed(f"Parameter '{name}': enum must be a list.")
    required = parameters.get("required", [])
    if not isinstance(required, list) or any(r not in properties for r in required):
        raise ValidationFailed("parameters.required must list declared properties only.")
    return parameters


def _check_url_template(template: Any, properties: Mapping[str, Any]) -> str:
    if not isinstance(template, str) or not template or len(template) > 2000:
        raise ValidationFailed("url_template is required (at most 2000 characters).")
    scheme, separator, rest = template.partition("://")
    if not separator or scheme.lower() not in ("http", "https"):
        raise ValidationFailed("url_template must start with http:// or https://.")
    authority = re.split(r"[/?#\\]", rest, maxsplit=1)[0]
    if "{" in authority or "}" in authority:
        raise ValidationFailed("Placeholders are not allowed in the host or port of url_template.")
    if "@" in authority:
        raise ValidationFailed("url_template must not contain credentials; use the secret header instead.")
    for name in PLACEHOLDER.findall(template):
        if name not in properties:
            raise ValidationFailed(f"Placeholder {{{name}}} in url_template is not a declared parameter.")
    if re.search(r"[{}]", PLACEHOLDER.sub("", template)):
        raise ValidationFailed("url_template has an unbalanced '{' or '}'.")
    try:
        url = httpx.URL(PLACEHOLDER.sub("x", template))
        valid = bool(url.host) and (url.port is None or 0 < url.port < 65536)
    except (httpx.InvalidURL, ValueError):
        valid = False
    if not valid:
        raise ValidationFailed("url_template is not a valid URL.")
    return template


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
