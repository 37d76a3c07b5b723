"""Per-tenant partial HNSW indexes, created automatically as a tenant grows.

Below `tenant_hnsw_threshold` chunks, an exact scan of the tenant's rows (btree on tenant_id) is
fast and has perfect recall. Above it, the tenant gets `CREATE INDEX CONCURRENTLY … USING hnsw
(embedding vector_cosine_ops) WHERE tenant_id = '<id>'`, which the planner uses only for that
tenant's queries. A single global HNSW index filtered by tenant would drop most of a small
tenant's rows, so there is none (measurements in docs/retrieval.md).
"""

from __future__ import annotations

import time
import uuid

from sqlalchemy import func, select, text

from core.db import owner_engine, sync_tenant_session
from core.models import Chunk
from core.settings import get_settings

INDEX_PREFIX = "ix_chunks_hnsw_t_"
_cache: dict[uuid.UUID, tuple[float, bool]] = {}
_CACHE_SECONDS = 30.0


def index_name(tenant_id: uuid.UUID) -> str:
    return INDEX_PREFIX + tenant_id.hex


def chunk_count(tenant_id: uuid.UUID) -> int:
    with sync_tenant_session(tenant_id) as session:
        return int(session.scalar(select(func.count()).select_from(Chunk)) or 0)


def ensure_tenant_index(tenant_id: uuid.UUID, *, force: bool = False) -> bool:
    """Build the tenant's partial HNSW index if it is large enough; True if one exists after."""
    if not force and chunk_count(tenant_id) < get_settings().tenant_hnsw_threshold:
        return has_index_uncached(tenant_id)
    name = index_name(tenant_id)
    # CONCURRENTLY cannot run in a transaction block and does not block writers.
    with owner_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        invalid = conn.scalar(
            text("SELECT NOT indisvalid FROM pg_index WHERE indexrelid = to_regclass(:n)"), {"n": name}
        )
        if invalid:
            conn.execute(text(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"'))
        conn.execute(
            text(
                f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "{name}" ON chunks '
                f"USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64) "
                f"WHERE tenant_id = '{tenant_id}'::uuid"
            )
        )
    _cache[tenant_id] = (time.monotonic(), True)
    return True


def drop_tenant_index(tenant_id: uuid.UUID) -> None:
    with owner_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP INDEX CONCURRENTLY IF EXISTS "{index_name(tenant_id)}"'))
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
