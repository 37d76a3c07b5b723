"""Tenant-defined HTTP tools as data: validate a definition, store, list (secrets hidden), delete.

Network-free, so the API, the Dash admin app and the chat engine share one set of rules (writes go
through `chat.commands`); calling a tool is `chat.http_tools.call_http_tool`.
"""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Mapping
from typing import Any

import httpx
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core.errors import Conflict, NotFound, ValidationFailed
from core.models import HttpTool

BUILTIN_TOOL_NAMES = frozenset({"search_knowledge", "lookup_record", "call_http_tool", "request_human"})
TOOL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]{0,63}$")
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,200}$")
PARAM_TYPES = ("string", "number", "integer", "boolean")
METHODS = ("GET", "POST")
MIN_TIMEOUT, MAX_TIMEOUT = 0.5, 30.0
# Headers the transport owns; letting a tenant set them would break framing or the pinned Host.
RESERVED_HEADERS = frozenset(
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
            or header_name.lower() in RESERVED_HEADERS
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
