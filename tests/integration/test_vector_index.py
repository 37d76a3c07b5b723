"""Large tenants get their own partial HNSW and GIN indexes; small tenants keep exact, full-recall search."""

from __future__ import annotations

import pytest
from sqlalchemy import bindparam, text

from core.db import owner_engine, tenant_session_sync
from knowledge import embedders, retrieval, vector_index
from knowledge.lexical import tsquery_literal
from tests.factories import qa_csv

pytestmark = pytest.mark.integration


async def _ingest(client, tenant, rows, stub_worker) -> None:
    response = await client.post("/api/v1/documents", headers=tenant.admin, files={"file": ("faq.csv", qa_csv(rows))})
    assert response.status_code == 202
    stub_worker()


def _plan(tenant_id, indexed: bool) -> str:
    with tenant_session_sync(tenant_id) as session:
        chosen = embedders.current(session, tenant_id)
    sql = retrieval._sql(tenant_id, indexed, with_lexical=False, embedder_id=chosen.id, dimension=chosen.spec.dimension)
    params = {"q": "[" + ",".join(["0.05"] * 384) + "]", "n": 5}
    with tenant_session_sync(tenant_id) as session:
        # A 400-row tenant is cheap to scan, so make the planner show whether the index is usable.
        session.execute(text("SET LOCAL enable_seqscan = off"))
        session.execute(text("SET LOCAL enable_sort = off"))
        rows = session.execute(text("EXPLAIN " + sql), params).scalars().all()
    return "\n".join(rows)


def _lexical_plan(tenant_id, query: str) -> str:
    """The plan of the statement `kefu_lexical_candidates` runs (as the owner, so GIN is usable)."""
    with owner_engine().connect() as conn:
        rows = conn.execute(text(
            f"EXPLAIN SELECT c.id FROM chunks c WHERE c.tenant_id = '{tenant_id}'::uuid AND c.lexical @@ "
            "CAST(:q AS tsquery) ORDER BY ts_rank_cd(c.lexical, CAST(:q AS tsquery), 1) DESC LIMIT 50"),
            {"q": tsquery_literal(query)}).scalars().all()
    return "\n".join(rows)


def _refs(tenant_id, query: str, *, exact: bool) -> list[str | None]:
    if exact:
        vector_index.remember(tenant_id, False)  # the exact `+ 0` dense scan, whatever indexes exist
    else:
        vector_index.remember(tenant_id, vector_index.has_index_uncached(tenant_id))
    return [hit.source_ref for hit in retrieval.retrieve_sync(tenant_id, query, top_k=5)]


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


async def test_a_large_tenant_searches_its_own_gin_with_the_same_hits_as_the_exact_path(
        client, tenant, other_tenant, stub_worker) -> None:
    rows = [(str(i), f"question {i} about topic{i % 13}, shipping{i % 7}, code{i}", f"answer {i}") for i in range(3000)]
    await _ingest(client, tenant, rows, stub_worker)
    await _ingest(client, other_tenant, [("s1", "topic3 for the small tenant", "a")], stub_worker)
    with owner_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE chunks"))  # the planner's row estimates, as autovacuum keeps them
    queries = ["topic3 shipping2", "question 42 about topic3 code42", "shipping5 answer 17", "code7 code8"]
    exact = {q: _refs(tenant.id, q, exact=True) for q in queries}
    try:
        assert vector_index.ensure_tenant_index(tenant.id, force=True)
        names = (vector_index.index_name(tenant.id), vector_index.lexical_index_name(tenant.id))
        with tenant_session_sync(tenant.id) as session:
            present = session.scalars(text("SELECT indexname FROM pg_indexes WHERE indexname IN :names")
                                      .bindparams(bindparam("names", expanding=True)), {"names": list(names)}).all()
        assert sorted(present) == sorted(names)

        # A selective term, so that an index beats reading the 3,000 rows of the tenant.
        plan = _lexical_plan(tenant.id, "code42")
        assert vector_index.lexical_index_name(tenant.id) in plan, plan
        assert "ix_chunks_lexical_t_" not in _lexical_plan(other_tenant.id, "code42")

        for query in queries:
            # The partial GIN only changes how lexical matches are found: with the dense half
            # exact, the hits are the ones from before the indexes existed.
            assert _refs(tenant.id, query, exact=True) == exact[query], query
            # The HNSW half is approximate (ef_search 100; on the test embedder's near-random
            # vectors its recall varies), so its recall is bench/retrieval_scale.py's job; here: a
            # full top 5 of this tenant only.
            found = _refs(tenant.id, query, exact=False)
            assert len(found) == 5, query
            assert all(ref != "s1" for ref in found)  # tenant-scoped: nothing of the other tenant
        assert [h.source_ref for h in retrieval.retrieve_sync(other_tenant.id, "topic3", top_k=5)] == ["s1"]
    finally:
        vector_index.drop_tenant_index(tenant.id)
    assert not vector_index.has_index_uncached(tenant.id)
    assert "ix_chunks_lexical_t_" not in _lexical_plan(tenant.id, "code42")


async def test_the_lexical_functions_see_only_the_tenant_of_the_transaction(
        client, tenant, other_tenant, stub_worker) -> None:
    await _ingest(client, tenant, [("1", "refund", "a"), ("2", "refund window", "b")], stub_worker)
    await _ingest(client, other_tenant, [("x", "window", "c")], stub_worker)
    match = "CAST(:q AS tsquery)"
    candidates = text(f"SELECT id FROM kefu_lexical_candidates({match}, {match}, 10)")
    frequencies = text("SELECT kefu_term_frequencies(ARRAY['refund', 'window'])")
    with tenant_session_sync(tenant.id) as session:
        assert len(session.execute(candidates, {"q": "'refund' | 'window'"}).all()) == 2
        assert session.scalar(frequencies) == [2, 1]
    with tenant_session_sync(other_tenant.id) as session:
        assert session.execute(candidates, {"q": "'refund'"}).all() == []
        assert session.scalar(frequencies) == [0, 1]
    ranked = text("SELECT id FROM kefu_lexical_candidates(CAST(:q AS tsquery), "
                  "CAST(ARRAY['refund', 'window'] AS tsquery[]), CAST(:w AS real[]), :n)")
    with tenant_session_sync(other_tenant.id) as session:
        assert session.execute(ranked, {"q": "'refund' | 'window'", "w": [1.0, 1.0], "n": 10}).all() == [
            (session.scalar(text("SELECT id FROM chunks")),)]


async def test_lexical_candidates_are_ranked_by_the_weights_of_the_terms_they_hold(
        client, tenant, stub_worker) -> None:
    await _ingest(client, tenant, [("a", "refund", "alpha"), ("b", "refund window", "beta"),
                                   ("c", "window", "gamma"), ("d", "delivery", "delta")], stub_worker)
    ranked = text("SELECT c.source_ref FROM kefu_lexical_candidates(CAST(:q AS tsquery), "
                  "CAST(ARRAY['refund', 'window'] AS tsquery[]), CAST(:w AS real[]), :n) k "
                  "JOIN chunks c ON c.id = k.id")
    with tenant_session_sync(tenant.id) as session:
        def refs(weights: list[float], n: int = 10) -> list[str]:
            return list(session.execute(ranked, {"q": "'refund' | 'window'", "w": weights, "n": n}).scalars())

        # Both terms first; then the row with the heavier term; a row with neither never.
        assert refs([1.0, 2.0]) == ["b", "c", "a"]
        assert refs([2.0, 1.0]) == ["b", "a", "c"]
        assert refs([2.0, 1.0], n=1) == ["b"]
        # Equal sums: the row with fewer lexemes first. Fewer weights than terms: the unweighted
        # term adds nothing (and nothing fails).
        assert refs([1.0]) == ["a", "b", "c"]


async def test_warming_reads_every_row_of_the_tenants_index_once_per_server_start(
        client, tenant, other_tenant, stub_worker, real_embedder, monkeypatch) -> None:
    # Real vectors: the hash embedder's many tied distances leave parts of an HNSW graph unreachable.
    topics = ["refund", "delivery", "password", "invoice", "warranty", "discount"]
    rows = [(str(i), f"How do I handle {topics[i % 6]} case number {i}?", f"Answer {i} for {topics[i % 6]}.")
            for i in range(300)]
    await _ingest(client, tenant, rows, stub_worker)
    await _ingest(client, other_tenant, [("1", "only question", "only answer")], stub_worker)
    try:
        assert vector_index.ensure_tenant_index(tenant.id, force=True)
        # The iterative index scan walks the whole graph: every one of its rows, no other tenant's.
        assert vector_index.warm_tenant(tenant.id) == 300
        assert vector_index.warm_tenant(other_tenant.id) == 1  # no index: its rows through the btree
        assert [t for t, _ in vector_index.tenants_to_warm()] == [tenant.id]
        # Its size: the index plus its share of the table, also before the table was ever analysed.
        with owner_engine().connect() as conn, conn.begin():
            conn.execute(text("UPDATE pg_class SET reltuples = -1 WHERE relname = 'chunks'"))
        try:
            with owner_engine().connect() as conn:
                at_most = conn.scalar(text(
                    "SELECT pg_relation_size('chunks') + pg_relation_size(CAST(:ix AS regclass))"),
                    {"ix": vector_index.index_name(tenant.id)})
            assert 0 < dict(vector_index.tenants_to_warm())[tenant.id] <= at_most
        finally:
            with owner_engine().connect() as conn, conn.begin():
                conn.execute(text("ANALYZE chunks"))
        from core.redis import sync_redis

        for key in sync_redis().scan_iter("kefu:warm:*"):  # another test's worker saw this server start
            sync_redis().delete(key)
        # A warm that fails half-way does not count: the next check takes it up again.
        with monkeypatch.context() as patch:
            patch.setattr(vector_index, "warm_tenant", lambda tenant_id: 1 / 0)
            with pytest.raises(ZeroDivisionError):
                vector_index.warm_after_restart()
        assert vector_index.warm_after_restart() == [tenant.id]
        assert vector_index.warm_after_restart() == []  # once per PostgreSQL start, across workers
        # While one worker holds the claim, the others leave the warm to it.
        with owner_engine().connect() as conn:
            started = conn.scalar(text("SELECT extract(epoch FROM pg_postmaster_start_time())::bigint"))
        sync_redis().delete(vector_index.WARM_MARK.format(started=started))
        sync_redis().set(vector_index.WARM_CLAIM.format(started=started), "1")
        assert vector_index.warm_after_restart() == []
        sync_redis().delete(vector_index.WARM_CLAIM.format(started=started))  # its worker died: claim expired
        assert vector_index.warm_after_restart() == [tenant.id]
    finally:
        vector_index.drop_tenant_index(tenant.id)
    assert vector_index.tenants_to_warm() == []


def test_warming_keeps_within_its_share_of_shared_buffers(monkeypatch) -> None:
    monkeypatch.setattr(vector_index, "WARM_SHARE", 0.0)
    assert vector_index.tenants_to_warm() == []


async def test_an_indexed_tenant_fetches_at_most_ef_search_candidates_per_ranking(
        client, tenant, stub_worker, monkeypatch) -> None:
    from core.settings import get_settings

    with tenant_session_sync(tenant.id) as session:
        assert session.scalar(text("SHOW hnsw.ef_search")) == str(get_settings().hnsw_ef_search)
    monkeypatch.setattr(get_settings(), "search_candidates", 100)
    monkeypatch.setattr(get_settings(), "hnsw_ef_search", 40)
    assert retrieval.candidates(indexed=True, top_k=5) == 40
    assert retrieval.candidates(indexed=False, top_k=5) == 100
    assert retrieval.candidates(indexed=True, top_k=50) == 50


def test_a_worker_starts_warming_at_once_and_keeps_checking(monkeypatch) -> None:
    import threading

    called = threading.Event()
    monkeypatch.setattr(vector_index, "warm_after_restart", called.set)
    stop = vector_index.start_warming()
    try:
        assert called.wait(10)  # at start, not after the first WARM_CHECK_SECONDS
    finally:
        stop.set()


async def test_an_index_built_with_older_options_is_rebuilt_in_place(client, tenant, stub_worker) -> None:
    await _ingest(client, tenant, [(str(i), f"question {i}", f"answer {i}") for i in range(50)], stub_worker)
    name = vector_index.index_name(tenant.id)
    with tenant_session_sync(tenant.id) as session:
        chosen = embedders.current(session, tenant.id)
    with owner_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"CREATE INDEX \"{name}\" ON chunks USING hnsw ((embedding::vector(384)) vector_cosine_ops) "
                          f"WITH (m = 16, ef_construction = 64) WHERE tenant_id = '{tenant.id}'::uuid "
                          f"AND embedder_id = {chosen.id}"))
    try:
        assert tenant.id in vector_index.outdated_indexes()
        assert vector_index.ensure_tenant_index(tenant.id, force=True)
        assert tenant.id not in vector_index.outdated_indexes()
        with owner_engine().connect() as conn:
            options = conn.scalar(text("SELECT reloptions FROM pg_class WHERE relname = :n"), {"n": name})
        assert "ef_construction=128" in options
        assert vector_index.has_index_uncached(tenant.id)
        assert vector_index.index_name(tenant.id) in _plan(tenant.id, indexed=True)
    finally:
        vector_index.drop_tenant_index(tenant.id)


async def test_a_search_for_more_hits_than_ef_search_raises_it_for_itself(
        client, tenant, stub_worker, monkeypatch, real_embedder) -> None:
    from core.settings import get_settings

    # Real vectors: the hash embedder's tied distances leave parts of the graph unreachable, so the
    # index could return fewer rows than ef_search whatever it is set to.
    topics = ["refund", "delivery", "password", "invoice", "warranty", "discount"]
    rows = [(str(i), f"How do I handle {topics[i % 6]} case number {i}?", f"Answer {i} for {topics[i % 6]}.")
            for i in range(120)]
    await _ingest(client, tenant, rows, stub_worker)
    try:
        assert vector_index.ensure_tenant_index(tenant.id, force=True)
        vector_index.remember(tenant.id, True)
        # Pooled connections opened with ef_search 24: the index alone would return 24 rows.
        monkeypatch.setattr(get_settings(), "hnsw_ef_search", 10)
        hits = retrieval.retrieve_sync(tenant.id, "zzqx wwvy", top_k=40)  # no lexical candidates
        assert len(hits) == 40
    finally:
        vector_index.drop_tenant_index(tenant.id)
