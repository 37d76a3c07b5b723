"""One knowledge entry by its external id: what a chosen "did you mean" suggestion is answered from."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from core.db import tenant_connection
from core.models import Chunk
from knowledge.hits import Hit


async def entry_hit(tenant_id: uuid.UUID, source_ref: str) -> Hit | None:
    """The tenant's first chunk with this `source_ref` as a hit (full score), or None."""
    async with tenant_connection(tenant_id) as connection:
        row = (
            await connection.execute(
                select(Chunk.id, Chunk.document_id, Chunk.source_ref, Chunk.text, Chunk.meta.label("meta"))
                # The row's own chunk, not one of its similar questions (same `source_ref`).
                .where(Chunk.tenant_id == tenant_id, Chunk.source_ref == source_ref,
                       ~Chunk.meta.has_key("variant_of"))
                .order_by(Chunk.document_id, Chunk.ordinal)
                .limit(1)
            )
        ).first()
    if row is None:
        return None
    return Hit(row.id, row.document_id, row.source_ref, row.text, 1.0, 1.0, 0.0, dict(row.meta or {}))
