"""Website sources end to end against a real site on 127.0.0.1: first sync, re-sync, removal, limits.

The crawl runs in the stub broker's worker (the real `sync_source` actor); the site changes between
two syncs. Counts of embedded passages are taken from the embedder the indexer really calls.
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from core.db import tenant_session_sync
from core.models import Chunk, Document, Source
from core.settings import get_settings
from core.versions import tenant_version_sync
from knowledge import commands, indexing
from knowledge.sources import store
from tests.support.website import Page, Website, html, sitemap, sitemap_index
from tests.unit.test_parsing import pdf_bytes

pytestmark = pytest.mark.integration

RETURNS = ("<h1>Returns policy</h1><p>You can return any item within 30 days of delivery for a full refund.</p>"
           "<h2>How to start a return</h2><p>Open your order page and press the return button, then print the "
           "prepaid label.</p>")
RETURNS_CHANGED = RETURNS.replace("30 days", "45 days")
ABOUT = ("<h1>About the shop</h1><p>Example Shop sells handmade ceramic teapots since 2009, shipped from "
         "Hangzhou.</p>")
SHIPPING_ZH = ("<h1>配送说明</h1><p>全国包邮，订单满九十九元免运费。一般三个工作日内发货，偏远地区除外。</p>"
               "<h2>国际配送</h2><p>我们也寄往香港、台湾和新加坡，运费按重量计算。</p>")
WARRANTY_ZH = "<h1>保修政策</h1><p>所有茶壶享有一年保修，人为损坏不在保修范围内。</p>"


@pytest.fixture
def crawl_settings(monkeypatch):
    monkeypatch.setenv("KEFU_CRAWL_PAGE_TIMEOUT_SECONDS", "1")
    monkeypatch.setenv("KEFU_CRAWL_MAX_PAGE_BYTES", str(64 * 1024))
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.fixture
def embedded(monkeypatch) -> list[str]:
    """Every passage text the indexer embeds (the real embedder still runs)."""
    texts: list[str] = []
    real = indexing.embedder_for

    class Counting:
        def __init__(self, inner):
            self._inner = inner

        def __getattr__(self, name):
            return getattr(self._inner, name)

        def embed_passages(self, batch):
            texts.extend(batch)
            return self._inner.embed_passages(batch)

    def counting(tenant_id):
        chosen, embedder = real(tenant_id)
        return chosen, Counting(embedder)

    monkeypatch.setattr(indexing, "embedder_for", counting)
    return texts


def shop_site(site: Website) -> None:
    links = ["/returns", "/zh/shipping", "/zh/warranty", "/old-faq", "/broken", "/slow", "/huge",
             "/private/staff", "/guide.pdf", "/logo.png", "/about", "/about-copy", "http://example.org/elsewhere"]
    site.add("/robots.txt", Page(b"User-agent: *\nDisallow: /private/\n", content_type="text/plain"))
    site.add("/", html("Example Shop", "<h1>Welcome</h1><p>Handmade teapots and cups for tea lovers.</p>",
                       links=links))
    site.add("/returns", html("Returns", RETURNS, links=["/"]))
    # GBK declared in the page only, and GBK declared in the HTTP header only.
    site.add("/zh/shipping", Page(html("配送", SHIPPING_ZH, lang="zh", charset="gbk").encode("gbk"),
                                  content_type="text/html"))
    site.add("/zh/warranty", Page(html("保修", WARRANTY_ZH, lang="zh", charset="x").encode("gbk"),
                                  content_type="text/html; charset=GBK"))
    site.add("/old-faq", Page(status=301, location="/faq", etag=False))
    site.add("/faq", html("FAQ", "<h1>FAQ</h1><p>Teapots are dishwasher safe on the top rack only.</p>"))
    site.add("/slow", Page(html("Slow", "<p>This page is far too slow.</p>").encode(), delay=3))
    site.add("/huge", html("Huge", "<p>" + "Lots of text about teapots. " * 8000 + "</p>"))
    site.add("/private/staff", html("Staff", "<p>Staff only: the safe code is 1234.</p>"))
    site.add("/guide.pdf", Page(pdf_bytes([["Care guide: rinse the teapot with hot water only."]]),
                                content_type="application/pdf"))
    site.add("/logo.png", Page(b"\x89PNG....", content_type="image/png"))
    site.add("/about", Page(html("About", ABOUT).encode(), etag=False))
    site.add("/about-copy", Page(html("About", ABOUT).encode(), etag=False))


def add_and_sync(tenant_id: uuid.UUID, drain, url: str, **options) -> Source:
    source = commands.add_website_source(tenant_id, url, **options)
    drain()
    return source_row(tenant_id, source.id)


def source_row(tenant_id: uuid.UUID, source_id: uuid.UUID) -> Source:
    with tenant_session_sync(tenant_id) as session:
        source = store.get_source(session, tenant_id, source_id)
        session.expunge(source)
        return source


def pages(tenant_id: uuid.UUID, source_id: uuid.UUID) -> dict[str, tuple[str, str | None]]:
    with tenant_session_sync(tenant_id) as session:
        rows, _ = store.list_pages(session, tenant_id, source_id, limit=500)
        return {r.url: (r.result, r.error) for r in rows}


def page_chunks(tenant_id: uuid.UUID, url: str) -> list[Chunk]:
    with tenant_session_sync(tenant_id) as session:
        rows = session.scalars(select(Chunk).join(Document, Document.id == Chunk.document_id)
                               .where(Document.url == url).order_by(Chunk.ordinal)).all()
        session.expunge_all()
        return list(rows)


def test_first_sync_indexes_the_site_and_records_every_pages_result(tenant, stub_worker, crawl_settings,
                                                                    embedded) -> None:
    with Website() as site:
        shop_site(site)
        source = add_and_sync(tenant.id, stub_worker, site.url + "/")
        found = pages(tenant.id, source.id)
        base = site.url

        assert source.status == "ready", source.error
        assert found[f"{base}/returns"] == ("indexed", None)
        assert found[f"{base}/zh/shipping"] == ("indexed", None)
        assert found[f"{base}/zh/warranty"] == ("indexed", None)
        assert found[f"{base}/faq"] == ("indexed", None)  # the redirect's target is the page
        assert f"{base}/old-faq" not in found
        assert found[f"{base}/guide.pdf"] == ("indexed", None)
        assert found[f"{base}/broken"][0] == "failed" and "404" in found[f"{base}/broken"][1]
        assert found[f"{base}/slow"][0] == "failed" and "timed out" in found[f"{base}/slow"][1]
        assert found[f"{base}/huge"][0] == "failed" and "larger than" in found[f"{base}/huge"][1]
        duplicate = found.get(f"{base}/about-copy") or found.get(f"{base}/about")
        assert duplicate[0] == "skipped" and "same content as" in duplicate[1]
        # robots.txt, skipped file types and other sites are never requested.
        assert site.fetched("/private/staff") == [] and site.fetched("/logo.png") == []
        assert f"{base}/private/staff" not in found
        assert (source.pages_indexed, source.pages_failed, source.pages_skipped) == (7, 3, 1)
        assert source.pages_seen == 11 and source.last_sync_at is not None

        returns = page_chunks(tenant.id, f"{base}/returns")
        assert returns and all(c.meta["url"] == f"{base}/returns" for c in returns)
        text = " ".join(c.text for c in returns)
        assert "30 days" in text and "prepaid label" in text
        assert "cookies" not in text and "Copyright" not in text and "Home" not in text
        assert any(c.meta.get("heading", "").endswith("How to start a return") for c in returns)
        shipping = " ".join(c.text for c in page_chunks(tenant.id, f"{base}/zh/shipping"))
        assert "全国包邮" in shipping and "新加坡" in shipping
        assert "一年保修" in " ".join(c.text for c in page_chunks(tenant.id, f"{base}/zh/warranty"))
        pdf = page_chunks(tenant.id, f"{base}/guide.pdf")
        assert "rinse the teapot" in pdf[0].text and pdf[0].meta["url"] == f"{base}/guide.pdf#page=1"
        assert embedded, "the pages were embedded"


def test_resync_embeds_only_changed_pages_and_removes_gone_ones(tenant, stub_worker, crawl_settings,
                                                               embedded) -> None:
    with Website() as site:
        shop_site(site)
        base = site.url
        source = add_and_sync(tenant.id, stub_worker, base + "/")
        about_chunks = [c.id for c in page_chunks(tenant.id, f"{base}/about")]
        version = tenant_version_sync(tenant.id)
        embedded.clear()
        site.reset_log()

        site.add("/returns", html("Returns", RETURNS_CHANGED, links=["/"]))  # changed
        site.pages["/guide.pdf"] = Page(status=404, etag=False)  # gone
        site.add("/", html("Example Shop", "<h1>Welcome</h1><p>Handmade teapots and cups for tea lovers.</p>",
                           links=["/returns", "/zh/shipping", "/zh/warranty", "/guide.pdf", "/about"]))  # faq unlinked
        commands.sync_source_now(tenant.id, source.id)
        stub_worker()
        source = source_row(tenant.id, source.id)
        found = pages(tenant.id, source.id)

        assert source.status == "ready", source.error
        assert found[f"{base}/returns"] == ("indexed", None)
        assert found[f"{base}/zh/shipping"] == ("unchanged", None)
        assert found[f"{base}/about"] == ("unchanged", None)
        assert found[f"{base}/guide.pdf"][0] == "removed" and "404" in found[f"{base}/guide.pdf"][1]
        assert found[f"{base}/faq"][0] == "removed" and "no longer linked" in found[f"{base}/faq"][1]
        assert (source.pages_indexed, source.pages_unchanged, source.pages_removed) == (1, 4, 2)  # / kept its text
        # Only the changed page was embedded; validators made the unchanged ones cost a 304.
        assert embedded and all("45 days" in t or "return" in t.lower() for t in embedded)
        assert site.fetched("/zh/shipping") == [304]
        assert [c.id for c in page_chunks(tenant.id, f"{base}/about")] == about_chunks  # same rows, not rebuilt
        assert "45 days" in " ".join(c.text for c in page_chunks(tenant.id, f"{base}/returns"))
        assert page_chunks(tenant.id, f"{base}/guide.pdf") == [] and page_chunks(tenant.id, f"{base}/faq") == []
        with tenant_session_sync(tenant.id) as session:
            returns = session.scalars(select(Document).where(Document.url == f"{base}/returns")).one()
            assert returns.version == 2 and returns.status == "ready"
        assert tenant_version_sync(tenant.id) != version


def test_a_sitemap_index_lists_the_pages_and_a_page_dropped_from_it_is_removed(tenant, stub_worker,
                                                                               crawl_settings) -> None:
    with Website() as site:
        base = site.url
        site.add("/robots.txt", Page(f"User-agent: *\nAllow: /\nSitemap: {base}/sitemap_index.xml\n".encode(),
                                     content_type="text/plain"))
        site.add("/sitemap_index.xml", sitemap_index(base, ["/sitemap-help.xml", "/sitemap-zh.xml"]))
        site.add("/sitemap-help.xml", sitemap(base, ["/help/returns", "/help/about"]))
        site.add("/sitemap-zh.xml", Page(sitemap(base, ["/zh/shipping"]).body, gzip=True,
                                         content_type="application/xml"))
        site.add("/", html("Home", "<h1>Home</h1><p>Welcome to the teapot shop, browse our help pages.</p>"))
        site.add("/help/returns", html("Returns", RETURNS))
        site.add("/help/about", html("About", ABOUT))
        site.add("/zh/shipping", html("配送", SHIPPING_ZH, lang="zh"))
        site.add("/unlisted", html("Unlisted", "<p>Not in the sitemap and not linked.</p>"))
        source = add_and_sync(tenant.id, stub_worker, base + "/")
        assert source.status == "ready", source.error
        assert {u for u, (r, _) in pages(tenant.id, source.id).items() if r == "indexed"} == {
            f"{base}/", f"{base}/help/returns", f"{base}/help/about", f"{base}/zh/shipping"}

        site.add("/sitemap-help.xml", sitemap(base, ["/help/returns"]))
        commands.sync_source_now(tenant.id, source.id)
        stub_worker()
        found = pages(tenant.id, source.id)
        assert found[f"{base}/help/about"][0] == "removed"
        assert page_chunks(tenant.id, f"{base}/help/about") == []
        assert source_row(tenant.id, source.id).pages_removed == 1


def test_an_unreachable_site_fails_the_sync_and_keeps_every_page(tenant, stub_worker, crawl_settings) -> None:
    with Website() as site:
        site.add("/", html("Home", "<h1>Home</h1><p>Teapots for every table and every tea.</p>"))
        source = add_and_sync(tenant.id, stub_worker, site.url + "/")
        assert source.status == "ready" and source.pages_indexed == 1
    # The server is gone: robots.txt cannot be read, so nothing may be crawled or removed.
    commands.sync_source_now(tenant.id, source.id)
    stub_worker()
    source = source_row(tenant.id, source.id)
    assert source.status == "failed" and "robots.txt could not be read" in source.error
    assert page_chunks(tenant.id, site.url + "/")


def test_include_exclude_patterns_and_page_cap(tenant, stub_worker, crawl_settings) -> None:
    with Website() as site:
        links = ["/help/a", "/help/b", "/help/c", "/blog/x", "/help/internal/y"]
        site.add("/", html("Home", "<h1>Home</h1><p>Links to help and blog pages.</p>", links=links))
        for path in links:
            site.add(path, html(path, f"<h1>{path}</h1><p>Page {path} has its own distinct text here.</p>"))
        source = add_and_sync(tenant.id, stub_worker, site.url + "/", include=["/help/*"],
                              exclude=["*/internal/*"], max_pages=3)
        found = pages(tenant.id, source.id)
        assert source.status == "ready", source.error
        assert site.fetched("/blog/x") == [] and site.fetched("/help/internal/y") == []
        assert len(found) == 3 and source.pages_seen == 3  # the start page and the first two help pages


def test_a_private_site_is_refused_at_crawl_time_once_the_operator_disallows_it(tenant, stub_worker,
                                                                                 monkeypatch) -> None:
    with Website() as site:
        site.add("/", html("Home", "<h1>Home</h1><p>Teapots for every table and every tea.</p>"))
        source = commands.add_website_source(tenant.id, site.url + "/")  # allowed when it was added
        monkeypatch.setenv("KEFU_CRAWL_ALLOW_PRIVATE", "false")
        get_settings.cache_clear()
        try:
            stub_worker()
        finally:
            monkeypatch.undo()
            get_settings.cache_clear()
        assert site.requests == []  # not even robots.txt was asked for
    source = source_row(tenant.id, source.id)
    assert source.status == "failed" and "private or reserved address" in source.error


def test_a_live_run_is_never_started_twice_and_an_abandoned_one_restarts(tenant, monkeypatch) -> None:
    from datetime import timedelta

    source = commands.add_website_source(tenant.id, "http://127.0.0.1:9/shop/")
    assert store.claim_run(tenant.id, source.id, source.run_id) is not None  # crawling now, heartbeat fresh
    assert store.claim_run(tenant.id, source.id, source.run_id) is None  # a re-sent message waits
    with tenant_session_sync(tenant.id) as session:
        row = session.get(Source, source.id)
        row.updated_at = row.updated_at - timedelta(seconds=get_settings().crawl_stale_after_seconds + 5)
    assert store.claim_run(tenant.id, source.id, source.run_id) is not None  # its worker died: restart
    store.requeue(tenant.id, source.id, source.run_id)  # a failed attempt hands the run to its retry
    assert source_row(tenant.id, source.id).status == "queued"
    assert store.claim_run(tenant.id, source.id, source.run_id) is not None


def test_counters_move_with_every_page_embedded(tenant, stub_worker, crawl_settings, monkeypatch) -> None:
    seen: list[int] = []
    real = store.record_pages

    def recording(tenant_id, source_id, run_id, rows, counts):
        real(tenant_id, source_id, run_id, rows, counts)
        seen.append(source_row(tenant_id, source_id).pages_indexed)

    monkeypatch.setattr(store, "record_pages", recording)
    with Website() as site:
        paths = [f"/p{n}" for n in range(5)]
        site.add("/", html("Home", "<h1>Home</h1><p>Index of the help pages of the shop.</p>", links=paths))
        for n, path in enumerate(paths):
            site.add(path, html(path, f"<h1>Page {n}</h1><p>Distinct help text number {n} for page {path}.</p>"))
        source = add_and_sync(tenant.id, stub_worker, site.url + "/")
    assert source.pages_indexed == 6
    assert seen[:6] == [1, 2, 3, 4, 5, 6]  # progress visible page by page, not at the end of a batch


def test_a_restarted_run_reuses_the_document_an_interrupted_run_left(tenant, stub_worker, crawl_settings) -> None:
    with Website() as site:
        site.add("/", html("Home", "<h1>Home</h1><p>Teapots for every table and every tea.</p>"))
        source = commands.add_website_source(tenant.id, site.url + "/")
        # An earlier attempt stored the page's document, then died before writing the page row.
        store.store_page_document(tenant.id, source.id, source.run_id, site.url + "/", "Home", b"# Home\n\nOld.",
                                  "html", None)
        stub_worker()
    source = source_row(tenant.id, source.id)
    assert source.status == "ready" and source.pages_indexed == 1, source.error
    with tenant_session_sync(tenant.id) as session:
        [document] = session.scalars(select(Document)).all()
    assert document.version == 2 and document.status == "ready"


def test_crawls_leave_a_workers_other_threads_to_uploads(tenant, other_tenant, crawl_settings, monkeypatch) -> None:
    """Two tenants' syncs and an upload on a two-thread worker: one sync at a time, the upload goes first."""
    import time

    import dramatiq

    from tests.conftest import STUB_BROKER
    from tests.factories import make_tenant, qa_csv

    monkeypatch.setattr("knowledge.tasks.SYNC_WAIT_MS", 200)
    third = make_tenant("Uploader")
    worker = dramatiq.Worker(STUB_BROKER, worker_timeout=50, worker_threads=2)
    with Website() as site:
        paths = [f"/slow/{n}" for n in range(8)]
        site.add("/", html("Home", "<h1>Home</h1><p>Index of slow help pages.</p>", links=paths))
        for n, path in enumerate(paths):
            site.add(path, Page(html(path, f"<h1>Slow {n}</h1><p>Slow page {n} text.</p>").encode(), delay=0.3))
        first = commands.add_website_source(tenant.id, site.url + "/")
        second = commands.add_website_source(other_tenant.id, site.url + "/")
        worker.start()
        try:
            deadline, both_crawling, upload_ready_while_crawling = time.monotonic() + 120, False, False
            while time.monotonic() < deadline and source_row(tenant.id, first.id).status != "crawling" \
                    and source_row(other_tenant.id, second.id).status != "crawling":
                time.sleep(0.05)
            accepted = commands.upload_document(third.id, "faq.csv", qa_csv([("1", "Open on Sunday?", "Yes.")]))
            while time.monotonic() < deadline:
                states = (source_row(tenant.id, first.id).status, source_row(other_tenant.id, second.id).status)
                both_crawling |= states == ("crawling", "crawling")
                with tenant_session_sync(third.id) as session:
                    ready = session.get(Document, accepted.document_id).status == "ready"
                upload_ready_while_crawling |= ready and "crawling" in states
                if states == ("ready", "ready"):
                    break
                time.sleep(0.05)
            STUB_BROKER.join("crawl", fail_fast=True)
            worker.join()
        finally:
            worker.stop()
            STUB_BROKER.flush_all()
    assert not both_crawling
    assert upload_ready_while_crawling
    assert source_row(tenant.id, first.id).status == source_row(other_tenant.id, second.id).status == "ready"
