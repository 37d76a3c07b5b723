"""Knowledge page functions against the real database: uploads, live status, delete, FAQ entries, try a question."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from chat.prompts import phrase
from core.db import tenant_session_sync
from core.errors import NotFound, PermissionDenied, ValidationFailed
from core.models import Chunk, Conversation, Document, Message
from dash_app.pages import knowledge, knowledge_faq
from knowledge.curation import MANUAL_FAQ_FILENAME
from tests.factories import qa_csv
from tests.support.dash_users import analyst_of, owner_of

FAQ = qa_csv([("r1", "What is your return policy?", "Returns are free within 30 days."),
              ("r2", "退货政策是什么？", "30天内免费退货。")])


def _documents(tenant_id: uuid.UUID) -> list[Document]:
    with tenant_session_sync(tenant_id) as session:
        return list(session.scalars(select(Document)))


def _chunks(tenant_id: uuid.UUID) -> list[Chunk]:
    with tenant_session_sync(tenant_id) as session:
        return list(session.scalars(select(Chunk).order_by(Chunk.ordinal)))


def test_upload_becomes_ready_and_only_the_owning_tenant_lists_it(tenant, other_tenant, stub_worker):
    owner = owner_of(tenant)
    lines = knowledge.upload_documents(owner, [("faq.csv", FAQ)])
    assert lines == ["faq.csv: created"]
    stub_worker()
    rows = knowledge.document_rows(owner)
    assert [(r["filename"], r["status"], r["chunk_count"]) for r in rows] == [("faq.csv", "ready", 2)]
    assert knowledge.document_rows(owner_of(other_tenant)) == []


def test_analyst_cannot_upload_or_delete(tenant, stub_worker):
    owner, analyst = owner_of(tenant), analyst_of(tenant)
    with pytest.raises(PermissionDenied):
        knowledge.upload_documents(analyst, [("faq.csv", FAQ)])
    assert _documents(tenant.id) == []
    knowledge.upload_documents(owner, [("faq.csv", FAQ)])
    stub_worker()
    document_id = knowledge.document_rows(owner)[0]["id"]
    with pytest.raises(PermissionDenied):
        knowledge.delete_documents(analyst, [document_id])
    assert len(_documents(tenant.id)) == 1


def test_delete_with_another_tenants_id_is_not_found_and_leaves_it(tenant, other_tenant, stub_worker):
    knowledge.upload_documents(owner_of(other_tenant), [("faq.csv", FAQ)])
    stub_worker()
    their_id = str(_documents(other_tenant.id)[0].id)
    with pytest.raises(NotFound):
        knowledge.delete_documents(owner_of(tenant), [their_id])
    assert len(_documents(other_tenant.id)) == 1
    assert len(_chunks(other_tenant.id)) == 2


def test_delete_removes_document_and_chunks(tenant, stub_worker):
    owner = owner_of(tenant)
    knowledge.upload_documents(owner, [("faq.csv", FAQ)])
    stub_worker()
    assert knowledge.delete_documents(owner, [knowledge.document_rows(owner)[0]["id"]]) == 1
    assert _documents(tenant.id) == [] and _chunks(tenant.id) == []


def test_bad_ids_and_files_are_refused_with_a_message(tenant):
    owner = owner_of(tenant)
    with pytest.raises(ValidationFailed, match="not a valid document id"):
        knowledge.delete_documents(owner, ["../etc/passwd"])
    with pytest.raises(ValidationFailed, match="empty"):
        knowledge.upload_documents(owner, [("empty.csv", b"")])
    assert _documents(tenant.id) == []


def test_try_a_question_shows_the_faq_answer_and_scored_chunks(tenant, stub_worker):
    owner = owner_of(tenant)
    knowledge.upload_documents(owner, [("faq.csv", FAQ)])
    stub_worker()
    result = knowledge.try_question(owner, "What is your return policy?")
    assert result["answer"] == "Returns are free within 30 days."
    assert result["hits"][0]["source_ref"] == "r1"
    scores = [h["score"] for h in result["hits"]]
    assert scores == sorted(scores, reverse=True) and len(scores) == 2


def test_try_a_question_runs_the_customer_pipeline_and_stores_nothing(tenant, stub_worker):
    owner = owner_of(tenant)
    knowledge.upload_documents(owner, [("faq.csv", FAQ)])
    stub_worker()
    assert knowledge.try_question(owner, "thanks!")["answer"] == phrase("en", "thanks")
    assert knowledge.try_question(owner, "thanks!")["sources"] == []
    person = knowledge.try_question(owner, "I want to talk to a human", earlier=["What is your return policy?"])
    assert person["handoff"] is True
    answered = knowledge.try_question(owner, "What is your return policy?", earlier=["hello"])
    assert answered["sources"] == ["r1"] and answered["suggestions"] == []
    with tenant_session_sync(tenant.id) as session:
        assert session.scalars(select(Message.id)).all() == []  # a rehearsal is stored nowhere
        assert session.scalars(select(Conversation.id)).all() == []


def test_manual_faq_entries_are_indexed_edited_and_removed(tenant, other_tenant, stub_worker):
    owner = owner_of(tenant)
    change = knowledge_faq.save_faq_entry(owner, None, "Do you sell gift cards?", "Yes, from 10 to 500 yuan.")
    stub_worker()
    chunks = _chunks(tenant.id)
    assert [(c.source_ref, c.text) for c in chunks] == [(change.entry.id, "Do you sell gift cards?\nYes, from 10 to 500 yuan.")]
    assert knowledge.try_question(owner, "gift cards")["answer"] == "Yes, from 10 to 500 yuan."

    second = knowledge_faq.save_faq_entry(owner, None, "Opening hours?", "9:00-18:00 every day.")
    knowledge_faq.save_faq_entry(owner, change.entry.id, "Do you sell gift cards?", "Yes, 10-1000 yuan.")
    stub_worker()
    assert sorted(c.text for c in _chunks(tenant.id)) == ["Do you sell gift cards?\nYes, 10-1000 yuan.",
                                                          "Opening hours?\n9:00-18:00 every day."]
    assert [r["id"] for r in knowledge_faq.faq_rows(owner)] == [change.entry.id, second.entry.id]
    assert knowledge_faq.faq_rows(owner_of(other_tenant)) == []

    knowledge_faq.delete_faq_entry(owner, change.entry.id)
    stub_worker()
    assert [c.source_ref for c in _chunks(tenant.id)] == [second.entry.id]
    knowledge_faq.delete_faq_entry(owner, second.entry.id)
    stub_worker()
    assert _chunks(tenant.id) == []
    with tenant_session_sync(tenant.id) as session:
        assert session.scalar(select(func.count()).select_from(Document)
                              .where(Document.filename == MANUAL_FAQ_FILENAME)) == 0


def test_analyst_cannot_change_faq_entries_and_other_tenants_entries_are_not_found(tenant, other_tenant,
                                                                                    stub_worker):
    theirs = knowledge_faq.save_faq_entry(owner_of(other_tenant), None, "Q?", "A.")
    stub_worker()
    with pytest.raises(PermissionDenied):
        knowledge_faq.save_faq_entry(analyst_of(other_tenant), None, "Q2?", "A2.")
    with pytest.raises(NotFound):
        knowledge_faq.save_faq_entry(owner_of(tenant), theirs.entry.id, "Changed?", "Changed.")
    with pytest.raises(NotFound):
        knowledge_faq.delete_faq_entry(owner_of(tenant), theirs.entry.id)
    assert [(r["question"], r["answer"]) for r in knowledge_faq.faq_rows(owner_of(other_tenant))] == [("Q?", "A.")]
    with pytest.raises(ValidationFailed, match="both a question and an answer"):
        knowledge_faq.save_faq_entry(owner_of(tenant), None, "  ", "A.")
    assert _documents(tenant.id) == []


def test_one_bad_file_in_a_batch_does_not_stop_the_others(tenant, stub_worker):
    lines = knowledge.upload_documents(owner_of(tenant), [("faq.csv", FAQ), ("virus.exe", b"MZ\x90\x00")])
    assert lines[0] == "faq.csv: created" and lines[1].startswith("refused virus.exe: ")
    stub_worker()
    assert [d.filename for d in _documents(tenant.id)] == ["faq.csv"]


def test_unreachable_queue_marks_the_upload_failed_so_it_can_be_retried(tenant, monkeypatch):
    from core.errors import ServiceUnavailable
    from knowledge.tasks import ingest_document

    def queue_down(*args, **kwargs):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(ingest_document, "send", queue_down)
    with pytest.raises(ServiceUnavailable, match="work queue is unreachable"):
        knowledge.upload_documents(owner_of(tenant), [("faq.csv", FAQ)])
    [document] = _documents(tenant.id)
    assert document.status == "failed" and "upload it again" in document.error


def test_uploaded_rows_are_listed_and_edited_by_admins_only(tenant, other_tenant, stub_worker):
    from dash_app.pages import knowledge_rows

    owner, analyst = owner_of(tenant), analyst_of(tenant)
    knowledge.upload_documents(owner, [("faq.csv", FAQ)])
    stub_worker()
    [option] = knowledge_rows.qa_documents(analyst)
    document_id = option["value"]
    assert knowledge_rows.qa_documents(owner_of(other_tenant)) == []
    rows, total = knowledge_rows.uploaded_rows(analyst, document_id)
    assert total == 2 and [(r["source_ref"], r["state"]) for r in rows] == [("r1", "file"), ("r2", "file")]
    with pytest.raises(PermissionDenied):
        knowledge_rows.change_row(analyst, document_id, "r1", "edit", "Q?", "A.")
    with pytest.raises(NotFound):
        knowledge_rows.change_row(owner_of(other_tenant), document_id, "r1", "disable")
    with pytest.raises(ValidationFailed, match="Select the row"):
        knowledge_rows.change_row(owner, document_id, None, "disable")
    knowledge_rows.change_row(owner, document_id, "r1", "edit", "What is your return policy?", "Free for 90 days.")
    knowledge_rows.change_row(owner, document_id, "r2", "disable")
    stub_worker()
    assert knowledge.try_question(owner, "What is your return policy?")["answer"] == "Free for 90 days."
    assert [c.source_ref for c in _chunks(tenant.id)] == ["r1"]
    rows, _ = knowledge_rows.uploaded_rows(analyst, document_id, "return")
    assert [(r["source_ref"], r["state"], r["answer"]) for r in rows] == [("r1", "edited", "Free for 90 days.")]
