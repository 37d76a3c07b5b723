"""Conversation memory and the answer cache, in Redis, with the database as the fallback.

Recent turns are kept in a capped Redis list per conversation so a follow-up costs no database
read; if Redis is down or the list expired, they are re-read from `messages`. Beside the list,
the conversation's owner (tenant and visitor) lets a continued conversation be checked without a
database read; the database stays the authority (the answer is stored only if the conversation
is the visitor's). Answers to stand-alone questions are cached per tenant, keyed by the tenant's
version (bumped whenever its knowledge or settings change), the reply language and the
normalised question.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import redis
from sqlalchemy import select

from core.db import tenant_session
from core.models import Message
from core.redis import async_redis, conversation_owner_key, conversation_turns_key
from knowledge.lexical import normalize

log = logging.getLogger(__name__)
TURNS_KEPT = 10
TURNS_TTL = 24 * 3600
ANSWER_TTL = 3600


_turns_key = conversation_turns_key
owner_key = conversation_owner_key


def owner_value(tenant_id: uuid.UUID, visitor_id: str, user_id: str | None = None) -> bytes:
    """Who may continue the conversation: its verified user, else its visitor.

    A space separates a user's value: visitor ids never contain one, so no visitor id can pose as a user.
    """
    return (f"{tenant_id} user {user_id}" if user_id is not None else f"{tenant_id}:{visitor_id}").encode()


def queue_turns_read(pipe: Any, conversation_id: uuid.UUID) -> None:
    """Queue the reads of a conversation's owner and recent turns on a pipeline (see `read_turns`)."""
    pipe.get(owner_key(conversation_id))
    pipe.lrange(_turns_key(conversation_id), -TURNS_KEPT, -1)


def read_turns(replies: Iterator[Any]) -> tuple[bytes | None, list[bytes]]:
    """Consume the replies of `queue_turns_read`: the conversation's owner and its raw recent turns."""
    return next(replies), next(replies) or []


def parse_turns(raw: list[bytes]) -> list[dict[str, Any]]:
    return [json.loads(item) for item in raw]


async def recent_turns(tenant_id: uuid.UUID, conversation_id: uuid.UUID) -> list[dict[str, Any]]:
    """The last turns as [{role: user|assistant, content, ...}], oldest first."""
    try:
        raw = await async_redis().lrange(_turns_key(conversation_id), -TURNS_KEPT, -1)
        if raw:
            return parse_turns(raw)
    except redis.RedisError:
        log.warning("redis unavailable; reading turns from the database")
    async with tenant_session(tenant_id) as session:
        rows = (await session.execute(
            select(Message.role, Message.text)
            .where(Message.conversation_id == conversation_id, Message.status == "answered")
            .order_by(Message.created_at.desc()).limit(TURNS_KEPT))).all()
    return [{"role": "user" if r.role == "customer" else "assistant", "content": r.text} for r in reversed(rows)]


async def remember_turns(tenant_id: uuid.UUID, visitor_id: str, conversation_id: uuid.UUID, question: str,
                         answer: str, cache: tuple[str, dict[str, Any]] | None = None, *,
                         user_id: str | None = None, asked: dict[str, Any] | None = None,
                         replied: dict[str, Any] | None = None) -> None:
    """Append the exchange to the conversation's turns, record its owner and, if given, cache the
    answer under `cache[0]`: one round trip.

    `asked` and `replied` are kept beside the question and the answer (what the turn was, the query
    it was retrieved with, the entry answered: `chat.followups` reads them on the next turn).
    """
    key = _turns_key(conversation_id)
    try:
        pipe = async_redis().pipeline(transaction=False)
        pipe.rpush(key, json.dumps({**(asked or {}), "role": "user", "content": question}, ensure_ascii=False),
                   json.dumps({**(replied or {}), "role": "assistant", "content": answer}, ensure_ascii=False))
        pipe.ltrim(key, -TURNS_KEPT, -1)
        pipe.expire(key, TURNS_TTL)
        pipe.set(owner_key(conversation_id), owner_value(tenant_id, visitor_id, user_id), ex=TURNS_TTL)
        if cache is not None:
            pipe.set(cache[0], json.dumps(cache[1], ensure_ascii=False), ex=ANSWER_TTL)
        await pipe.execute()
    except redis.RedisError:
        log.warning("redis unavailable; turns kept in the database only")


def answer_key(tenant_id: uuid.UUID, version: int, language: str, question: str, ranking: str = "none") -> str:
    """Where an answer is cached: per tenant, knowledge version, language, question and the reranker
    that ordered its passages (`knowledge.reranker.fingerprint`), so an answer found under another
    reranker setting, the operator's included (it changes without a version bump), is never served."""
    digest = hashlib.sha256(normalize(question).strip().encode()).hexdigest()[:32]
    return f"kefu:answer:{tenant_id}:{version}:{ranking}:{language}:{digest}"


async def cached_answer(key: str | None) -> dict[str, Any] | None:
    if key is None:
        return None
    try:
        raw = await async_redis().get(key)
    except redis.RedisError:
        return None
    return json.loads(raw) if raw else None
