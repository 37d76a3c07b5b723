"""Centred dense similarity: cosine after subtracting the tenant's mean stored vector.

e5 embeddings share a large common component (every vector points roughly the same way), so raw
cosines of a query with any chunk lie in a narrow band: related and unrelated chunks differ by
little, which compresses the ranking and the in- vs out-of-scope separation. Subtracting the
tenant's mean chunk vector μ removes that shared part and scores what is specific:
`cos(q - μ, s - μ)`. docs/retrieval.md says why; docs/log/2026-12-05-retrieval-pass-4.md measured it.

The candidates still come from the cosine order (HNSW or an exact scan): centring changes how the
≤ 200 candidates are scored, not which rows are looked at. The SQL returns each candidate's `s·μ`
and norm beside its cosine, so the centred cosine is arithmetic on numbers PostgreSQL already has:
with `a = q·s`, `b = q·μ`, `c = s·μ`, `m = μ·μ`,
`cos(q - μ, s - μ) = (a - b - c + m) / sqrt((q·q - 2b + m) (s·s - 2c + m))`.

μ is computed in SQL (`avg(embedding)` over at most `MAX_ROWS` of the tenant's chunks) and cached
per process per tenant knowledge version (`core.versions`, bumped on every knowledge change) in a
`knowledge.tenant_cache`, like `knowledge.term_stats`; a time limit backs the version up. A tenant
with few chunks gets a mean shrunk towards zero (`n / (n + PRIOR_CHUNKS)` of it): with one chunk,
the raw mean *is* the chunk and centring would erase it.

**The query side is centred nearer the queries' own mean.** Customers' questions carry e5's
`query:` prefix, while a stored FAQ row mixes its question embedded as a query with its
question + answer embedded as a passage, so the mean of queries μ_q is not the mean of stored
vectors μ (docs/log/2026-12-06-retrieval-pass-6.md). The query is therefore centred at
`μ_λ = μ + λ (μ_q - μ)` (λ = `KEFU_QUERY_CENTRE_SHARE`) with μ_q the mean of the tenant's FAQ
questions embedded as queries (kept per chunk in `chunks.question_embedding` at indexing), and
the stored side at μ: `cos(q - μ_λ, s - μ)`. With `d = s·μ_λ` (one more product per candidate
from the SQL), `p = q·μ_λ`, `e = μ_λ·μ`, `l = μ_λ·μ_λ`:
`(a - b - d + e) / sqrt((q·q - 2p + l) (s·s - 2c + m))`. A tenant without question vectors (prose
only, or indexed before migration 0013) has μ_λ = μ, which is the formula above.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from knowledge.embedding import vector_literal
from knowledge.tenant_cache import TenantVersionCache

# The mean of 20k chunks is as good as that of all of them, and bounds the cost of recomputing it
# for a 100k+ chunk tenant after each knowledge change (one sequential read of the vectors).
MAX_ROWS = 20_000
PRIOR_CHUNKS = 2
_TENANTS = 1024
_MAX_AGE_SECONDS = 600.0


def mean_sql(tenant: str, embedder_id: int) -> str:
    """The tenant's chunk count and mean embedding, and the count and mean of its FAQ questions
    embedded as queries (`tenant`: a uuid SQL literal), over the vectors of its embedder."""
    return f"""
        SELECT count(*) AS n, CAST(avg(embedding) AS text) AS mean,
               count(question_embedding) AS questions, CAST(avg(question_embedding) AS text) AS question_mean
        FROM (SELECT embedding, question_embedding FROM chunks
              WHERE tenant_id = {tenant} AND embedder_id = {int(embedder_id)} LIMIT {MAX_ROWS}) s
    """


def _parsed(literal: str) -> np.ndarray:
    return np.asarray([float(x) for x in literal.strip("[]").split(",")], dtype=np.float64)


@dataclass(frozen=True)
class Centre:
    """The vector subtracted from stored vectors (μ), its squared norm, and the one subtracted from
    queries (μ_λ; μ itself unless `query_vector` is given)."""

    vector: np.ndarray
    norm2: float
    query_vector: np.ndarray | None = None

    @classmethod
    def from_mean(cls, n: int, mean: str | None, questions: int = 0, question_mean: str | None = None,
                  share: float = 0.0) -> Centre | None:
        """The shrunk centre from `mean_sql`'s row; None for a tenant without chunks."""
        if not n or not mean:
            return None
        query_mean = _parsed(question_mean) if questions and question_mean else None
        return cls.shrunk(n, _parsed(mean), questions, query_mean, share)

    @classmethod
    def shrunk(cls, n: int, mean: np.ndarray, questions: int = 0, question_mean: np.ndarray | None = None,
               share: float = 0.0) -> Centre:
        """The centre for `n` chunks whose mean vector is `mean`; with the mean of `questions` FAQ
        questions embedded as queries, queries are centred `share` of the way towards it."""
        vector = np.asarray(mean, dtype=np.float64) * (n / (n + PRIOR_CHUNKS))
        query_vector = None
        if questions and question_mean is not None and share:
            shrunk_questions = np.asarray(question_mean, dtype=np.float64) * (questions / (questions + PRIOR_CHUNKS))
            query_vector = vector + share * (shrunk_questions - vector)
        return cls(vector, float(vector @ vector), query_vector)

    @property
    def for_queries(self) -> np.ndarray:
        """μ_λ: the point queries are centred at."""
        return self.vector if self.query_vector is None else self.query_vector

    @cached_property
    def literals(self) -> tuple[str, str]:
        """μ and μ_λ in pgvector's text form for the candidate SQL: formatted once per centre (one
        per tenant and knowledge version), not on every search, where they were a measurable cost
        (docs/log/2026-12-06-retrieval-session-9-machine.md)."""
        stored = vector_literal(self.vector)
        return stored, stored if self.query_vector is None else vector_literal(self.query_vector)

    def similarity(self, query: np.ndarray, cosine: float, s_mu: float, s_norm: float,
                   s_query_mu: float | None = None) -> float:
        """cos(q - μ_λ, s - μ) from the candidate's cosine with q, its s·μ, its norm and its s·μ_λ."""
        return self.for_query(query)(cosine, s_mu, s_norm, s_query_mu)

    def for_query(self, query: np.ndarray) -> Callable[[float, float, float, float | None], float]:
        """`similarity` for one query and many candidates (the query's own products once)."""
        q = np.asarray(query, dtype=np.float64)
        q_norm2 = float(q @ q)
        q_norm = math.sqrt(q_norm2)
        mu_q = self.for_queries
        b = float(q @ self.vector)
        p = float(q @ mu_q)
        cross = float(mu_q @ self.vector)
        mu2 = self.norm2
        q_side = q_norm2 - 2 * p + float(mu_q @ mu_q)

        def similarity(cosine: float, s_mu: float, s_norm: float, s_query_mu: float | None = None) -> float:
            d = s_mu if s_query_mu is None or self.query_vector is None else s_query_mu
            denominator = q_side * (s_norm * s_norm - 2 * s_mu + mu2)
            if denominator <= 1e-12:
                return 0.0
            return (cosine * q_norm * s_norm - b - d + cross) / math.sqrt(denominator)

        return similarity


class CentreCache(TenantVersionCache[Centre | None]):
    """Per-process LRU of tenants' centres at one knowledge version (None: a tenant without chunks).

    Without a version (Redis unreachable) the entry is kept under None and only the time limit
    renews it: a mean a few minutes stale barely moves, and recomputing it per search would cost
    a read of the tenant's vectors each time.
    """

    def __init__(self, tenants: int = _TENANTS, max_age: float = _MAX_AGE_SECONDS) -> None:
        super().__init__(tenants, max_age, cache_unversioned=True)


centres = CentreCache()
