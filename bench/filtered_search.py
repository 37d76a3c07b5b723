"""Tenant-filtered dense search in a large shared table: the product's design vs one global HNSW.

Inserts synthetic chunks (random low-rank 384-dim unit vectors, all tenants drawn from one
distribution so they interleave) as the app role through `core.db.tenant_session_sync`, with
Zipf-like tenant sizes; builds the product's partial HNSW indexes with
`knowledge.vector_index.ensure_tenant_index` for tenants above KEFU_TENANT_HNSW_THRESHOLD; then
for small / medium / large tenants runs dense queries exactly as `retrieve_sync` does (the SQL of
`knowledge.retrieval._sql`, lexical off) and reports p50/p95 latency, recall@5 against brute force
(numpy over the tenant's own vectors) and rows returned (of 50 candidates asked for), once as
is and once with custom plans forced (prepared statements otherwise switch to a generic plan that
casts the query vector per row). Beside it, the naive design on a copy of the table: one global
HNSW index with a plain `WHERE tenant_id`, with and without pgvector's iterative scan
(relaxed_order, ef_search 200), custom plans. The copy is dropped at the end.

    python bench/filtered_search.py                                  # 200,000 chunks, 200 tenants
    python bench/filtered_search.py --chunks 1000000 --tenants 1000
    python bench/filtered_search.py --chunks 100000 --tenants 100 --hnsw-threshold 5000
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from harness import topology
from sqlalchemy import text

DIM, CANDIDATES, TOP = 384, 50, 5
INSERT = text("""
    INSERT INTO chunks (tenant_id, document_id, ordinal, text, source_ref, embedding, lexical, embedder_id)
    SELECT :tenant_id, :document_id, o, 'synthetic chunk ' || o, o::text, e::vector, ''::tsvector, :embedder_id
    FROM unnest(CAST(:ordinals AS int[]), CAST(:embeddings AS text[])) AS u(o, e)
""")


@dataclass
class TenantData:
    tenant_id: uuid.UUID
    vectors: np.ndarray
    indexed: bool = False


def zipf_sizes(total: int, tenants: int, exponent: float, minimum: int) -> list[int]:
    weights = 1.0 / np.arange(1, tenants + 1) ** exponent
    sizes = np.maximum(minimum, np.floor(total * weights / weights.sum())).astype(int)
    sizes[0] += total - sizes.sum()  # the remainder goes to the largest tenant
    return [int(s) for s in sizes]


def unit_vectors(rng: np.random.Generator, basis: np.ndarray, n: int) -> np.ndarray:
    """Low-rank signal plus isotropic noise, normalised (like real embeddings, not uniform noise)."""
    vectors = rng.standard_normal((n, basis.shape[0])) @ basis + 0.35 * rng.standard_normal((n, DIM))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def literal(vector: np.ndarray) -> str:
    return str(np.round(vector.astype(np.float64), 6).tolist()).replace(" ", "")


def bench_embedder_id() -> int:
    """The `embedders` row of the configured (hash, 384) embedder the synthetic vectors stand for."""
    from core.db import anonymous_session_sync
    from knowledge.embedders import register
    from knowledge.embedding import configured_spec

    with anonymous_session_sync() as session:
        return register(session, configured_spec())


def load(sizes: list[int], rng: np.random.Generator, basis: np.ndarray) -> list[TenantData]:
    from core.db import tenant_session_sync
    from core.models import Document, Tenant

    embedder_id = bench_embedder_id()
    tenants = []
    for number, size in enumerate(sizes):
        tenant_id, document_id = uuid.uuid4(), uuid.uuid4()
        vectors = unit_vectors(rng, basis, size)
        with tenant_session_sync(tenant_id) as session:
            session.add(Tenant(id=tenant_id, name=f"synthetic tenant {number}", settings={},
                               embedder_id=embedder_id))
            session.flush()
            session.add(
                Document(
                    id=document_id,
                    tenant_id=tenant_id,
                    title="synthetic",
                    filename="synthetic.csv",
                    source_type="csv",
                    size_bytes=0,
                    content_hash=uuid.uuid4().hex,
                    blob_key="-",
                    status="ready",
                    chunk_count=size,
                )
            )
            session.flush()
            for start in range(0, size, 2000):
                part = vectors[start : start + 2000]
                session.execute(
                    INSERT,
                    {
                        "tenant_id": tenant_id,
                        "document_id": document_id,
                        "ordinals": list(range(start, start + len(part))),
                        "embeddings": [literal(v) for v in part],
                        "embedder_id": embedder_id,
                    },
                )
        tenants.append(TenantData(tenant_id, vectors))
    return tenants


def product_query(custom_plans: bool) -> Callable[[TenantData, str], list[tuple[int, float]]]:
    """The dense half of `knowledge.retrieval.retrieve_sync` (same session, settings and SQL).

    psycopg prepares a statement after 5 executions, and PostgreSQL's generic plan then casts the
    query text to a vector once per row; `custom_plans` shows the same SQL without that effect.
    """
    from core.db import tenant_session_sync
    from knowledge.retrieval import _sql

    embedder_id = bench_embedder_id()

    def run(tenant: TenantData, query: str) -> list[tuple[int, float]]:
        with tenant_session_sync(tenant.tenant_id) as session:
            if custom_plans:
                session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
            if tenant.indexed:
                session.execute(text("SET LOCAL hnsw.ef_search = 100"))
            rows = session.execute(
                text(_sql(tenant.tenant_id, tenant.indexed, False, embedder_id=embedder_id, dimension=DIM)),
                {"q": query, "n": CANDIDATES}
            ).all()
        return [(int(r.source_ref), float(r.dense)) for r in rows]

    return run


def naive_query(iterative: bool) -> Callable[[TenantData, str], list[tuple[int, float]]]:
    from core.db import owner_engine

    def run(tenant: TenantData, query: str) -> list[tuple[int, float]]:
        with owner_engine().begin() as conn:
            conn.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))  # compare index designs only
            if iterative:
                conn.execute(text("SET LOCAL hnsw.iterative_scan = relaxed_order"))
                conn.execute(text("SET LOCAL hnsw.ef_search = 200"))
            rows = conn.execute(
                text(
                    "SELECT ordinal, 1 - (embedding <=> CAST(:q AS vector)) AS dense FROM chunks_naive "
                    "WHERE tenant_id = :t ORDER BY embedding <=> CAST(:q AS vector) LIMIT :n"
                ),
                {"q": query, "t": tenant.tenant_id, "n": CANDIDATES},
            ).all()
        return [(int(r.ordinal), float(r.dense)) for r in rows]

    return run


def measure(
    run: Callable[[TenantData, str], list[tuple[int, float]]], group: list[TenantData], queries: np.ndarray
) -> str:
    latencies, recalls, returned = [], [], []
    for tenant in group:
        for q in queries[:3]:
            run(tenant, literal(q))  # warm the cache and the plan
        exact = np.argsort(-(tenant.vectors @ queries.T), axis=0)[:TOP].T
        for q, truth in zip(queries, exact, strict=True):
            started = time.perf_counter()
            rows = run(tenant, literal(q))
            latencies.append((time.perf_counter() - started) * 1000)
            found = {ordinal for ordinal, _ in sorted(rows, key=lambda r: -r[1])[:TOP]}
            recalls.append(len(found & set(truth.tolist())) / TOP)
            returned.append(len(rows))
    p50, p95 = np.percentile(latencies, [50, 95])
    return f"{p50:5.1f}/{p95:5.1f} ms  r@5 {np.mean(recalls):.2f}  rows {np.mean(returned):4.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chunks", type=int, default=200_000)
    parser.add_argument("--tenants", type=int, default=200)
    parser.add_argument(
        "--zipf", type=float, default=1.0, help="size of tenant k is proportional to 1/k^zipf"
    )
    parser.add_argument("--min-size", type=int, default=60)
    parser.add_argument("--hnsw-threshold", type=int, help="override KEFU_TENANT_HNSW_THRESHOLD")
    parser.add_argument("--queries", type=int, default=30, help="queries per tenant (3 tenants per class)")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    extra = {"KEFU_TENANT_HNSW_THRESHOLD": str(args.hnsw_threshold)} if args.hnsw_threshold else {}

    with topology(apis=0, workers=0, embedder="hash", extra_env=extra) as topo:
        from core.db import owner_engine
        from core.settings import get_settings
        from knowledge.vector_index import ensure_tenant_index

        threshold = get_settings().tenant_hnsw_threshold
        rng = np.random.default_rng(args.seed)
        basis = rng.standard_normal((32, DIM)) / np.sqrt(32)
        sizes = zipf_sizes(args.chunks, args.tenants, args.zipf, args.min_size)
        t0 = time.perf_counter()
        tenants = load(sizes, rng, basis)
        print(
            f"{sum(sizes):,} chunks over {len(sizes)} tenants inserted in {time.perf_counter() - t0:.0f}s "
            f"(largest {sizes[0]:,}, smallest {sizes[-1]:,}; data in {topo.data_dir})",
            flush=True,
        )
        with owner_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE chunks"))
        t0 = time.perf_counter()
        for tenant in tenants:
            tenant.indexed = ensure_tenant_index(tenant.tenant_id)
        indexed = [t for t in tenants if t.indexed]
        print(
            f"{len(indexed)} tenants >= threshold {threshold:,} got a partial HNSW index "
            f"in {time.perf_counter() - t0:.0f}s",
            flush=True,
        )

        by_size = sorted(tenants, key=lambda t: len(t.vectors))
        middle = float(np.sqrt(len(by_size[0].vectors) * len(by_size[-1].vectors)))
        groups = {
            "small": by_size[:3],
            "medium": sorted(by_size, key=lambda t: abs(len(t.vectors) - middle))[:3],
            "large": indexed[:3] or by_size[-3:],
        }
        queries = unit_vectors(rng, basis, args.queries)
        for name, group in groups.items():
            print(
                f"{name:<6} tenants: sizes {[len(t.vectors) for t in group]}, partial index "
                f"{[t.indexed for t in group]}"
            )
        results: dict[str, dict[str, str]] = {}
        for label, custom in [
            ("product: retrieve_sync as is", False),
            ("product SQL, custom plans forced", True),
        ]:
            results[label] = {
                name: measure(product_query(custom), group, queries) for name, group in groups.items()
            }

        t0 = time.perf_counter()
        with owner_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("SET maintenance_work_mem = '1GB'"))
            conn.execute(
                text("CREATE TABLE chunks_naive AS SELECT tenant_id, ordinal, embedding FROM chunks")
            )
            conn.execute(text("CREATE INDEX ON chunks_naive (tenant_id)"))
            conn.execute(
                text(
                    "CREATE INDEX ON chunks_naive USING hnsw (embedding vector_cosine_ops) "
                    "WITH (m = 16, ef_construction = 64)"
                )
            )
            conn.execute(text("ANALYZE chunks_naive"))
        print(f"naive copy with one global HNSW built in {time.perf_counter() - t0:.0f}s", flush=True)
        try:
            for label, iterative in [
                ("naive: global HNSW + WHERE tenant_id", False),
                ("naive + iterative relaxed, ef 200", True),
            ]:
                results[label] = {
                    name: measure(naive_query(iterative), group, queries) for name, group in groups.items()
                }
        finally:
            with owner_engine().begin() as conn:
                conn.execute(text("DROP TABLE chunks_naive"))

        print(
            f"\n{args.queries} queries x 3 tenants per class; p50/p95 latency, recall@5 vs exact, "
            f"rows returned of {CANDIDATES}"
        )
        print(f"{'design':<44}" + "".join(f"{name:<40}" for name in groups))
        for label, row in results.items():
            print(f"{label:<44}" + "".join(f"{row[name]:<40}" for name in groups))


if __name__ == "__main__":
    main()
