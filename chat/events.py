"""Chat events over Redis pub/sub: the worker publishes, every API replica relays to its sockets.

An event is a small JSON object with a `type` (`delta`, `final`, `error`), built by the functions
below; the API turns each into the frame the widget reads (`backend.api.chat_frames`). One channel
per conversation. Each API process keeps a single subscriber connection and fans
messages out to the sockets it holds, so any replica can serve a customer whose answer was
produced by any worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from typing import Any

import redis
import redis.asyncio as aioredis

from chat.types import ChatResult
from core.redis import async_redis, sync_redis

log = logging.getLogger(__name__)


def delta(customer_message_id: uuid.UUID | str, text: str) -> dict[str, Any]:
    """A piece of the answer being written."""
    return {"type": "delta", "customer_message_id": str(customer_message_id), "text": text}


def answered(result: ChatResult, customer_message_id: uuid.UUID | str) -> dict[str, Any]:
    """The whole answer, stored."""
    return {"type": "final", "customer_message_id": str(customer_message_id), **result.public(),
            "fallback_reason": result.fallback_reason}


def failed(customer_message_id: uuid.UUID | str) -> dict[str, Any]:
    """No answer is coming for this message (the question is marked failed)."""
    return {"type": "error", "customer_message_id": str(customer_message_id),
            "detail": "Sorry, we could not answer this message."}


def channel(conversation_id: uuid.UUID | str) -> str:
    return f"kefu:chat:{conversation_id}"


def inbox_channel(tenant_id: uuid.UUID | str) -> str:
    """The tenant's agent inbox: hand-offs, customer messages, assignments (chat.inbox)."""
    return f"kefu:inbox:{tenant_id}"


async def publish(conversation_id: uuid.UUID | str, payload: dict[str, Any]) -> None:
    await publish_to(channel(conversation_id), payload)


async def publish_to(name: str, payload: dict[str, Any]) -> None:
    try:
        await async_redis().publish(name, json.dumps(payload, ensure_ascii=False, default=str))
    except redis.RedisError:
        # What was published is stored; the client still gets it by reading it (polling, history).
        log.warning("could not publish chat event", extra={"channel": name})


def publish_sync(conversation_id: uuid.UUID | str, payload: dict[str, Any]) -> None:
    try:
        sync_redis().publish(channel(conversation_id), json.dumps(payload, ensure_ascii=False))
    except redis.RedisError:
        log.warning("could not publish chat event", extra={"conversation_id": str(conversation_id)})


class Relay:
    """A process-wide subscriber that hands channel messages to local asyncio queues."""

    def __init__(self) -> None:
        self._queues: dict[str, set[asyncio.Queue[dict[str, Any]]]] = {}
        self._pubsub: aioredis.client.PubSub | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def subscribe(self, conversation_id: uuid.UUID | str) -> asyncio.Queue[dict[str, Any]]:
        return await self.subscribe_channel(channel(conversation_id))

    async def unsubscribe(self, conversation_id: uuid.UUID | str, queue: asyncio.Queue[dict[str, Any]]) -> None:
        await self.unsubscribe_channel(channel(conversation_id), queue)

    async def subscribe_channel(self, name: str) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        async with self._lock:
            await self._ensure_running()
            first = name not in self._queues
            self._queues.setdefault(name, set()).add(queue)
            if first and self._pubsub is not None:
                await self._pubsub.subscribe(name)
        return queue

    async def unsubscribe_channel(self, name: str, queue: asyncio.Queue[dict[str, Any]]) -> None:
        async with self._lock:
            queues = self._queues.get(name)
            if queues is None:
                return
            queues.discard(queue)
            if not queues:
                del self._queues[name]
                if self._pubsub is not None:
                    with contextlib.suppress(redis.RedisError):
                        await self._pubsub.unsubscribe(name)

    async def _ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._pubsub = async_redis().pubsub(ignore_subscribe_messages=True)
            if self._queues:
                await self._pubsub.subscribe(*self._queues)
            self._task = asyncio.create_task(self._pump())

    async def _pump(self) -> None:
        """Read messages forever; after a Redis failure, reconnect and resubscribe."""
        while True:
            try:
                assert self._pubsub is not None
                if not self._pubsub.subscribed:
                    await asyncio.sleep(0.05)
                    continue
                message = await self._pubsub.get_message(timeout=1.0)
                if message is None:
                    continue
                name = message["channel"].decode() if isinstance(message["channel"], bytes) else message["channel"]
                payload = json.loads(message["data"])
                for queue in list(self._queues.get(name, ())):
                    queue.put_nowait(payload)
            except asyncio.CancelledError:
                raise
            except (redis.RedisError, OSError):
                log.warning("chat relay lost redis; reconnecting")
                await asyncio.sleep(0.5)
                with contextlib.suppress(Exception):
                    self._pubsub = async_redis().pubsub(ignore_subscribe_messages=True)
                    if self._queues:
                        await self._pubsub.subscribe(*self._queues)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
        # A later user (another event loop in the same process: tests, a restarted server) starts afresh.
        self._task, self._pubsub, self._lock = None, None, asyncio.Lock()


relay = Relay()
