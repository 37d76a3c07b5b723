"""The admin app's Records page: analysts only look, and nobody reaches another tenant's records."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core.db import tenant_session_sync
from core.errors import NotFound, PermissionDenied
from core.models import Record
from dash_app.pages import records
from tests.factories import TenantCtx, make_tenant
from tests.support.dash_users import analyst_of, owner_of

pytestmark = pytest.mark.integration
ORDERS = b"order_id,customer_id,status\n10023,c-1001,shipped\n"


@pytest.fixture
def tenant() -> TenantCtx:
    return make_tenant("Records A")


@pytest.fixture
def other_tenant() -> TenantCtx:
    return make_tenant("Records B")


def record_count(tenant_id) -> int:
    with tenant_session_sync(tenant_id) as session:
        return session.scalar(select(func.count()).select_from(Record)) or 0


def test_analysts_see_records_but_cannot_import_or_delete(tenant):
    owner, analyst = owner_of(tenant), analyst_of(tenant)
    with pytest.raises(PermissionDenied):
        records.import_upload(analyst, "orders", "orders.csv", ORDERS, "order_id", None, [], False)
    assert record_count(tenant.id) == 0
    records.import_upload(owner, "orders", "orders.csv", ORDERS, "order_id", None, [], False)
    assert [r["collection"] for r in records.collection_rows(analyst)] == ["orders"]
    assert records.sample(analyst, "orders")[0]["status"] == "shipped"
    with pytest.raises(PermissionDenied):
        records.delete_collection(analyst, "orders")
    with pytest.raises(PermissionDenied):
        records.change_access(analyst, "orders", None, [], True)
    assert record_count(tenant.id) == 1
    assert records.collection_access(owner, "orders")["public"] is False
    assert "rec-upload" not in str(records.layout(analyst))  # no upload form for analysts


def test_another_tenants_collection_is_invisible_and_cannot_be_deleted(tenant, other_tenant):
    records.import_upload(owner_of(other_tenant), "orders", "orders.csv", ORDERS, "order_id", None, [], False)
    mine = owner_of(tenant)
    assert records.collection_rows(mine) == []
    with pytest.raises(NotFound):
        records.sample(mine, "orders")
    with pytest.raises(NotFound):
        records.delete_collection(mine, "orders")
    with pytest.raises(NotFound):
        records.collection_access(mine, "orders")
    with pytest.raises(NotFound):
        records.change_access(mine, "orders", None, [], True)
    assert records.collection_access(owner_of(other_tenant), "orders")["public"] is False
    assert record_count(other_tenant.id) == 1
    # Importing the same name creates this tenant's own collection and leaves theirs alone.
    records.import_upload(mine, "orders", "orders.csv", b"order_id,status\n1,new\n", "order_id", None, [], False)
    assert records.sample(owner_of(other_tenant), "orders")[0]["status"] == "shipped"
