"""Large tenants get their own partial HNSW index; small tenants keep exact, full-recall search."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from core.db import sync_tenant_session
from knowledge import retrieval, vector_index
from tests.factories import qa_csv

pytestmark = pytest.mark.integration


async def _ingest(client, tenant, rows, stub_worker) -> None:
    response = await client.post("/api/v1/documents", headers=tenant.admin, files={"file": ("faq.csv", qa_csv(rows))})
    assert response.status_code == 202
    stub_worker()


def _plan(tenant_id, indexed: bool) -> str:
    sql = retrieval._sql(tenant_id, indexed, with_lexical=False)
    with sync_tenant_session(tenant_id) as session:
        # A 400-row tenant is cheap to scan, so make the planner show whether the index is usable.
        session.execute(text("SET LOCAL enable_seqscan = off"))
        session.execute(text("SET LOCAL enable_sort = off"))
        vector = "[" + ",".join(["0.05"] * 384) + "]"
        rows = session.execute(text("EXPLAIN " + sql), {"q": vector, "n": 5}).scalars().all()
    return "\n".join(rows)


async def test_partial_index_serves_its_tenant_and_small_tenants_get_full_top_k(
        client, tenant, other_tenant, stub_worker) -> None:
    big_rows = [(str(i), f"question {i} about topic {i % 13}", f"answer {i}") for i in range(400)]
    await _ingest(client, tenant, big_rows, stub_worker)
    await _ingest(client, other_tenant, [("s1", "only question", "only answer"),
                                         ("s2", "second question", "second answer")], stub_worker)
    try:
        assert vector_index.ensure_tenant_index(tenant.id, force=True)
        assert vector_index.has_index_uncached(tenant.id)
        assert not vector_index.has_index_uncached(other_tenant.id)
        assert vector_index.index_name(tenant.id) in _plan(tenant.id, indexed=True)
        assert "hnsw" not in _plan(other_tenant.id, indexed=False)

        hits = retrieval.retrieve_sync(tenant.id, "question 7 about topic 7", top_k=10)
        assert len(hits) == 10
        small = retrieval.retrieve_sync(other_tenant.id, "question", top_k=10)
        assert {h.source_ref for h in small} == {"s1", "s2"}  # everything it has, nothing of the big tenant
    finally:
        vector_index.drop_tenant_index(tenant.id)
    assert not vector_index.has_index_uncached(tenant.id)


async def test_small_tenants_do_not_get_an_index(client, tenant, stub_worker) -> None:
    await _ingest(client, tenant, [("1", "q", "a")], stub_worker)
    assert vector_index.ensure_tenant_index(tenant.id) is False
