"""Sending work to the workers from a command: enqueue, or say plainly that the queue is down.

A command stores its write first and enqueues after the commit, so a worker never sees a row that
is not there yet. When the broker cannot take the message the write is kept, the command's
`on_failure` marks it (a document `failed`, a run `failed`) so nothing waits forever, and the
caller gets `ServiceUnavailable` (503 in the API) with a message that says what to do.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import dramatiq

from core.errors import ServiceUnavailable

log = logging.getLogger(__name__)


async def enqueue(actor: dramatiq.Actor[Any, Any], *args: Any, unavailable: str,
                  on_failure: Callable[[], Awaitable[None]] | None = None) -> None:
    """`enqueue_sync` for async callers: the send runs in a thread, `on_failure` is awaited."""
    try:
        await asyncio.to_thread(actor.send, *args)
    except Exception as exc:  # any broker or connection error: the message was not taken
        log.warning("could not enqueue %s", actor.actor_name, exc_info=True)
        if on_failure is not None:
            await on_failure()
        raise ServiceUnavailable(unavailable) from exc


def enqueue_sync(actor: dramatiq.Actor[Any, Any], *args: Any, unavailable: str,
                 on_failure: Callable[[], None] | None = None) -> None:
    """Send `actor(*args)`; if the broker refuses, run `on_failure` and raise `ServiceUnavailable(unavailable)`."""
    try:
        actor.send(*args)
    except Exception as exc:  # any broker or connection error: the message was not taken
        log.warning("could not enqueue %s", actor.actor_name, exc_info=True)
        if on_failure is not None:
            on_failure()
        raise ServiceUnavailable(unavailable) from exc
