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


def tenant_version_key(tenant_id: uuid.UUID | str) -> str:
    """The Redis key of the tenant's version (for callers that read it inside their own pipeline)."""
    return f"kefu:tenant:{tenant_id}:version"


def bump_tenant_version_sync(tenant_id: uuid.UUID | str) -> None:
    try:
        sync_redis().incr(tenant_version_key(tenant_id))
    except redis.RedisError:
        # Cached answers expire on their own TTL; log so operators see the window.
        log.warning("could not bump tenant version", extra={"tenant_id": str(tenant_id)})


def tenant_version_sync(tenant_id: uuid.UUID | str) -> int | None:
    try:
        raw = sync_redis().get(tenant_version_key(tenant_id))
    except redis.RedisError:
        return None
    return int(raw or 0)


async def tenant_version(tenant_id: uuid.UUID | str) -> int | None:
    try:
        raw = await async_redis().get(tenant_version_key(tenant_id))
    except redis.RedisError:
        return None
    return int(raw or 0)


# Widget keys are cached for a few seconds in every API process; this one counter (bumped after a
# key is revoked or its origins change) lets each process drop its cache at once. Revocations are
# rare, so one global counter costs nothing and has no ordering race: readers take it before the
# database read, writers bump it after their commit.
WIDGET_KEYS_VERSION = "kefu:widget-keys:version"


def bump_widget_keys_version() -> None:
    try:
        sync_redis().incr(WIDGET_KEYS_VERSION)
    except redis.RedisError:
        log.warning("could not bump the widget key version; revoked keys work until the cache expires")


async def widget_keys_version() -> int | None:
    try:
        raw = await async_redis().get(WIDGET_KEYS_VERSION)
    except redis.RedisError:
        return None
    return int(raw or 0)
