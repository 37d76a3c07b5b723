"""Who is calling, and may they: bearer tokens and API keys resolved once per request, role guards."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.handlers.base import BaseRouteHandler
from sqlalchemy import select

from backend.api.openapi_security import mark_bearer
from core.db import autocommit_connection, tenant_session
from core.errors import NotAuthenticated, PermissionDenied
from core.logging import bind_log_context
from core.models import User
from core.security import API_KEY_PREFIX, TOKEN_PREFIX, digest_key, read_token, role_allows
from core.tenancy import RESOLVE_API_KEY, Principal

Guard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Coroutine[Any, Any, None]]

# Typed dependency alias: handlers declare `principal: CurrentPrincipal`.
CurrentPrincipal = NamedDependency[Principal]


async def resolve_principal(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    cached = connection.scope.get("state", {}).get("principal")
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    header = connection.headers.get("authorization", "")
    scheme, _, credential = header.partition(" ")
    credential = credential.strip()
    if scheme.lower() != "bearer" or not credential:
        raise NotAuthenticated("Send 'Authorization: Bearer <API key or login token>'.")
    principal = await principal_for(credential)
    connection.scope.setdefault("state", {})["principal"] = principal
    bind_log_context(tenant_id=principal.tenant_id)
    return principal


async def principal_for(credential: str) -> Principal:
    """The principal of a login token or an admin API key (401 when it is not valid now)."""
    if credential.startswith(TOKEN_PREFIX):
        claims = read_token(credential)
        async with tenant_session(claims.tenant_id) as session:
            user = (await session.execute(select(User.is_active, User.role).where(User.id == claims.user_id))).first()
        if user is None or not user.is_active:
            raise NotAuthenticated("This user no longer has access; log in again.")
        principal = Principal(claims.tenant_id, user.role, user_id=claims.user_id)
    elif credential.startswith(API_KEY_PREFIX):
        # One statement, so no transaction around it: one round trip instead of three.
        async with autocommit_connection() as db:
            row = (await db.execute(RESOLVE_API_KEY, {"h": digest_key(credential)})).first()
        if row is None:
            raise NotAuthenticated("The API key is invalid or has been revoked.")
        principal = Principal(row.tenant_id, row.role, api_key_id=row.key_id)
    else:
        raise NotAuthenticated("Unrecognised credential; use an admin API key or a login token.")
    return principal


def requires(role: str) -> Guard:
    """Guard: the caller must be authenticated with `role`'s rights (owner > admin > analyst | agent)."""

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        principal = await resolve_principal(connection)
        if not role_allows(principal.role, role):
            raise PermissionDenied(f"This action needs the {role} role; you are {principal.role}.")

    return mark_bearer(guard)


async def provide_principal(request: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    return await resolve_principal(request)
