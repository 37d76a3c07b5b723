"""Logging in and the role guards, over HTTP against the real database."""

from __future__ import annotations

import pytest

from core.db import tenant_session_sync
from core.tenancy import revoke_api_key
from tests.factories import TenantCtx, qa_csv

pytestmark = pytest.mark.integration


async def test_login_returns_a_token_that_authorises_requests(client, tenant: TenantCtx) -> None:
    response = await client.post(
        "/api/v1/auth/login", json={"email": tenant.created.admin_email, "password": "password-123"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["role"] == "owner" and body["tenant_id"] == str(tenant.id)
    listing = await client.get("/api/v1/documents", headers={"Authorization": f"Bearer {body['token']}"})
    assert listing.status_code == 200
    assert listing.json()["total"] == 0


async def test_wrong_password_and_unknown_email_get_the_same_401(client, tenant: TenantCtx) -> None:
    wrong = await client.post("/api/v1/auth/login", json={"email": tenant.created.admin_email, "password": "nope-nope"})
    unknown = await client.post("/api/v1/auth/login", json={"email": "ghost@example.com", "password": "nope-nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"] == "Wrong email or password."


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer"}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer kefu_sk_forged"},
     {"Authorization": "Bearer kefu_tk_e30.forged"}, {"Authorization": "Bearer something-else"}],
)
async def test_missing_or_invalid_credentials_get_401_problem(client, headers) -> None:
    response = await client.get("/api/v1/documents", headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["detail"]


async def test_analyst_can_read_but_not_upload_or_delete(client, tenant: TenantCtx) -> None:
    assert (await client.get("/api/v1/documents", headers=tenant.analyst)).status_code == 200
    upload = await client.post(
        "/api/v1/documents", headers=tenant.analyst,
        files={"file": ("faq.csv", qa_csv([("1", "q", "a")]), "text/csv")},
    )
    assert upload.status_code == 403
    assert "admin role" in upload.json()["detail"]
    search = await client.post("/api/v1/search", headers=tenant.analyst, json={"query": "hello"})
    assert search.status_code == 200


async def test_revoked_api_key_stops_working_at_once(client, tenant: TenantCtx) -> None:
    from core.tenancy import create_api_key

    with tenant_session_sync(tenant.id) as session:
        key, secret = create_api_key(session, tenant.id, "temp", "admin")
    headers = {"Authorization": f"Bearer {secret}"}
    assert (await client.get("/api/v1/documents", headers=headers)).status_code == 200
    with tenant_session_sync(tenant.id) as session:
        revoke_api_key(session, tenant.id, key.id)
    assert (await client.get("/api/v1/documents", headers=headers)).status_code == 401
