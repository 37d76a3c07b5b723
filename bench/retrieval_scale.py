"""Retrieval at scale through the product's real hybrid query, beside the naive designs.

Generates chunks with low-rank 384-dim vectors and text drawn from a shared Zipf vocabulary (so
the lexical half has real work: common and rare terms, tenants sharing words), over tenants of
Zipf-skewed sizes, inserted with the product's own tsvector. Tenants past
KEFU_TENANT_LEXICAL_INDEX_THRESHOLD get their partial GIN, past KEFU_TENANT_HNSW_THRESHOLD their
partial HNSW index too, through `knowledge.vector_index` (what the maintenance actor does in
production). Then, for small / medium / large tenants:

- product: `knowledge.retrieval.retrieve_sync` itself (dense + lexical candidates, IDF-weighted
  fusion), with each query's vector placed in its query-vector cache so no embedder runs; first
  the large tenants cold (the server was just started, nothing warmed), then every class after
  `knowledge.vector_index.warm_after_restart` (what every `kefu worker` runs once per PostgreSQL
  start; `--no-warm` skips it);
- recall@5 of the product against the exact hybrid ranking (the same SQL and fusion with the
  dense half forced to an exact scan), so only the index approximation is measured;
- naive beside it in the same run: one global HNSW over a copy of the table with a plain
  `WHERE tenant_id` (dense only), with and without iterative scan (ef_search 200).

    python bench/retrieval_scale.py                                   # 1,000,000 chunks, 1,000 tenants
    python bench/retrieval_scale.py --chunks 100000 --tenants 200 --hnsw-threshold 5000
    python bench/retrieval_scale.py --skip-naive                      # product only (no global index build)
    python bench/retrieval_scale.py --data-dir /tmp/scale-1m --load-only   # load once (~40 min at 1M) …
    python bench/retrieval_scale.py --data-dir /tmp/scale-1m               # … then measure as often as needed
    python bench/retrieval_scale.py --largest 10 --skip-naive         # the 1M set's 10 largest tenants only
"""

from __future__ import annotations

import argparse
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from filtered_search import TenantData, bench_embedder_id, literal, naive_query, unit_vectors, zipf_sizes
from harness import BENCH_REDIS, topology
from sqlalchemy import text

TOP, VOCABULARY = 5, 4000
INSERT = text("""
    INSERT INTO chunks (tenant_id, document_id, ordinal, text, source_ref, embedding, lexical, embedder_id)
    SELECT :tenant_id, :document_id, o, t, o::text, e::vector, l::tsvector, :embedder_id
    FROM unnest(CAST(:ordinals AS int[]), CAST(:texts AS text[]), CAST(:embeddings AS text[]),
                CAST(:lexicals AS text[])) AS u(o, t, e, l)
""")


@dataclass
class Corpus:
    words: list[str]
    weights: np.ndarray

    @classmethod
    def make(cls, rng: np.random.Generator) -> Corpus:
        letters = np.array(list("bcdfghjklmnprstvz"))
        vowels = np.array(list("aeiou"))
        words = sorted({"".join(rng.choice(letters) + rng.choice(vowels) for _ in range(3)) for _ in range(VOCABULARY)})
        # Content words after stopword removal (what the product indexes): Zipf from rank 50 on,
        # so the commonest synthetic word is in ~5% of chunks, not in nearly all of them.
        weights = 1.0 / (np.arange(1, len(words) + 1) + 50)
        return cls(words, weights / weights.sum())

    def texts(self, rng: np.random.Generator, n: int, length: int = 12) -> list[str]:
        picks = rng.choice(len(self.words), size=(n, length), p=self.weights)
        return [" ".join(self.words[i] for i in row) for row in picks]


@dataclass
class Tenant(TenantData):
    texts: list[str] | None = None


def loaded_tenants() -> dict[str, uuid.UUID]:
    """Synthetic tenants already in the database (a kept --data-dir), by name."""
    from core.db import owner_engine

    with owner_engine().connect() as conn:
        rows = conn.execute(text("SELECT name, id FROM tenants WHERE name LIKE 'synthetic tenant %'")).all()
    return {name: tenant_id for name, tenant_id in rows}


def load(sizes: list[int], rng: np.random.Generator, basis: np.ndarray, corpus: Corpus,
         existing: dict[str, uuid.UUID]) -> list[Tenant]:
    """Insert the tenants, or only regenerate their data (same seed, same draws) when `existing`."""
    from core.db import tenant_session_sync
    from core.models import Document
    from core.models import Tenant as TenantRow
    from knowledge.lexical import tsvector_literal

    tenants = []
    embedder_id = bench_embedder_id()
    for number, size in enumerate(sizes):
        tenant_id, document_id = uuid.uuid4(), uuid.uuid4()
        vectors, texts = unit_vectors(rng, basis, size), corpus.texts(rng, size)
        if existing:
            tenants.append(Tenant(existing[f"synthetic tenant {number}"], vectors, texts=texts))
            continue
        with tenant_session_sync(tenant_id) as session:
            session.add(TenantRow(id=tenant_id, name=f"synthetic tenant {number}", settings={},
                                  embedder_id=embedder_id))
            session.flush()
            session.add(Document(id=document_id, tenant_id=tenant_id, title="synthetic", filename="synthetic.csv",
                                 source_type="csv", size_bytes=0, content_hash=uuid.uuid4().hex, blob_key="-",
                                 status="ready", chunk_count=size))
            session.flush()
            for start in range(0, size, 2000):
                part = slice(start, min(start + 2000, size))
                session.execute(INSERT, {
                    "tenant_id": tenant_id, "document_id": document_id,
                    "ordinals": list(range(part.start, part.stop)), "texts": texts[part],
                    "embeddings": [literal(v) for v in vectors[part]], "embedder_id": embedder_id,
                    "lexicals": [tsvector_literal(t) for t in texts[part]]})
        tenants.append(Tenant(tenant_id, vectors, texts=texts))
        if number % 100 == 99:
            print(f"  {number + 1} tenants loaded", flush=True)
    return tenants


def queries_for(tenant: Tenant, rng: np.random.Generator, n: int) -> list[tuple[str, np.ndarray]]:
    """Paraphrase-like queries: a chunk's vector plus noise, and three of its words plus a random one."""
    out = []
    for row in rng.choice(len(tenant.vectors), size=n, replace=len(tenant.vectors) < n):
        vector = tenant.vectors[row] + 0.6 * rng.standard_normal(tenant.vectors.shape[1]).astype(np.float32) / 20
        words = tenant.texts[row].split()
        query = " ".join([*rng.choice(words, 3, replace=False), words[0][::-1]])
        out.append((query, (vector / np.linalg.norm(vector)).astype(np.float32)))
    return out


def hybrid(tenant: Tenant, query: str, vector: np.ndarray, *, exact: bool) -> list[str]:
    """Top-5 source refs: the product (`retrieve_sync`) or its exact-dense twin."""
    from knowledge import retrieval, vector_index
    from knowledge.embedding import configured_spec

    # Placed in the product's own query-vector cache: retrieve_sync then embeds nothing.
    retrieval.query_vectors._items[(configured_spec(), query)] = vector
    if exact:
        vector_index.remember(tenant.tenant_id, False)  # the exact `+ 0` scan over the tenant's rows
    try:
        hits = retrieval.retrieve_sync(tenant.tenant_id, query, TOP)
    finally:
        vector_index.remember(tenant.tenant_id, tenant.indexed)
    return [hit.source_ref for hit in hits]


def measure_product(group: list[Tenant], rng: np.random.Generator, n: int) -> str:
    latencies, recalls = [], []
    for tenant in group:
        queries = queries_for(tenant, rng, n)
        for query, vector in queries[:3]:
            hybrid(tenant, query, vector, exact=False)  # warm cache and plans
        for query, vector in queries:
            started = time.perf_counter()
            found = hybrid(tenant, query, vector, exact=False)
            latencies.append((time.perf_counter() - started) * 1000)
            truth = hybrid(tenant, query, vector, exact=True)
            recalls.append(len(set(found) & set(truth)) / max(len(truth), 1))
    p50, p95 = np.percentile(latencies, [50, 95])
    return f"{p50:5.1f}/{p95:5.1f} ms  r@5 {np.mean(recalls):.3f}"


def measure_cold(group: list[Tenant], rng: np.random.Generator, n: int) -> str:
    """Latency only (the exact twin would read the tenant's rows and warm them): first searches."""
    latencies = []
    for tenant in group:
        for query, vector in queries_for(tenant, rng, n):
            started = time.perf_counter()
            hybrid(tenant, query, vector, exact=False)
            latencies.append((time.perf_counter() - started) * 1000)
    p50, p95 = np.percentile(latencies, [50, 95])
    return f"{p50:5.1f}/{p95:5.1f} ms"


def measure_naive(run, group: list[Tenant], rng: np.random.Generator, n: int) -> str:
    latencies, recalls, returned = [], [], []
    for tenant in group:
        vectors = np.stack([v for _, v in queries_for(tenant, rng, n)])
        exact = np.argsort(-(tenant.vectors @ vectors.T), axis=0)[:TOP].T
        for vector, truth in zip(vectors, exact, strict=True):
            started = time.perf_counter()
            rows = run(tenant, literal(vector))
            latencies.append((time.perf_counter() - started) * 1000)
            found = {ordinal for ordinal, _ in sorted(rows, key=lambda r: -r[1])[:TOP]}
            recalls.append(len(found & set(truth.tolist())) / TOP)
            returned.append(len(rows))
    p50, p95 = np.percentile(latencies, [50, 95])
    return f"{p50:5.1f}/{p95:5.1f} ms  r@5 {np.mean(recalls):.3f}  rows {np.mean(returned):4.1f} (dense only)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=1_000_000)
    parser.add_argument("--tenants", type=int, default=1_000)
    parser.add_argument("--zipf", type=float, default=1.0, help="size of tenant k is proportional to 1/k^zipf")
    parser.add_argument("--min-size", type=int, default=60)
    parser.add_argument("--hnsw-threshold", type=int, help="override KEFU_TENANT_HNSW_THRESHOLD")
    parser.add_argument("--queries", type=int, default=30, help="queries per tenant (3 tenants per class)")
    parser.add_argument("--skip-naive", action="store_true", help="skip the global-HNSW comparison")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--largest", type=int,
                        help="load only the N largest tenants of the --chunks/--tenants sizes (the same rows those "
                             "tenants get in the full set: the large-tenant figures at a fraction of the load time)")
    parser.add_argument("--data-dir", type=Path,
                        help="keep the database here; a later run with the same sizes and seed reuses the loaded "
                             "data (migrations and tenant indexes are brought up to date, nothing re-inserted)")
    parser.add_argument("--load-only", action="store_true", help="stop after loading and indexing")
    parser.add_argument("--redis-url", default=BENCH_REDIS, help="the Redis database this run holds")
    parser.add_argument("--no-warm", action="store_true",
                        help="measure without the warm-up every worker runs after PostgreSQL starts")
    args = parser.parse_args()
    extra = {"KEFU_TENANT_HNSW_THRESHOLD": str(args.hnsw_threshold)} if args.hnsw_threshold else {}

    with topology(apis=0, workers=0, embedder="hash", extra_env=extra, data_dir=args.data_dir,
                  redis_url=args.redis_url) as topo:
        from core.db import owner_engine
        from core.settings import get_settings
        from knowledge.vector_index import ensure_tenant_index, index_threshold

        threshold = get_settings().tenant_hnsw_threshold
        rng = np.random.default_rng(args.seed)
        basis = rng.standard_normal((32, 384)) / np.sqrt(32)
        sizes = zipf_sizes(args.chunks, args.tenants, args.zipf, args.min_size)[:args.largest]
        started = time.perf_counter()
        existing = loaded_tenants()
        if existing and len(existing) != len(sizes):
            raise SystemExit(f"{topo.data_dir} holds {len(existing)} synthetic tenants, not {len(sizes)}")
        tenants = load(sizes, rng, basis, Corpus.make(rng), existing)
        print(f"{sum(sizes):,} chunks over {len(sizes)} tenants (largest {sizes[0]:,}, smallest {sizes[-1]:,}) "
              f"{'regenerated (kept data)' if existing else 'loaded'} in {time.perf_counter() - started:.0f}s; "
              f"data in {topo.data_dir}", flush=True)
        started = time.perf_counter()
        for tenant, size in zip(tenants, sizes, strict=True):
            if size >= index_threshold():
                tenant.indexed = ensure_tenant_index(tenant.tenant_id)
        print(f"partial GIN for {sum(s >= index_threshold() for s in sizes)} tenants ≥ {index_threshold():,} chunks, "
              f"partial HNSW for {sum(t.indexed for t in tenants)} tenants ≥ {threshold:,} chunks in "
              f"{time.perf_counter() - started:.0f}s", flush=True)
        with owner_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE chunks"))
        if args.load_only:
            if not args.skip_naive:
                print(f"naive table and global HNSW ready in {build_naive():.0f}s", flush=True)
            return

        middle = len(tenants) // 2
        groups = {"large": tenants[:3], "medium": tenants[middle - 1:middle + 2], "small": tenants[-3:]}
        cold = measure_cold(groups["large"], rng, args.queries)
        print(f"\nproduct, large tenants, cold (server just started): {cold}", flush=True)
        if not args.no_warm:
            from knowledge.vector_index import warm_after_restart

            started = time.perf_counter()
            warmed = warm_after_restart()
            print(f"warmed {len(warmed)} tenants' partial HNSW indexes and rows in "
                  f"{time.perf_counter() - started:.1f}s (what each worker does once per PostgreSQL start)", flush=True)
        print("\nproduct (retrieve_sync, hybrid), p50/p95 and recall@5 vs exact hybrid:")
        for name, group in groups.items():
            sizes_text = ", ".join(f"{len(t.vectors):,}{'*' if t.indexed else ''}" for t in group)
            print(f"  {name:6s} ({sizes_text}): {measure_product(group, rng, args.queries)}", flush=True)
        print("  (* = tenant has its partial HNSW index)")
        if args.skip_naive:
            return
        print(f"\nnaive: one global HNSW + WHERE tenant_id (built in {build_naive():.0f}s), "
              "recall@5 vs exact dense:")
        for iterative in (False, True):
            label = "iterative relaxed, ef 200" if iterative else "plain"
            for name, group in groups.items():
                print(f"  {label:26s} {name:6s}: {measure_naive(naive_query(iterative), group, rng, args.queries)}",
                      flush=True)
        if args.data_dir is None:
            with owner_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("DROP TABLE chunks_naive"))


def build_naive() -> float:
    """A copy of the table with one global HNSW (kept with --data-dir); seconds it took (0 if kept)."""
    from core.db import owner_engine

    started = time.perf_counter()
    with owner_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if conn.scalar(text("SELECT to_regclass('chunks_naive') IS NOT NULL")):
            return 0.0
        conn.execute(text("SET maintenance_work_mem = '2GB'"))
        conn.execute(text("CREATE TABLE chunks_naive AS SELECT tenant_id, ordinal, embedding FROM chunks"))
        conn.execute(text("CREATE INDEX ON chunks_naive USING hnsw (embedding vector_cosine_ops)"))
        conn.execute(text("ANALYZE chunks_naive"))
    return time.perf_counter() - started

if __name__ == "__main__":
    main()
