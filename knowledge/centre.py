"""Centred dense similarity: cosine after subtracting the tenant's mean stored vector.

e5 embeddings share a large common component (every vector points roughly the same way), so raw
cosines of a query with any chunk lie in a narrow band (~0.75-0.95): related and unrelated chunks
differ by a few hundredths, which compresses the ranking and the in- vs out-of-scope separation.
Subtracting the tenant's mean chunk vector μ removes that shared part and scores what is specific:
`cos(q - μ, s - μ)`. docs/retrieval.md has the measurements.

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
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from knowledge.tenant_cache import TenantVersionCache

# The mean of 20k chunks is as good as that of all of them, and bounds the cost of recomputing it
# for a 100k+ chunk tenant after each knowledge change (one sequential read of the vectors).
MAX_ROWS = 20_000
PRIOR_CHUNKS = 2
_TENANTS = 1024
_MAX_AGE_SECONDS = 600.0


def mean_sql(tenant: str) -> str:
    """The tenant's chunk count and mean embedding (`tenant`: a uuid SQL literal)."""
    return f"""
        SELECT count(*) AS n, CAST(avg(embedding) AS text) AS mean
        FROM (SELECT embedding FROM chunks WHERE tenant_id = {tenant} AND embedding IS NOT NULL
              LIMIT {MAX_ROWS}) s
    """


@dataclass(frozen=True)
class Centre:
    """The vector subtracted from both sides, and its squared norm."""

    vector: np.ndarray
    norm2: float

    @classmethod
    def from_mean(cls, n: int, mean: str | None) -> Centre | None:
        """The shrunk centre from `mean_sql`'s row; None for a tenant without chunks."""
        if not n or not mean:
            return None
        return cls.shrunk(n, np.asarray([float(x) for x in mean.strip("[]").split(",")], dtype=np.float64))

    @classmethod
    def shrunk(cls, n: int, mean: np.ndarray) -> Centre:
        """The centre for `n` chunks whose mean vector is `mean`."""
        vector = np.asarray(mean, dtype=np.float64) * (n / (n + PRIOR_CHUNKS))
        return cls(vector, float(vector @ vector))

    def similarity(self, query: np.ndarray, cosine: float, s_mu: float, s_norm: float) -> float:
        """cos(q - μ, s - μ) from the candidate's cosine with q, its s·μ and its norm."""
        return self.for_query(query)(cosine, s_mu, s_norm)

    def for_query(self, query: np.ndarray) -> Callable[[float, float, float], float]:
        """`similarity` for one query and many candidates (the query's own products once)."""
        q = np.asarray(query, dtype=np.float64)
        q_norm2 = float(q @ q)
        q_norm = math.sqrt(q_norm2)
        b = float(q @ self.vector)
        mu2 = self.norm2
        q_side = q_norm2 - 2 * b + mu2

        def similarity(cosine: float, s_mu: float, s_norm: float) -> float:
            denominator = q_side * (s_norm * s_norm - 2 * s_mu + mu2)
            if denominator <= 1e-12:
                return 0.0
            return (cosine * q_norm * s_norm - b - s_mu + mu2) / math.sqrt(denominator)

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
