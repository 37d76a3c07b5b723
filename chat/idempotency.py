"""`Idempotency-Key` for asking a question: a resend never stores the question twice.

A widget that lost its connection cannot tell whether its question arrived; sending it again with
the same key is safe. The first request to claim a key (tenant + key, `SET NX` in Redis, so across
every API process) runs; the answer is kept for `KEEP_SECONDS` and a resend gets the same response
back. A resend while the first is still running gets 409 (retry shortly); the same key with a
different request gets 422 (IETF httpapi idempotency-key draft). A request that fails releases its
key so the customer can try again.

If Redis is unreachable the key is not enforced (logged), like the rate limits: customers keep
getting answers.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import uuid
from dataclasses import dataclass
from typing import Any

import redis

from core.errors import Conflict, ValidationFailed
from core.redis import async_redis

log = logging.getLogger(__name__)
KEEP_SECONDS = 24 * 3600
RUNNING_SECONDS = 120  # a claim whose process died is released after this
_KEY = re.compile(r"[\x21-\x7e]{1,255}")


@dataclass(frozen=True)
class Stored:
    """A finished request's response, replayed to a resend."""

    status: int
    body: dict[str, Any]


@dataclass(frozen=True)
class Claim:
    """A key this request holds (None from `claim` when no key was sent or Redis is down)."""

    redis_key: str
    fingerprint: str


def fingerprint(request: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()


async def claim(tenant_id: uuid.UUID, key: str | None, request: dict[str, Any]) -> Claim | Stored | None:
    """Claim `key` for this request; a `Stored` response when it already ran; None when there is no key."""
    if key is None:
        return None
    if not _KEY.fullmatch(key):
        raise ValidationFailed("Idempotency-Key must be 1-255 visible ASCII characters (a UUID is a good choice).")
    held = Claim(f"kefu:idem:{tenant_id}:{hashlib.sha256(key.encode()).hexdigest()[:40]}", fingerprint(request))
    try:
        client = async_redis()
        if await client.set(held.redis_key, json.dumps({"fp": held.fingerprint}), nx=True, ex=RUNNING_SECONDS):
            return held
        raw = await client.get(held.redis_key)
    except redis.RedisError:
        log.warning("redis unavailable; Idempotency-Key not enforced", extra={"tenant_id": str(tenant_id)})
        return None
    if raw is None:  # released between the two commands: the first attempt failed, so run this one
        return await claim(tenant_id, key, request)
    stored = json.loads(raw)
    if stored["fp"] != held.fingerprint:
        raise ValidationFailed("This Idempotency-Key was used for a different request; use a new key.")
    if "status" not in stored:
        raise Conflict("A request with this Idempotency-Key is still being answered; retry in a moment.")
    return Stored(stored["status"], stored["body"])


async def finish(held: Claim, status: int, body: dict[str, Any]) -> None:
    """Keep the response for resends."""
    try:
        await async_redis().set(
            held.redis_key, json.dumps({"fp": held.fingerprint, "status": status, "body": body}), ex=KEEP_SECONDS
        )
    except redis.RedisError:
        log.warning("redis unavailable; a resend of this request would be answered again")


async def release(held: Claim) -> None:
    """Forget a claim whose request failed, so the same key can be sent again."""
    try:
        await async_redis().delete(held.redis_key)
    except redis.RedisError:
        log.warning("redis unavailable; the Idempotency-Key stays claimed until it expires")
