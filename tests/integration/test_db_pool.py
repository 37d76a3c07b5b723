"""The API's pool keeps its connections: one handed back and idle for a while is pinged and reused."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from core import db


async def _backend_pid() -> int:
    async with db.async_engine().connect() as connection:
        return int(await connection.scalar(text("SELECT pg_backend_pid()")))


async def test_idle_connection_is_pinged_and_kept(monkeypatch):
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.05)
    first = await _backend_pid()
    assert await _backend_pid() == first  # handed back just now: no ping, same connection
    await asyncio.sleep(0.2)
    assert await _backend_pid() == first  # idle past the limit: pinged, still alive, kept
