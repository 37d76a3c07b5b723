"""Curating uploaded FAQ rows: edits and disabling reach search at once, survive re-uploads, stay in the tenant."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from core.db import tenant_session_sync
from core.errors import NotFound, ValidationFailed
from core.models import Chunk, Document, FaqOverride
from core.redis import sync_redis
from core.versions import tenant_version_key as version_key
from dash_app.pages import knowledge
from knowledge import commands, faq_overrides, indexing
from knowledge.retrieval import retrieve_sync
from tests.factories import qa_csv
from tests.support.dash_users import owner_of

pytestmark = pytest.mark.integration

FAQ = qa_csv([("r1", "What is your return policy?", "Returns are free within 30 days."),
              ("r2", "How long does shipping take?", "Parcels arrive in 3 to 5 days.")])
FAQ_NEW = qa_csv([("r1", "What is your return policy?", "Returns are free within 14 days."),
                  ("r2", "How long does shipping take?", "Parcels arrive in 3 to 5 days."),
                  ("r3", "Do you ship abroad?", "Yes, to 40 countries.")])


def _upload(tenant, data: bytes, stub_worker) -> uuid.UUID:
    knowledge.upload_documents(owner_of(tenant), [("faq.csv", data)])
    stub_worker()
    with tenant_session_sync(tenant.id) as session:
        return session.scalars(select(Document.id).where(Document.filename == "faq.csv")).one()


def _chunks(tenant_id: uuid.UUID) -> dict[str, str]:
    with tenant_session_sync(tenant_id) as session:
        return {c.source_ref: c.text for c in session.scalars(select(Chunk).order_by(Chunk.ordinal))}


def _version(tenant_id: uuid.UUID) -> int:
    return int(sync_redis().get(version_key(tenant_id)) or 0)


def test_an_edit_is_searched_at_once_and_bumps_the_tenant_version(tenant, stub_worker):
    document_id = _upload(tenant, FAQ, stub_worker)
    before = _version(tenant.id)
    row = commands.edit_faq_row(tenant.id, document_id, "r1", "What is your refund policy?",
                                 "Refunds within 60 days, no questions asked.")
    assert (row.state, row.answer) == ("edited", "Refunds within 60 days, no questions asked.")
    stub_worker()
    assert _chunks(tenant.id) == {"r1": "What is your refund policy?\nRefunds within 60 days, no questions asked.",
                                  "r2": "How long does shipping take?\nParcels arrive in 3 to 5 days."}
    assert _version(tenant.id) > before
    hit = retrieve_sync(tenant.id, "refund policy 60 days", 1)[0]
    assert (hit.source_ref, hit.metadata["answer"], hit.metadata["edited"]) == (
        "r1", "Refunds within 60 days, no questions asked.", True)
    with tenant_session_sync(tenant.id) as session:
        rows, total = faq_overrides.list_rows(session, tenant.id, document_id)
        assert total == 2 and [(r.source_ref, r.state, r.file_changed) for r in rows] == [
            ("r1", "edited", False), ("r2", "file", False)]
        assert rows[0].file_answer == "Returns are free within 30 days."
        assert session.get(Document, document_id).chunk_count == 2


def test_disable_removes_the_row_from_search_and_enable_or_revert_brings_it_back(tenant, stub_worker):
    document_id = _upload(tenant, FAQ, stub_worker)
    commands.set_faq_row_disabled(tenant.id, document_id, "r1", True)
    stub_worker()
    assert list(_chunks(tenant.id)) == ["r2"]
    assert all(h.source_ref != "r1" for h in retrieve_sync(tenant.id, "return policy", 5))
    with tenant_session_sync(tenant.id) as session:
        rows, total = faq_overrides.list_rows(session, tenant.id, document_id)
        assert total == 2 and [(r.source_ref, r.state) for r in rows] == [("r1", "disabled"), ("r2", "file")]
        assert session.get(Document, document_id).chunk_count == 1
    commands.set_faq_row_disabled(tenant.id, document_id, "r1", False)
    stub_worker()
    assert _chunks(tenant.id)["r1"] == "What is your return policy?\nReturns are free within 30 days."
    commands.edit_faq_row(tenant.id, document_id, "r2", "Shipping time?", "Two days.")
    stub_worker()
    commands.revert_faq_row(tenant.id, document_id, "r2")
    stub_worker()
    assert _chunks(tenant.id)["r2"] == "How long does shipping take?\nParcels arrive in 3 to 5 days."
    with tenant_session_sync(tenant.id) as session:
        assert session.scalars(select(FaqOverride).where(FaqOverride.source_ref == "r2")).first() is None


def test_a_reupload_keeps_the_edit_and_flags_that_the_file_changed(tenant, stub_worker):
    document_id = _upload(tenant, FAQ, stub_worker)
    commands.edit_faq_row(tenant.id, document_id, "r1", "What is your return policy?", "Returns: 45 days.")
    commands.set_faq_row_disabled(tenant.id, document_id, "r2", True)
    stub_worker()
    assert _upload(tenant, FAQ_NEW, stub_worker) == document_id  # a new version of the same document
    chunks = _chunks(tenant.id)
    assert chunks == {"r1": "What is your return policy?\nReturns: 45 days.",
                      "r3": "Do you ship abroad?\nYes, to 40 countries."}  # r2 stays disabled
    with tenant_session_sync(tenant.id) as session:
        row = faq_overrides.get_row(session, tenant.id, document_id, "r1")
        assert row.file_changed and row.file_answer == "Returns are free within 14 days."
        assert not faq_overrides.get_row(session, tenant.id, document_id, "r2").file_changed
    # Saving again keeps the edit and clears the flag; reverting would take the file's new text.
    commands.edit_faq_row(tenant.id, document_id, "r1", "What is your return policy?", "Returns: 45 days.")
    stub_worker()
    with tenant_session_sync(tenant.id) as session:
        assert not faq_overrides.get_row(session, tenant.id, document_id, "r1").file_changed
    commands.revert_faq_row(tenant.id, document_id, "r1")
    stub_worker()
    assert _chunks(tenant.id)["r1"] == "What is your return policy?\nReturns are free within 14 days."


def test_an_edit_saved_while_the_document_is_reindexed_is_not_lost(tenant, stub_worker):
    document_id = _upload(tenant, FAQ, stub_worker)
    knowledge.upload_documents(owner_of(tenant), [("faq.csv", FAQ_NEW)])  # queued, not yet indexed
    overrides_seen = faq_overrides.load_overrides(tenant.id, document_id)
    commands.edit_faq_row(tenant.id, document_id, "r2", "Shipping?", "Next day.")
    assert overrides_seen == {}
    stub_worker()  # the row job defers to the ingest, which applies the edit
    assert _chunks(tenant.id)["r2"] == "Shipping?\nNext day."
    assert indexing.ingest(tenant.id, document_id).status == "skipped"


def test_rows_of_another_tenant_are_not_found_and_bad_input_is_refused(tenant, other_tenant, stub_worker):
    theirs = _upload(other_tenant, FAQ, stub_worker)
    with pytest.raises(NotFound):
        commands.edit_faq_row(tenant.id, theirs, "r1", "Q?", "A.")
    with pytest.raises(NotFound):
        commands.set_faq_row_disabled(tenant.id, theirs, "r1", True)
    with tenant_session_sync(tenant.id) as session, pytest.raises(NotFound):
        faq_overrides.list_rows(session, tenant.id, theirs)
    mine = _upload(tenant, FAQ, stub_worker)
    with pytest.raises(NotFound, match="No FAQ row 'r9'"):
        commands.edit_faq_row(tenant.id, mine, "r9", "Q?", "A.")
    with pytest.raises(ValidationFailed, match="both a question and an answer"):
        commands.edit_faq_row(tenant.id, mine, "r1", "Q?", "  ")
    with pytest.raises(ValidationFailed, match="limit is 8000"):
        commands.edit_faq_row(tenant.id, mine, "r1", "Q?", "x" * 8001)
    with pytest.raises(NotFound, match="no edit to revert"):
        commands.revert_faq_row(tenant.id, mine, "r1")
    stub_worker()
    assert _chunks(other_tenant.id)["r1"] == "What is your return policy?\nReturns are free within 30 days."
    with tenant_session_sync(other_tenant.id) as session:
        assert session.scalars(select(FaqOverride)).all() == []


def test_search_pages_through_rows(tenant, stub_worker):
    document_id = _upload(tenant, FAQ_NEW, stub_worker)
    with tenant_session_sync(tenant.id) as session:
        rows, total = faq_overrides.list_rows(session, tenant.id, document_id, search="ship")
        assert total == 2 and [r.source_ref for r in rows] == ["r2", "r3"]
        rows, total = faq_overrides.list_rows(session, tenant.id, document_id, limit=1, offset=1)
        assert total == 3 and [r.source_ref for r in rows] == ["r2"]
