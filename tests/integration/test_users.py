"""People of a tenant: owners and admins add users (agents too) over the API and the CLI; agents log in."""

from __future__ import annotations

import json
import uuid

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from backend.cli import main
from core.db import tenant_session_sync
from core.models import User
from core.tenancy import add_user, create_api_key
from tests.factories import TenantCtx

pytestmark = pytest.mark.integration


def _email() -> str:
    return f"agent-{uuid.uuid4().hex[:8]}@example.com"


async def test_an_owner_adds_an_agent_who_logs_in(client, tenant: TenantCtx) -> None:
    email = _email()
    created = await client.post(
        "/api/v1/users",
        headers=tenant.admin,
        json={"email": email.upper(), "password": "password-123", "role": "agent", "display_name": "Lin"},
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["email"] == email and body["role"] == "agent" and uuid.UUID(body["id"])
    login = await client.post("/api/v1/auth/login", json={"email": email, "password": "password-123"})
    assert login.status_code == 200 and login.json()["role"] == "agent"
    listing = await client.get("/api/v1/users", headers=tenant.admin)
    assert {"email": email, "role": "agent", "display_name": "Lin"}.items() <= next(
        u for u in listing.json()["items"] if u["email"] == email
    ).items()


async def test_an_agent_cannot_read_reports_settings_or_add_users(client, tenant: TenantCtx) -> None:
    email = _email()
    with tenant_session_sync(tenant.id) as session:
        add_user(session, tenant.id, email, "password-123", "agent")
    token = (await client.post("/api/v1/auth/login", json={"email": email, "password": "password-123"})).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    for path in ("/api/v1/documents", "/api/v1/settings/bot", "/api/v1/analytics/export?dataset=daily&format=csv"):
        response = await client.get(path, headers=headers)
        assert response.status_code == 403, (path, response.text)
        assert "needs the analyst role; you are agent" in response.json()["detail"]
    added = await client.post(
        "/api/v1/users", headers=headers, json={"email": _email(), "password": "password-123", "role": "agent"}
    )
    assert added.status_code == 403


async def test_an_admin_cannot_add_an_owner_and_an_analyst_adds_nobody(client, tenant: TenantCtx) -> None:
    with tenant_session_sync(tenant.id) as session:
        _, admin_key = create_api_key(session, tenant.id, "admin", "admin")
    refused = await client.post(
        "/api/v1/users",
        headers={"Authorization": f"Bearer {admin_key}"},
        json={"email": _email(), "password": "password-123", "role": "owner"},
    )
    assert refused.status_code == 403 and "cannot grant the owner role" in refused.json()["detail"]
    analyst = await client.post(
        "/api/v1/users", headers=tenant.analyst, json={"email": _email(), "password": "password-123", "role": "agent"}
    )
    assert analyst.status_code == 403


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"email": "not-an-email", "password": "password-123", "role": "agent"}, 422, "not a valid email"),
        ({"email": "a@example.com", "password": "short", "role": "agent"}, 422, "at least 8 characters"),
        ({"email": "a@example.com", "password": "password-123", "role": "boss"}, 422, "role must be one of"),
        ({"email": "a@example.com", "role": "agent"}, 400, "password"),
    ],
)
async def test_bad_users_are_refused_with_what_to_fix(client, tenant: TenantCtx, body, status, says) -> None:
    response = await client.post("/api/v1/users", headers=tenant.admin, json=body)
    assert response.status_code in (status, 422 if status == 400 else status), response.text
    assert says in response.text


async def test_a_taken_email_is_a_409_and_nothing_is_added(client, tenant: TenantCtx) -> None:
    first = await client.post(
        "/api/v1/users",
        headers=tenant.admin,
        json={"email": (email := _email()), "password": "password-123", "role": "agent"},
    )
    again = await client.post(
        "/api/v1/users", headers=tenant.admin, json={"email": email, "password": "password-456", "role": "admin"}
    )
    assert first.status_code == 201 and again.status_code == 409
    with tenant_session_sync(tenant.id) as session:
        assert session.scalars(select(User.role).where(User.email == email)).all() == ["agent"]


def test_kefu_user_add_reads_the_password_from_the_environment(tenant: TenantCtx) -> None:
    email = _email()
    result = CliRunner().invoke(
        main,
        ["user", "add", "--tenant", str(tenant.id), "--email", email, "--role", "agent", "--name", "Mei", "--json"],
        env={"KEFU_USER_PASSWORD": "password-123"},
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["role"] == "agent"
    with tenant_session_sync(tenant.id) as session:
        user = session.scalars(select(User).where(User.email == email)).one()
        assert user.display_name == "Mei" and user.password_hash != "password-123"


def test_kefu_user_add_prompts_for_the_password_when_not_given(tenant: TenantCtx) -> None:
    email = _email()
    result = CliRunner().invoke(
        main,
        ["user", "add", "--tenant", str(tenant.id), "--email", email],
        input="password-123\npassword-123\n",
        env={"KEFU_USER_PASSWORD": ""},
    )
    assert result.exit_code == 0, result.output
    assert "Added" in result.output and "(agent)" in result.output
    short = CliRunner().invoke(
        main, ["user", "add", "--tenant", str(tenant.id), "--email", _email(), "--password", "short"]
    )
    assert short.exit_code != 0 and "at least 8 characters" in short.output
