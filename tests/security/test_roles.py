"""Who may call what, checked on every route the app serves (the list comes from the app itself).

- admin routes refuse a missing credential, a widget key (in either header) and a forged key: 401;
- analysts (API key or login token) get 403 on every route that changes something, and change nothing;
- analysts can read what they are meant to read;
- widget routes refuse admin credentials without a widget key: 401.
"""

from __future__ import annotations

import pytest

from backend.api.app import create_app
from tests.security.surface import (
    ADMIN_ONLY,
    AGENT_ROUTES,
    MUTATING,
    OWNER_ONLY,
    PROBES,
    Route,
    Seeded,
    api_routes,
    is_public,
)
from tests.security.world import seed, snapshot

pytestmark = pytest.mark.integration
ROUTES = [r for r in api_routes(create_app()) if not is_public(r) and r.method != "WS"]
ADMIN = [r for r in ROUTES if r.audience == "admin"]
WIDGET = [r for r in ROUTES if r.audience == "widget"]


def _read_only(route: Route) -> bool:
    probe = PROBES.get(route.key)
    return route.method not in MUTATING or (probe is not None and probe.read_only)


WRITES = [r for r in ADMIN if not _read_only(r) and r.key not in AGENT_ROUTES]
READS = [r for r in ADMIN if _read_only(r) and r.key not in OWNER_ONLY | ADMIN_ONLY | AGENT_ROUTES]
ADMIN_READS = [r for r in ADMIN if r.key in ADMIN_ONLY]
OWNERS = [r for r in ADMIN if r.key in OWNER_ONLY]
AGENTS = [r for r in ADMIN if r.key in AGENT_ROUTES]
AGENT_READS = [r for r in AGENTS if r.method == "GET"]
NOT_FOR_AGENTS = [r for r in ADMIN if r.key not in AGENT_ROUTES]


def name(route: Route) -> str:
    return f"{route.method} {route.path}"


@pytest.fixture(scope="module")
async def shop(client) -> Seeded:
    return await seed(client, "Roles")


async def call(client, route: Route, tenant: Seeded, headers: dict[str, str]):
    probe = PROBES.get(route.key)
    query = probe.query(tenant, tenant) if probe else {}
    body = probe.body(tenant, tenant) if probe else {}
    return await client.request(route.method, route.url(tenant.path_values()), headers=headers, params=query,
                                **body)


def test_the_surface_has_routes_of_every_kind() -> None:
    assert len(WRITES) >= 7 and len(READS) >= 8 and len(WIDGET) >= 6 and len(OWNERS) == len(OWNER_ONLY)
    assert len(AGENTS) == len(AGENT_ROUTES) and len(ADMIN_READS) == len(ADMIN_ONLY)


@pytest.mark.parametrize("route", ADMIN, ids=name)
async def test_admin_routes_refuse_missing_widget_and_forged_credentials(client, shop, route) -> None:
    for headers in ({}, shop.widget, {"Authorization": f"Bearer {shop.widget_key}"},
                    {"Authorization": "Bearer kefu_sk_" + "x" * 43}):
        response = await call(client, route, shop, headers)
        assert response.status_code == 401, (headers, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("credential", ["analyst", "analyst_token"])
@pytest.mark.parametrize("route", WRITES, ids=name)
async def test_analysts_cannot_change_anything(client, shop, route, credential) -> None:
    before = snapshot(shop.tenant_id)
    response = await call(client, route, shop, getattr(shop, credential))
    assert response.status_code == 403, response.text
    assert "needs the admin role" in response.json()["detail"]
    assert snapshot(shop.tenant_id) == before


@pytest.mark.parametrize("route", READS, ids=name)
async def test_analysts_can_read(client, shop, route) -> None:
    response = await call(client, route, shop, shop.analyst)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("route", ADMIN_READS, ids=name)
async def test_admin_only_reads_refuse_analysts(client, shop, route) -> None:
    for headers in (shop.analyst, shop.analyst_token):
        response = await call(client, route, shop, headers)
        assert response.status_code == 403, response.text
        assert "needs the admin role" in response.json()["detail"]
    assert (await call(client, route, shop, shop.admin)).status_code == 200


@pytest.mark.parametrize("route", OWNERS, ids=name)
async def test_owner_only_routes_refuse_admins_and_analysts(client, shop, route) -> None:
    from core.db import tenant_session_sync
    from core.tenancy import create_api_key

    with tenant_session_sync(shop.tenant_id) as session:
        _, admin_key = create_api_key(session, shop.tenant_id, "admin key", "admin")
    for headers in ({"Authorization": f"Bearer {admin_key}"}, shop.analyst, shop.analyst_token):
        response = await call(client, route, shop, headers)
        assert response.status_code == 403, response.text
        assert "needs the owner role" in response.json()["detail"]
    assert (await call(client, route, shop, shop.admin)).status_code == 200  # the owner key


@pytest.mark.parametrize("route", WIDGET, ids=name)
async def test_widget_routes_refuse_admin_credentials(client, shop, route) -> None:
    for headers in ({}, shop.admin, {"X-Widget-Key": shop.admin["Authorization"].removeprefix("Bearer ")}):
        response = await call(client, route, shop, headers)
        assert response.status_code == 401, (headers, response.text)


@pytest.mark.parametrize("credential", ["analyst", "analyst_token"])
@pytest.mark.parametrize("route", AGENTS, ids=name)
async def test_analysts_cannot_use_the_inbox(client, shop, route, credential) -> None:
    before = snapshot(shop.tenant_id)
    response = await call(client, route, shop, getattr(shop, credential))
    assert response.status_code == 403, response.text
    assert "needs the agent role" in response.json()["detail"]
    assert snapshot(shop.tenant_id) == before


@pytest.mark.parametrize("route", NOT_FOR_AGENTS, ids=name)
async def test_agents_cannot_read_reports_or_change_settings(client, shop, route) -> None:
    before = snapshot(shop.tenant_id)
    response = await call(client, route, shop, shop.agent_token)
    assert response.status_code == 403, response.text
    assert "you are agent" in response.json()["detail"]
    assert snapshot(shop.tenant_id) == before


@pytest.mark.parametrize("route", AGENT_READS, ids=name)
async def test_agents_and_admins_read_the_inbox(client, shop, route) -> None:
    for headers in (shop.agent_token, shop.admin):
        response = await call(client, route, shop, headers)
        assert response.status_code == 200, response.text
