"""Fixtures for the security suite: the app in-process, and one real API process (sockets, caches)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from backend.api.app import create_app
from tests.e2e.conftest import ROOT, _stop, free_port, wait_ready


@pytest.fixture(scope="session")
def app() -> Litestar:
    return create_app()


@pytest.fixture(scope="session")
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient]:
    async with AsyncTestClient(app=app) as test_client:
        yield test_client


def api_process(**extra_env: str) -> Iterator[str]:
    """`kefu api` as its own process on the test database and Redis; yields its base URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env |= {"PYTHONPATH": str(ROOT), **extra_env}
    api = subprocess.Popen([sys.executable, "-m", "backend.cli", "api", "--port", str(port)], env=env, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, api)
        yield base
    finally:
        _stop(api)


@pytest.fixture(scope="session")
def api_behind_proxy(database) -> Iterator[str]:
    """`kefu api` whose proxy is the test itself (127.0.0.1): it sends X-Forwarded-For as nginx.conf does."""
    yield from api_process(FORWARDED_ALLOW_IPS="127.0.0.1")


@pytest.fixture(scope="session")
def live_api(database) -> Iterator[str]:
    """`kefu api` as its own process on the test database and Redis; yields its base URL.

    A separate process is what proves a revocation reaches other processes' caches, and it
    serves the WebSocket tests over a real socket.
    """
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env["PYTHONPATH"] = str(ROOT)
    api = subprocess.Popen([sys.executable, "-m", "backend.cli", "api", "--port", str(port)], env=env, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, api)
        yield base
    finally:
        _stop(api)
