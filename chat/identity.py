"""Who is asking: a visitor (the widget's random id) and, if the site vouched for them, a verified user.

`verify` checks a `user: {id, hash}` claim against the tenant's identity secret (core.identity).
The secret is cached per tenant version; rotating it bumps the version, so every process stops
accepting the old hashes at once. A claim that does not verify is refused (401), never treated
as anonymous: a site that sends a user meant that user.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from core.db import tenant_session
from core.identity import UserClaim, VerifiedUser, parse_claim, unseal, verify_claim
from core.models import Tenant
from core.versions import tenant_version


@dataclass(frozen=True)
class Asker:
    """The caller of a widget route: always a visitor id, and a verified user when the site signed one."""

    visitor_id: str
    user: VerifiedUser | None = None

    @property
    def user_id(self) -> str | None:
        return self.user.id if self.user else None

    def owns(self, conversation_visitor: str, conversation_user: str | None) -> bool:
        """A user's conversation is theirs on any device; an anonymous one belongs to its visitor."""
        if conversation_user is not None:
            return self.user is not None and self.user.id == conversation_user
        return self.visitor_id == conversation_visitor


_secrets: dict[uuid.UUID, tuple[int, str | None]] = {}


async def tenant_secret(tenant_id: uuid.UUID, version: int | None) -> str | None:
    cached = _secrets.get(tenant_id)
    if version is not None and cached is not None and cached[0] == version:
        return cached[1]
    async with tenant_session(tenant_id) as session:
        sealed = await session.scalar(select(Tenant.identity_secret).where(Tenant.id == tenant_id))
    secret = unseal(sealed)
    if version is not None:
        _secrets[tenant_id] = (version, secret)
    return secret


async def verify(tenant_id: uuid.UUID, claim: UserClaim | None, *, version: Any = ...) -> VerifiedUser | None:
    """The verified user of `claim` (None without one); 401 when its hash does not match."""
    if claim is None:
        return None
    if version is ...:
        version = await tenant_version(tenant_id)
    return verify_claim(await tenant_secret(tenant_id, version), claim)


async def asker(tenant_id: uuid.UUID, visitor_id: str, raw_user: Any) -> Asker:
    """The caller from a visitor id and a raw `user` object (body, frame or headers)."""
    return Asker(visitor_id, await verify(tenant_id, parse_claim(raw_user)))
