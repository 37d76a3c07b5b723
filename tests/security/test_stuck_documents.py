"""Issue 20 item 5: a document stayed "processing" after its worker was killed, and the admin had no way out.

The attack (a fault, here): SIGKILL the worker mid-ingestion; the document stayed `processing` with
0 chunks for ~25 minutes (the sweep re-sent only `queued` documents) and for ever if Redis lost the
job, and uploading the same file again answered "unchanged". Now a claim carries a lease the worker
renews; the sweep re-sends `processing` documents whose lease ran out; and
`POST /api/v1/documents/{id}/reindex` lets an admin run a failed or stuck document again.
(The same with real worker processes and SIGKILL: tests/e2e/test_ingest_recovery.py.)
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from backend import recovery
from core.db import owner_engine, tenant_session_sync
from core.models import Document
from core.settings import get_settings
from knowledge import indexing, ingest_lease
from knowledge.tasks import ingest_document
from tests.factories import TenantCtx, make_tenant, qa_csv

pytestmark = pytest.mark.integration


def faq(name: str = "stuck") -> bytes:
    return qa_csv([(f"S{r}", f"{name} question {r}?", f"Answer {r}.") for r in range(30)])


async def upload_unsent(client, tenant: TenantCtx, monkeypatch, name: str = "stuck.csv") -> str:
    """Upload a document whose job never reaches a worker."""
    with monkeypatch.context() as patch:
        patch.setattr(ingest_document, "send", lambda *args, **kwargs: None)
        response = await client.post("/api/v1/documents", headers=tenant.admin, files={"file": (name, faq(name))})
    assert response.status_code == 202, response.text
    return response.json()["id"]


def claimed_by_a_dead_worker(tenant: TenantCtx, document_id: str, lapsed: bool = True) -> None:
    """The state a SIGKILLed worker leaves: claimed (`processing`), then nothing; its lease lapses."""
    assert indexing._claim(tenant.id, uuid.UUID(document_id)) is not None
    if lapsed:
        with owner_engine().begin() as connection:
            connection.execute(
                text("UPDATE documents SET lease_until = now() - interval '1 second' WHERE id = :id"),
                {"id": document_id},
            )


async def status_of(client, tenant: TenantCtx, document_id: str) -> dict:
    return (await client.get(f"/api/v1/documents/{document_id}", headers=tenant.admin)).json()


async def test_the_sweep_resends_a_document_whose_worker_died(client, stub_worker, monkeypatch) -> None:
    tenant = make_tenant("Dead worker")
    document_id = await upload_unsent(client, tenant, monkeypatch)
    claimed_by_a_dead_worker(tenant, document_id, lapsed=False)
    assert document_id not in recovery.sweep().documents  # its worker may still be alive: hands off
    claimed_by_a_dead_worker(tenant, document_id)
    assert document_id in recovery.sweep().documents
    assert document_id not in recovery.sweep().documents  # once per lease period across replicas
    stub_worker()
    document = await status_of(client, tenant, document_id)
    assert document["status"] == "ready" and document["chunk_count"] == 30


def test_a_working_worker_keeps_renewing_its_lease(monkeypatch) -> None:
    monkeypatch.setattr(get_settings(), "ingest_lease_seconds", 3)
    tenant = make_tenant("Live worker")
    from knowledge import commands

    with monkeypatch.context() as patch:
        patch.setattr(ingest_document, "send", lambda *args, **kwargs: None)
        accepted = commands.upload_document(tenant.id, "live.csv", faq())
    version = indexing._claim(tenant.id, accepted.document_id)[0]
    with tenant_session_sync(tenant.id) as session:
        first = session.get(Document, accepted.document_id).lease_until
    with ingest_lease.held(tenant.id, accepted.document_id, version):
        time.sleep(2.5)  # past one renewal (every lease/3 = 1 s)
    with tenant_session_sync(tenant.id) as session:
        renewed = session.get(Document, accepted.document_id).lease_until
    assert renewed > first and renewed > datetime.now(UTC) + timedelta(seconds=1)


async def test_an_admin_can_run_a_failed_or_stuck_document_again(client, stub_worker, monkeypatch) -> None:
    tenant = make_tenant("Reindex shop")
    document_id = await upload_unsent(client, tenant, monkeypatch)
    claimed_by_a_dead_worker(tenant, document_id)
    again = await client.post(f"/api/v1/documents/{document_id}/reindex", headers=tenant.admin)
    assert again.status_code == 202, again.text
    assert again.json() == {**again.json(), "id": document_id, "status": "queued", "action": "reindexed"}
    stub_worker()
    assert (await status_of(client, tenant, document_id))["status"] == "ready"
    done = await client.post(f"/api/v1/documents/{document_id}/reindex", headers=tenant.admin)
    assert done.status_code == 409 and "already indexed" in done.json()["detail"]

    failed_id = await upload_unsent(client, tenant, monkeypatch, "failed.csv")
    indexing.mark_failed(tenant.id, uuid.UUID(failed_id), None, "Processing failed after several attempts.")
    rerun = await client.post(f"/api/v1/documents/{failed_id}/reindex", headers=tenant.admin)
    assert rerun.status_code == 202
    stub_worker()
    assert (await status_of(client, tenant, failed_id))["status"] == "ready"

    busy_id = await upload_unsent(client, tenant, monkeypatch, "busy.csv")
    claimed_by_a_dead_worker(tenant, busy_id, lapsed=False)  # a live worker's lease
    busy = await client.post(f"/api/v1/documents/{busy_id}/reindex", headers=tenant.admin)
    assert busy.status_code == 409 and "right now" in busy.json()["detail"]


async def test_reindex_is_for_admins_of_the_documents_tenant(client, monkeypatch) -> None:
    tenant, other = make_tenant("Reindex owner"), make_tenant("Reindex stranger")
    document_id = await upload_unsent(client, tenant, monkeypatch)
    analyst = await client.post(f"/api/v1/documents/{document_id}/reindex", headers=tenant.analyst)
    assert analyst.status_code == 403
    stranger = await client.post(f"/api/v1/documents/{document_id}/reindex", headers=other.admin)
    assert stranger.status_code == 404 and document_id in stranger.json()["detail"]  # their own words back
    widget = await client.post(
        f"/api/v1/documents/{document_id}/reindex", headers={"X-Widget-Key": tenant.created.widget_key}
    )
    assert widget.status_code == 401
    with tenant_session_sync(tenant.id) as session:
        assert session.get(Document, uuid.UUID(document_id)).status == "queued"  # untouched by all three
