"""The per-process cache of one value per tenant at one knowledge version."""

from __future__ import annotations

import uuid

from knowledge.tenant_cache import TenantVersionCache

TENANT = uuid.uuid4()


def test_a_value_is_served_at_its_version_only() -> None:
    cache: TenantVersionCache[str] = TenantVersionCache(tenants=8, max_age=600)
    assert cache.lookup(TENANT, 1) == (False, None)
    cache.store(TENANT, 1, "centre")
    assert cache.lookup(TENANT, 1) == (True, "centre")
    assert cache.lookup(TENANT, 2) == (False, None)  # knowledge changed
    assert cache.lookup(TENANT, 1) == (False, None)  # and the old entry is gone


def test_a_stored_none_is_a_known_value() -> None:
    cache: TenantVersionCache[str | None] = TenantVersionCache(tenants=8, max_age=600)
    cache.store(TENANT, 1, None)
    assert cache.lookup(TENANT, 1) == (True, None)


def test_values_expire_after_the_age_limit() -> None:
    cache: TenantVersionCache[str] = TenantVersionCache(tenants=8, max_age=0.0)
    cache.store(TENANT, 1, "centre")
    assert cache.lookup(TENANT, 1) == (False, None)


def test_the_least_recently_used_tenant_is_evicted() -> None:
    cache: TenantVersionCache[str] = TenantVersionCache(tenants=2, max_age=600)
    first, second, third = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    cache.store(first, 1, "a")
    cache.store(second, 1, "b")
    assert cache.lookup(first, 1) == (True, "a")  # now the most recent: `second` goes next
    cache.store(third, 1, "c")
    assert cache.lookup(second, 1) == (False, None)
    assert cache.lookup(first, 1) == (True, "a")
    assert cache.lookup(third, 1) == (True, "c")


def test_without_a_version_nothing_is_cached() -> None:
    cache: TenantVersionCache[str] = TenantVersionCache(tenants=8, max_age=600)
    cache.store(TENANT, None, "centre")
    cache.update(TENANT, None, lambda _held: "centre")
    assert cache.lookup(TENANT, None) == (False, None)


def test_a_lookup_without_a_version_keeps_the_versioned_entry() -> None:
    cache: TenantVersionCache[str] = TenantVersionCache(tenants=8, max_age=600)
    cache.store(TENANT, 1, "centre")
    assert cache.lookup(TENANT, None) == (False, None)  # Redis down for a moment
    assert cache.lookup(TENANT, 1) == (True, "centre")


def test_a_cache_built_for_it_keeps_a_value_without_a_version() -> None:
    cache: TenantVersionCache[str] = TenantVersionCache(tenants=8, max_age=600, cache_unversioned=True)
    cache.store(TENANT, None, "centre")
    assert cache.lookup(TENANT, None) == (True, "centre")
    assert cache.lookup(TENANT, 1) == (False, None)  # a version again: computed at it


def test_update_changes_the_value_held_at_the_version_or_starts_from_none() -> None:
    cache: TenantVersionCache[list[str]] = TenantVersionCache(tenants=8, max_age=600)
    cache.update(TENANT, 1, lambda held: [*(held or []), "refund"])
    cache.update(TENANT, 1, lambda held: [*(held or []), "ship"])
    assert cache.lookup(TENANT, 1) == (True, ["refund", "ship"])
    cache.update(TENANT, 2, lambda held: [*(held or []), "parcel"])
    assert cache.lookup(TENANT, 2) == (True, ["parcel"])  # nothing carried over from version 1


def test_clear_forgets_every_tenant() -> None:
    cache: TenantVersionCache[str] = TenantVersionCache(tenants=8, max_age=600)
    cache.store(TENANT, 1, "centre")
    cache.clear()
    assert cache.lookup(TENANT, 1) == (False, None)
