"""Re-embedding a tenant's knowledge with another embedder: in the background, switched in at once.

1. `knowledge.commands.reembed_tenant` stores a `reembeds` row (queued) naming the new embedder and
   queues the `reembed_tenant` actor (maintenance queue).
2. Stage: a batch of the tenant's chunks at a time (`KEFU_REEMBED_BATCH_SIZE`) is read in a short
   transaction, embedded outside any, and its vectors stored in `reembed_vectors`. Searches keep
   using `chunks.embedding` (the old embedder) meanwhile. A retried job goes on where it stopped.
3. Switch: one transaction locks the tenant row, checks that every chunk has a staged vector (chunks
   indexed meanwhile are staged first), copies the staged vectors into `chunks` with the new
   `embedder_id`, points `tenants.embedder_id` at it and marks the job done. A search runs before
   that commit (old vectors, old embedder) or after it (new, new): never across.
4. After: the tenant's knowledge version is bumped (cached answers, centres and the embedder
   lookups of searches are keyed by it) and a large tenant's partial HNSW index is rebuilt for the
   new embedder (exact scans until it is ready).

A job that fails on every attempt is marked failed and its staged vectors deleted; the tenant's
chunks and embedder were never touched. Indexing a document during a re-embedding embeds it with
the tenant's current embedder; `knowledge.embedders.check_unchanged` keeps a document's vectors
from landing after the switch with the old embedder.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import psycopg
from pgvector.psycopg.vector import register_vector_info
from psycopg.types import TypeInfo
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.db import tenant_session_sync
from core.errors import Conflict, ValidationFailed
from core.models import Chunk, Reembed
from core.settings import get_settings
from core.versions import bump_tenant_version_sync
from knowledge import embedders, vector_index
from knowledge.embedders import TenantEmbedder, unavailable_message
from knowledge.embedding import Embedder, EmbedderSpec, EmbedderUnavailable, build, unavailable_reason
from knowledge.indexing import embed_distinct, with_question_vectors
from knowledge.parsing import Passage

log = logging.getLogger(__name__)
MAX_CATCH_UP_ROUNDS = 5  # staging again for chunks indexed during the re-embedding, before giving up

# Staged rows are looked up by key for each batch, and the switch compares counts: an anti-join of
# chunks with `reembed_vectors` (never analysed while a job fills it) was planned as a nested loop
# over all staged rows for every chunk, quadratic (2.2 s at 5,000 chunks, 4.3 s at 10,000).
_NEXT = text("""
    SELECT c.id, c.text, c.metadata->>'question' AS question FROM chunks c
    WHERE c.tenant_id = :t AND c.id > :after ORDER BY c.id LIMIT :n
""")
_ALREADY_STAGED = text("""
    SELECT chunk_id FROM reembed_vectors WHERE reembed_id = :r AND chunk_id = ANY(CAST(:ids AS bigint[]))
""")
# Vectors go as pgvector's binary form (`%b`): formatting them as text in Python took longer than the
# hash embedder computing them, and the server parsed that text again.
_STAGE = """
    INSERT INTO reembed_vectors (reembed_id, chunk_id, tenant_id, embedding, question_embedding)
    SELECT %(r)s, u.id, %(t)s, u.e, u.q
    FROM unnest(%(ids)s::bigint[], %(embeddings)b::vector[], %(questions)b::vector[]) AS u(id, e, q)
    JOIN chunks c ON c.id = u.id
    ON CONFLICT (reembed_id, chunk_id) DO NOTHING
"""
_PROGRESS = text("UPDATE reembeds SET embedded = embedded + :n WHERE id = :r")
# Exact: a staged row belongs to one of the tenant's chunks (staging reads them) and goes with it
# (ON DELETE CASCADE), at most one per chunk (primary key); one statement, one snapshot.
_MISSING = text("""
    SELECT (SELECT count(*) FROM chunks WHERE tenant_id = :t)
         - (SELECT count(*) FROM reembed_vectors WHERE reembed_id = :r)
""")
_LOCK_TENANT = text("SELECT embedder_id FROM tenants WHERE id = :t FOR UPDATE")
_SWAP = text("""
    UPDATE chunks c SET embedding = v.embedding, question_embedding = v.question_embedding, embedder_id = :e
    FROM reembed_vectors v WHERE v.reembed_id = :r AND v.chunk_id = c.id AND c.tenant_id = :t
""")
_POINT = text("UPDATE tenants SET embedder_id = :e WHERE id = :t")
_TARGET = text("SELECT name, model, dimension FROM embedders WHERE id = :e")


@dataclass(frozen=True)
class ReembedJob:
    id: uuid.UUID
    status: str  # "queued", or "done" when the tenant had nothing to re-embed
    embedder: str
    previous: str | None
    total: int


def parse_target(text_spec: str) -> EmbedderSpec:
    """The embedder named on the command line or in a request; ValidationFailed when it is not usable here."""
    try:
        spec = EmbedderSpec.parse(text_spec)
    except ValueError as exc:
        raise ValidationFailed(f"embedder: {exc}.") from None
    problem = unavailable_reason(spec)
    if problem:
        raise ValidationFailed(f"embedder {spec} cannot be used: {problem}.")
    return spec


def request(session: Session, tenant_id: uuid.UUID, spec: EmbedderSpec) -> ReembedJob:
    """Record a re-embedding of the tenant with `spec` (the caller queues it after the commit). A tenant
    with no chunks simply moves to `spec` (status "done"). Conflict if one is queued or running."""
    target = embedders.register(session, spec)
    current = embedders.current(session, tenant_id)
    if current is not None and current.id == target:
        raise ValidationFailed(f"the tenant already uses {spec}; nothing to re-embed.")
    total = int(session.scalar(select(func.count()).select_from(Chunk).where(Chunk.tenant_id == tenant_id)) or 0)
    job = Reembed(id=uuid.uuid4(), tenant_id=tenant_id, embedder_id=target, total=total,
                  previous_embedder_id=None if current is None else current.id)
    if total == 0:
        session.execute(_POINT, {"e": target, "t": tenant_id})
        job.status, job.finished_at = "done", datetime.now(UTC)
    try:
        with session.begin_nested():
            session.add(job)
    except IntegrityError:
        raise Conflict("a re-embedding of this tenant is already queued or running; wait for it to finish "
                       "(`kefu reembed --tenant T --status`).") from None
    return ReembedJob(job.id, job.status, str(spec), None if current is None else str(current.spec), total)


@dataclass(frozen=True)
class ReembedResult:
    status: str  # "done", "failed", "skipped"
    chunks: int = 0
    detail: str = ""


def run(tenant_id: uuid.UUID, reembed_id: uuid.UUID) -> ReembedResult:
    """Stage the new vectors and switch; idempotent (a finished job is skipped, a retried one resumes)."""
    job = _start(tenant_id, reembed_id)
    if job is None:
        return ReembedResult("skipped", detail="already finished")
    target = job
    try:
        embedder = build(target.spec)
    except EmbedderUnavailable as exc:
        message = unavailable_message(tenant_id, target.spec, str(exc))
        fail(tenant_id, reembed_id, message)
        return ReembedResult("failed", detail=message)
    began = time.perf_counter()
    for _ in range(MAX_CATCH_UP_ROUNDS):
        stage(tenant_id, reembed_id, embedder)
        switched = _switch(tenant_id, reembed_id, target)
        if switched is not None:
            break
    else:
        raise RuntimeError("chunks kept arriving faster than they were re-embedded; the job is retried")
    bump_tenant_version_sync(tenant_id)
    log.info("tenant re-embedded", extra={"tenant_id": str(tenant_id), "embedder": str(target.spec),
                                          "chunks": switched, "seconds": round(time.perf_counter() - began, 1)})
    _rebuild_index(tenant_id)
    return ReembedResult("done", chunks=switched)


def _start(tenant_id: uuid.UUID, reembed_id: uuid.UUID) -> TenantEmbedder | None:
    """Mark the job running; its target embedder, or None when it is already done or failed."""
    with tenant_session_sync(tenant_id) as session:
        job = session.get(Reembed, reembed_id, with_for_update=True)
        if job is None or job.status in ("done", "failed"):
            return None
        if job.status == "queued":
            job.status, job.started_at = "running", datetime.now(UTC)
        row = session.execute(_TARGET, {"e": job.embedder_id}).one()
        return TenantEmbedder(job.embedder_id, EmbedderSpec(row.name, row.model, int(row.dimension)))


def stage(tenant_id: uuid.UUID, reembed_id: uuid.UUID, embedder: Embedder,
          on_batch: Callable[[int], None] | None = None) -> int:
    """Embed every chunk of the tenant without a staged vector for this job; chunks staged."""
    size, after, staged = get_settings().reembed_batch_size, 0, 0
    while True:
        with tenant_session_sync(tenant_id) as session:
            batch = session.execute(_NEXT, {"t": tenant_id, "after": after, "n": size}).all()
            done = set(session.scalars(_ALREADY_STAGED, {"r": reembed_id, "ids": [row.id for row in batch]}))
        if not batch:
            return staged
        after = batch[-1].id
        rows = [row for row in batch if row.id not in done]  # staged by an earlier attempt or round
        if not rows:
            continue
        vectors, questions = embed_chunks([row.text for row in rows], [row.question for row in rows], embedder)
        with tenant_session_sync(tenant_id) as session:
            with binary_vectors(session) as cursor:
                cursor.execute(_STAGE, {"r": reembed_id, "t": tenant_id, "ids": [row.id for row in rows],
                                        "embeddings": list(vectors), "questions": questions})
            session.execute(_PROGRESS, {"r": reembed_id, "n": len(rows)})
        staged += len(rows)
        if on_batch:
            on_batch(len(rows))


@contextmanager
def binary_vectors(session: Session) -> Iterator[psycopg.Cursor[Any]]:
    """A cursor of the session's connection (its transaction and tenant) that sends numpy arrays as
    pgvector's binary `vector`; only this cursor, so the pooled connection's adapters stay as they were."""
    with session.connection().connection.driver_connection.cursor() as cursor:
        register_vector_info(cursor, _vector_type(cursor))
        yield cursor


def _vector_type(cursor: psycopg.Cursor[Any]) -> TypeInfo | None:
    """The `vector` type of the cursor's database, looked up once per database (its oid is the
    database's own: two databases, e.g. a test run's, need not agree)."""
    info = cursor.connection.info
    key = (info.host, info.port, info.dbname)
    if key not in _VECTOR_TYPES:
        _VECTOR_TYPES[key] = TypeInfo.fetch(cursor.connection, "vector")
    return _VECTOR_TYPES[key]


_VECTOR_TYPES: dict[tuple[str, int, str], TypeInfo | None] = {}


def embed_chunks(texts: list[str], questions: list[str | None],
                 embedder: Embedder) -> tuple[np.ndarray, list[np.ndarray | None]]:
    """Vectors as indexing makes them (`knowledge.indexing`): a FAQ row mixes its question embedded
    as a query into its passage vector, and keeps that question vector."""
    passages = [Passage(t, None, {"question": q} if q else {}) for t, q in zip(texts, questions, strict=True)]
    vectors = embed_distinct(texts, embedder.embed_passages, dim=embedder.dim)
    return with_question_vectors(passages, vectors, embedder)


def _switch(tenant_id: uuid.UUID, reembed_id: uuid.UUID, target: TenantEmbedder) -> int | None:
    """The atomic switch; the chunks switched, or None when some still need staging (nothing changed)."""
    with tenant_session_sync(tenant_id) as session:
        session.execute(_LOCK_TENANT, {"t": tenant_id})  # indexing's shared lock waits for this commit
        if session.scalar(_MISSING, {"t": tenant_id, "r": reembed_id}):
            return None  # nothing written: the commit only releases the lock
        switched = session.execute(_SWAP, {"e": target.id, "r": reembed_id, "t": tenant_id}).rowcount or 0
        session.execute(_POINT, {"e": target.id, "t": tenant_id})
        job = session.get(Reembed, reembed_id)
        assert job is not None
        job.status, job.finished_at, job.embedded, job.error = "done", datetime.now(UTC), switched, None
        session.execute(text("DELETE FROM reembed_vectors WHERE reembed_id = :r"), {"r": reembed_id})
    return switched


def _rebuild_index(tenant_id: uuid.UUID) -> None:
    """A tenant with a partial HNSW index gets one for its new embedder (the old one no longer matches)."""
    try:
        if vector_index.has_index_uncached(tenant_id):
            vector_index.ensure_tenant_index(tenant_id, force=True)
    except Exception:  # searches stay correct (exact scans) without it; the next ingestion tries again
        log.exception("rebuilding the partial HNSW index of tenant %s failed", tenant_id)


def fail(tenant_id: uuid.UUID, reembed_id: uuid.UUID, message: str) -> None:
    """Give up: the job is failed with `message` and its staged vectors go; the tenant is unchanged."""
    with tenant_session_sync(tenant_id) as session:
        job = session.get(Reembed, reembed_id, with_for_update=True)
        if job is None or job.status == "done":
            return
        job.status, job.error, job.finished_at = "failed", message[:2000], datetime.now(UTC)
        session.execute(text("DELETE FROM reembed_vectors WHERE reembed_id = :r"), {"r": reembed_id})


@dataclass(frozen=True)
class JobStatus:
    id: uuid.UUID
    status: str
    embedder: str
    total: int
    embedded: int
    error: str | None
    created_at: datetime
    finished_at: datetime | None


_JOBS = text("""
    SELECT r.id, r.status, r.total, r.embedded, r.error, r.created_at, r.finished_at,
           e.name, e.model, e.dimension
    FROM reembeds r JOIN embedders e ON e.id = r.embedder_id
    WHERE r.tenant_id = :t ORDER BY r.created_at DESC LIMIT :n
""")


def jobs(tenant_id: uuid.UUID, limit: int = 5) -> list[JobStatus]:
    """The tenant's latest re-embeddings, newest first."""
    with tenant_session_sync(tenant_id) as session:
        rows = session.execute(_JOBS, {"t": tenant_id, "n": limit}).all()
    return [JobStatus(row.id, row.status, str(EmbedderSpec(row.name, row.model, int(row.dimension))), row.total,
                      row.embedded, row.error, row.created_at, row.finished_at) for row in rows]


def job(tenant_id: uuid.UUID, reembed_id: uuid.UUID) -> JobStatus | None:
    return next((j for j in jobs(tenant_id, 1000) if j.id == reembed_id), None)
