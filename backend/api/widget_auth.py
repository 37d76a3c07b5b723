"""Widget keys: public, mapped to a tenant, accepted only from the tenant's allowed origins."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from litestar.connection import ASGIConnection
from litestar.di import NamedDependency

from core.db import autocommit_connection
from core.errors import NotAuthenticated, PermissionDenied
from core.logging import bind_log_context
from core.tenancy import RESOLVE_WIDGET_KEY
from core.versions import widget_keys_version

# Short-lived cache, checked against the widget key version (core.versions) on every hit, so a
# revoked key stops working at once in every process; if Redis is down the cache is bypassed.
_CACHE_SECONDS = 5.0
_cache: dict[str, tuple[float, int, Widget | None]] = {}


@dataclass(frozen=True)
class Widget:
    tenant_id: uuid.UUID
    key_id: uuid.UUID
    allowed_origins: tuple[str, ...]


def origin_allowed(widget: Widget, origin: str | None) -> bool:
    """No list = any origin (development); a browser request must come from a listed origin."""
    if not widget.allowed_origins or origin is None:
        return True
    return origin.rstrip("/").lower() in {o.rstrip("/").lower() for o in widget.allowed_origins}


async def resolve_widget(connection: ASGIConnection[Any, Any, Any, Any]) -> Widget:
    key = connection.headers.get("x-widget-key") or connection.query_params.get("key") or ""
    if not key:
        raise NotAuthenticated("Send the widget key in the X-Widget-Key header.")
    now = time.monotonic()
    version = await widget_keys_version()  # read before the database, so a later revocation is seen
    cached = _cache.get(key)
    if cached and version is not None and cached[1] == version and now - cached[0] < _CACHE_SECONDS:
        widget = cached[2]
    else:
        async with autocommit_connection() as db:  # one statement: no transaction around it
            row = (await db.execute(RESOLVE_WIDGET_KEY, {"k": key})).first()
        widget = Widget(row.tenant_id, row.key_id, tuple(row.allowed_origins or ())) if row else None
        if len(_cache) > 10_000:
            _cache.clear()
        if version is not None:
            _cache[key] = (now, version, widget)
    if widget is None:
        raise NotAuthenticated("The widget key is invalid or has been revoked.")
    if not origin_allowed(widget, connection.headers.get("origin")):
        raise PermissionDenied("This site is not allowed to use this widget key; add its origin in the settings.")
    bind_log_context(tenant_id=widget.tenant_id)
    return widget


async def provide_widget(request: ASGIConnection[Any, Any, Any, Any]) -> Widget:
    return await resolve_widget(request)


CurrentWidget = NamedDependency[Widget]
