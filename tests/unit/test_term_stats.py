"""The per-process cache of tenants' term statistics, keyed by knowledge version."""

from __future__ import annotations

import uuid

from knowledge.term_stats import TermStatsCache, idf_weights

TENANT = uuid.uuid4()


def test_a_new_cache_knows_nothing_and_asks_for_every_term() -> None:
    known = TermStatsCache().lookup(TENANT, 3, ["refund", "ship"])
    assert known.n is None
    assert known.df == {}
    assert known.missing == ["refund", "ship"]


def test_stored_counts_are_served_at_the_same_version_and_only_new_terms_are_missing() -> None:
    cache = TermStatsCache()
    cache.store(TENANT, 3, 1000, {"refund": 12, "ship": 0})
    known = cache.lookup(TENANT, 3, ["refund", "ship", "parcel"])
    assert known.n == 1000
    assert known.df == {"refund": 12, "ship": 0}
    assert known.missing == ["parcel"]


def test_a_new_knowledge_version_discards_the_old_counts() -> None:
    cache = TermStatsCache()
    cache.store(TENANT, 3, 1000, {"refund": 12})
    known = cache.lookup(TENANT, 4, ["refund"])
    assert (known.n, known.df, known.missing) == (None, {}, ["refund"])
    assert cache.lookup(TENANT, 3, ["refund"]).missing == ["refund"]  # the old entry is gone too


def test_without_a_version_nothing_is_cached() -> None:
    cache = TermStatsCache()
    cache.store(TENANT, None, 1000, {"refund": 12})
    assert cache.lookup(TENANT, None, ["refund"]).missing == ["refund"]


def test_entries_expire_and_the_least_recent_tenant_is_evicted() -> None:
    expired = TermStatsCache(max_age=0.0)
    expired.store(TENANT, 1, 10, {"refund": 1})
    assert expired.lookup(TENANT, 1, ["refund"]).n is None

    small = TermStatsCache(tenants=2)
    first, second, third = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for tenant in (first, second, third):
        small.store(tenant, 1, 10, {"refund": 1})
    assert small.lookup(first, 1, ["refund"]).n is None
    assert small.lookup(third, 1, ["refund"]).n == 10


def test_idf_gives_rare_terms_more_weight_and_absent_terms_none() -> None:
    idf = idf_weights(["rare", "common", "absent"], 1000, [2, 500, 0])
    assert idf["rare"] > idf["common"] > 0
    assert "absent" not in idf
