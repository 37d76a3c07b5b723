"""A per-process cache of one value per tenant, valid at one knowledge version of that tenant.

Every change to a tenant's knowledge bumps its version in Redis (`core.versions`), so a value
computed from the tenant's chunks stays right for as long as the version it was computed at is
current. A time limit backs the version up: a Redis that lost its counters would restart them at
numbers already cached. The tenants are kept in least-recently-used order, up to a bound.

Without a version (Redis unreachable) nothing is cached unless the cache is built with
`cache_unversioned`: then the value is kept under None and only the time limit renews it, for
values that are dear to compute and barely move (`knowledge.centre`).
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from threading import Lock
from typing import Generic, TypeVar

V = TypeVar("V")


@dataclass
class _Entry(Generic[V]):
    version: int | None
    created: float
    value: V


class TenantVersionCache(Generic[V]):
    """LRU over tenants of values keyed by the tenant's knowledge version, with an age limit."""

    def __init__(self, tenants: int, max_age: float, *, cache_unversioned: bool = False) -> None:
        self._tenants, self._max_age, self._unversioned = tenants, max_age, cache_unversioned
        self._entries: OrderedDict[uuid.UUID, _Entry[V]] = OrderedDict()
        self._lock = Lock()

    def lookup(self, tenant_id: uuid.UUID, version: int | None) -> tuple[bool, V | None]:
        """(found, value): found is False when the value must be computed."""
        with self._lock:
            entry = self._current(tenant_id, version)
            if entry is None:
                return False, None
            self._entries.move_to_end(tenant_id)
            return True, entry.value

    def store(self, tenant_id: uuid.UUID, version: int | None, value: V) -> None:
        """Hold `value` for the tenant at `version`, replacing whatever was held."""
        if version is None and not self._unversioned:
            return
        with self._lock:
            self._entries[tenant_id] = _Entry(version, time.monotonic(), value)
            self._touch(tenant_id)

    def update(self, tenant_id: uuid.UUID, version: int | None, change: Callable[[V | None], V]) -> None:
        """Hold `change(value held at version, or None)`, computed under the lock; the entry keeps its age."""
        if version is None and not self._unversioned:
            return
        with self._lock:
            entry = self._current(tenant_id, version)
            if entry is None:
                self._entries[tenant_id] = _Entry(version, time.monotonic(), change(None))
            else:
                entry.value = change(entry.value)
            self._touch(tenant_id)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def _touch(self, tenant_id: uuid.UUID) -> None:
        """Mark the tenant most recently used and evict the least recent beyond the bound."""
        self._entries.move_to_end(tenant_id)
        while len(self._entries) > self._tenants:
            self._entries.popitem(last=False)

    def _current(self, tenant_id: uuid.UUID, version: int | None) -> _Entry[V] | None:
        """The tenant's entry if it is still valid at `version`; a stale one is dropped."""
        entry = self._entries.get(tenant_id)
        if entry is None or (version is None and not self._unversioned):
            return None
        if entry.version != version or time.monotonic() - entry.created > self._max_age:
            del self._entries[tenant_id]
            return None
        return entry
