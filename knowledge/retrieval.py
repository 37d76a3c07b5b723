"""Hybrid retrieval: dense (pgvector cosine) + lexical (our zh/en tsvector), fused by weight.

One SQL statement gathers candidates from both rankings for one tenant, then Python fuses them:
`score = dense_similarity + lexical_weight * (lexical_rank / best_lexical_rank)`. A weighted sum
keeps a strong dense ranking in charge and lets exact keyword matches (order numbers, product
names, Chinese terms) lift the right entry; plain reciprocal-rank fusion lets a weak lexical
ranking drag good dense results down (docs/retrieval.md has the measurements).

The tenant id is inlined as a literal (it is a UUID we parsed, never user text) so PostgreSQL can
match a tenant's partial HNSW index even for prepared statements; RLS applies in any case.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from threading import Lock
from typing import Any

import numpy as np
from sqlalchemy import text

from core.db import sync_tenant_session, tenant_session
from core.errors import ValidationFailed
from core.settings import get_settings
from knowledge import vector_index
from knowledge.embedding import get_embedder, vector_literal
from knowledge.lexical import tsquery_literal

MAX_QUERY_CHARS = 2000
MAX_TOP_K = 50


@dataclass(frozen=True)
class Hit:
    chunk_id: int
    document_id: uuid.UUID
    source_ref: str | None
    text: str
    score: float
    dense: float
    lexical: float
    metadata: dict[str, Any] = field(default_factory=dict)


def _sql(tenant_id: uuid.UUID, indexed: bool, with_lexical: bool) -> str:
    tenant = f"'{uuid.UUID(str(tenant_id))}'::uuid"
    # `+ 0` hides the operator from the planner: for small tenants an exact scan over the
    # tenant's rows beats any approximate index, and is exact.
    order = "embedding <=> CAST(CAST(:q AS text) AS vector)"
    dense_order = order if indexed else f"({order}) + 0"
    lexical = (
        f"""
        , lex AS (
            SELECT id, ts_rank_cd(lexical, query, 1) AS rank
            FROM chunks, CAST(CAST(:tsq AS text) AS tsquery) AS query
            WHERE tenant_id = {tenant} AND lexical @@ query
            ORDER BY rank DESC LIMIT :n
        )"""
        if with_lexical
        else ", lex AS (SELECT NULL::bigint AS id, NULL::real AS rank WHERE false)"
    )
    return f"""
        WITH dense AS (
            SELECT id FROM chunks WHERE tenant_id = {tenant} ORDER BY {dense_order} LIMIT :n
        ){lexical},
        cand AS (SELECT id FROM dense UNION SELECT id FROM lex)
        SELECT c.id, c.document_id, c.source_ref, c.text, c.metadata,
               1 - (c.embedding <=> CAST(CAST(:q AS text) AS vector)) AS dense,
               COALESCE(lex.rank, 0) AS lexical
        FROM cand JOIN chunks c ON c.id = cand.id LEFT JOIN lex ON lex.id = cand.id
        WHERE c.tenant_id = {tenant}
    """


def fuse(rows: list[Any], top_k: int, lexical_weight: float) -> list[Hit]:
    best_lexical = max((float(r.lexical) for r in rows), default=0.0) or 1.0
    hits = []
    for r in rows:
        dense = float(r.dense)
        lexical = float(r.lexical) / best_lexical
        metadata = r.metadata if isinstance(r.metadata, dict) else json.loads(r.metadata or "{}")
        hits.append(
            Hit(r.id, r.document_id, r.source_ref, r.text, dense + lexical_weight * lexical, dense, lexical,
                metadata)
        )
    hits.sort(key=lambda h: (-h.score, h.chunk_id))
    return hits[:top_k]


def validate(query: str, top_k: int) -> str:
    query = (query or "").strip()
    if not query:
        raise ValidationFailed("query must not be empty.")
    if len(query) > MAX_QUERY_CHARS:
        raise ValidationFailed(f"query is too long ({len(query)} characters; the limit is {MAX_QUERY_CHARS}).")
    if not 1 <= top_k <= MAX_TOP_K:
        raise ValidationFailed(f"top_k must be between 1 and {MAX_TOP_K}.")
    return query


class _QueryVectors:
    """A small LRU of query embeddings: repeated questions are common and embedding costs ~8 ms."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = Lock()

    def get(self, query: str) -> np.ndarray:
        key = f"{get_settings().embedder}:{query}"
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        vector = get_embedder().embed_query(query)
        with self._lock:
            self._items[key] = vector
            if len(self._items) > self._size:
                self._items.popitem(last=False)
        return vector


query_vectors = _QueryVectors()


def _params(query: str, vector: np.ndarray, top_k: int) -> tuple[dict[str, Any], bool]:
    settings = get_settings()
    tsq = tsquery_literal(query)
    params: dict[str, Any] = {"q": vector_literal(vector), "n": max(settings.search_candidates, top_k)}
    if tsq:
        params["tsq"] = tsq
    return params, tsq is not None


async def retrieve(tenant_id: uuid.UUID, query: str, top_k: int = 5) -> list[Hit]:
    """Top `top_k` chunks of one tenant for `query` (API path; embeds off the event loop)."""
    query = validate(query, top_k)
    vector = await asyncio.to_thread(query_vectors.get, query)
    params, with_lexical = _params(query, vector, top_k)
    async with tenant_session(tenant_id) as session:
        indexed = vector_index.cached_has_index(tenant_id)
        if indexed is None:
            indexed = bool(await session.scalar(vector_index.HAS_INDEX_SQL,
                                                 {"n": vector_index.index_name(tenant_id)}))
            vector_index.remember(tenant_id, indexed)
        if indexed:
            await session.execute(text("SET LOCAL hnsw.ef_search = 100"))
        rows = (await session.execute(text(_sql(tenant_id, indexed, with_lexical)), params)).all()
    return fuse(list(rows), top_k, get_settings().lexical_weight)


def retrieve_sync(tenant_id: uuid.UUID, query: str, top_k: int = 5) -> list[Hit]:
    """The same retrieval for workers, the CLI, evaluation runs and Dash."""
    query = validate(query, top_k)
    vector = query_vectors.get(query)
    params, with_lexical = _params(query, vector, top_k)
    with sync_tenant_session(tenant_id) as session:
        indexed = vector_index.cached_has_index(tenant_id)
        if indexed is None:
            indexed = bool(session.scalar(vector_index.HAS_INDEX_SQL, {"n": vector_index.index_name(tenant_id)}))
            vector_index.remember(tenant_id, indexed)
        if indexed:
            session.execute(text("SET LOCAL hnsw.ef_search = 100"))
        rows = session.execute(text(_sql(tenant_id, indexed, with_lexical)), params).all()
    return fuse(list(rows), top_k, get_settings().lexical_weight)
