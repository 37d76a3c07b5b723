"""Conversation memory and the answer cache, in Redis, with the database as the fallback.

Recent turns are kept in a capped Redis list per conversation so a follow-up costs no database
read; if Redis is down or the list expired, they are re-read from `messages`. Answers to
stand-alone questions are cached per tenant, keyed by the tenant's version (bumped whenever its
knowledge or settings change), the reply language and the normalised question.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import uuid
from typing import Any

import redis
from sqlalchemy import select

from core.db import tenant_session
from core.models import Message
from core.redis import async_redis
from core.versions import atenant_version
from knowledge.lexical import normalize

log = logging.getLogger(__name__)
TURNS_KEPT = 10
TURNS_TTL = 24 * 3600
ANSWER_TTL = 3600


def _turns_key(conversation_id: uuid.UUID) -> str:
    return f"kefu:conv:{conversation_id}:turns"


async def recent_turns(tenant_id: uuid.UUID, conversation_id: uuid.UUID) -> list[dict[str, str]]:
    """The last turns as [{role: user|assistant, content}], oldest first."""
    try:
        raw = await async_redis().lrange(_turns_key(conversation_id), -TURNS_KEPT, -1)
        if raw:
            return [json.loads(item) for item in raw]
    except redis.RedisError:
        log.warning("redis unavailable; reading turns from the database")
    async with tenant_session(tenant_id) as session:
        rows = (await session.execute(
            select(Message.role, Message.text)
            .where(Message.conversation_id == conversation_id, Message.status == "answered")
            .order_by(Message.created_at.desc()).limit(TURNS_KEPT))).all()
    return [{"role": "user" if r.role == "customer" else "assistant", "content": r.text} for r in reversed(rows)]


async def remember_turns(conversation_id: uuid.UUID, question: str, answer: str) -> None:
    key = _turns_key(conversation_id)
    try:
        pipe = async_redis().pipeline()
        pipe.rpush(key, json.dumps({"role": "user", "content": question}, ensure_ascii=False),
                   json.dumps({"role": "assistant", "content": answer}, ensure_ascii=False))
        pipe.ltrim(key, -TURNS_KEPT, -1)
        pipe.expire(key, TURNS_TTL)
        await pipe.execute()
    except redis.RedisError:
        log.warning("redis unavailable; turns kept in the database only")


async def answer_cache_key(tenant_id: uuid.UUID, language: str, question: str) -> str | None:
    version = await atenant_version(tenant_id)
    if version is None:
        return None
    digest = hashlib.sha256(normalize(question).strip().encode()).hexdigest()[:32]
    return f"kefu:answer:{tenant_id}:{version}:{language}:{digest}"


async def cached_answer(key: str | None) -> dict[str, Any] | None:
    if key is None:
        return None
    try:
        raw = await async_redis().get(key)
    except redis.RedisError:
        return None
    return json.loads(raw) if raw else None


async def store_answer(key: str | None, payload: dict[str, Any]) -> None:
    if key is None:
        return
    with contextlib.suppress(redis.RedisError):  # an uncached answer is only slower
        await async_redis().set(key, json.dumps(payload, ensure_ascii=False), ex=ANSWER_TTL)
