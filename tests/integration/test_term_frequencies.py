"""Term frequencies follow every chunk write (triggers, migration 0011) and stay within their tenant."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from core.db import anonymous_session_sync, tenant_session_sync
from knowledge.lexical import query_terms
from tests.factories import qa_csv

pytestmark = pytest.mark.integration


async def _upload(client, tenant, rows, stub_worker, name: str = "faq.csv") -> dict:
    response = await client.post("/api/v1/documents", headers=tenant.admin, files={"file": (name, qa_csv(rows))})
    assert response.status_code == 202
    stub_worker()
    return response.json()


def _counts(tenant_id) -> dict[str, int]:
    with tenant_session_sync(tenant_id) as session:
        return dict(session.execute(text("SELECT term, df FROM term_frequencies WHERE df > 0")).all())


def _recounted(tenant_id) -> dict[str, int]:
    """What the counts must be: every term of the tenant's chunks counted afresh, chunks under ''."""
    with tenant_session_sync(tenant_id) as session:
        terms = dict(session.execute(text(
            "SELECT t, count(*) FROM chunks, unnest(tsvector_to_array(lexical)) AS t GROUP BY t")).all())
        chunks = session.scalar(text("SELECT count(*) FROM chunks"))
    return {**terms, "": chunks} if chunks else terms


async def test_counts_follow_uploads_replacements_and_deletes(client, tenant, stub_worker) -> None:
    first = await _upload(client, tenant, [("1", "refund window", "a"), ("2", "refund policy", "b")], stub_worker)
    await _upload(client, tenant, [("x", "shipping window", "c")], stub_worker, "other.csv")
    refund, window = query_terms("refund window")
    assert _counts(tenant.id)[refund] == 2 and _counts(tenant.id)[window] == 2
    assert _counts(tenant.id) == _recounted(tenant.id)

    await _upload(client, tenant, [("1", "refund", "a")], stub_worker)  # a new version of faq.csv
    assert _counts(tenant.id)[window] == 1
    assert _counts(tenant.id) == _recounted(tenant.id)

    response = await client.delete(f"/api/v1/documents/{first['id']}", headers=tenant.admin)
    assert response.status_code in (200, 204)
    assert refund not in _counts(tenant.id)
    assert _counts(tenant.id) == _recounted(tenant.id)


async def test_counts_are_per_tenant_and_hidden_without_one(client, tenant, other_tenant, stub_worker) -> None:
    await _upload(client, tenant, [("1", "refund", "a"), ("2", "refund", "b")], stub_worker)
    await _upload(client, other_tenant, [("x", "refund", "c")], stub_worker)
    frequencies = text("SELECT kefu_term_frequencies(ARRAY['', :term])")
    (refund,) = query_terms("refund")
    with tenant_session_sync(tenant.id) as session:
        assert session.scalar(frequencies, {"term": refund}) == [2, 2]
    with tenant_session_sync(other_tenant.id) as session:
        assert session.scalar(frequencies, {"term": refund}) == [1, 1]
    with anonymous_session_sync() as session:
        assert session.scalar(text("SELECT count(*) FROM term_frequencies")) == 0
        assert session.scalar(frequencies, {"term": refund}) == [0, 0]


def _versions(tenant_id) -> dict[str, str]:
    """term → the transaction that last wrote its count row (xmin): any rewrite of a count changes it."""
    with tenant_session_sync(tenant_id) as session:
        return dict(session.execute(text("SELECT term, xmin::text FROM term_frequencies")).all())


async def test_an_update_that_keeps_the_tokens_leaves_the_counts_unwritten(client, tenant, stub_worker) -> None:
    await _upload(client, tenant, [("1", "refund window", "a"), ("2", "refund policy", "b")], stub_worker)
    counts, versions = _counts(tenant.id), _versions(tenant.id)
    with tenant_session_sync(tenant.id) as session:  # what a re-embedding's switch does: vectors, not text
        updated = session.execute(text("UPDATE chunks SET embedding = embedding, metadata = metadata")).rowcount
    assert updated == 2
    assert _versions(tenant.id) == versions  # no count row was rewritten
    assert _counts(tenant.id) == counts == _recounted(tenant.id)


async def test_an_update_counts_exactly_the_chunks_whose_tokens_changed(client, tenant, stub_worker) -> None:
    await _upload(client, tenant, [("1", "refund window", "a"), ("2", "refund policy", "b"),
                                   ("3", "shipping times", "c")], stub_worker)
    (shipping,) = query_terms("shipping")
    versions = _versions(tenant.id)
    with tenant_session_sync(tenant.id) as session:  # one statement: one chunk re-tokenised, two untouched
        session.execute(text("""
            UPDATE chunks SET lexical = CASE WHEN source_ref = '1' THEN to_tsvector('simple', 'voucher code')
                                             ELSE lexical END"""))
    assert _counts(tenant.id) == _recounted(tenant.id)
    assert _counts(tenant.id)["voucher"] == 1
    assert _versions(tenant.id)[shipping] == versions[shipping]  # a term only untouched chunks hold
