"""Document frequencies behind the lexical IDF weights, cached per tenant and knowledge version.

The counts live in `term_frequencies`, kept by triggers on `chunks` (migration 0011): looking a
term up is one primary-key probe, where counting a common term's matches in a 100k-chunk tenant
used to cost more than the whole rest of a search. The counts only change when the tenant's
knowledge changes, and every such change bumps the tenant's version in Redis (`core.versions`),
so each process still keeps them per (tenant, version) and looks up only terms it has not seen
yet: that saves the statement's round trip on the searches that repeat a common term.
Without a version (Redis unreachable) nothing is cached and every search looks its terms up.
A time limit backs the version up: a Redis that lost its counters would restart them at numbers
already cached, and IDF weights a few minutes stale only nudge the lexical share of a score.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field

from knowledge.tenant_cache import TenantVersionCache

_TENANTS = 512
_TERMS_PER_TENANT = 50_000
_MAX_AGE_SECONDS = 600.0


# The tenant's chunk count is stored as the document frequency of the empty term.
CHUNK_COUNT_TERM = ""
STATS_SQL = "SELECT kefu_term_frequencies(CAST(:terms AS text[])) AS df"


def stats_params(terms: list[str], with_n: bool) -> dict[str, list[str]]:
    """Parameters of STATS_SQL for `terms` (and the chunk count first when `with_n`)."""
    return {"terms": [CHUNK_COUNT_TERM, *terms] if with_n else list(terms)}


def stats_result(df: list[int], with_n: bool) -> tuple[int | None, list[int]]:
    """(chunk count or None, frequencies of the terms) from STATS_SQL's array."""
    return (int(df[0]), [int(d) for d in df[1:]]) if with_n else (None, [int(d) for d in df])


def idf_weights(terms: list[str], n: int, df: list[int]) -> dict[str, float]:
    """BM25's IDF per term; terms that occur nowhere carry no weight (they cannot match)."""
    return {t: math.log(1 + (n - d + 0.5) / (d + 0.5)) for t, d in zip(terms, df, strict=True) if d > 0}


@dataclass
class _Stats:
    n: int | None = None
    df: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Known:
    """What the cache holds for one search: the chunk count (None if not yet counted) and the
    frequencies of the query terms it has seen; `missing` are the terms still to count."""

    n: int | None
    df: dict[str, int]
    missing: list[str]


class TermStatsCache:
    """Per-process LRU of tenants' chunk counts and term frequencies at one knowledge version."""

    def __init__(
        self, tenants: int = _TENANTS, terms_per_tenant: int = _TERMS_PER_TENANT, max_age: float = _MAX_AGE_SECONDS
    ) -> None:
        self._terms = terms_per_tenant
        self._cache: TenantVersionCache[_Stats] = TenantVersionCache(tenants, max_age)

    def lookup(self, tenant_id: uuid.UUID, version: int | None, terms: list[str]) -> Known:
        _found, stats = self._cache.lookup(tenant_id, version)
        if stats is None:
            return Known(None, {}, list(terms))
        # Read outside the cache's lock: an entry only ever gains terms, and a dict read is atomic.
        df = {t: stats.df[t] for t in terms if t in stats.df}
        return Known(stats.n, df, [t for t in terms if t not in df])

    def store(self, tenant_id: uuid.UUID, version: int | None, n: int | None, df: dict[str, int]) -> None:
        def add(stats: _Stats | None) -> _Stats:
            stats = _Stats() if stats is None else stats
            if n is not None:
                stats.n = n
            if len(stats.df) + len(df) <= self._terms:
                stats.df.update(df)
            return stats

        self._cache.update(tenant_id, version, add)

    def clear(self) -> None:
        self._cache.clear()


term_stats = TermStatsCache()
