"""Who is at the inbox now, and so whether a person can answer a hand-off soon.

An agent is online while their inbox page is open: each authenticated inbox socket of a signed-in
user holds a seat in the tenant's sorted set in Redis (`kefu:presence:<tenant>`), scored with the
time its lease ends. The page sends a heartbeat frame every `HEARTBEAT_SECONDS` and answers the
server's pings; every frame renews the lease for `LEASE_SECONDS`. A closed socket gives its seat up
at once; a socket whose API process died or whose page froze lapses when its lease ends. Redis is
shared, so every API process sees the agents connected to any other.

`availability` combines this with office hours (chat.service_hours): someone answers soon only
inside office hours while an agent is online; otherwise the widget says why and asks for an email
or phone number (chat.contact), and the conversation waits in the inbox.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

import redis

from chat import service_hours
from core.db import tenant_session
from core.redis import async_redis

log = logging.getLogger(__name__)
HEARTBEAT_SECONDS = 20  # the inbox page's heartbeat (widget/inbox/inbox.js sends one this often)
# Three heartbeats: a background tab whose timers the browser slows still answers the server's pings.
LEASE_SECONDS = 60


def presence_key(tenant_id: uuid.UUID | str) -> str:
    return f"kefu:presence:{tenant_id}"


@dataclass(frozen=True)
class Seat:
    """One open inbox socket of one agent."""

    tenant_id: uuid.UUID
    user_id: uuid.UUID
    socket_id: str

    @property
    def member(self) -> str:
        return f"{self.user_id}:{self.socket_id}"


def _online_users(members: list[bytes | str]) -> set[str]:
    return {(m.decode() if isinstance(m, bytes) else m).split(":", 1)[0] for m in members}


async def _write(seat: Seat, *, present: bool, lease: float = LEASE_SECONDS) -> tuple[int, int] | None:
    """Take, renew or give up `seat`; the number of agents online before and after (None without Redis)."""
    key, now = presence_key(seat.tenant_id), time.time()
    try:
        pipe = async_redis().pipeline(transaction=True)
        pipe.zremrangebyscore(key, "-inf", now)
        pipe.zrangebyscore(key, now, "+inf")
        if present:
            pipe.zadd(key, {seat.member: now + lease})
        else:
            pipe.zrem(key, seat.member)
        pipe.zrangebyscore(key, now, "+inf")
        pipe.expire(key, int(lease * 2) + 1)  # a tenant whose agents all vanished leaves no key behind
        replies = await pipe.execute()
    except redis.RedisError:
        log.warning("redis unavailable; inbox presence not recorded", extra={"tenant_id": str(seat.tenant_id)})
        return None
    return len(_online_users(replies[1])), len(_online_users(replies[3]))


async def arrive(seat: Seat, *, lease: float = LEASE_SECONDS) -> bool:
    """The agent's inbox socket is open: True when the tenant had no agent online before."""
    counts = await _write(seat, present=True, lease=lease)
    return counts is not None and counts[0] == 0 and counts[1] > 0


async def renew(seat: Seat, *, lease: float = LEASE_SECONDS) -> bool:
    """A heartbeat: the lease runs `lease` seconds from now. True when this brought the tenant back online
    (the seat had lapsed, say after a long pause of the page, and no one else was online)."""
    return await arrive(seat, lease=lease)


async def leave(seat: Seat) -> bool:
    """The socket closed: True when no agent of the tenant is online any more."""
    counts = await _write(seat, present=False)
    return counts is not None and counts[0] > 0 and counts[1] == 0


async def agents_online(tenant_id: uuid.UUID) -> int | None:
    """How many agents have the inbox open now (distinct users); None when Redis cannot say."""
    try:
        members = await async_redis().zrangebyscore(presence_key(tenant_id), time.time(), "+inf")
    except redis.RedisError:
        log.warning("redis unavailable; inbox presence unknown", extra={"tenant_id": str(tenant_id)})
        return None
    return len(_online_users(members))


async def availability(tenant_id: uuid.UUID) -> dict[str, Any]:
    """Whether a person can answer now, and if not why, for the widget and the bot.

    `open`: inside office hours; `agent_online`: an agent has the inbox open (None: unknown, Redis is
    down, and then office hours alone decide); `ask_contact`: the widget should ask for an address;
    `reason`: `closed` (outside office hours), `no_agent` (inside them, nobody online) or None.
    """
    async with tenant_session(tenant_id) as session:
        settings = await service_hours.load(session, tenant_id)
    open_now = service_hours.is_open(settings)
    online = await agents_online(tenant_id)
    reason = "closed" if not open_now else ("no_agent" if online == 0 else None)
    return {"open": open_now, "agent_online": None if online is None else online > 0,
            "ask_contact": reason is not None, "reason": reason}
