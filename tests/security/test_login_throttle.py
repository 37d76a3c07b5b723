"""Login brute force: attempts per account and address are limited in Redis, failing open without Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from core import login_throttle
from core.settings import get_settings
from tests.factories import TenantCtx, make_tenant

pytestmark = pytest.mark.integration
LOGIN = "/api/v1/auth/login"


@pytest.fixture
def owner() -> TenantCtx:
    return make_tenant("Throttle")


def from_address(app, address: str) -> httpx.AsyncClient:
    """A client whose requests arrive from `address` (the ASGI scope's client host)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 40000)),
                             base_url="http://testserver")


@pytest.fixture
async def attacker(app) -> AsyncIterator[httpx.AsyncClient]:
    async with from_address(app, "203.0.113.7") as client:
        yield client


async def fail(client: httpx.AsyncClient, email: str, times: int) -> list[int]:
    return [(await client.post(LOGIN, json={"email": email, "password": "wrong-guess"})).status_code
            for _ in range(times)]


async def test_after_the_allowed_failures_even_the_right_password_gets_429(attacker, owner) -> None:
    allowed = get_settings().login_max_failures
    email = owner.created.admin_email
    assert await fail(attacker, email, allowed) == [401] * allowed
    locked = await attacker.post(LOGIN, json={"email": email, "password": "password-123"})
    assert locked.status_code == 429
    retry_after = int(locked.headers["Retry-After"])
    assert 0 < retry_after <= get_settings().login_lockout_seconds
    assert locked.headers["content-type"].startswith("application/problem+json")
    assert "Too many failed logins" in locked.json()["detail"] and "try again in" in locked.json()["detail"]
    assert "token" not in locked.json()


async def test_the_lock_does_not_reach_other_addresses_or_accounts(app, attacker, owner) -> None:
    email = owner.created.admin_email
    await fail(attacker, email, get_settings().login_max_failures + 1)
    async with from_address(app, "198.51.100.20") as owner_at_home:
        response = await owner_at_home.post(LOGIN, json={"email": email, "password": "password-123"})
    assert response.status_code == 200 and response.json()["token"]
    other = make_tenant("Neighbour")
    response = await attacker.post(LOGIN, json={"email": other.created.admin_email, "password": "password-123"})
    assert response.status_code == 200


async def test_a_successful_login_clears_the_count(attacker, owner) -> None:
    allowed = get_settings().login_max_failures
    email = owner.created.admin_email
    await fail(attacker, email, allowed - 1)
    assert (await attacker.post(LOGIN, json={"email": email, "password": "password-123"})).status_code == 200
    assert await fail(attacker, email, allowed) == [401] * allowed


async def test_email_case_and_spaces_do_not_reset_the_count(attacker, owner) -> None:
    email = owner.created.admin_email
    await fail(attacker, email, get_settings().login_max_failures)
    response = await attacker.post(LOGIN, json={"email": f"  {email.upper()} ", "password": "password-123"})
    assert response.status_code == 429


async def test_unknown_accounts_are_limited_the_same_way(attacker) -> None:
    allowed = get_settings().login_max_failures
    assert await fail(attacker, "nobody-here@example.com", allowed + 1) == [401] * allowed + [429]


async def test_redis_down_fails_open_without_crashing(attacker, owner, monkeypatch) -> None:
    dead = aioredis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))
    monkeypatch.setattr(login_throttle, "async_redis", lambda: dead)
    email = owner.created.admin_email
    allowed = get_settings().login_max_failures
    assert await fail(attacker, email, allowed + 2) == [401] * (allowed + 2)
    response = await attacker.post(LOGIN, json={"email": email, "password": "password-123"})
    assert response.status_code == 200
    await dead.aclose()
