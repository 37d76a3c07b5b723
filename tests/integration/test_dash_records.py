"""Records page functions against the real database: preview, import (CSV and XLSX), replace, delete."""

from __future__ import annotations

import io
from datetime import datetime

import openpyxl
import pytest
from sqlalchemy import func, select

from core.db import tenant_session_sync
from core.errors import UnsupportedFormat, ValidationFailed
from core.models import Record, RecordCollection
from dash_app.pages import records
from knowledge.records import lookup_for_visitor
from tests.support.dash_users import owner_of

pytestmark = pytest.mark.integration

ORDERS = b"order_id,customer_id,status,address\n10023,c-1001,shipped,1 Tea Lane\n10024,c-1002,paid,2 Leaf Road\n"


def xlsx(rows: list[list[object]]) -> bytes:
    workbook = openpyxl.Workbook()
    for row in rows:
        workbook.active.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def stored(tenant_id) -> tuple[RecordCollection | None, int]:
    with tenant_session_sync(tenant_id) as session:
        collection = session.scalars(select(RecordCollection)).first()
        if collection is not None:
            session.expunge(collection)
        return collection, session.scalar(select(func.count()).select_from(Record)) or 0


def test_preview_guesses_the_key_column_and_stores_nothing(tenant):
    preview = records.preview_upload(owner_of(tenant), "orders.csv", ORDERS, None)
    assert preview.key_column == "order_id"
    assert preview.columns == ["order_id", "customer_id", "status", "address"]
    assert preview.row_count == 2 and preview.rows[0]["status"] == "shipped"
    assert stored(tenant.id) == (None, 0)


def test_import_with_owner_and_sensitive_columns_then_replace(tenant):
    owner = owner_of(tenant)
    count = records.import_upload(owner, "orders", "orders.csv", ORDERS, "order_id", "customer_id", ["address"], False)
    assert count == 2
    collection, rows = stored(tenant.id)
    assert collection is not None and rows == 2
    assert (collection.access, collection.owner_column, collection.sensitive_columns) == (
        "owner",
        "customer_id",
        ["address"],
    )
    with tenant_session_sync(tenant.id) as session:
        seen = lookup_for_visitor(session, tenant.id, collection, "10023", "c-1001")
        other = lookup_for_visitor(session, tenant.id, collection, "10023", "c-1002")
    assert seen.status == "found" and seen.record["address"] == "***" and seen.record["status"] == "shipped"
    assert other.status == "not_found"
    listed = records.collection_rows(owner)
    assert [(r["collection"], r["row_count"], r["owner_column"]) for r in listed] == [("orders", 2, "customer_id")]
    # Replacing with a spreadsheet: the old rows go, the access rules stay.
    sheet = xlsx(
        [
            ["order_id", "customer_id", "status", "address", "shipped_on"],
            [10025.0, "c-1001", "delivered", "3 Cup Street", datetime(2026, 12, 1)],
        ]
    )
    assert (
        records.import_upload(owner, "orders", "orders.xlsx", sheet, "order_id", "customer_id", ["address"], False) == 1
    )
    assert records.sample(owner, "orders") == [
        {
            "order_id": "10025",
            "customer_id": "c-1001",
            "status": "delivered",
            "address": "3 Cup Street",
            "shipped_on": "2026-12-01",
        }
    ]
    # In the file's column order, not jsonb's.
    assert list(records.sample(owner, "orders")[0]) == ["order_id", "customer_id", "status", "address", "shipped_on"]


def test_a_public_catalogue_without_owner_column(tenant):
    owner = owner_of(tenant)
    records.import_upload(owner, "teas", "teas.csv", b"sku,name,price\nT1,Longjing,168\n", "sku", None, [], True)
    collection, _ = stored(tenant.id)
    assert collection is not None and collection.access == "public"


def test_bad_files_are_refused_with_what_to_fix_and_nothing_stored(tenant):
    owner = owner_of(tenant)
    with pytest.raises(ValidationFailed, match="key column 'number' not found; columns are: order_id"):
        records.import_upload(owner, "orders", "orders.csv", ORDERS, "number", None, [], False)
    with pytest.raises(ValidationFailed, match="owner_column 'buyer' not found"):
        records.import_upload(owner, "orders", "orders.csv", ORDERS, "order_id", "buyer", [], False)
    with pytest.raises(UnsupportedFormat, match="not a valid XLSX"):
        records.preview_upload(owner, "orders.xlsx", ORDERS, None)
    with pytest.raises(ValidationFailed, match="Invalid collection name"):
        records.import_upload(owner, "My Orders!", "orders.csv", ORDERS, "order_id", None, [], False)
    assert stored(tenant.id) == (None, 0)


def test_delete_removes_the_collection_and_its_records(tenant):
    owner = owner_of(tenant)
    records.import_upload(owner, "orders", "orders.csv", ORDERS, "order_id", None, [], False)
    records.delete_collection(owner, "orders")
    assert stored(tenant.id) == (None, 0)
    with pytest.raises(ValidationFailed, match="Select a collection"):
        records.delete_collection(owner, None)


def test_access_changes_without_a_new_upload(tenant):
    owner = owner_of(tenant)
    records.import_upload(owner, "orders", "orders.csv", ORDERS, "order_id", "customer_id", [], False)
    rules = records.collection_access(owner, "orders")
    assert (rules["owner_column"], rules["public"], rules["key_column"]) == ("customer_id", False, "order_id")
    assert records.change_access(owner, "orders", "customer_id", ["address"], False) == "owner"
    assert records.collection_access(owner, "orders")["sensitive_columns"] == ["address"]
    assert records.change_access(owner, "orders", None, [], True) == "public"
    assert records.change_access(owner, "orders", None, [], False) == "private"
    with pytest.raises(ValidationFailed, match="owner_column 'buyer' not found"):
        records.change_access(owner, "orders", "buyer", [], False)
    assert records.collection_access(owner, "orders")["owner_column"] == ""
