"""Hybrid retrieval: dense (pgvector cosine) + lexical (our zh/en tsvector), fused by weight.

One SQL statement gathers candidates from both rankings for one tenant (dense top-n by cosine,
lexical top-n by `ts_rank_cd`), then Python fuses them:
`score = dense_similarity + lexical_weight * (IDF-weighted share of the query's terms in the chunk)
+ overlap_weight * (word/character Jaccard of the query and a FAQ hit's stored question)`,
with BM25-style IDF from the tenant's own document frequencies. A weighted sum
keeps a strong dense ranking in charge and lets exact keyword matches (order numbers, product
names, Chinese terms) lift the right entry; plain reciprocal-rank fusion lets a weak lexical
ranking drag good dense results down (docs/retrieval.md has the measurements).

The tenant id is inlined as a literal (it is a UUID we parsed, never user text) so PostgreSQL can
match a tenant's partial HNSW index even for prepared statements; RLS applies in any case.
"""

from __future__ import annotations

import asyncio
import json
import math
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
from knowledge.lexical import query_terms, term_tsquery, tsquery_literal
from knowledge.overlap import question_overlap
from knowledge.rerank import by_answer_group, questions_first

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
    overlap: float = 0.0


def _sql(tenant_id: uuid.UUID, indexed: bool, with_lexical: bool) -> str:
    tenant = _tenant_literal(tenant_id)
    # `+ 0` hides the operator from the planner: for small tenants an exact scan over the
    # tenant's rows beats any approximate index, and is exact.
    order = "embedding <=> CAST(CAST(:q AS text) AS vector)"
    dense_order = order if indexed else f"({order}) + 0"
    lexical = (
        f"""
        , lex AS (
            SELECT id FROM chunks, CAST(CAST(:tsq AS text) AS tsquery) AS query
            WHERE tenant_id = {tenant} AND lexical @@ query
            ORDER BY ts_rank_cd(lexical, query, 1) DESC LIMIT :n
        )"""
        if with_lexical
        else ", lex AS (SELECT NULL::bigint AS id WHERE false)"
    )
    matched = (
        "ARRAY(SELECT unnest(tsvector_to_array(c.lexical)) INTERSECT SELECT unnest(CAST(:terms AS text[])))"
        if with_lexical
        else "ARRAY[]::text[]"
    )
    return f"""
        WITH dense AS (
            SELECT id FROM chunks WHERE tenant_id = {tenant} ORDER BY {dense_order} LIMIT :n
        ){lexical},
        cand AS (SELECT id FROM dense UNION SELECT id FROM lex)
        SELECT c.id, c.document_id, c.source_ref, c.text, c.metadata,
               1 - (c.embedding <=> CAST(CAST(:q AS text) AS vector)) AS dense,
               {matched} AS matched
        FROM cand JOIN chunks c ON c.id = cand.id
        WHERE c.tenant_id = {tenant}
    """


def _tenant_literal(tenant_id: uuid.UUID) -> str:
    return f"'{uuid.UUID(str(tenant_id))}'::uuid"


# Document frequencies of the query's terms within the tenant, counted up to a cap so a
# very common term in a huge tenant costs a bounded amount; the cap barely moves its IDF.
_DF_CAP = 10_000
_N_CAP = 200_000


def _stats_sql(tenant_id: uuid.UUID) -> str:
    tenant = _tenant_literal(tenant_id)
    return f"""
        SELECT (SELECT count(*) FROM (SELECT 1 FROM chunks WHERE tenant_id = {tenant} LIMIT {_N_CAP}) s) AS n,
               ARRAY(SELECT (SELECT count(*) FROM (SELECT 1 FROM chunks
                                                 WHERE tenant_id = {tenant} AND lexical @@ CAST(u.q AS tsquery)
                                                 LIMIT {_DF_CAP}) s)
                     FROM unnest(CAST(:term_queries AS text[])) WITH ORDINALITY AS u(q, i) ORDER BY u.i) AS df
    """


def idf_weights(terms: list[str], n: int, df: list[int]) -> dict[str, float]:
    """BM25's IDF per term; terms that occur nowhere carry no weight (they cannot match)."""
    return {t: math.log(1 + (n - d + 0.5) / (d + 0.5)) for t, d in zip(terms, df, strict=True) if d > 0}


def fuse(rows: list[Any], top_k: int, lexical_weight: float, idf: dict[str, float], query: str = "",
         overlap_weight: float = 0.0) -> list[Hit]:
    """Weighted fusion: dense similarity plus the IDF-weighted share of query terms a chunk has plus
    the overlap of the query with a FAQ hit's stored question; then answer groups re-ranked together
    and each stored question shown once before its further answers (`knowledge.rerank`)."""
    total = sum(idf.values()) or 1.0
    hits = []
    for r in rows:
        dense = float(r.dense)
        lexical = sum(idf.get(t, 0.0) for t in (r.matched or [])) / total
        metadata = r.metadata if isinstance(r.metadata, dict) else json.loads(r.metadata or "{}")
        question = metadata.get("question")
        overlap = question_overlap(query, str(question)) if overlap_weight and question else 0.0
        score = dense + lexical_weight * lexical + overlap_weight * overlap
        hits.append(Hit(r.id, r.document_id, r.source_ref, r.text, score, dense, lexical, metadata, overlap))
    return questions_first(by_answer_group(hits))[:top_k]


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


def _params(query: str, vector: np.ndarray, top_k: int) -> tuple[dict[str, Any], list[str]]:
    settings = get_settings()
    terms = query_terms(query)
    params: dict[str, Any] = {"q": vector_literal(vector), "n": max(settings.search_candidates, top_k)}
    if terms:
        params["tsq"] = tsquery_literal(query)
        params["terms"] = terms
    return params, terms


async def retrieve(tenant_id: uuid.UUID, query: str, top_k: int = 5) -> list[Hit]:
    """Top `top_k` chunks of one tenant for `query` (API path; embeds off the event loop)."""
    query = validate(query, top_k)
    vector = await asyncio.to_thread(query_vectors.get, query)
    params, terms = _params(query, vector, top_k)
    async with tenant_session(tenant_id) as session:
        indexed = vector_index.cached_has_index(tenant_id)
        if indexed is None:
            indexed = bool(await session.scalar(vector_index.HAS_INDEX_SQL,
                                                 {"n": vector_index.index_name(tenant_id)}))
            vector_index.remember(tenant_id, indexed)
        if indexed:
            await session.execute(text("SET LOCAL hnsw.ef_search = 100"))
        rows = (await session.execute(text(_sql(tenant_id, indexed, bool(terms))), params)).all()
        idf: dict[str, float] = {}
        if terms:
            stats = (await session.execute(text(_stats_sql(tenant_id)),
                                           {"term_queries": [term_tsquery(t) for t in terms]})).one()
            idf = idf_weights(terms, int(stats.n), list(stats.df))
    settings = get_settings()
    return fuse(list(rows), top_k, settings.lexical_weight, idf, query, settings.question_overlap_weight)


def retrieve_sync(tenant_id: uuid.UUID, query: str, top_k: int = 5) -> list[Hit]:
    """The same retrieval for workers, the CLI, evaluation runs and Dash."""
    query = validate(query, top_k)
    vector = query_vectors.get(query)
    params, terms = _params(query, vector, top_k)
    with sync_tenant_session(tenant_id) as session:
        indexed = vector_index.cached_has_index(tenant_id)
        if indexed is None:
            indexed = bool(session.scalar(vector_index.HAS_INDEX_SQL, {"n": vector_index.index_name(tenant_id)}))
            vector_index.remember(tenant_id, indexed)
        if indexed:
            session.execute(text("SET LOCAL hnsw.ef_search = 100"))
        rows = session.execute(text(_sql(tenant_id, indexed, bool(terms))), params).all()
        idf: dict[str, float] = {}
        if terms:
            stats = session.execute(text(_stats_sql(tenant_id)),
                                    {"term_queries": [term_tsquery(t) for t in terms]}).one()
            idf = idf_weights(terms, int(stats.n), list(stats.df))
    settings = get_settings()
    return fuse(list(rows), top_k, settings.lexical_weight, idf, query, settings.question_overlap_weight)
