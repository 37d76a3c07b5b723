"""Security schemes in the OpenAPI document, so Swagger's "Authorize" and generated clients work.

Two schemes: `BearerAuth` (an admin API key or a login token, `Authorization: Bearer …`) and
`WidgetKey` (the public widget key, `X-Widget-Key`). Each operation is marked with the one it
needs, read from the handler itself: a role guard or a `principal` parameter means Bearer, a
`widget` parameter means the widget key, so a route added later is documented without a list here.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.spec import Components, SecurityScheme

BEARER, WIDGET = "BearerAuth", "WidgetKey"
COMPONENTS = Components(
    security_schemes={
        BEARER: SecurityScheme(
            type="http",
            scheme="bearer",
            description="An admin API key (kefu_sk_…) or a token from POST /api/v1/auth/login; the role "
            "(owner > admin > analyst) decides which routes answer.",
        ),
        WIDGET: SecurityScheme(
            type="apiKey",
            name="X-Widget-Key",
            security_scheme_in="header",
            description="The tenant's public widget key (kefu_wk_…); browsers must also come from an allowed origin.",
        ),
    }
)


def mark_bearer(guard: Any) -> Any:
    """Tag a guard as needing an admin credential (see `requirements_of`)."""
    guard.needs_bearer = True
    return guard


def requirements_of(handler: HTTPRouteHandler) -> list[dict[str, list[str]]]:
    parameters = handler.parsed_fn_signature.parameters
    guards = [guard for layer in handler.ownership_layers for guard in (layer.guards or [])]
    if "principal" in parameters or any(getattr(guard, "needs_bearer", False) for guard in guards):
        return [{BEARER: []}]
    if "widget" in parameters:
        return [{WIDGET: []}]
    return []


def declare_security(app: Litestar) -> Litestar:
    """Set each operation's security requirement from what its handler needs."""
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if isinstance(handler, HTTPRouteHandler) and handler.include_in_schema:
                requirement = requirements_of(handler)
                if requirement:
                    handler.security = requirement
                    handler._resolved_security = requirement
    return app
