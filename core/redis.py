"""Redis connection settings shared by the broker, cache, rate limits and pub/sub."""

from __future__ import annotations

from functools import lru_cache

import redis
import redis.asyncio as aioredis

from core.settings import get_settings


def redis_url() -> str:
    """The configured Redis URL, or the embedded Redis under KEFU_DATA_DIR."""
    settings = get_settings()
    if settings.redis_url:
        return settings.redis_url
    from core.embedded import ensure_redis

    return ensure_redis(settings.redis_dir)


@lru_cache
def sync_redis() -> redis.Redis:
    return redis.Redis.from_url(redis_url(), socket_timeout=5, socket_connect_timeout=2)


@lru_cache
def async_redis() -> aioredis.Redis:
    return aioredis.Redis.from_url(redis_url(), socket_timeout=5, socket_connect_timeout=2)
