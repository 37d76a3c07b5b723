"""Document frequencies behind the lexical IDF weights, cached per tenant and knowledge version.

Counting how many of a tenant's chunks contain a query term visits every matching heap row, which
for a common term in a 100k-chunk tenant costs more than the whole rest of a search. The counts only
change when the tenant's knowledge changes, and every such change bumps the tenant's version in Redis
(`core.versions`), so each process keeps them per (tenant, version) and counts only terms it has not
seen yet; query terms follow a Zipf curve, so the expensive common terms are the ones that repeat.
Without a version (Redis unreachable) nothing is cached and every search counts, as before.
A time limit backs the version up: a Redis that lost its counters would restart them at numbers
already cached, and IDF weights a few minutes stale only nudge the lexical share of a score.
"""

from __future__ import annotations

import math
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from threading import Lock

# Document frequencies within the tenant are counted up to a cap: counting visits every matching
# row (~2 µs each even when cached), so an uncapped common term in a 134k-chunk tenant costs
# 13 ms. At 1,000 every term in under 1,000 chunks keeps its exact IDF and the commoner ones
# share the lowest weight, which matches the lexical candidate budget (knowledge.retrieval).
_DF_CAP = 1_000
_N_CAP = 200_000
_TENANTS = 512
_TERMS_PER_TENANT = 50_000
_MAX_AGE_SECONDS = 600.0


def stats_sql(tenant: str) -> str:
    """Chunk count and per-term document frequencies of one tenant (`tenant`: a uuid SQL literal).

    `:term_queries` holds one tsquery literal per term; `:with_n` skips the count when it is known.
    The frequencies come from `kefu_term_frequencies` (migration 0006), which can use GIN under RLS.
    """
    return f"""
        SELECT CASE WHEN :with_n THEN (SELECT count(*) FROM (SELECT 1 FROM chunks WHERE tenant_id = {tenant}
                                                             LIMIT {_N_CAP}) s) END AS n,
               kefu_term_frequencies(CAST(CAST(:term_queries AS text[]) AS tsquery[]), {_DF_CAP}) AS df
    """


def idf_weights(terms: list[str], n: int, df: list[int]) -> dict[str, float]:
    """BM25's IDF per term; terms that occur nowhere carry no weight (they cannot match)."""
    return {t: math.log(1 + (n - d + 0.5) / (d + 0.5)) for t, d in zip(terms, df, strict=True) if d > 0}


@dataclass
class _Entry:
    version: int
    created: float
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

    def __init__(self, tenants: int = _TENANTS, terms_per_tenant: int = _TERMS_PER_TENANT,
                 max_age: float = _MAX_AGE_SECONDS) -> None:
        self._tenants, self._terms, self._max_age = tenants, terms_per_tenant, max_age
        self._entries: OrderedDict[uuid.UUID, _Entry] = OrderedDict()
        self._lock = Lock()

    def lookup(self, tenant_id: uuid.UUID, version: int | None, terms: list[str]) -> Known:
        with self._lock:
            entry = self._current(tenant_id, version)
            if entry is None:
                return Known(None, {}, list(terms))
            self._entries.move_to_end(tenant_id)
            df = {t: entry.df[t] for t in terms if t in entry.df}
            return Known(entry.n, df, [t for t in terms if t not in df])

    def store(self, tenant_id: uuid.UUID, version: int | None, n: int | None, df: dict[str, int]) -> None:
        if version is None:
            return
        with self._lock:
            entry = self._current(tenant_id, version)
            if entry is None:
                entry = self._entries[tenant_id] = _Entry(version, time.monotonic())
            if n is not None:
                entry.n = n
            if len(entry.df) + len(df) <= self._terms:
                entry.df.update(df)
            self._entries.move_to_end(tenant_id)
            while len(self._entries) > self._tenants:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def _current(self, tenant_id: uuid.UUID, version: int | None) -> _Entry | None:
        entry = self._entries.get(tenant_id)
        if entry is None or version is None:
            return None
        if entry.version != version or time.monotonic() - entry.created > self._max_age:
            del self._entries[tenant_id]
            return None
        return entry


term_stats = TermStatsCache()
