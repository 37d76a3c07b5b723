"""Settings → office hours and webhooks in the admin app: admins change them, analysts cannot, tenants stay apart."""

from __future__ import annotations

import pytest

from core.errors import NotFound, PermissionDenied, ValidationFailed
from dash_app.pages import settings_notify
from tests.support.dash_users import analyst_of, owner_of
from tests.support.receivers import webhook_receiver

pytestmark = pytest.mark.integration
WEEK = ["09:00-12:00, 13:00-18:00", "09:00-18:00", "09:00-18:00", "09:00-18:00", "09:00-18:00", "", ""]


def test_office_hours_typed_per_day_are_saved(tenant) -> None:
    owner = owner_of(tenant)
    saved = settings_notify.save_service(owner, True, "Asia/Shanghai", WEEK, False)
    assert saved.hours["mon"] == ["09:00-12:00", "13:00-18:00"] and saved.hours["sat"] == []
    assert settings_notify.service_settings(analyst_of(tenant)).timezone == "Asia/Shanghai"
    # A Chinese comma separates spans as well.
    again = settings_notify.save_service(owner, True, "Asia/Shanghai", ["09:00-12:00，13:00-18:00", *WEEK[1:]], True)
    assert again.hours["mon"] == ["09:00-12:00", "13:00-18:00"] and again.handoff_emails is True


def test_bad_hours_and_analysts_are_refused(tenant) -> None:
    with pytest.raises(ValidationFailed, match="not a span like"):
        settings_notify.save_service(owner_of(tenant), True, "UTC", ["9 to 5", *WEEK[1:]], True)
    with pytest.raises(PermissionDenied):
        settings_notify.save_service(analyst_of(tenant), False, "UTC", WEEK, True)
    assert settings_notify.service_settings(owner_of(tenant)).office_hours_enabled is False


def test_webhooks_are_added_listed_and_deleted_by_admins_only(tenant, other_tenant) -> None:
    owner = owner_of(tenant)
    with webhook_receiver() as receiver:
        created = settings_notify.add_hook(owner, receiver.url, ["handoff.requested", "csat.submitted"])
    assert created["secret"].startswith("whsec_")
    [row] = settings_notify.hook_rows(owner)
    assert row["events"] == "handoff.requested, csat.submitted" and row["delivered"] == 0
    assert settings_notify.delivery_rows(owner, row["id"]) == []
    with pytest.raises(PermissionDenied):
        settings_notify.hook_rows(analyst_of(tenant))
    with pytest.raises(NotFound):
        settings_notify.delete_hook(owner_of(other_tenant), row["id"])
    with pytest.raises(ValidationFailed, match="Unknown events"):
        settings_notify.add_hook(owner, "https://example.com/x", ["nope"])
    settings_notify.delete_hook(owner, row["id"])
    assert settings_notify.hook_rows(owner) == []
