"""Stopping Kefu as a person does leaves nothing running (README: "Ctrl-C stops every process it started").

`kefu demo` starts with a fresh KEFU_DATA_DIR (then again on the one it left) and no server URLs, exactly
as `make demo` runs it, and is stopped by SIGINT to its process group (a terminal's Ctrl-C) or SIGTERM
(`kill`, a service manager).
Afterwards no process may have its working directory or an open file in the data directory: the
embedded redis-server and PostgreSQL, the API, the worker and the admin app are all gone. Commands
run beside it attach to its servers; the services run alone share theirs and the last one out stops them.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.e2e.conftest import ROOT, free_port
from tests.factories import qa_csv

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def user_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a person running `kefu`: no KEFU_* settings but the data directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEFU_", "PYTEST"))}
    env.update(PYTHONPATH=str(ROOT), KEFU_DATA_DIR=str(data_dir), **extra)
    return env


def processes_using(directory: Path) -> dict[int, str]:
    """Processes whose working directory or an open file is inside `directory`: pid -> what and where."""
    inside = str(directory.resolve())
    found: dict[int, str] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            paths = [os.readlink(proc / "cwd")]
            fds = list((proc / "fd").iterdir())
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:120]
        except OSError:  # gone meanwhile
            continue
        for fd in fds:
            try:
                paths.append(os.readlink(fd))
            except OSError:
                continue
        hits = [p for p in paths if p == inside or p.startswith(inside + "/")]
        if hits:
            found[int(proc.name)] = f"{command} -> {hits[0]}"
    return found


def left_over(directory: Path, seconds: float = 10) -> dict[int, str]:
    """`processes_using`, once the processes that are on their way out have gone (at most `seconds`)."""
    deadline = time.monotonic() + seconds
    while (using := processes_using(directory)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return using


def servers(data_dir: Path) -> dict[str, int]:
    """The embedded servers working in the data directory: exactly one postmaster and one redis-server."""
    found: dict[str, list[int]] = {"postgres": [], "redis": []}
    for pid, what in processes_using(data_dir).items():
        if "redis-server" in what:
            found["redis"].append(pid)
        elif "postgres -D" in what:
            found["postgres"].append(pid)
    assert all(len(pids) == 1 for pids in found.values()), found
    return {name: pids[0] for name, pids in found.items()}


def kefu(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "backend.cli", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def start(env: dict[str, str], log: Path, *args: str) -> subprocess.Popen:
    """A `kefu` command in its own session, as a terminal runs it (its process group gets Ctrl-C)."""
    with log.open("w") as out:
        return subprocess.Popen([sys.executable, "-m", "backend.cli", *args], env=env, cwd=ROOT,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def wait_for_line(process: subprocess.Popen, log: Path, line: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while line not in log.read_text(errors="replace"):
        assert process.poll() is None, f"exited {process.returncode}:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"no {line!r} after {timeout} s:\n{log.read_text()[-3000:]}"
        time.sleep(0.5)


def stop(process: subprocess.Popen, signum: signal.Signals, log: Path) -> None:
    os.killpg(process.pid, signum)
    try:
        process.wait(timeout=90)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail(f"still running 90 s after {signum.name}:\n{log.read_text()[-3000:]}")


LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (DEBUG|INFO|WARNING|ERROR|CRITICAL) +\S+  ")


def assert_one_log_format(text: str) -> None:
    """Every process of the demo logged human-readable lines (its default), access lines included."""
    lines = text.splitlines()
    foreign = [line for line in lines if line.startswith(("{", "[20", "INFO - ", "WARNING - ", "INFO:", "WARNING:"))]
    assert foreign == [], foreign[:5]
    assert sum(bool(LOG_LINE.match(line)) for line in lines) >= 3
    assert any(re.search(r" INFO +kefu\.access  POST /api/v1/chat 200 [\d.]+ ms", line) for line in lines), text[-3000:]
    assert any(re.search(r" INFO +kefu\.dash\.access  GET /login 200 [\d.]+ ms", line) for line in lines)
    assert any("dramatiq" in line and "booting up" in line and LOG_LINE.match(line) for line in lines)


@pytest.fixture(scope="module")
def stopped_demo_dirs() -> list[Path]:
    """Data directories of the demos this module stopped cleanly."""
    return []


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_stopping_the_demo_leaves_no_process_in_the_data_dir(tmp_path, signum, stopped_demo_dirs) -> None:
    # The first demo starts on a fresh data directory (a first `make demo`); the next one on the directory
    # the first left (a second `make demo`): both are stopped by their signal, and the second skips the
    # first run's initdb and seeding.
    data_dir = stopped_demo_dirs[-1] if stopped_demo_dirs else tmp_path / "data"
    env = user_env(data_dir)
    log = tmp_path / "demo.log"
    api_port, dash_port = free_port(), free_port()
    demo = start(env, log, "demo", "--api-port", str(api_port), "--dash-port", str(dash_port))
    try:
        wait_for_line(demo, log, "Press Ctrl-C to stop.")
        # The banner is the last thing printed and comes back on request, with the signed-in shop link.
        again = kefu(env, "demo", "--banner")
        assert again.returncode == 0 and "Kefu demo is running" in again.stdout, again.stderr
        signed_in = next(line for line in again.stdout.splitlines() if line.strip().startswith("signed in"))
        shopper_hash = signed_in.split("&hash=")[1].split()[0]
        answer = httpx.post(f"http://127.0.0.1:{api_port}/api/v1/chat", timeout=30,
                            headers={"X-Widget-Key": signed_in.split("key=")[1].split("&")[0]},
                            json={"message": "Where is my order 10023?", "user": {"id": "c-1001", "hash": shopper_hash}})
        assert answer.status_code == 200 and "SF1402938475" in answer.json()["answer"], answer.text
        assert httpx.get(f"http://127.0.0.1:{dash_port}/login", timeout=30).status_code == 200
        running = servers(data_dir)  # the scan finds what it must not leave behind
        started = psutil.Process(demo.pid).children(recursive=True)
        assert len(started) >= 3, "the API, worker and admin app run as children of the demo"

        # Beside the running demo, other commands attach to its servers and leave them running.
        created = kefu(env, "tenant", "create", f"Beside {signum.name}", "--admin-email",
                       f"beside-{signum.name.lower()}@example.com",
                       "--admin-password", "password-123", "--json")
        assert created.returncode == 0, created.stderr
        faq = tmp_path / "faq.csv"
        faq.write_bytes(qa_csv([("B1", "Where is my parcel?", "Track it in My Orders.")]))
        queued = kefu(env, "ingest", str(faq), "--tenant", json.loads(created.stdout)["tenant_id"], "--no-wait")
        assert queued.returncode == 0, queued.stderr
        assert servers(data_dir) == running, "no second server, and the demo's still run"

        stop(demo, signum, log)
        assert demo.returncode == 0, log.read_text()[-3000:]
        assert_one_log_format(log.read_text())
        assert left_over(data_dir) == {}
        assert [p.pid for p in started if p.is_running() and p.status() != psutil.STATUS_ZOMBIE] == []
        stopped_demo_dirs.append(data_dir)
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)


def test_commands_and_services_alone_stop_the_servers_they_start(tmp_path) -> None:
    data_dir = tmp_path / "data"
    # The hash embedder: this is about processes, and three services loading the model would only add time.
    env = user_env(data_dir, KEFU_EMBEDDER="hash")

    # One-shot commands start the embedded servers and stop them when they finish.
    upgraded = kefu(env, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    created = kefu(env, "tenant", "create", "Alone", "--admin-email", "alone@example.com",
                   "--admin-password", "password-123", "--json")
    assert created.returncode == 0, created.stderr
    assert left_over(data_dir) == {}

    # The services alone share one set of servers; the last one stopped stops them.
    api_port, dash_port, metrics_port = free_port(), free_port(), free_port()
    api = start(env, tmp_path / "api.log", "api", "--port", str(api_port))
    worker = start(env, tmp_path / "worker.log", "worker", "--threads", "1", "--metrics-host", "127.0.0.1",
                   "--metrics-port", str(metrics_port))
    dash = start(env, tmp_path / "dash.log", "dash", "--port", str(dash_port))
    services = {api: tmp_path / "api.log", worker: tmp_path / "worker.log", dash: tmp_path / "dash.log"}
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                ready = httpx.get(f"http://127.0.0.1:{api_port}/ready", timeout=5).status_code == 200
                # A sign-in touches the database and Redis from the admin app's process too.
                signed = httpx.post(f"http://127.0.0.1:{dash_port}/login", timeout=10,
                                    data={"email": "alone@example.com", "password": "wrong-password"})
                if ready and signed.status_code < 500:
                    break
            except httpx.HTTPError:
                pass
            assert all(p.poll() is None for p in services), {p.args[3]: log.read_text()[-2000:]
                                                              for p, log in services.items()}
            assert time.monotonic() < deadline, "the services did not come up"
            time.sleep(0.5)
        running = servers(data_dir)  # one of each, shared by the three

        stop(api, signal.SIGINT, services[api])
        assert servers(data_dir) == running, "the worker and the admin app still use the servers"
        stop(worker, signal.SIGTERM, services[worker])
        stop(dash, signal.SIGTERM, services[dash])
        assert left_over(data_dir) == {}
    finally:
        for process in services:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
