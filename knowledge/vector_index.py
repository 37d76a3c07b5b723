"""Per-tenant partial indexes (HNSW for the dense half, GIN for the lexical half), built as a tenant grows.

A small tenant is searched by reading its own rows (btree on tenant_id): an exact scan for the
dense half, a check of each row's tsvector for the lexical half (`kefu_lexical_candidates`,
migration 0011). As it grows it gets two indexes built CONCURRENTLY with
`WHERE tenant_id = '<id>'`, which the planner uses only for that tenant's queries (retrieval
inlines the tenant id as a literal):

- from `tenant_lexical_index_threshold` chunks (2,000), `USING gin (lexical)`: checking every row
  stops being cheap, and the global GIN holds every tenant's postings, so a common term would AND
  a posting list from all tenants with the tenant's rows on every search;
- from `tenant_hnsw_threshold` chunks (20,000), `USING hnsw (embedding vector_cosine_ops)`: a
  single global HNSW index filtered by tenant would drop most of a small tenant's rows, so there
  is none.

Measurements in docs/retrieval.md.
"""

from __future__ import annotations

import time
import uuid

from sqlalchemy import func, select, text

from core.db import owner_engine, sync_tenant_session
from core.models import Chunk
from core.settings import get_settings

INDEX_PREFIX = "ix_chunks_hnsw_t_"
LEXICAL_INDEX_PREFIX = "ix_chunks_lexical_t_"
_cache: dict[uuid.UUID, tuple[float, bool]] = {}
_CACHE_SECONDS = 30.0


def index_name(tenant_id: uuid.UUID) -> str:
    """The tenant's partial HNSW index (its presence switches retrieval to the indexed dense path)."""
    return INDEX_PREFIX + tenant_id.hex


def lexical_index_name(tenant_id: uuid.UUID) -> str:
    return LEXICAL_INDEX_PREFIX + tenant_id.hex


def chunk_count(tenant_id: uuid.UUID) -> int:
    with sync_tenant_session(tenant_id) as session:
        return int(session.scalar(select(func.count()).select_from(Chunk)) or 0)


def ensure_tenant_index(tenant_id: uuid.UUID, *, force: bool = False) -> bool:
    """Build the partial GIN and HNSW indexes the tenant is large enough for (`force`: both);
    True if its HNSW index exists after."""
    settings = get_settings()
    count = None if force else chunk_count(tenant_id)
    tenant = f"'{uuid.UUID(str(tenant_id))}'::uuid"
    # The GIN first: it takes seconds, the HNSW minutes, and retrieval switches paths on the HNSW.
    if count is None or count >= min(settings.tenant_lexical_index_threshold, settings.tenant_hnsw_threshold):
        _create(lexical_index_name(tenant_id), f"USING gin (lexical) WHERE tenant_id = {tenant}")
    if count is not None and count < settings.tenant_hnsw_threshold:
        return has_index_uncached(tenant_id)
    _create(
        index_name(tenant_id),
        f"USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64) WHERE tenant_id = {tenant}",
    )
    _cache[tenant_id] = (time.monotonic(), True)
    return True


def index_threshold() -> int:
    """Chunks from which a tenant needs a partial index of some kind (the maintenance actor's trigger)."""
    settings = get_settings()
    return min(settings.tenant_lexical_index_threshold, settings.tenant_hnsw_threshold)


def _create(name: str, definition: str) -> None:
    # CONCURRENTLY cannot run in a transaction block and does not block writers. A build that
    # failed half-way leaves an invalid index behind, which IF NOT EXISTS would keep forever.
    with owner_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        invalid = conn.scalar(
            text("SELECT NOT indisvalid FROM pg_index WHERE indexrelid = to_regclass(:n)"), {"n": name}
        )
        if invalid:
            conn.execute(text(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "{name}" ON chunks {definition}'))


def drop_tenant_index(tenant_id: uuid.UUID) -> None:
    """Drop both of the tenant's partial indexes (retrieval falls back to the exact scan and global GIN)."""
    with owner_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for name in (index_name(tenant_id), lexical_index_name(tenant_id)):
            conn.execute(text(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"'))
    _cache.pop(tenant_id, None)


_HAS_INDEX = text("SELECT EXISTS (SELECT 1 FROM pg_index WHERE indexrelid = to_regclass(:n) AND indisvalid)")


def has_index_uncached(tenant_id: uuid.UUID) -> bool:
    with sync_tenant_session(tenant_id) as session:
        return bool(session.scalar(_HAS_INDEX, {"n": index_name(tenant_id)}))


def cached_has_index(tenant_id: uuid.UUID) -> bool | None:
    entry = _cache.get(tenant_id)
    if entry and time.monotonic() - entry[0] < _CACHE_SECONDS:
        return entry[1]
    return None


def remember(tenant_id: uuid.UUID, present: bool) -> None:
    _cache[tenant_id] = (time.monotonic(), present)


HAS_INDEX_SQL = _HAS_INDEX
