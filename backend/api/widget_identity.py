"""Who is calling a widget route: the visitor id, and the signed-in user the site vouched for.

Chat bodies and socket frames carry `user: {id, hash, name?, email?, details_hash?}`; reads (GET)
carry the user in the `X-Kefu-User-Id` and `X-Kefu-User-Hash` headers, so the hash never lands in
URLs and access logs. A hash that does not verify is a 401, never an anonymous request.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from litestar.connection import ASGIConnection

from backend.api.widget_auth import Widget
from chat import identity
from chat.conversations import check_visitor_id
from chat.identity import Asker
from core.errors import ValidationFailed

USER_ID_HEADER = "x-kefu-user-id"
USER_HASH_HEADER = "x-kefu-user-hash"


@dataclass
class UserIn:
    """A signed-in user: `hash` = hex HMAC-SHA256(identity secret, id); name/email signed by `details_hash`."""

    id: str | None = None
    hash: str | None = None
    name: str | None = None
    email: str | None = None
    details_hash: str | None = None


def claim_of(user: UserIn | None) -> dict[str, Any] | None:
    return None if user is None else {k: v for k, v in asdict(user).items() if v is not None}


async def asker_from(widget: Widget, visitor_id: str | None, raw_user: Any) -> Asker:
    """The caller of a conversation route; a visitor id or a verified user is required."""
    if visitor_id is None and raw_user is None:
        raise ValidationFailed("Send visitor_id, or the signed-in user (user.id and user.hash).")
    visitor = check_visitor_id(visitor_id) if visitor_id is not None else ""
    return await identity.asker(widget.tenant_id, visitor, raw_user)


async def header_asker(connection: ASGIConnection[Any, Any, Any, Any], widget: Widget,
                       visitor_id: str | None) -> Asker:
    user_id = connection.headers.get(USER_ID_HEADER)
    user_hash = connection.headers.get(USER_HASH_HEADER)
    if (user_id is None) != (user_hash is None):
        raise ValidationFailed("Send both X-Kefu-User-Id and X-Kefu-User-Hash, or neither.")
    raw = {"id": user_id, "hash": user_hash} if user_id is not None else None
    if visitor_id is None and raw is None:
        raise ValidationFailed("Send visitor_id, or the signed-in user in X-Kefu-User-Id and X-Kefu-User-Hash.")
    return await asker_from(widget, visitor_id, raw)
