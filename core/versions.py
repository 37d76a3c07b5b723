"""Per-tenant change counters in Redis, used to invalidate cached answers.

Anything that changes what the bot would say (knowledge indexed or deleted, bot settings saved)
bumps the tenant's version; cache keys include it, so stale answers are never served and no
scan-and-delete is needed. If Redis is unreachable the version reads as None and callers skip
the cache entirely.
"""

from __future__ import annotations

import logging
import uuid

import redis

from core.redis import async_redis, sync_redis

log = logging.getLogger(__name__)


def _key(tenant_id: uuid.UUID | str) -> str:
    return f"kefu:tenant:{tenant_id}:version"


def bump_tenant_version(tenant_id: uuid.UUID | str) -> None:
    try:
        sync_redis().incr(_key(tenant_id))
    except redis.RedisError:
        # Cached answers expire on their own TTL; log so operators see the window.
        log.warning("could not bump tenant version", extra={"tenant_id": str(tenant_id)})


async def abump_tenant_version(tenant_id: uuid.UUID | str) -> None:
    try:
        await async_redis().incr(_key(tenant_id))
    except redis.RedisError:
        log.warning("could not bump tenant version", extra={"tenant_id": str(tenant_id)})


async def atenant_version(tenant_id: uuid.UUID | str) -> int | None:
    try:
        raw = await async_redis().get(_key(tenant_id))
    except redis.RedisError:
        return None
    return int(raw or 0)
