"""Uploading knowledge through the API and the ingest actor (stub broker, real database)."""

from __future__ import annotations

import io
import uuid
import zipfile

import pytest
from sqlalchemy import func, select

from core.db import tenant_session_sync
from core.models import Chunk
from core.settings import get_settings
from knowledge.indexing import INSERT_BATCH
from tests.factories import TenantCtx, qa_csv
from tests.support.scale import scaled

pytestmark = pytest.mark.integration

FAQ = [("A1", "How long does delivery take?", "Two to four working days."),
       ("A2", "What is the return policy?", "Unopened items within 14 days."),
       ("A3", "退货政策是什么？", "未开封商品14天内可退货。")]


async def upload(client, tenant: TenantCtx, name: str, data: bytes, content_type: str = "text/csv"):
    return await client.post("/api/v1/documents", headers=tenant.admin, files={"file": (name, data, content_type)})


async def status_of(client, tenant: TenantCtx, document_id: str) -> dict:
    response = await client.get(f"/api/v1/documents/{document_id}", headers=tenant.admin)
    assert response.status_code == 200, response.text
    return response.json()


def chunks_of(tenant: TenantCtx, document_id: str) -> list[Chunk]:
    with tenant_session_sync(tenant.id) as session:
        return list(session.scalars(select(Chunk).where(Chunk.document_id == uuid.UUID(document_id))
                                    .order_by(Chunk.ordinal)))


async def test_csv_upload_is_accepted_then_becomes_ready_with_one_chunk_per_row(
        client, tenant, stub_worker) -> None:
    response = await upload(client, tenant, "faq.csv", qa_csv(FAQ))
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "queued" and body["action"] == "created"
    stub_worker()
    document = await status_of(client, tenant, body["id"])
    assert document["status"] == "ready", document
    assert document["chunk_count"] == 3 and document["error"] is None
    chunks = chunks_of(tenant, body["id"])
    assert [c.source_ref for c in chunks] == ["A1", "A2", "A3"]
    assert chunks[2].meta["question"] == "退货政策是什么？"


async def test_identical_reupload_is_a_no_op(client, tenant, stub_worker) -> None:
    first = (await upload(client, tenant, "faq.csv", qa_csv(FAQ))).json()
    stub_worker()
    before = [c.id for c in chunks_of(tenant, first["id"])]
    again = await upload(client, tenant, "faq-copy.csv", qa_csv(FAQ))
    assert again.status_code == 202
    assert again.json()["id"] == first["id"] and again.json()["action"] == "unchanged"
    stub_worker()
    assert [c.id for c in chunks_of(tenant, first["id"])] == before
    listing = (await client.get("/api/v1/documents", headers=tenant.admin)).json()
    assert listing["total"] == 1


async def test_new_version_replaces_the_chunks(client, tenant, stub_worker) -> None:
    first = (await upload(client, tenant, "faq.csv", qa_csv(FAQ))).json()
    stub_worker()
    updated = qa_csv([("B1", "Do you ship abroad?", "Yes, to 40 countries."), ("B2", "Gift wrap?", "Yes.")])
    second = (await upload(client, tenant, "faq.csv", updated)).json()
    assert second["id"] == first["id"] and second["version"] == 2 and second["action"] == "new_version"
    stub_worker()
    document = await status_of(client, tenant, first["id"])
    assert document["status"] == "ready" and document["chunk_count"] == 2 and document["version"] == 2
    assert [c.source_ref for c in chunks_of(tenant, first["id"])] == ["B1", "B2"]


async def test_redelivered_ingest_message_does_not_duplicate_chunks(client, tenant, stub_worker) -> None:
    from knowledge.tasks import ingest_document

    body = (await upload(client, tenant, "faq.csv", qa_csv(FAQ))).json()
    ingest_document.send(str(tenant.id), body["id"])  # a duplicate delivery
    stub_worker()
    ingest_document.send(str(tenant.id), body["id"])
    stub_worker()
    assert len(chunks_of(tenant, body["id"])) == 3


async def test_list_and_delete_remove_the_chunks(client, tenant, stub_worker) -> None:
    body = (await upload(client, tenant, "faq.csv", qa_csv(FAQ))).json()
    stub_worker()
    listing = (await client.get("/api/v1/documents?status=ready", headers=tenant.admin)).json()
    assert [d["id"] for d in listing["items"]] == [body["id"]]
    response = await client.delete(f"/api/v1/documents/{body['id']}", headers=tenant.admin)
    assert response.status_code == 204
    assert (await client.get(f"/api/v1/documents/{body['id']}", headers=tenant.admin)).status_code == 404
    with tenant_session_sync(tenant.id) as session:
        assert session.scalar(select(func.count()).select_from(Chunk)) == 0


async def test_a_page_offset_out_of_range_is_a_clear_400(client, tenant, stub_worker) -> None:
    body = (await upload(client, tenant, "faq.csv", qa_csv(FAQ))).json()
    stub_worker()
    for path in ("/api/v1/documents", f"/api/v1/documents/{body['id']}/faq-rows"):
        response = await client.get(f"{path}?offset={10**30}", headers=tenant.admin)
        assert response.status_code == 400 and "offset" in response.text, response.text
        response = await client.get(f"{path}?offset=1000000000", headers=tenant.admin)
        assert response.status_code == 200 and response.json()["items"] == [], response.text


async def test_gbk_csv_with_chinese_headers_is_read(client, tenant, stub_worker) -> None:
    data = qa_csv([("1", "怎么修改收货地址？", "在我的账户里修改。")], header=("编号", "问题", "答案"), encoding="gbk")
    body = (await upload(client, tenant, "常见问题.csv", data)).json()
    stub_worker()
    document = await status_of(client, tenant, body["id"])
    assert document["status"] == "ready" and document["filename"] == "常见问题.csv"
    assert chunks_of(tenant, body["id"])[0].meta["answer"] == "在我的账户里修改。"


async def test_path_traversal_file_name_is_neutralised(client, tenant, stub_worker) -> None:
    body = (await upload(client, tenant, "../../../etc/passwd.csv", qa_csv(FAQ))).json()
    stub_worker()
    document = await status_of(client, tenant, body["id"])
    assert document["filename"] == "passwd.csv" and document["status"] == "ready"


@pytest.mark.parametrize(
    ("name", "data", "status", "phrase"),
    [
        ("virus.exe", b"MZ\x90\x00binary", 415, "Unsupported file type"),
        ("empty.csv", b"", 422, "empty"),
        ("big.txt", b"x" * (8 * 1024 * 1024 + 10), 413, ""),
    ],
)
async def test_bad_uploads_are_refused_and_nothing_is_stored(client, tenant, name, data, status, phrase) -> None:
    response = await upload(client, tenant, name, data, "application/octet-stream")
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert phrase in response.json()["detail"]
    assert (await client.get("/api/v1/documents", headers=tenant.admin)).json()["total"] == 0


async def test_upload_without_file_field_is_a_clear_4xx(client, tenant) -> None:
    response = await client.post("/api/v1/documents", headers=tenant.admin, files={"other": ("a.csv", b"x")})
    assert 400 <= response.status_code < 500
    assert response.json()["detail"]


def _docx_bomb() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", b"\0" * (300 * 1024 * 1024))
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "data", "phrase"),
    [
        ("nocols.csv", b"colour,size\nred,10\n", "expected columns"),
        ("broken.pdf", b"%PDF-1.4\n this is not really a pdf", "PDF"),
        ("broken.docx", b"PK\x03\x04 not a real zip", "DOCX"),
        ("bomb.docx", None, "zip bomb"),
    ],
)
async def test_unreadable_documents_fail_with_a_message_and_keep_other_data(
        client, tenant, stub_worker, name, data, phrase) -> None:
    good = (await upload(client, tenant, "good.csv", qa_csv(FAQ))).json()
    stub_worker()
    response = await upload(client, tenant, name, data if data is not None else _docx_bomb(),
                            "application/octet-stream")
    assert response.status_code == 202, response.text
    stub_worker()
    document = await status_of(client, tenant, response.json()["id"])
    assert document["status"] == "failed" and document["chunk_count"] == 0
    assert phrase.lower() in document["error"].lower()
    assert (await status_of(client, tenant, good["id"]))["chunk_count"] == 3
    assert chunks_of(tenant, response.json()["id"]) == []


# 5,000 rows cross the insert batch (2,000) and the embed batch (4,096) boundaries as 100,000 do, with a partial
# last batch; `make bench-scale` (bench/scale_checks.py) runs this test with 100,000.
LARGE_CSV_ROWS = scaled(5_000, 100_000)


async def test_a_large_csv_is_indexed_completely(client, tenant, stub_worker) -> None:
    rows = [(str(i), f"question number {i} about item {i % 97}", f"answer {i}") for i in range(LARGE_CSV_ROWS)]
    body = (await upload(client, tenant, "large.csv", qa_csv(rows))).json()
    stub_worker()
    document = await status_of(client, tenant, body["id"])
    assert document["status"] == "ready", document
    assert document["chunk_count"] == LARGE_CSV_ROWS
    assert INSERT_BATCH < LARGE_CSV_ROWS and get_settings().embed_batch_size < LARGE_CSV_ROWS  # batches crossed


async def test_other_tenants_documents_are_404(client, tenant, other_tenant, stub_worker) -> None:
    body = (await upload(client, tenant, "faq.csv", qa_csv(FAQ))).json()
    stub_worker()
    assert (await client.get(f"/api/v1/documents/{body['id']}", headers=other_tenant.admin)).status_code == 404
    assert (await client.delete(f"/api/v1/documents/{body['id']}", headers=other_tenant.admin)).status_code == 404
    assert (await client.get("/api/v1/documents", headers=other_tenant.admin)).json()["total"] == 0
    assert (await status_of(client, tenant, body["id"]))["status"] == "ready"
    hits = (await client.post("/api/v1/search", headers=other_tenant.admin,
                              json={"query": "return policy", "top_k": 10})).json()["hits"]
    assert hits == []


async def test_unexpected_errors_are_retried_then_recorded_as_failed(client, tenant, stub_worker) -> None:
    from knowledge import documents
    from knowledge.blobstore import get_blob_store
    from knowledge.tasks import ingest_document

    prepared = documents.prepare_upload(tenant.id, "faq.csv", qa_csv(FAQ))
    with tenant_session_sync(tenant.id) as session:
        document_id = documents.record_upload(session, tenant.id, prepared).document.id
    get_blob_store().delete(prepared.blob_key)  # the original vanished: not the user's fault, worth a retry
    ingest_document.send(str(tenant.id), str(document_id))
    stub_worker(retries_exhausted=True)
    document = await status_of(client, tenant, str(document_id))
    assert document["status"] == "failed"
    assert "after several attempts" in document["error"] and "FileNotFoundError" in document["error"]


async def test_faq_rows_are_listed_edited_disabled_and_reverted_through_the_api(client, tenant, other_tenant,
                                                                                stub_worker) -> None:
    document_id = (await upload(client, tenant, "faq.csv", qa_csv(FAQ))).json()["id"]
    stub_worker()
    rows_url = f"/api/v1/documents/{document_id}/faq-rows"
    listed = (await client.get(rows_url, headers=tenant.analyst, params={"search": "return"})).json()
    assert listed["total"] == 1 and listed["items"][0]["source_ref"] == "A2"
    edit = {"source_ref": "A2", "question": "What is the return policy?", "answer": "Any item within 30 days."}
    assert (await client.put(rows_url, headers=tenant.analyst, json=edit)).status_code == 403
    assert (await client.put(rows_url, headers=other_tenant.admin, json=edit)).status_code == 404
    response = await client.put(rows_url, headers=tenant.admin, json=edit)
    assert response.status_code == 202 and response.json()["state"] == "edited"
    bad = await client.put(rows_url, headers=tenant.admin, json={"source_ref": "A2", "question": "Q?"})
    assert bad.status_code == 422 and "both a question and an answer" in bad.json()["detail"]
    assert (await client.put(rows_url, headers=tenant.admin, json={"source_ref": "A1", "disabled": True})
            ).json()["state"] == "disabled"
    stub_worker()
    assert [(c.source_ref, c.text) for c in chunks_of(tenant, document_id)] == [
        ("A2", "What is the return policy?\nAny item within 30 days."), ("A3", "退货政策是什么？\n未开封商品14天内可退货。")]
    hits = (await client.post("/api/v1/search", headers=tenant.admin,
                              json={"query": "return policy", "top_k": 1})).json()["hits"]
    assert hits[0]["text"] == "What is the return policy?\nAny item within 30 days."
    assert (await client.delete(rows_url, headers=tenant.admin, params={"source_ref": "A2"})).status_code == 202
    assert (await client.delete(rows_url, headers=tenant.admin, params={"source_ref": "A2"})).status_code == 404
    stub_worker()
    assert chunks_of(tenant, document_id)[0].text == "What is the return policy?\nUnopened items within 14 days."
