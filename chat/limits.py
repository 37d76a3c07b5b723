"""Rate limits (Redis, fixed one-minute windows) and the monthly token quota (database).

If Redis is unreachable, rate limits fail open: customers keep getting answers, and cost stays
bounded because the token quota is enforced from the database, and a tenant over quota is served
by the local responder (no model tokens) instead of being refused.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis
from sqlalchemy import func, select

from core.db import tenant_session
from core.errors import RateLimited
from core.models import UsageDaily
from core.redis import async_redis

log = logging.getLogger(__name__)
_quota_cache: dict[uuid.UUID, tuple[float, int]] = {}
_QUOTA_CACHE_SECONDS = 15.0


@dataclass(frozen=True)
class Counts:
    """This minute's message counts, the tenant's and the visitor's (this message included)."""

    tenant: int
    visitor: int


@dataclass(frozen=True)
class RateWindow:
    """This minute's counter keys for a tenant and one of its visitors."""

    tenant_key: str
    visitor_key: str
    retry_after: int

    @classmethod
    def now(cls, tenant_id: uuid.UUID, visitor_id: str) -> RateWindow:
        now = time.time()
        window = int(now // 60)
        return cls(f"kefu:rl:t:{tenant_id}:{window}", f"kefu:rl:v:{tenant_id}:{visitor_id}:{window}",
                   60 - int(now % 60))

    def count(self, pipe: Any) -> None:
        """Queue the counter increments on a pipeline; `read` takes their replies."""
        for key in (self.tenant_key, self.visitor_key):
            pipe.incr(key)
            pipe.expire(key, 120)

    @staticmethod
    def read(replies: Iterator[Any]) -> Counts:
        """Consume the replies of the commands `count` queued, in order."""
        tenant, _, visitor, _ = (next(replies) for _ in range(4))
        return Counts(int(tenant), int(visitor))

    def enforce(self, counts: Counts, per_tenant: int, per_visitor: int, language: str = "en") -> None:
        if counts.visitor > per_visitor:
            raise RateLimited(
                "您发送消息太频繁了，请稍后再试。" if language == "zh" else
                "You are sending messages too quickly; please wait a moment and try again.",
                retry_after=self.retry_after)
        if counts.tenant > per_tenant:
            raise RateLimited("This service is busy right now; please try again shortly.",
                              retry_after=self.retry_after)


async def check_rate_limits(tenant_id: uuid.UUID, visitor_id: str, per_tenant: int, per_visitor: int,
                            language: str = "en") -> None:
    window = RateWindow.now(tenant_id, visitor_id)
    try:
        pipe = async_redis().pipeline()
        window.count(pipe)
        counts = window.read(iter(await pipe.execute()))
    except redis.RedisError:
        log.warning("redis unavailable; rate limits not enforced", extra={"tenant_id": str(tenant_id)})
        return
    window.enforce(counts, per_tenant, per_visitor, language)


async def tokens_used_this_month(tenant_id: uuid.UUID) -> int:
    cached = _quota_cache.get(tenant_id)
    if cached and time.monotonic() - cached[0] < _QUOTA_CACHE_SECONDS:
        return cached[1]
    first_day = datetime.now(UTC).date().replace(day=1)
    async with tenant_session(tenant_id) as session:
        used = await session.scalar(
            select(func.coalesce(func.sum(UsageDaily.prompt_tokens + UsageDaily.completion_tokens), 0))
            .where(UsageDaily.tenant_id == tenant_id, UsageDaily.day >= first_day))
    _quota_cache[tenant_id] = (time.monotonic(), int(used or 0))
    return int(used or 0)
