"""Settings page functions: bot settings, widget origins, API keys, users, HTTP tools — roles and tenant isolation."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import select

from core.db import tenant_session_sync
from core.errors import NotFound, PermissionDenied, ValidationFailed
from core.models import ApiKey, HttpTool, User, WidgetKey
from core.redis import sync_redis
from core.security import digest_key
from core.versions import WIDGET_KEYS_VERSION
from dash_app.auth import load_user
from dash_app.pages import settings, settings_access, settings_tools
from tests.support.dash_users import analyst_of, owner_of

TOOL = {"name": "order_status", "description": "Order status by number.",
        "url_template": "https://shop.example.com/orders/{order_id}",
        "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}}


def test_bot_settings_saved_by_admin_refused_for_analyst_and_bad_values(tenant):
    owner, analyst = owner_of(tenant), analyst_of(tenant)
    saved = settings.save_bot_settings(owner, {"persona": "You are Lotus's tea expert.", "greeting": "Hi!",
                                               "confidence_threshold": 0.6})
    assert (saved.persona, saved.greeting, saved.confidence_threshold) == ("You are Lotus's tea expert.", "Hi!", 0.6)
    with pytest.raises(PermissionDenied):
        settings.save_bot_settings(analyst, {"persona": "hacked"})
    with pytest.raises(ValidationFailed, match="confidence_threshold"):
        settings.save_bot_settings(owner, {"confidence_threshold": 7})
    current = settings.bot_settings(analyst)
    assert (current.persona, current.confidence_threshold) == ("You are Lotus's tea expert.", 0.6)


def test_the_clear_lead_switch_is_on_by_default_and_saved_off(tenant):
    owner = owner_of(tenant)
    form = str(settings.layout(owner))
    assert "set-clear-lead" in form and settings.bot_settings(owner).answer_clear_lead is True
    assert settings.save_bot_settings(owner, {"answer_clear_lead": False}).answer_clear_lead is False
    assert "set-clear-lead" in str(settings.layout(owner))
    assert settings.bot_settings(analyst_of(tenant)).answer_clear_lead is False
    with pytest.raises(ValidationFailed, match="answer_clear_lead"):
        settings.save_bot_settings(owner, {"answer_clear_lead": "maybe"})


def test_widget_snippet_and_allowed_origins(tenant, other_tenant):
    owner = owner_of(tenant)
    [widget] = settings.widget_install(owner)
    assert widget["snippet"] == (f'<script src="http://127.0.0.1:8000/widget/kefu.js" '
                                 f'data-key="{tenant.created.widget_key}" async></script>')
    before = int(sync_redis().get(WIDGET_KEYS_VERSION) or 0)
    assert settings.save_allowed_origins(owner, widget["id"], "https://Shop.example.com/\nhttp://localhost:3000") == [
        "https://shop.example.com", "http://localhost:3000"]
    # Every API process drops its cached widget keys, so an origin taken away stops working at once.
    assert int(sync_redis().get(WIDGET_KEYS_VERSION) or 0) == before + 1
    with pytest.raises(ValidationFailed, match="Not an origin"):
        settings.save_allowed_origins(owner, widget["id"], "javascript:alert(1)")
    with pytest.raises(PermissionDenied):
        settings.save_allowed_origins(analyst_of(tenant), widget["id"], "https://evil.example")
    [theirs] = settings.widget_install(owner_of(other_tenant))
    with pytest.raises(NotFound):
        settings.save_allowed_origins(owner, theirs["id"], "https://evil.example")
    with tenant_session_sync(other_tenant.id) as session:
        assert session.scalars(select(WidgetKey.allowed_origins)).one() == []
    with tenant_session_sync(tenant.id) as session:
        assert session.scalars(select(WidgetKey.allowed_origins)).one() == ["https://shop.example.com",
                                                                            "http://localhost:3000"]


def test_api_keys_created_once_and_revoked_only_in_own_tenant(tenant, other_tenant):
    owner = owner_of(tenant)
    secret = settings_access.new_api_key(owner, "CRM sync", "analyst")
    with tenant_session_sync(tenant.id) as session:
        key = session.scalars(select(ApiKey).where(ApiKey.key_hash == digest_key(secret))).one()
        assert (key.name, key.role, key.revoked_at) == ("CRM sync", "analyst", None)
    rows = settings_access.api_key_rows(owner)
    assert all(secret not in json.dumps(row) for row in rows)
    their_key = settings_access.api_key_rows(owner_of(other_tenant))[0]["id"]
    with pytest.raises(NotFound):
        settings_access.revoke_api_keys(owner, [their_key])
    with pytest.raises(PermissionDenied):
        settings_access.revoke_api_keys(analyst_of(tenant), [str(key.id)])
    with tenant_session_sync(other_tenant.id) as session:
        assert session.scalars(select(ApiKey.revoked_at)).all() == [None, None]
    assert settings_access.revoke_api_keys(owner, [str(key.id)]) == 1
    with tenant_session_sync(tenant.id) as session:
        assert session.get(ApiKey, key.id).revoked_at is not None


def test_an_admin_cannot_grant_owner_and_nobody_changes_themselves(tenant):
    owner = owner_of(tenant)
    settings_access.invite_user(owner, "admin2@example.com", "password-123", "admin")
    admin = next(r for r in settings_access.user_rows(owner) if r["email"] == "admin2@example.com")
    admin_user = load_user(tenant.id, uuid.UUID(admin["id"]))
    with pytest.raises(PermissionDenied):
        settings_access.new_api_key(admin_user, "escalate", "owner")
    with pytest.raises(PermissionDenied):
        settings_access.invite_user(admin_user, "owner2@example.com", "password-123", "owner")
    with pytest.raises(PermissionDenied):
        settings_access.change_user(admin_user, str(owner.user_id), active=False)
    with pytest.raises(ValidationFailed, match="your own"):
        settings_access.change_user(owner, str(owner.user_id), role="analyst")
    settings_access.change_user(owner, admin["id"], active=False)
    with tenant_session_sync(tenant.id) as session:
        assert session.scalars(select(User.is_active).where(User.email == "admin2@example.com")).one() is False
        assert session.scalars(select(User.role).where(User.id == owner.user_id)).one() == "owner"


def test_http_tools_created_listed_without_secret_and_deleted_per_tenant(tenant, other_tenant):
    owner = owner_of(tenant)
    spec = {**TOOL, "secret_header_name": "X-Api-Key", "secret_header_value": "s3cret"}
    assert settings_tools.create_tool(owner, json.dumps(spec)) == "order_status"
    [row] = settings_tools.tool_rows(owner)
    assert row["has_secret"] is True and "s3cret" not in json.dumps(row, default=str)
    assert settings_tools.tool_rows(owner_of(other_tenant)) == []
    with pytest.raises(ValidationFailed, match="not valid JSON"):
        settings_tools.create_tool(owner, "{not json")
    with pytest.raises(PermissionDenied):
        settings_tools.delete_tool(analyst_of(tenant), "order_status")
    with pytest.raises(NotFound):
        settings_tools.delete_tool(owner_of(other_tenant), "order_status")
    with tenant_session_sync(tenant.id) as session:
        assert session.scalars(select(HttpTool.name)).all() == ["order_status"]
    settings_tools.delete_tool(owner, "order_status")
    assert settings_tools.tool_rows(owner) == []


def test_identity_secret_retention_and_audit_log_on_the_settings_page(tenant, other_tenant):
    from dash_app.pages import settings_privacy

    owner, analyst = owner_of(tenant), analyst_of(tenant)
    before = tenancy_secret(tenant)
    owner_page = str(settings_privacy.layout(owner))
    assert before in owner_page and "Audit log" in owner_page
    analyst_page = str(settings_privacy.layout(analyst))
    assert before not in analyst_page and "Audit log" not in analyst_page
    with pytest.raises(PermissionDenied):
        settings_privacy.rotate_secret(analyst)
    rotated = settings_privacy.rotate_secret(owner)
    assert rotated != before and rotated == tenancy_secret(tenant) and tenancy_secret(other_tenant) != rotated
    assert settings_privacy.save_retention(owner, 90) == 90 and settings_privacy.retention_days(analyst) == 90
    with pytest.raises(ValidationFailed):
        settings_privacy.save_retention(owner, 2.5)
    with pytest.raises(PermissionDenied):
        settings_privacy.save_retention(analyst, 30)
    rows = settings_privacy.audit_rows(owner)
    assert [r["action"] for r in rows[:2]] == ["settings.retention", "identity_secret.rotate"]
    assert rows[0]["actor"] == owner.email
    with pytest.raises(PermissionDenied):
        settings_privacy.audit_rows(analyst)


def tenancy_secret(tenant) -> str:
    from core.tenancy import identity_secret

    return identity_secret(tenant.id)


def test_model_settings_keys_stay_write_only_and_per_tenant(tenant, other_tenant):
    from dash_app.pages import settings_model

    owner, analyst, stranger = owner_of(tenant), analyst_of(tenant), owner_of(other_tenant)
    settings_model.save_model_settings(owner, {"provider": "anthropic", "model": "claude-haiku-4-5",
                                               "base_url": "https://9.9.9.9/anthropic", "api_key": "sk-ant-dash-1",
                                               "fallback_provider": "none", "grounding_action": "drop"})
    view = settings_model.model_view(analyst)
    assert (view["provider"], view["api_key_set"], view["grounding_action"]) == ("anthropic", True, "drop")
    assert "sk-ant-dash-1" not in json.dumps(view, default=str)
    # An empty key field keeps the saved key; "remove" deletes it.
    settings_model.save_model_settings(owner, {"model": "claude-sonnet-4-5", "api_key": ""})
    assert settings_model.model_view(owner)["api_key_set"] is True
    settings_model.save_model_settings(owner, {}, remove_keys=["api_key"])
    assert settings_model.model_view(owner)["api_key_set"] is False
    assert settings_model.model_view(stranger)["provider"] == "auto"
    with pytest.raises(PermissionDenied):
        settings_model.save_model_settings(analyst, {"api_key": "sk-analyst"})
    with pytest.raises(PermissionDenied):
        settings_model.test_connection(analyst, "primary")
    with pytest.raises(ValidationFailed, match="base_url"):
        settings_model.save_model_settings(owner, {"base_url": "file:///etc/passwd"})
    # The operator default answers a tenant without a model: the test says there is nothing to connect to.
    assert "local responder" in str(settings_model.test_connection(stranger, "primary").children)


def test_a_tool_template_fills_the_editable_spec_and_adds_the_tool(tenant):
    owner = owner_of(tenant)
    weather, ready = settings_tools.template_text("weather")
    assert json.loads(weather)["name"] == "weather" and "Ready to add" in ready
    orders, fill_in = settings_tools.template_text("order_status")
    assert "shop.example.com" in orders and "your own endpoint" in fill_in
    assert settings_tools.create_tool(owner, weather) == "weather"
    with pytest.raises(ValidationFailed, match="set url_template"):
        settings_tools.create_tool(owner, json.dumps({**json.loads(orders), "name": "order_status"}))
    with pytest.raises(ValidationFailed, match="No tool template"):
        settings_tools.template_text("lottery")
