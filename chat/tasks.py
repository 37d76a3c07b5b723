"""The `chat` actor: answers queued customer messages and publishes the answer as chat events.

An `async def` actor: Dramatiq's AsyncIO middleware runs it on the worker process's event loop,
where the chat engine's asyncpg pool and Redis client live. When every retry has failed,
`answer_gave_up` marks the question failed and tells a waiting customer so.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import dramatiq

import core.broker  # noqa: F401 - installs Kefu's broker before the actor registers
from chat import engine, events, store
from core.broker import failure_name

log = logging.getLogger(__name__)


@dramatiq.actor(queue_name="chat", max_retries=3, time_limit=120_000, min_backoff=500, max_backoff=5_000,
                on_retry_exhausted="answer_gave_up")
async def answer_message(tenant_id: str, message_id: str) -> None:
    """Answer a stored customer question (a redelivered message finds it answered and does nothing)."""
    customer_message_id = uuid.UUID(message_id)
    turn, reply = await store.load_turn(uuid.UUID(tenant_id), customer_message_id)
    if reply is not None:
        return  # already answered; the client can poll for it
    async for event in engine.run(turn, stream=True):
        if event.kind == "delta":
            await events.publish(turn.conversation_id, events.delta(customer_message_id, event.text))
        elif event.result is not None:
            await events.publish(turn.conversation_id, events.answered(event.result, customer_message_id))


@dramatiq.actor(queue_name="chat", max_retries=3)
async def answer_gave_up(message: dict[str, Any], retry_info: dict[str, Any]) -> None:
    tenant_id, message_id = message["args"]
    log.error("chat answer failed permanently", extra={"message_id": message_id})
    turn, reply = await store.load_turn(uuid.UUID(tenant_id), uuid.UUID(message_id))
    if reply is None:
        await store.mark_failed(turn, failure_name(message))
        await events.publish(turn.conversation_id, events.failed(message_id))
