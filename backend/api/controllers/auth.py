"""POST /api/v1/auth/login: email + password for a signed, expiring token."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Controller, Request, post
from litestar.params import JSONBody

from backend.api.client_address import client_address
from backend.api.schemas import LoginRequest, LoginResponse
from core.db import anonymous_session
from core.login_throttle import begin_login_attempt, login_succeeded
from core.security import issue_token
from core.settings import get_settings
from core.tenancy import FIND_LOGIN, check_login


class AuthController(Controller):
    path = "/api/v1/auth"
    tags = ["auth"]

    @post("/login", status_code=200, summary="Log in with email and password",
          description="Repeated failures for one account from one address are refused with 429 and Retry-After.")
    async def login(self, request: Request[Any, Any, Any], data: JSONBody[LoginRequest]) -> LoginResponse:
        email = data.email.strip().lower()
        address = client_address(request) or "unknown"
        await begin_login_attempt(email, address)
        async with anonymous_session() as session:
            row = (await session.execute(FIND_LOGIN, {"e": email})).first()
        # argon2 is deliberately slow; keep it off the event loop.
        principal = await asyncio.to_thread(check_login, row, data.password)
        assert principal.user_id is not None
        await login_succeeded(email, address)
        ttl = get_settings().token_ttl_seconds
        token = issue_token(principal.tenant_id, principal.user_id, principal.role, ttl)
        return LoginResponse(token, "bearer", ttl, principal.tenant_id, principal.role)
