"""The deployment topology as plain processes: APIs and workers on a private Redis, plus the
faults the suite injects (kill a worker, restart Redis, restart PostgreSQL)."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import redis

from tests.e2e.conftest import ROOT, free_port, service_env, wait_ready


class RedisServer:
    """A private redis-server with an append-only file, so a restart keeps accepted messages."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="kefu-fault-redis-"))
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.dir),
             "--appendonly", "yes", "--appendfsync", "always", "--save", ""],
            stdout=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                return
            except redis.RedisError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: Redis flushes the append-only file and exits
            self.process.wait(timeout=20)


@dataclass
class Service:
    process: subprocess.Popen
    url: str = ""
    metrics_port: int = 0

    def kill(self) -> None:
        """SIGKILL the whole process group (the runner and Dramatiq's forked workers)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=20)

    def pause(self) -> None:
        os.killpg(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.killpg(self.process.pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class Topology:
    env: dict[str, str]
    apis: list[Service] = field(default_factory=list)
    workers: list[Service] = field(default_factory=list)
    dash: Service | None = None

    def start_api(self) -> Service:
        port = free_port()
        process = subprocess.Popen([sys.executable, "-m", "backend.cli", "api", "--port", str(port)],
                                   env=self.env, cwd=ROOT, start_new_session=True)
        service = Service(process, f"http://127.0.0.1:{port}")
        wait_ready(service.url, process, timeout=90)
        self.apis.append(service)
        return service

    def start_worker(self) -> Service:
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "backend.cli", "worker", "--threads", "2", "--metrics-host", "127.0.0.1",
             "--metrics-port", str(port)], env=self.env, cwd=ROOT, start_new_session=True)
        service = Service(process, metrics_port=port)
        deadline = time.monotonic() + 60
        while True:  # the runner serves metrics once Dramatiq's processes are being started
            try:
                httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)
                break
            except httpx.HTTPError:
                assert process.poll() is None and time.monotonic() < deadline, "worker did not start"
                time.sleep(0.2)
        self.workers.append(service)
        return service

    def start_dash(self) -> Service:
        port = free_port()
        process = subprocess.Popen([sys.executable, "-m", "backend.cli", "dash", "--port", str(port)],
                                   env=self.env, cwd=ROOT, start_new_session=True)
        service = Service(process, f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{service.url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "Dash did not start"
            time.sleep(0.3)
        self.dash = service
        return service

    def stop(self) -> None:
        for service in [*self.apis, *self.workers, *([self.dash] if self.dash else [])]:
            service.stop()


def topology_env(redis_url: str, **extra: str) -> dict[str, str]:
    env = service_env()
    env.update({
        "KEFU_REDIS_URL": redis_url,
        "KEFU_EMBEDDER": "hash",  # the faults are about processes, not ranking; keep CPU for them
        # A killed worker's messages go back on the queue after 5 s instead of a minute.
        "KEFU_BROKER_HEARTBEAT_TIMEOUT_MS": "5000",
        "KEFU_BROKER_MAINTENANCE_CHANCE": "1000000",
        # A queued answer whose job was lost in a Redis fault is re-sent after 10 s instead of 60.
        "KEFU_RECOVER_CHAT_AFTER_SECONDS": "10",
        **extra,
    })
    return env


def actor_runs(worker: Service, actor: str) -> float:
    body = httpx.get(f"http://127.0.0.1:{worker.metrics_port}/metrics", timeout=5).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in body.splitlines()
               if line.startswith("kefu_actor_duration_seconds_count") and f'actor="{actor}"' in line
               and 'outcome="ok"' in line)


class EmbeddedPostgres:
    """Stop and start the test session's embedded PostgreSQL with the options it was started with."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        opts = shlex.split((data_dir / "postmaster.opts").read_text())
        self.bin_dir = Path(opts[0]).parent
        self.options = shlex.join(opts[3:])  # after: postgres "-D" DIR

    def _pg_ctl(self, *args: str) -> None:
        command = shlex.join([str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-w", *args])
        runner = ["su", "pgserver", "-s", "/bin/sh", "-c", command] if os.geteuid() == 0 else \
            ["/bin/sh", "-c", command]
        subprocess.run(runner, check=True, capture_output=True, timeout=60)

    def stop(self) -> None:
        self._pg_ctl("-m", "fast", "stop")

    def start(self) -> None:
        self._pg_ctl("-o", self.options, "-l", str(self.data_dir / "restart.log"), "start")
