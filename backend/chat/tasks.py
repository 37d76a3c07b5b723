"""The `chat` actor: answers queued customer messages and pushes the answer over pub/sub."""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import Coroutine
from typing import Any, TypeVar

import dramatiq
from dramatiq.middleware import CurrentMessage

import core.broker  # noqa: F401 - installs Kefu's broker before the actor registers
from backend.chat import engine, events, store

log = logging.getLogger(__name__)
T = TypeVar("T")
_local = threading.local()
MAX_RETRIES = 3


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on this worker thread's own long-lived event loop (one DB pool per loop)."""
    loop = getattr(_local, "loop", None)
    if loop is None or loop.is_closed():
        loop = _local.loop = asyncio.new_event_loop()
    return loop.run_until_complete(coro)


def frame(result: Any, customer_message_id: uuid.UUID) -> dict[str, Any]:
    return {
        "type": "final",
        "customer_message_id": str(customer_message_id),
        **result.public(),
        "suggest_handoff": result.fallback_reason == "low_confidence",
    }


def error_frame(customer_message_id: uuid.UUID | str) -> dict[str, Any]:
    """The frame that tells a waiting customer their message failed and no answer is coming."""
    return {
        "type": "error",
        "customer_message_id": str(customer_message_id),
        "detail": "Sorry, we could not answer this message.",
    }


async def _answer(tenant_id: uuid.UUID, message_id: uuid.UUID) -> None:
    turn, reply = await store.load_turn(tenant_id, message_id)
    if reply is not None:
        return  # already answered (redelivered message); the client can poll for it
    async for event in engine.run(turn, stream=True):
        if event.kind == "delta":
            await events.publish(
                turn.conversation_id, {"type": "delta", "customer_message_id": str(message_id), "text": event.text}
            )
        elif event.result is not None:
            await events.publish(turn.conversation_id, frame(event.result, message_id))


async def _fail(tenant_id: uuid.UUID, message_id: uuid.UUID, error: str) -> None:
    turn, reply = await store.load_turn(tenant_id, message_id)
    if reply is None:
        await store.mark_failed(turn, error)
        await events.publish(turn.conversation_id, error_frame(message_id))


@dramatiq.actor(queue_name="chat", max_retries=MAX_RETRIES, time_limit=120_000, min_backoff=500, max_backoff=5_000)
def answer_message(tenant_id: str, message_id: str) -> None:
    tenant, message = uuid.UUID(tenant_id), uuid.UUID(message_id)
    try:
        run_async(_answer(tenant, message))
    except Exception as exc:
        current = CurrentMessage.get_current_message()
        retries = int(current.options.get("retries", 0)) if current else MAX_RETRIES
        if retries >= MAX_RETRIES:
            log.exception("chat answer failed permanently", extra={"message_id": message_id})
            run_async(_fail(tenant, message, type(exc).__name__))
            return
        raise
