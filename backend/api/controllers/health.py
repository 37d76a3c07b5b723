"""Liveness (/health) and readiness (/ready: database, Redis, migrations at head)."""

from __future__ import annotations

import asyncio
from functools import lru_cache

from litestar import Controller, Response, get
from sqlalchemy import text

from core import migrations
from core.db import anonymous_session
from core.redis import async_redis


@lru_cache
def migration_head() -> str | None:
    return migrations.head()


class HealthController(Controller):
    tags = ["health"]

    @get("/health", summary="The process is alive")
    async def health(self) -> dict[str, str]:
        return {"status": "ok"}

    @get("/ready", summary="Database and Redis reachable, schema at the latest migration")
    async def ready(self) -> Response[dict[str, object]]:
        checks: dict[str, object] = {}
        try:
            async with asyncio.timeout(3):
                async with anonymous_session() as session:
                    version = await session.scalar(text("SELECT version_num FROM alembic_version"))
            head = migration_head()
            checks["database"] = "ok"
            checks["migrations"] = "ok" if version == head else f"at {version}, head is {head}"
        except Exception as exc:
            checks["database"] = f"unreachable: {type(exc).__name__}"
        try:
            async with asyncio.timeout(2):
                await async_redis().ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"unreachable: {type(exc).__name__}"
        ok = all(v == "ok" for v in checks.values())
        return Response({"status": "ok" if ok else "unavailable", "checks": checks},
                        status_code=200 if ok else 503)
