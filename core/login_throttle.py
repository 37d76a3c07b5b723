"""Login brute-force protection: attempts counted in Redis per account and client address.

Every attempt is counted before the password is checked (so a burst of parallel guesses is
counted too) and a successful login clears the count. Past `login_max_failures` attempts for
one email from one address within `login_lockout_seconds`, that pair is refused with 429 and
Retry-After until the window ends, even with the right password, so guessing cannot continue.
The lock is per address: an attacker elsewhere cannot lock the real owner out of the account.

If Redis is unreachable the check fails open (and says so in the log): people can still log in,
and argon2's deliberate cost still slows guessing. Keys hold a digest, never the email itself.
"""

from __future__ import annotations

import hashlib
import logging
import math

import redis

from core.errors import LimitPolicy, RateLimited
from core.redis import async_redis, sync_redis
from core.settings import get_settings

log = logging.getLogger(__name__)


def _key(email: str, address: str) -> str:
    digest = hashlib.sha256(f"{email.strip().lower()}\x00{address}".encode()).hexdigest()[:32]
    return f"kefu:login:attempts:{digest}"


async def begin_login_attempt(email: str, address: str) -> None:
    """Count an attempt; raise `RateLimited` if this account and address are locked out."""
    settings = get_settings()
    key = _key(email, address)
    try:
        pipe = async_redis().pipeline()
        pipe.incr(key)
        pipe.ttl(key)
        attempts, ttl = await pipe.execute()
        if ttl < 0:  # first attempt of a window (or a key that lost its expiry): start the window now
            await async_redis().expire(key, settings.login_lockout_seconds)
            ttl = settings.login_lockout_seconds
    except redis.RedisError:
        log.warning("redis unavailable; login attempts are not being limited")
        return
    _refuse_if_locked(attempts, ttl)


def _refuse_if_locked(attempts: int, ttl: int) -> None:
    if attempts > get_settings().login_max_failures:
        minutes = max(1, math.ceil(ttl / 60))
        raise RateLimited(
            f"Too many failed logins for this account from your address; try again in {minutes} minute"
            f"{'s' if minutes > 1 else ''}.",
            retry_after=int(ttl),
            policy=LimitPolicy("login", get_settings().login_max_failures, get_settings().login_lockout_seconds),
        )


async def login_succeeded(email: str, address: str) -> None:
    """Forget the failed attempts of this account and address."""
    try:
        await async_redis().delete(_key(email, address))
    except redis.RedisError:
        log.warning("redis unavailable; could not clear failed login attempts")


def begin_login_attempt_sync(email: str, address: str) -> None:
    """The same count and lockout for synchronous callers (the Dash admin app's sign-in form)."""
    settings = get_settings()
    key = _key(email, address)
    try:
        pipe = sync_redis().pipeline()
        pipe.incr(key)
        pipe.ttl(key)
        attempts, ttl = pipe.execute()
        if ttl < 0:
            sync_redis().expire(key, settings.login_lockout_seconds)
            ttl = settings.login_lockout_seconds
    except redis.RedisError:
        log.warning("redis unavailable; login attempts are not being limited")
        return
    _refuse_if_locked(attempts, ttl)


def login_succeeded_sync(email: str, address: str) -> None:
    try:
        sync_redis().delete(_key(email, address))
    except redis.RedisError:
        log.warning("redis unavailable; could not clear failed login attempts")
