"""Database engines and tenant-scoped sessions.

Two connection roles: the *owner* (migrations, maintenance such as building a tenant's vector
index) and the restricted *app* role used by the API, workers and Dash. The app role is neither
owner nor superuser, so PostgreSQL row-level security applies to everything it runs, including raw
SQL and pandas. Every transaction of a tenant session starts with `app.tenant_id` set, so a missing
`WHERE tenant_id` can never leak another tenant's rows.
"""

from __future__ import annotations

import asyncio
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from functools import lru_cache
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, sessionmaker

from core.errors import ServiceUnavailable
from core.settings import Settings, get_settings

# Drivers prepare repeated statements; a generic plan cannot see which tenant (and so which
# partial vector index, or how few rows) a query is for. Planning these queries is cheap.
PLAN_CACHE_MODE = "force_custom_plan"


def server_settings(settings: Settings) -> dict[str, str]:
    """Session settings sent with each connection's startup packet (no statement per search).

    `hnsw.ef_search` is how many candidates a tenant's partial HNSW index explores
    (`KEFU_HNSW_EF_SEARCH`); it only matters to tenants that have one."""
    return {"plan_cache_mode": PLAN_CACHE_MODE, "hnsw.ef_search": str(settings.hnsw_ef_search)}


_SET_TENANT = text("SELECT set_config('app.tenant_id', :tenant_id, true)")
# A pooled connection idle longer than this is pinged before use (see `_ping_when_idle`).
PING_AFTER_IDLE_SECONDS = 1.0


def owner_url(settings: Settings | None = None) -> URL:
    """URL of the owning role: the configured database, or the embedded server's superuser."""
    settings = settings or get_settings()
    if settings.database_url:
        raw = settings.database_url
    else:
        from core.embedded import ensure_postgres

        raw = ensure_postgres(settings.pg_dir)
    return make_url(raw).set(drivername="postgresql+psycopg")


def app_url(settings: Settings | None = None) -> URL:
    """URL of the restricted application role (row-level security applies to it)."""
    settings = settings or get_settings()
    if settings.app_database_url:
        return make_url(settings.app_database_url).set(drivername="postgresql+psycopg")
    return owner_url(settings).set(username=settings.app_db_role, password=settings.app_db_password)


def _async(url: URL) -> URL:
    return url.set(drivername="postgresql+asyncpg")


def _unavailable_when_unreachable(engine: Engine) -> Engine:
    """A refused or missing server socket surfaces as a plain OSError from the driver's connect;
    turn it into ServiceUnavailable (503, "retry shortly") rather than an unexplained 500."""

    @event.listens_for(engine, "do_connect")
    def connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        try:
            return dialect.connect(*cargs, **cparams)
        except OSError as exc:
            raise ServiceUnavailable("The database is unreachable; retry shortly.") from exc

    return engine


def _ping_when_idle(engine: Engine) -> Engine:
    """Ping a pooled connection before use only if it sat idle for a while.

    `pool_pre_ping` costs a round trip (and a server transaction) on every checkout, i.e. on every
    transaction of the chat path. A connection handed back milliseconds ago is as good as the last
    statement it ran; one that idled across a database restart is not, so it is pinged and, if dead,
    replaced before the caller sees it. A connection that dies under load fails its statement, and
    SQLAlchemy then invalidates the whole pool, so the next checkouts reconnect.
    """

    @event.listens_for(engine, "checkin")
    def checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.pop("idle_since", None)
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise exc.DisconnectionError("stale pooled connection") from error  # the pool reconnects

    return engine


@lru_cache
def sync_engine() -> Engine:
    """Engine for workers, pandas and Dash (psycopg), connected as the app role."""
    settings = get_settings()
    options = " ".join(f"-c {name}={value}" for name, value in server_settings(settings).items())
    return _ping_when_idle(_unavailable_when_unreachable(create_engine(
        app_url(settings), pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow,
        connect_args={"options": options})))


@lru_cache
def owner_engine() -> Engine:
    """Engine for migrations and maintenance DDL, connected as the owning role."""
    return create_engine(owner_url(), pool_size=2, pool_pre_ping=True)


_async_engines: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncEngine] = weakref.WeakKeyDictionary()


def async_engine() -> AsyncEngine:
    """Engine for async code (asyncpg), connected as the app role.

    asyncpg connections belong to one event loop, so there is one engine per loop: the API has
    one loop per process, a worker thread running async chat code has its own.
    """
    loop = asyncio.get_running_loop()
    engine = _async_engines.get(loop)
    if engine is None:
        settings = get_settings()
        engine = create_async_engine(
            _async(app_url(settings)), pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow,
            connect_args={"server_settings": server_settings(settings)},
        )
        _ping_when_idle(_unavailable_when_unreachable(engine.sync_engine))
        _async_engines[loop] = engine
    return engine


def dispose_engines() -> None:
    """Close pools and forget engines (tests and forked processes)."""
    for factory in (sync_engine, owner_engine):
        if factory.cache_info().currsize:
            factory().dispose()
        factory.cache_clear()
    _async_engines.clear()


def _set_tenant_on_begin(session: Session, transaction: Any, connection: Any) -> None:
    tenant_id = session.info.get("tenant_id")
    if tenant_id is not None:
        connection.execute(_SET_TENANT, {"tenant_id": str(tenant_id)})


_SyncSessionMaker = sessionmaker(expire_on_commit=False)
_AsyncSessionMaker = async_sessionmaker(expire_on_commit=False)
event.listen(Session, "after_begin", _set_tenant_on_begin)


@asynccontextmanager
async def tenant_session(tenant_id: uuid.UUID | str) -> AsyncIterator[AsyncSession]:
    """An async session whose every transaction sees only `tenant_id`'s rows; commits on exit."""
    session = _AsyncSessionMaker(bind=async_engine(), info={"tenant_id": str(tenant_id)})
    async with session, session.begin():
        yield session


@asynccontextmanager
async def tenant_connection(tenant_id: uuid.UUID | str) -> AsyncIterator[AsyncConnection]:
    """A Core connection in one transaction scoped to `tenant_id` (commits on exit).

    For hot paths that run a few fixed statements: no ORM session or unit of work around them.
    """
    async with async_engine().begin() as connection:
        await connection.execute(_SET_TENANT, {"tenant_id": str(tenant_id)})
        yield connection


@asynccontextmanager
async def autocommit_connection() -> AsyncIterator[AsyncConnection]:
    """A Core connection in autocommit: each statement is its own transaction (no BEGIN/COMMIT round
    trips). For single statements that set their own tenant, such as `kefu_save_exchange`."""
    async with async_engine().connect() as connection:
        yield await connection.execution_options(isolation_level="AUTOCOMMIT")


@asynccontextmanager
async def anonymous_session() -> AsyncIterator[AsyncSession]:
    """A session with no tenant: tenant tables look empty; only the resolver functions answer."""
    async with _AsyncSessionMaker(bind=async_engine()) as session, session.begin():
        yield session


@contextmanager
def tenant_session_sync(tenant_id: uuid.UUID | str) -> Iterator[Session]:
    """The synchronous twin of `tenant_session`, for workers, pandas and Dash."""
    with _SyncSessionMaker(bind=sync_engine(), info={"tenant_id": str(tenant_id)}) as session, session.begin():
        yield session


@contextmanager
def anonymous_session_sync() -> Iterator[Session]:
    """Synchronous session with no tenant set."""
    with _SyncSessionMaker(bind=sync_engine()) as session, session.begin():
        yield session
