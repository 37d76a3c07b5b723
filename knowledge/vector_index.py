"""Per-tenant partial indexes (HNSW for the dense half, GIN for the lexical half), built as a tenant grows.

A small tenant is searched by reading its own rows (btree on tenant_id): an exact scan for the
dense half, a check of each row's tsvector for the lexical half (`kefu_lexical_candidates`,
migration 0011). As it grows it gets two indexes built CONCURRENTLY with
`WHERE tenant_id = '<id>'`, which the planner uses only for that tenant's queries (retrieval
inlines the tenant id as a literal):

- from `tenant_lexical_index_threshold` chunks (2,000), `USING gin (lexical)`: checking every row
  stops being cheap, and the global GIN holds every tenant's postings, so a common term would AND
  a posting list from all tenants with the tenant's rows on every search;
- from `tenant_hnsw_threshold` chunks (20,000), `USING hnsw ((embedding::vector(D)) vector_cosine_ops)
  WHERE tenant_id = '<id>' AND embedder_id = E`, for the tenant's embedder E of dimension D (the
  column holds vectors of any dimension; an HNSW index needs one): a single global HNSW index
  filtered by tenant would drop most of a small tenant's rows, so there is none. When the tenant
  moves to another embedder (`knowledge.reembed`) its index is rebuilt for the new one and swapped in.

A restarted PostgreSQL starts with an empty buffer cache, and the first searches of a large
tenant then read thousands of HNSW and heap pages each, so they are much slower than warm ones
(docs/log/2026-12-06-retrieval-large-tenants.md). `warm_after_restart` (run by every `kefu worker`, once
per server start across replicas) reads the largest tenants' partial HNSW indexes and their rows
back into shared buffers, within half of `shared_buffers`; a newly built index is warmed too.

Design in docs/retrieval.md; the measurements are the docs/log/ files it links.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass

from sqlalchemy import func, select, text

from core.db import owner_engine, tenant_session_sync
from core.models import Chunk
from core.periodic import start_every
from core.redis import sync_redis
from core.settings import get_settings
from knowledge import embedders

INDEX_PREFIX = "ix_chunks_hnsw_t_"
# How a tenant's HNSW graph is built. ef_construction 128 (pgvector's default is 64) builds a
# better-connected graph in about twice the time; searching it with ef_search 24 gives higher
# recall than the old graph at 64, for less work per search (docs/log/2026-12-06-retrieval-large-tenants.md).
HNSW_OPTIONS = {"m": "16", "ef_construction": "128"}
_HNSW_WITH = ", ".join(f"{key} = {value}" for key, value in HNSW_OPTIONS.items())  # CREATE INDEX … WITH (…)
_HNSW_RELOPTIONS = [f"{key}={value}" for key, value in HNSW_OPTIONS.items()]  # as pg_class.reloptions lists them
LEXICAL_INDEX_PREFIX = "ix_chunks_lexical_t_"
_cache: dict[uuid.UUID, tuple[float, bool]] = {}
_CACHE_SECONDS = 30.0
WARM_MARK = "kefu:warm:{started}"  # set once a warm for that PostgreSQL start has finished
WARM_CLAIM = WARM_MARK + ":claim"  # held by the one worker warming; expires if that worker dies
WARM_CLAIM_SECONDS = 900
WARM_SHARE = 0.5  # of shared_buffers, at most, filled by warming
WARM_CHECK_SECONDS = 30  # how often each worker looks for a new PostgreSQL start
log = logging.getLogger(__name__)


def index_name(tenant_id: uuid.UUID) -> str:
    """The tenant's partial HNSW index (its presence switches retrieval to the indexed dense path)."""
    return INDEX_PREFIX + tenant_id.hex


def lexical_index_name(tenant_id: uuid.UUID) -> str:
    return LEXICAL_INDEX_PREFIX + tenant_id.hex


def chunk_count(tenant_id: uuid.UUID) -> int:
    with tenant_session_sync(tenant_id) as session:
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
    with tenant_session_sync(tenant_id) as session:
        chosen = embedders.current(session, tenant_id)
    if chosen is None:
        return False
    definition = hnsw_definition(tenant_id, chosen.id, chosen.spec.dimension)
    built = (_create(index_name(tenant_id), definition)
             or _rebuild_if_outdated(index_name(tenant_id), definition, chosen.id))
    _cache[tenant_id] = (time.monotonic(), True)
    if built:
        try:
            warm_tenant(tenant_id)
        except Exception:  # a cold cache is slower, not wrong
            log.exception("warming the new index of tenant %s failed", tenant_id)
    return True


def hnsw_definition(tenant_id: uuid.UUID, embedder_id: int, dimension: int) -> str:
    tenant = f"'{uuid.UUID(str(tenant_id))}'::uuid"
    return (f"USING hnsw ((embedding::vector({int(dimension)})) vector_cosine_ops) WITH ({_HNSW_WITH}) "
            f"WHERE tenant_id = {tenant} AND embedder_id = {int(embedder_id)}")


def index_threshold() -> int:
    """Chunks from which a tenant needs a partial index of some kind (the maintenance actor's trigger)."""
    settings = get_settings()
    return min(settings.tenant_lexical_index_threshold, settings.tenant_hnsw_threshold)


def _create(name: str, definition: str) -> bool:
    """Build the index unless a valid one exists; True if it was built now."""
    # CONCURRENTLY cannot run in a transaction block and does not block writers. A build that
    # failed half-way leaves an invalid index behind, which IF NOT EXISTS would keep forever.
    with owner_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        valid = conn.scalar(text("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(:n)"), {"n": name})
        if valid:
            return False
        if valid is not None:
            conn.execute(text(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "{name}" ON chunks {definition}'))
        return True


def _rebuild_if_outdated(name: str, definition: str, embedder_id: int) -> bool:
    """Rebuild an HNSW index built with other options than HNSW_OPTIONS (an index from before they
    changed) or for another embedder than the tenant's (it moved) under a temporary name, then swap
    it in; searches keep using the old one meanwhile and fall back to the exact path only between
    the drop and the rename. True if rebuilt."""
    with owner_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        row = conn.execute(text("SELECT reloptions, pg_get_indexdef(oid) AS sql FROM pg_class "
                                "WHERE oid = to_regclass(:n)"), {"n": name}).first()
        current = (row.reloptions if row else None) or []
        same_embedder = row is not None and f"embedder_id = {int(embedder_id)})" in row.sql
        if set(_HNSW_RELOPTIONS) <= set(current) and same_embedder:
            return False
        fresh = name[:50] + "_new"
        conn.execute(text(f'DROP INDEX CONCURRENTLY IF EXISTS "{fresh}"'))
        conn.execute(text(f'CREATE INDEX CONCURRENTLY "{fresh}" ON chunks {definition}'))
        conn.execute(text(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"'))
        conn.execute(text(f'ALTER INDEX "{fresh}" RENAME TO "{name}"'))
    log.info("rebuilt tenant index with new options", extra={"index": name, "options": HNSW_OPTIONS})
    return True


def outdated_indexes() -> list[uuid.UUID]:
    """Tenants whose partial HNSW index was built with other options than HNSW_OPTIONS."""
    return [index.tenant_id for index in _partial_hnsw_indexes()
            if not set(_HNSW_RELOPTIONS) <= set(index.reloptions or [])]


def drop_tenant_index(tenant_id: uuid.UUID) -> None:
    """Drop both of the tenant's partial indexes (retrieval falls back to the exact scan and global GIN)."""
    with owner_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for name in (index_name(tenant_id), lexical_index_name(tenant_id)):
            conn.execute(text(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"'))
    _cache.pop(tenant_id, None)


_HAS_INDEX = text("SELECT EXISTS (SELECT 1 FROM pg_index WHERE indexrelid = to_regclass(:n) AND indisvalid)")


def has_index_uncached(tenant_id: uuid.UUID) -> bool:
    with tenant_session_sync(tenant_id) as session:
        return bool(session.scalar(_HAS_INDEX, {"n": index_name(tenant_id)}))


def cached_has_index(tenant_id: uuid.UUID) -> bool | None:
    entry = _cache.get(tenant_id)
    if entry and time.monotonic() - entry[0] < _CACHE_SECONDS:
        return entry[1]
    return None


def remember(tenant_id: uuid.UUID, present: bool) -> None:
    _cache[tenant_id] = (time.monotonic(), present)


HAS_INDEX_SQL = _HAS_INDEX


# Every index tuple and every row it points at: an iterative scan in relaxed order walks the
# whole graph (pgvector 0.8), and counting the rows fetches each heap tuple. Read through the
# buffer manager like any search, so the pages stay in shared buffers (a sequential scan of a
# large table would go through a small ring buffer instead). pgserver has no `pg_prewarm`.
_WARM = """
    SELECT count(*) FROM (
        SELECT id FROM chunks WHERE tenant_id = {tenant} AND embedder_id = {embedder}
        ORDER BY embedding::vector({dim}) <=> (SELECT embedding::vector({dim}) FROM chunks
                                               WHERE tenant_id = {tenant} AND embedder_id = {embedder} LIMIT 1)
        LIMIT {rows}
    ) s
"""
_PARTIAL_INDEXES = text("""
    SELECT c.relname AS name, pg_relation_size(c.oid) AS bytes, c.reloptions
    FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid
    WHERE c.relname LIKE :pattern AND i.indisvalid
""")


@dataclass(frozen=True)
class _PartialIndex:
    tenant_id: uuid.UUID
    bytes: int
    reloptions: list[str] | None


def _partial_hnsw_indexes() -> list[_PartialIndex]:
    """Every valid partial HNSW index: whose it is, its size and the options it was built with."""
    with owner_engine().connect() as conn:
        rows = conn.execute(_PARTIAL_INDEXES, {"pattern": INDEX_PREFIX + "%"}).all()
    return [_PartialIndex(uuid.UUID(hex=row.name[len(INDEX_PREFIX):]), int(row.bytes), row.reloptions)
            for row in rows if len(row.name) == len(INDEX_PREFIX) + 32]


def warm_tenant(tenant_id: uuid.UUID) -> int:
    """Read the tenant's partial HNSW index and its rows into shared buffers; rows visited."""
    tenant = f"'{uuid.UUID(str(tenant_id))}'::uuid"
    with tenant_session_sync(tenant_id) as session:
        chosen = embedders.current(session, tenant_id)
    if chosen is None:
        return 0
    with owner_engine().connect() as conn, conn.begin():
        rows = int(conn.scalar(text(f"SELECT count(*) FROM chunks WHERE tenant_id = {tenant}")) or 0)
        if not rows:
            return 0
        for name, value in (("hnsw.iterative_scan", "relaxed_order"), ("hnsw.max_scan_tuples", str(rows + 1000)),
                            ("hnsw.scan_mem_multiplier", "100"), ("hnsw.ef_search", "100"),
                            # every row wanted: the planner would rather sort a bitmap scan
                            ("enable_sort", "off"), ("enable_bitmapscan", "off"), ("enable_seqscan", "off")):
            conn.execute(text("SELECT set_config(:name, :value, true)"), {"name": name, "value": value})
        return int(conn.scalar(text(_WARM.format(tenant=tenant, rows=rows, embedder=chosen.id,
                                                 dim=chosen.spec.dimension))) or 0)


def tenants_to_warm() -> list[tuple[uuid.UUID, int]]:
    """Tenants with a valid partial HNSW index, largest first, with the bytes warming them reads
    (index plus their share of the table), as many as fit in WARM_SHARE of shared_buffers."""
    indexes = _partial_hnsw_indexes()
    if not indexes:
        return []
    with owner_engine().connect() as conn:
        budget = int(conn.scalar(text(
            "SELECT setting::bigint * current_setting('block_size')::bigint FROM pg_settings "
            "WHERE name = 'shared_buffers'")) * WARM_SHARE)
        # reltuples is -1 until the table is first analysed: count the rows then (once per start).
        table = conn.execute(text(
            "SELECT pg_relation_size('chunks') AS bytes, CASE WHEN reltuples > 0 THEN reltuples "
            "ELSE greatest((SELECT count(*) FROM chunks), 1) END AS rows FROM pg_class WHERE relname = 'chunks'")).one()
        counts = dict(conn.execute(text(
            "SELECT tenant_id, count(*) FROM chunks WHERE tenant_id = ANY(CAST(:ids AS uuid[])) GROUP BY 1"),
            {"ids": [str(index.tenant_id) for index in indexes]}).all())
    sized = sorted(((index.tenant_id, int(index.bytes + table.bytes * counts.get(index.tenant_id, 0) / table.rows))
                    for index in indexes), key=lambda item: -item[1])
    chosen, total = [], 0
    for tenant_id, size in sized:
        if total + size > budget:
            break
        chosen.append((tenant_id, size))
        total += size
    return chosen


def warm_after_restart() -> list[uuid.UUID]:
    """Warm the largest tenants once per PostgreSQL start. The first worker to see the new start
    time claims it in Redis and the others leave it alone; the start counts as warmed only when
    the warm has finished, so a warm that fails (or whose worker dies, once its claim expires) is
    taken up again at a later check. The tenants warmed."""
    with owner_engine().connect() as conn:
        started = conn.scalar(text("SELECT extract(epoch FROM pg_postmaster_start_time())::bigint"))
    redis, done, claim = sync_redis(), WARM_MARK.format(started=started), WARM_CLAIM.format(started=started)
    if redis.exists(done) or not redis.set(claim, "1", nx=True, ex=WARM_CLAIM_SECONDS):
        return []
    try:
        warmed = _warm_largest_tenants()
    except BaseException:
        redis.delete(claim)
        raise
    redis.set(done, "1", ex=7 * 24 * 3600)
    redis.delete(claim)
    return warmed


def _warm_largest_tenants() -> list[uuid.UUID]:
    rebuilt = set(outdated_indexes())
    for tenant_id in rebuilt:  # built before HNSW_OPTIONS changed: rebuilt, which warms them, first
        ensure_tenant_index(tenant_id, force=True)
    warmed = []
    for tenant_id, size in tenants_to_warm():
        if tenant_id in rebuilt:
            warmed.append(tenant_id)
            continue
        began = time.perf_counter()
        rows = warm_tenant(tenant_id)
        warmed.append(tenant_id)
        log.info("warmed tenant index", extra={"tenant_id": str(tenant_id), "rows": rows, "bytes": size,
                                               "seconds": round(time.perf_counter() - began, 2)})
    return warmed


def start_warming() -> threading.Event:
    """`warm_after_restart` now and every WARM_CHECK_SECONDS in a daemon thread (`kefu worker`);
    set the returned event to stop it."""
    return start_every(WARM_CHECK_SECONDS, warm_after_restart, thread="index-warming", at_start=True,
                       failure="warming tenant indexes failed")
