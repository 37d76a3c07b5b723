"""Canned responses: a tenant's ready-made replies, inserted in the inbox by typing /shortcut."""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from core.db import tenant_session
from core.errors import Conflict, NotFound, ValidationFailed
from core.models import CannedResponse

SHORTCUT = re.compile(r"^[\w-]{1,40}$")  # \w includes CJK characters: /退货 works
MAX_TEXT = 4000
MAX_PER_TENANT = 500


def _out(c: CannedResponse) -> dict[str, Any]:
    return {"id": str(c.id), "shortcut": c.shortcut, "text": c.text}


async def list_canned(tenant_id: uuid.UUID) -> dict[str, Any]:
    async with tenant_session(tenant_id) as session:
        rows = (await session.scalars(select(CannedResponse).order_by(CannedResponse.shortcut))).all()
        return {"items": [_out(c) for c in rows]}


async def add_canned(tenant_id: uuid.UUID, shortcut: str, text: str) -> dict[str, Any]:
    shortcut, text = (shortcut or "").strip().lstrip("/"), (text or "").strip()
    if not SHORTCUT.match(shortcut):
        raise ValidationFailed("shortcut must be 1-40 letters, digits, '_' or '-' (typed as /shortcut).")
    if not text or len(text) > MAX_TEXT:
        raise ValidationFailed(f"text must be 1-{MAX_TEXT} characters.")
    try:
        async with tenant_session(tenant_id) as session:
            if len((await session.scalars(select(CannedResponse.id))).all()) >= MAX_PER_TENANT:
                raise ValidationFailed(f"A tenant keeps at most {MAX_PER_TENANT} canned responses; delete some first.")
            canned = CannedResponse(tenant_id=tenant_id, shortcut=shortcut, text=text)
            session.add(canned)
            await session.flush()
            return _out(canned)
    except IntegrityError as exc:
        raise Conflict(f"/{shortcut} already exists; delete it first or pick another shortcut.") from exc


async def delete_canned(tenant_id: uuid.UUID, canned_id: uuid.UUID) -> None:
    async with tenant_session(tenant_id) as session:
        gone = await session.scalar(
            delete(CannedResponse).where(CannedResponse.id == canned_id).returning(CannedResponse.id)
        )
    if gone is None:
        raise NotFound(f"No canned response {canned_id} in this tenant.")
