"""Redis connection settings shared by the broker, cache, rate limits and pub/sub."""

from __future__ import annotations

import asyncio
import weakref
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


_async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aioredis.Redis] = weakref.WeakKeyDictionary()


def async_redis() -> aioredis.Redis:
    """An asyncio client for the running event loop (redis-py connections belong to one loop)."""
    loop = asyncio.get_running_loop()
    client = _async_clients.get(loop)
    if client is None:
        client = _async_clients[loop] = aioredis.Redis.from_url(redis_url(), socket_timeout=5,
                                                                socket_connect_timeout=2)
    return client


# A conversation's recent turns and owner, cached by the chat engine (chat.memory); named here so the
# privacy operations (analytics.privacy) can forget an erased conversation without importing chat.
def conversation_turns_key(conversation_id: object) -> str:
    return f"kefu:conv:{conversation_id}:turns"


def conversation_owner_key(conversation_id: object) -> str:
    return f"kefu:conv:{conversation_id}:owner"
