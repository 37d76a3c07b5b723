"""The tenant's people: owners and admins add users (agents included) and list them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from litestar import Controller, get, post
from litestar.params import JSONBody
from sqlalchemy import select

from backend.api.auth import CurrentPrincipal, requires
from core.audit import Actor
from core.db import tenant_session, tenant_session_sync
from core.models import User
from core.tenancy import add_user, check_grantable


@dataclass
class UserIn:
    email: str
    password: str
    role: str
    display_name: str | None = None


class UserController(Controller):
    path = "/api/v1/users"
    tags = ("users",)

    @post(
        "/",
        status_code=201,
        guards=[requires("admin")],
        summary="Add a user (owner, admin, analyst or agent); admins cannot add owners",
    )
    async def create_user(self, principal: CurrentPrincipal, data: JSONBody[UserIn]) -> dict[str, Any]:
        check_grantable(principal.role, data.role)

        def add() -> dict[str, Any]:
            with tenant_session_sync(principal.tenant_id) as session:
                user = add_user(
                    session,
                    principal.tenant_id,
                    data.email,
                    data.password,
                    data.role,
                    actor=Actor.of(principal),
                    display_name=data.display_name,
                )
                return {"id": str(user.id), "email": user.email, "role": user.role, "display_name": user.display_name}

        return await asyncio.to_thread(add)

    @get("/", guards=[requires("analyst")], summary="The tenant's users (as on the admin app's settings page)")
    async def list_users(self, principal: CurrentPrincipal) -> dict[str, Any]:
        async with tenant_session(principal.tenant_id) as session:
            users = (await session.scalars(select(User).order_by(User.created_at))).all()
        return {"items": [_user_out(u) for u in users]}


def _user_out(user: User) -> dict[str, Any]:
    return {
        "id": str(user.id),
        "email": user.email,
        "role": user.role,
        "display_name": user.display_name,
        "is_active": user.is_active,
        "created_at": user.created_at.isoformat(),
    }
