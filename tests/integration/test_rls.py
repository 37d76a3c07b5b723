"""Row-level security holds for raw SQL run as the application role, whatever the query forgets."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError

from core.db import anonymous_session_sync, sync_engine, tenant_session_sync
from core.models import TENANT_TABLES
from tests.factories import TenantCtx, qa_csv

pytestmark = pytest.mark.integration


async def _ingest(client, tenant: TenantCtx, stub_worker) -> None:
    response = await client.post("/api/v1/documents", headers=tenant.admin,
                                 files={"file": ("faq.csv", qa_csv([("1", "q one", "a one"), ("2", "q two", "a two")]))})
    assert response.status_code == 202
    stub_worker()


def test_app_role_is_neither_superuser_owner_nor_bypassrls() -> None:
    with sync_engine().connect() as conn:
        row = conn.execute(text(
            "SELECT r.rolsuper, r.rolbypassrls, (SELECT tableowner FROM pg_tables WHERE tablename = 'chunks') "
            "= current_user AS owns FROM pg_roles r WHERE r.rolname = current_user")).one()
    assert (row.rolsuper, row.rolbypassrls, row.owns) == (False, False, False)


async def test_raw_sql_without_a_where_clause_sees_only_the_current_tenant(
        client, tenant, other_tenant, stub_worker) -> None:
    await _ingest(client, tenant, stub_worker)
    await _ingest(client, other_tenant, stub_worker)
    with tenant_session_sync(tenant.id) as session:
        owners = set(session.scalars(text("SELECT DISTINCT tenant_id FROM chunks")))
        tenants = set(session.scalars(text("SELECT id FROM tenants")))
        documents = set(session.scalars(text("SELECT tenant_id FROM documents")))
    assert owners == tenants == documents == {tenant.id}


async def test_no_tenant_set_means_no_rows(client, tenant, stub_worker) -> None:
    await _ingest(client, tenant, stub_worker)
    with anonymous_session_sync() as session:
        for table in ("tenants", *TENANT_TABLES):
            assert session.scalar(text(f"SELECT count(*) FROM {table}")) == 0, table


async def test_writing_a_row_for_another_tenant_is_rejected(client, tenant, other_tenant, stub_worker) -> None:
    await _ingest(client, tenant, stub_worker)
    with pytest.raises(ProgrammingError, match="row-level security"), tenant_session_sync(tenant.id) as session:
        session.execute(
            text("UPDATE documents SET tenant_id = :other"), {"other": other_tenant.id})
    with pytest.raises(ProgrammingError, match="row-level security"), tenant_session_sync(tenant.id) as session:
        session.execute(text(
            "INSERT INTO widget_keys (id, tenant_id, key) VALUES (gen_random_uuid(), :other, 'kefu_wk_x')"),
            {"other": other_tenant.id})


async def test_other_tenant_cannot_delete_through_raw_sql(client, tenant, other_tenant, stub_worker) -> None:
    await _ingest(client, tenant, stub_worker)
    with tenant_session_sync(other_tenant.id) as session:
        deleted = session.execute(text("DELETE FROM chunks")).rowcount
    assert deleted == 0
    with tenant_session_sync(tenant.id) as session:
        assert session.scalar(text("SELECT count(*) FROM chunks")) == 2
