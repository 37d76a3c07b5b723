"""Migration 0025 re-tokenises stored chunks: rows indexed with the old stems match Snowball's again."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from sqlalchemy import text

from core.db import owner_engine, tenant_session_sync
from knowledge.lexical import tsvector_literal
from knowledge.retrieval import retrieve_sync
from knowledge.term_stats import term_stats
from tests.factories import qa_csv

pytestmark = pytest.mark.integration

MIGRATION = Path(__file__).resolve().parents[2] / "alembic" / "versions" / "0025_snowball_stems.py"
# What the light Porter stemmer stored for these rows (it kept derivational suffixes).
OLD_LEXICAL = {"1": "'abbreviation':2 'generalli':1", "2": "'deliveri':1 'option':2"}


def _migration():
    spec = importlib.util.spec_from_file_location("snowball_stems", MIGRATION)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rows(tenant_id) -> dict[str, tuple[str, str]]:
    with tenant_session_sync(tenant_id) as session:
        return {r.source_ref: (r.text, r.lexical) for r in session.execute(
            text("SELECT source_ref, text, lexical::text AS lexical FROM chunks"))}


def _counts(tenant_id) -> dict[str, int]:
    with tenant_session_sync(tenant_id) as session:
        return dict(session.execute(text("SELECT term, df FROM term_frequencies WHERE df > 0")).all())


async def test_old_tokens_are_recomputed_and_counted(client, tenant, other_tenant, stub_worker) -> None:
    rows = [("1", "Generally abbreviations", "Use the short form."), ("2", "Delivery options", "Post or courier.")]
    for who in (tenant, other_tenant):
        response = await client.post("/api/v1/documents", headers=who.admin, files={"file": ("faq.csv", qa_csv(rows))})
        assert response.status_code == 202
    stub_worker()
    # The tenant's rows as the light stemmer left them (the counting triggers follow the update).
    with owner_engine().begin() as connection:
        for ref, lexical in OLD_LEXICAL.items():
            connection.execute(text("UPDATE chunks SET lexical = CAST(:l AS tsvector) "
                                    "WHERE source_ref = :r AND tenant_id = :t"),
                               {"l": lexical, "r": ref, "t": tenant.id})
    assert "generalli" in _counts(tenant.id)
    assert not any(h.source_ref == "1" and h.lexical > 0 for h in retrieve_sync(tenant.id, "in general", 5))

    with owner_engine().begin() as connection:  # the migration's work, for the tenant's rows, one at a time
        changed = _migration().retokenise(connection, batch=1, tenant_id=str(tenant.id))
        assert _migration().retokenise(connection, tenant_id=str(other_tenant.id)) == 0

    assert changed == 2
    stored = _rows(tenant.id)
    assert {ref: lexical for ref, (_, lexical) in stored.items()} == {
        ref: _canonical(tsvector_literal(chunk_text)) for ref, (chunk_text, _) in stored.items()}
    counts = _counts(tenant.id)
    assert "generalli" not in counts and counts["general"] == 1 and counts["abbrevi"] == 1
    assert _counts(tenant.id) == _counts(other_tenant.id)  # the other tenant was indexed with Snowball already
    term_stats.clear()  # processes start after a migration: nothing cached from before it
    hits = retrieve_sync(tenant.id, "in general", 5)
    assert any(h.source_ref == "1" and h.lexical > 0 for h in hits)


def _canonical(literal: str) -> str:
    """PostgreSQL's own text form of a tsvector literal."""
    with owner_engine().connect() as connection:
        return str(connection.scalar(text("SELECT CAST(CAST(:l AS tsvector) AS text)"), {"l": literal}))
