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
from core.errors import LimitPolicy, RateLimited
from core.models import UsageDaily
from core.redis import async_redis

log = logging.getLogger(__name__)
_quota_cache: dict[uuid.UUID, tuple[float, int]] = {}
_QUOTA_CACHE_SECONDS = 15.0


@dataclass(frozen=True)
class Counts:
    """This minute's message counts (this message included): the tenant's, the visitor's and the address's."""

    tenant: int
    visitor: int
    address: int = 0  # 0 when the message came with no client address (worker, CLI)


@dataclass(frozen=True)
class Limits:
    """Messages per minute: all of a tenant's visitors together, one visitor id, one client address."""

    per_tenant: int
    per_visitor: int
    per_address: int


@dataclass(frozen=True)
class RateWindow:
    """This minute's counter keys for a tenant, one of its visitors and the client address."""

    tenant_key: str
    visitor_key: str
    address_key: str | None
    retry_after: int

    @classmethod
    def now(cls, tenant_id: uuid.UUID, visitor_id: str, address: str | None = None) -> RateWindow:
        now = time.time()
        window = int(now // 60)
        return cls(f"kefu:rl:t:{tenant_id}:{window}", f"kefu:rl:v:{tenant_id}:{visitor_id}:{window}",
                   f"kefu:rl:a:{tenant_id}:{address}:{window}" if address else None, 60 - int(now % 60))

    def _keys(self) -> tuple[str, ...]:
        return (self.tenant_key, self.visitor_key) + ((self.address_key,) if self.address_key else ())

    def count(self, pipe: Any) -> None:
        """Queue the counter increments on a pipeline; `read` takes their replies."""
        for key in self._keys():
            pipe.incr(key)
            pipe.expire(key, 120)

    def read(self, replies: Iterator[Any]) -> Counts:
        """Consume the replies of the commands `count` queued, in order."""
        values = []
        for _ in self._keys():
            values.append(int(next(replies)))
            next(replies)  # the EXPIRE's reply
        return Counts(*values)

    def refused(self, counts: Counts, limits: Limits, language: str = "en") -> RateLimited | None:
        """The refusal for this message, if any limit is over (the visitor's, then the address's, then the tenant's)."""
        if counts.visitor > limits.per_visitor or (self.address_key and counts.address > limits.per_address):
            over_visitor = counts.visitor > limits.per_visitor
            policy = LimitPolicy("visitor" if over_visitor else "address",
                                 limits.per_visitor if over_visitor else limits.per_address, 60)
            return RateLimited(
                "您发送消息太频繁了，请稍后再试。" if language == "zh" else
                "You are sending messages too quickly; please wait a moment and try again.",
                retry_after=self.retry_after, policy=policy)
        if counts.tenant > limits.per_tenant:
            return RateLimited("This service is busy right now; please try again shortly.",
                               retry_after=self.retry_after, policy=LimitPolicy("tenant", limits.per_tenant, 60))
        return None


async def enforce(window: RateWindow, counts: Counts, limits: Limits, language: str = "en") -> None:
    """Raise the refusal if a limit is over.

    A message refused for its visitor or address is taken back off the tenant's count: one client
    sending with a fresh visitor id each time must not use up the minute of every other customer.
    """
    refusal = window.refused(counts, limits, language)
    if refusal is None:
        return
    if refusal.policy is not None and refusal.policy.name != "tenant":
        try:
            await async_redis().decr(window.tenant_key)
        except redis.RedisError:
            log.warning("redis unavailable; a refused message stays counted for its tenant")
    raise refusal


async def check_rate_limits(tenant_id: uuid.UUID, visitor_id: str, limits: Limits, language: str = "en",
                            address: str | None = None) -> None:
    window = RateWindow.now(tenant_id, visitor_id, address)
    try:
        pipe = async_redis().pipeline()
        window.count(pipe)
        counts = window.read(iter(await pipe.execute()))
    except redis.RedisError:
        log.warning("redis unavailable; rate limits not enforced", extra={"tenant_id": str(tenant_id)})
        return
    await enforce(window, counts, limits, language)


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
