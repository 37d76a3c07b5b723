"""Similar questions (相似问法): from uploads, the row API and manual entries, matched like the row's question."""

from __future__ import annotations

import io
import json
import uuid

import openpyxl
import pytest
from sqlalchemy import select

from core.db import tenant_session_sync
from core.errors import ValidationFailed
from core.models import Chunk, Document, FaqOverride
from dash_app.pages import knowledge
from knowledge import commands, curation, faq_overrides
from knowledge.retrieval import retrieve_sync
from tests.support.dash_users import owner_of

pytestmark = pytest.mark.integration

CSV = (
    b"id,question,answer,similar_questions\n"
    b"cod,Do you offer cash on delivery?,Yes: pay the courier in cash when the parcel arrives.,"
    b"can I pay when the goods arrive | pay the courier at my door\n"
    b"ship,How long does shipping take?,Parcels arrive in 3 to 5 days.,\n"
)


def _upload(tenant, filename: str, data: bytes, stub_worker) -> uuid.UUID:
    knowledge.upload_documents(owner_of(tenant), [(filename, data)])
    stub_worker()
    with tenant_session_sync(tenant.id) as session:
        document = session.scalars(select(Document).where(Document.filename == filename)).one()
        assert document.status == "ready", document.error
        return document.id


def _chunks(tenant_id: uuid.UUID) -> list[tuple[str, str, str | None]]:
    with tenant_session_sync(tenant_id) as session:
        return [
            (c.source_ref, c.meta["question"], c.meta.get("variant_of"))
            for c in session.scalars(select(Chunk).order_by(Chunk.ordinal, Chunk.id))
        ]


def test_an_upload_column_adds_wordings_that_find_the_row_once_with_its_own_question(tenant, stub_worker):
    document_id = _upload(tenant, "faq.csv", CSV, stub_worker)
    question = "Do you offer cash on delivery?"
    assert _chunks(tenant.id) == [
        ("cod", question, None),
        ("cod", "can I pay when the goods arrive", question),
        ("cod", "pay the courier at my door", question),
        ("ship", "How long does shipping take?", None),
    ]
    hits = retrieve_sync(tenant.id, "can I pay when the goods arrive", 5)
    assert [h.source_ref for h in hits] == ["cod", "ship"]  # the row once, whichever wording matched
    top = hits[0]
    assert top.metadata["question"] == question and top.text.startswith(question)
    assert top.metadata["matched_question"] == "can I pay when the goods arrive"
    assert "variant_of" not in top.metadata
    with tenant_session_sync(tenant.id) as session:
        rows, total = faq_overrides.list_rows(session, tenant.id, document_id)
        assert total == 2 and rows[0].similar_questions == (
            "can I pay when the goods arrive",
            "pay the courier at my door",
        )
        found, _ = faq_overrides.list_rows(session, tenant.id, document_id, search="courier at my door")
        assert [r.source_ref for r in found] == ["cod"]


def test_a_wording_lifts_its_row_above_a_row_that_only_shares_words(tenant, stub_worker):
    plain = (
        b"id,question,answer\n"
        b"cod,Do you offer cash on delivery?,Yes: pay the courier in cash.\n"
        b"goods,Which goods can I order?,Anything in the catalogue.\n"
    )
    _upload(tenant, "faq.csv", plain, stub_worker)
    query = "can I pay when the goods arrive"
    assert retrieve_sync(tenant.id, query, 1)[0].source_ref == "goods"
    document_id = _upload(tenant, "faq.csv", plain, stub_worker)
    commands.set_faq_row_similar_questions(tenant.id, document_id, "cod", [query])
    stub_worker()
    assert retrieve_sync(tenant.id, query, 1)[0].source_ref == "cod"


def test_xlsx_and_json_columns_split_on_new_lines_and_lists(tenant, stub_worker):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["编号", "问题", "答案", "相似问题"])
    sheet.append(["jf", "积分可以抵扣现金吗？", "可以，100积分抵1元。", "积分能当钱花吗\n积分怎么用｜积分能抵钱吗"])
    buffer = io.BytesIO()
    book.save(buffer)
    _upload(tenant, "faq.xlsx", buffer.getvalue(), stub_worker)
    items = [
        {
            "id": "t1",
            "question": "Can I track my parcel?",
            "answer": "Yes, with the link we email.",
            "similar questions": ["where is my package", "where is my package", "Can I track my parcel?"],
        }
    ]
    _upload(tenant, "faq.json", json.dumps(items).encode(), stub_worker)
    wordings = {(ref, q) for ref, q, variant in _chunks(tenant.id) if variant}
    assert wordings == {
        ("jf", "积分能当钱花吗"),
        ("jf", "积分怎么用"),
        ("jf", "积分能抵钱吗"),
        ("t1", "where is my package"),
    }  # duplicates and the question itself left out


def test_row_wordings_survive_a_reupload_and_a_question_edit_and_go_on_revert(tenant, stub_worker):
    document_id = _upload(tenant, "faq.csv", CSV, stub_worker)
    row = commands.set_faq_row_similar_questions(tenant.id, document_id, "ship", "delivery time?\nwhen will it come")
    assert (row.state, row.similar_questions) == ("edited", ("delivery time?", "when will it come"))
    stub_worker()
    _upload(tenant, "faq.csv", CSV + b"new,Do you ship abroad?,Yes.,\n", stub_worker)
    ship = [q for ref, q, variant in _chunks(tenant.id) if ref == "ship" and variant]
    assert ship == ["delivery time?", "when will it come"]
    commands.edit_faq_row(tenant.id, document_id, "ship", "When will it come", "In 3 to 5 days.")
    stub_worker()
    assert [q for ref, q, variant in _chunks(tenant.id) if ref == "ship"] == ["When will it come", "delivery time?"]
    commands.revert_faq_row(tenant.id, document_id, "ship")
    stub_worker()
    assert [q for ref, q, _ in _chunks(tenant.id) if ref == "ship"] == ["How long does shipping take?"]


def test_bad_wordings_are_refused_and_nothing_is_written(tenant, stub_worker):
    document_id = _upload(tenant, "faq.csv", CSV, stub_worker)
    with pytest.raises(ValidationFailed, match="at most 50"):
        commands.set_faq_row_similar_questions(tenant.id, document_id, "ship", [f"wording {i}" for i in range(51)])
    with pytest.raises(ValidationFailed, match="limit is 1000"):
        commands.set_faq_row_similar_questions(tenant.id, document_id, "ship", ["x" * 1001])
    with pytest.raises(ValidationFailed, match="list of questions"):
        commands.set_faq_row_similar_questions(tenant.id, document_id, "ship", {"a": 1})
    with tenant_session_sync(tenant.id) as session:
        assert session.scalars(select(FaqOverride)).all() == []


def test_manual_entries_keep_wordings_and_accept_one_more(tenant, stub_worker):
    change = commands.add_faq_entry(
        tenant.id,
        "Do you have a shop in town?",
        "Yes, at 5 Main Street.",
        similar_questions="where is your store | can I visit you",
    )
    stub_worker()
    entry_id = change.entry.id
    commands.add_similar_question(tenant.id, change.document_id, entry_id, "  what is your address ")
    stub_worker()
    with tenant_session_sync(tenant.id) as session:
        entry = curation.list_faq_entries(session, tenant.id)[0]
    assert entry.similar_questions == ("where is your store", "can I visit you", "what is your address")
    assert sorted(q for _, q, variant in _chunks(tenant.id) if variant) == [
        "can I visit you",
        "what is your address",
        "where is your store",
    ]
    assert retrieve_sync(tenant.id, "what is your address", 1)[0].source_ref == entry_id


async def test_the_row_api_sets_and_lists_wordings_and_refuses_bad_ones(client, tenant, stub_worker):
    document_id = _upload(tenant, "faq.csv", CSV, stub_worker)
    url = f"/api/v1/documents/{document_id}/faq-rows"
    put = await client.put(
        url, headers=tenant.admin, json={"source_ref": "ship", "similar_questions": ["when does it arrive"]}
    )
    assert put.status_code == 202, put.text
    assert put.json()["similar_questions"] == ["when does it arrive"]
    stub_worker()
    listed = await client.get(url, headers=tenant.admin)
    assert {r["source_ref"]: r["similar_questions"] for r in listed.json()["items"]} == {
        "cod": ["can I pay when the goods arrive", "pay the courier at my door"],
        "ship": ["when does it arrive"],
    }
    bad = await client.put(
        url,
        headers=tenant.admin,
        json={"source_ref": "ship", "question": "Q?", "answer": "A.", "similar_questions": ["y" * 1001]},
    )
    assert bad.status_code == 422 and "limit is 1000" in bad.text
    with tenant_session_sync(tenant.id) as session:  # the edit in the same request was not stored either
        assert session.scalars(select(FaqOverride.question)).all() == [None]
