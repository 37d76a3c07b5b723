"""One sync run of a website source: discover, fetch, keep what changed, drop what is gone.

1. robots.txt is read first (unreadable: the run fails and nothing changes); then the sitemap (the
   start URL itself if it is one, those robots.txt names, or /sitemap.xml). With a sitemap its
   pages are the site; without one, same-site links are followed level by level up to the depth.
2. Pages are fetched a few at a time (`crawl_concurrency`), conditionally when a validator is
   known (a 304 costs one request and nothing else). HTML is reduced to its main content; a page
   whose content hash is unchanged is not re-embedded. A changed page becomes a new version of its
   document, indexed by the same code as an upload (chunks swapped atomically, tenant version bumped).
3. Results are written as they come (the source's counters and each page's result), so progress
   is visible while the run goes on. Only a run that got to the end removes pages: those that
   answered 404/410, and those no longer reached (out of the sitemap, no longer linked).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from core.redis import sync_redis
from core.settings import get_settings
from core.versions import bump_tenant_version_sync
from knowledge import documents, indexing
from knowledge.sources import store
from knowledge.sources.extract import decode_page, extract_page
from knowledge.sources.fetch import Fetched, Fetcher
from knowledge.sources.robots import MAX_ROBOTS_BYTES, RobotsRules
from knowledge.sources.sitemaps import MAX_SITEMAP_BYTES, MAX_SITEMAPS, parse_sitemap
from knowledge.sources.store import KnownPage, SyncSuperseded
from knowledge.sources.urls import FILE_EXTENSIONS, SKIPPED_EXTENSIONS, Scope, UrlPatterns, extension, normalise

log = logging.getLogger(__name__)

_HTML_TYPES = ("text/html", "application/xhtml+xml")
_FILE_TYPES = {"application/pdf": "pdf",
               "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx"}
_GONE = (404, 410)
LOCK = "kefu:crawl:tenant:{}"
LOCK_SECONDS = 300  # refreshed with every batch written; a dead worker's lock lapses after this


class SyncFailed(Exception):
    """The run cannot go on (site unreachable, robots.txt unreadable); the message says why."""


@dataclass
class PageOutcome:
    """What one fetched URL came to; `content` set when it must be (re-)indexed."""

    url: str  # the page's address: where redirects ended
    result: str
    depth: int
    row: dict[str, Any] = field(default_factory=dict)
    requested: str = ""  # the URL fetched (a link or sitemap entry), when it redirected elsewhere
    content: bytes | None = None
    fmt: str = "html"
    title: str = ""
    links: list[str] = field(default_factory=list)
    gone_reason: str | None = None  # a known page to remove at the end (404/410, duplicate)


@contextmanager
def tenant_lock(tenant_id: uuid.UUID, run_id: uuid.UUID) -> Iterator[bool]:
    """One sync per tenant at a time, so a tenant never has more than `crawl_concurrency` requests out."""
    client, key = sync_redis(), LOCK.format(tenant_id)
    token = str(run_id)
    acquired = bool(client.set(key, token, nx=True, ex=LOCK_SECONDS))
    try:
        yield acquired
    finally:
        if acquired and client.get(key) in (token, token.encode()):
            client.delete(key)


def refresh_lock(tenant_id: uuid.UUID) -> None:
    sync_redis().expire(LOCK.format(tenant_id), LOCK_SECONDS)


HEARTBEAT_SECONDS = 30


@contextmanager
def heartbeat(tenant_id: uuid.UUID, source_id: uuid.UUID, run_id: uuid.UUID) -> Iterator[None]:
    """While a run is alive, keep its tenant lock and the source's `updated_at` fresh from a thread,
    however long one page takes to embed: the schedule re-sends only runs whose worker died."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(HEARTBEAT_SECONDS):
            try:
                refresh_lock(tenant_id)
                store.touch_running(tenant_id, source_id, run_id)
            except Exception:  # Redis or PostgreSQL away for a moment: the next beat tries again
                log.warning("sync heartbeat failed", exc_info=True)

    thread = threading.Thread(target=beat, name=f"sync-heartbeat-{source_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


@dataclass
class SyncReport:
    status: str  # "ready", "failed", "skipped"
    detail: str = ""


def run_sync(tenant_id: uuid.UUID, source_id: uuid.UUID, run_id: uuid.UUID) -> SyncReport:
    """Run one sync to its end (or its failure); a stale or superseded run does nothing."""
    source = store.claim_run(tenant_id, source_id, run_id)
    if source is None:
        return SyncReport("skipped", "deleted, superseded or already done")
    known = store.known_pages(tenant_id, source_id)
    cap = get_settings().crawl_max_pages_per_tenant
    budget = min(source.max_pages, cap - store.pages_held_elsewhere(tenant_id, source_id))
    try:
        if budget <= 0:
            raise SyncFailed(f"The tenant's other sources already hold its {cap} pages; remove one or ask the "
                             "operator to raise KEFU_CRAWL_MAX_PAGES_PER_TENANT.")
        crawl = Crawl(tenant_id, source.id, run_id, source.url, source.max_depth, budget, known,
                      UrlPatterns(list(source.include or []), list(source.exclude or [])))
        with heartbeat(tenant_id, source_id, run_id):
            asyncio.run(crawl.run())
    except SyncFailed as exc:
        store.mark_failed(tenant_id, source_id, run_id, str(exc))
        return SyncReport("failed", str(exc))
    except SyncSuperseded:
        return SyncReport("skipped", "deleted or superseded while running")
    except BaseException:
        # An unexpected failure (or the worker shutting down): Dramatiq retries the message, and the
        # retry may restart this run at once instead of waiting for it to look abandoned.
        store.requeue(tenant_id, source_id, run_id)
        raise
    return SyncReport("ready")


class Crawl:
    """The asynchronous part of a run: fetching and classifying; a recorder thread writes results."""

    def __init__(self, tenant_id: uuid.UUID, source_id: uuid.UUID, run_id: uuid.UUID, start: str, max_depth: int,
                 budget: int, known: dict[str, KnownPage], patterns: UrlPatterns) -> None:
        settings = get_settings()
        self.tenant_id, self.source_id, self.run_id = tenant_id, source_id, run_id
        self.start, self.max_depth, self.budget, self.known, self.patterns = start, max_depth, budget, known, patterns
        self.sitemap_start = extension(start) == ".xml" or start.lower().endswith(".xml.gz")
        self.scope = Scope.of(start, whole_site=self.sitemap_start)
        site = Scope.of(start, whole_site=True)
        self.fetcher = Fetcher(user_agent=settings.crawl_user_agent, timeout=settings.crawl_page_timeout_seconds,
                               max_bytes=settings.crawl_max_page_bytes, allow_private=settings.crawl_allow_private,
                               host_delay=settings.crawl_host_delay_seconds, in_site=site.contains)
        self.file_limit = max(settings.crawl_max_page_bytes, settings.max_upload_bytes)
        self.concurrency = settings.crawl_concurrency
        self.robots = RobotsRules()
        self.kept: set[str] = set()  # known pages whose document this run keeps
        self.gone: dict[str, str] = {}  # known pages to remove, with the reason
        self.hashes: dict[str, str] = {}  # content hash -> first URL with it this run
        self.visited: set[str] = set()  # URLs fetched or landed on
        self.settled: set[str] = set()  # pages with an outcome this run
        self.recorder = Recorder(tenant_id, source_id, run_id)

    async def run(self) -> None:
        recording = asyncio.create_task(self.recorder.run())
        try:
            await self._crawl()
            await self.recorder.close()
            await recording
        finally:
            if not recording.done():
                recording.cancel()
            await self.fetcher.aclose()
        unreached = {url: "no longer linked from the site or listed in its sitemap"
                     for url, page in self.known.items()
                     if page.document_id is not None and page.result != "removed" and url not in self.kept
                     and url not in self.gone}
        await asyncio.to_thread(self._remove, unreached | self.gone)

    async def _crawl(self) -> None:
        await self._read_robots()
        sitemap_pages = await self._read_sitemaps()
        if sitemap_pages:
            level = ([] if self.sitemap_start else [self.start]) + sitemap_pages
            follow = False
        elif self.sitemap_start:
            raise SyncFailed(f"{self.start} is not a readable sitemap.")
        else:
            level, follow = [self.start], self.max_depth > 0
        depth, left = 0, self.budget
        while level and left > 0:
            batch = [u for u in dict.fromkeys(level) if u not in self.visited and self._may_fetch(u)][:left]
            left -= len(batch)
            self.visited.update(batch)
            outcomes = await self._fetch_all(batch, depth)
            next_level: list[str] = []
            for outcome in outcomes:
                self.recorder.check()
                if depth == 0 and not sitemap_pages and outcome.requested == self.start \
                        and outcome.result not in ("indexed", "unchanged", "skipped"):
                    # Without its start page a run would remove every page: keep them, say why.
                    reason = outcome.gone_reason or outcome.row.get("error")
                    raise SyncFailed(f"The start page {self.start} could not be fetched: {reason}.")
                if await self._settle(outcome) and follow and depth < self.max_depth:
                    next_level.extend(outcome.links)
            level, depth = next_level, depth + 1

    def _may_fetch(self, url: str) -> bool:
        if not self.scope.contains(url) or extension(url) in SKIPPED_EXTENSIONS:
            return False
        if url != self.start and not self.patterns.allows(url):
            return False
        return self.robots.allows(url)

    async def _read_robots(self) -> None:
        parts = urlsplit(self.start)
        robots_url = f"{parts.scheme}://{parts.netloc}/robots.txt"
        fetched = await self.fetcher.get(robots_url, max_bytes=MAX_ROBOTS_BYTES)
        if fetched.error is None and fetched.status == 200:
            rules = RobotsRules.parse(fetched.body.decode("utf-8", errors="replace"), get_settings().crawl_user_agent)
            self.robots = rules
            self.fetcher.host_delay = max(self.fetcher.host_delay, rules.delay)
        elif fetched.error is not None or fetched.status >= 500 or fetched.status == 429:
            # RFC 9309: an unreachable robots.txt means "crawl nothing"; a missing one (4xx), anything.
            raise SyncFailed(f"{robots_url} could not be read ({fetched.error or f'HTTP {fetched.status}'}); "
                             "nothing was crawled and the pages indexed before are kept.")
        if not self.robots.allows(self.start):
            raise SyncFailed(f"The site's robots.txt does not allow crawling {self.start}.")

    async def _read_sitemaps(self) -> list[str]:
        parts = urlsplit(self.start)
        if self.sitemap_start:
            queue = [self.start]
        else:
            queue = list(dict.fromkeys([*self.robots.sitemaps, f"{parts.scheme}://{parts.netloc}/sitemap.xml"]))
        pages: dict[str, None] = {}
        read = 0
        while queue and read < MAX_SITEMAPS:
            url = normalise(queue.pop(0))
            if url is None:
                continue
            read += 1
            fetched = await self.fetcher.get(url, max_bytes=MAX_SITEMAP_BYTES)
            sitemap = parse_sitemap(fetched.body) if fetched.error is None and fetched.status == 200 else None
            if sitemap is None:
                continue
            queue.extend(sitemap.children)
            for loc in sitemap.pages:
                page = normalise(loc)
                if page is not None and self.scope.contains(page):
                    pages[page] = None
        return list(pages)

    async def _fetch_all(self, urls: list[str], depth: int) -> list[PageOutcome]:
        limit = asyncio.Semaphore(self.concurrency)

        async def one(url: str) -> PageOutcome:
            async with limit:
                return await self._fetch(url, depth)

        return list(await asyncio.gather(*(one(u) for u in urls)))

    async def _fetch(self, url: str, depth: int) -> PageOutcome:
        known = self.known.get(url)
        usable = known is not None and known.document_ok and known.result != "removed"
        fetched = await self.fetcher.get(
            url, etag=known.etag if usable and known else None,
            last_modified=known.last_modified if usable and known else None,
            max_bytes=self.file_limit if extension(url) in FILE_EXTENSIONS else None)
        if fetched.url != url:  # redirected: the page is known (and compared) by where it landed
            known = self.known.get(fetched.url)
            usable = known is not None and known.document_ok and known.result != "removed"
        outcome = await classify(fetched.url, depth, fetched, known if usable else None)
        outcome.requested = url
        return outcome

    async def _settle(self, outcome: PageOutcome) -> bool:
        """Decide duplicates and what known pages keep, then hand the outcome to the recorder.

        Returns False for a URL that redirected to a page this run already has."""
        url = outcome.url
        if url in self.settled:
            return False
        self.settled.add(url)
        self.visited.add(url)
        if outcome.result in ("indexed", "unchanged") and (digest := outcome.row.get("content_hash")):
            first = self.hashes.setdefault(digest, url)
            if first != url:
                outcome = _skipped(outcome, f"same content as {first}")
        known = self.known.get(url)
        had_document = known is not None and known.document_id is not None and known.result != "removed"
        if outcome.gone_reason is not None:
            self.gone[url] = outcome.gone_reason
            self.recorder.count_only(outcome)
            return True
        if had_document and outcome.result == "skipped":
            self.gone[url] = str(outcome.row.get("error"))
        elif had_document:
            self.kept.add(url)
        self.recorder.put(outcome)
        return True

    def _remove(self, pages: dict[str, str]) -> None:
        keys: list[str] = []
        for url, reason in pages.items():
            keys += store.remove_pages(self.tenant_id, self.source_id, self.run_id, [url], reason)
        store.finish_run(self.tenant_id, self.source_id, self.run_id)
        if pages:
            bump_tenant_version_sync(self.tenant_id)  # answers may quote removed pages
        for key in keys:
            documents.remove_blob(key)


def _skipped(outcome: PageOutcome, reason: str) -> PageOutcome:
    return PageOutcome(outcome.url, "skipped", outcome.depth, {**outcome.row, "result": "skipped", "error": reason},
                       links=outcome.links)


async def classify(url: str, depth: int, fetched: Fetched, known: KnownPage | None) -> PageOutcome:
    """Turn a fetch into a page outcome (extraction runs in a thread: it is CPU work)."""
    row: dict[str, Any] = {"url": fetched.url, "depth": depth, "http_status": fetched.status or None,
                           "fetched_at": store.now()}
    if fetched.error is not None:
        return PageOutcome(url, "failed", depth, row | {"result": "failed", "error": fetched.error})
    if fetched.status == 304 and known is not None:
        return PageOutcome(url, "unchanged", depth, row | {"result": "unchanged", "error": None,
                                                           "content_hash": known.content_hash}, links=known.links)
    if fetched.status in _GONE:
        reason = f"the page answered {fetched.status} ({'not found' if fetched.status == 404 else 'gone'})"
        if known is not None:
            return PageOutcome(url, "removed", depth, row, gone_reason=reason)
        return PageOutcome(url, "failed", depth, row | {"result": "failed", "error": f"broken link: {reason}"})
    if fetched.status != 200:
        return PageOutcome(url, "failed", depth, row | {"result": "failed", "error": f"the page answered HTTP "
                                                        f"{fetched.status}"})
    fmt = _format(fetched)
    if fmt is None:
        kind = fetched.content_type or "unknown type"
        return PageOutcome(url, "skipped", depth, row | {"result": "skipped", "error": f"not a web page, PDF or DOCX "
                                                         f"({kind})"})
    etags = {"etag": fetched.headers.get("etag"), "last_modified": fetched.headers.get("last-modified")}
    if fmt == "html":
        html = await asyncio.to_thread(decode_page, fetched.body, fetched.headers.get("content-type"))
        page = await asyncio.to_thread(extract_page, html, fetched.url)
        links = page.links
        if page.noindex:
            return PageOutcome(url, "skipped", depth, row | etags | {"result": "skipped", "links": links,
                               "error": "the page asks not to be indexed (robots noindex)"}, links=links)
        if not page.markdown:
            return PageOutcome(url, "skipped", depth, row | etags | {"result": "skipped", "links": links,
                               "error": "no text found on the page"}, links=links)
        title, content = page.title, page.markdown.encode("utf-8")
        digest = hashlib.sha256(title.encode("utf-8") + b"\n\n" + content).hexdigest()
    else:
        links = []
        title = urlsplit(fetched.url).path.rsplit("/", 1)[-1] or fetched.url
        content = fetched.body
        digest = hashlib.sha256(content).hexdigest()
    row |= etags | {"title": title[:1000], "links": links, "content_hash": digest, "error": None}
    if known is not None and known.content_hash == digest:
        return PageOutcome(url, "unchanged", depth, row | {"result": "unchanged"}, links=links)
    return PageOutcome(url, "indexed", depth, row | {"result": "indexed", "changed_at": store.now()},
                       content=content, fmt=fmt, title=title, links=links)


def _format(fetched: Fetched) -> str | None:
    kind, ext, body = fetched.content_type, extension(fetched.url), fetched.body
    if kind in _HTML_TYPES or (kind in ("", "text/plain") and b"<html" in body[:2048].lower()):
        return "html"
    fmt = _FILE_TYPES.get(kind) or (FILE_EXTENSIONS.get(ext) if kind in ("", "application/octet-stream") else None)
    if fmt == "pdf" and b"%PDF" in body[:1024]:
        return "pdf"
    if fmt == "docx" and body.startswith(b"PK\x03\x04"):
        return "docx"
    return None


class Recorder:
    """Writes outcomes in arrival order from one thread: documents first, then a batch of page rows."""

    BATCH = 200

    def __init__(self, tenant_id: uuid.UUID, source_id: uuid.UUID, run_id: uuid.UUID) -> None:
        self.tenant_id, self.source_id, self.run_id = tenant_id, source_id, run_id
        self._queue: asyncio.Queue[PageOutcome | None] = asyncio.Queue()
        self._failure: BaseException | None = None
        self.known_documents: dict[str, uuid.UUID | None] = {}

    def put(self, outcome: PageOutcome) -> None:
        self._queue.put_nowait(outcome)

    def count_only(self, outcome: PageOutcome) -> None:
        """A page seen but written by the removal at the end: only `pages_seen` counts it now."""
        self._queue.put_nowait(PageOutcome(outcome.url, "", outcome.depth))

    def check(self) -> None:
        if self._failure is not None:
            raise self._failure

    async def close(self) -> None:
        self._queue.put_nowait(None)

    async def run(self) -> None:
        try:
            while True:
                batch = [await self._queue.get()]
                while not self._queue.empty() and len(batch) < self.BATCH:
                    batch.append(self._queue.get_nowait())
                done = None in batch
                items = [b for b in batch if b is not None]
                if items:
                    await asyncio.to_thread(self.write, items)
                if done:
                    return
        except BaseException as exc:
            self._failure = exc
            raise

    def write(self, outcomes: list[PageOutcome]) -> None:
        """Write outcomes in order: plain results in one transaction, each indexed page in its own right
        after its embedding, so the counters move with every page embedded."""
        counts = dict.fromkeys(store.COUNTERS, 0)
        rows: list[dict[str, Any]] = []
        for outcome in outcomes:
            if outcome.content is not None:
                self._flush(rows, counts)
                counts, rows = dict.fromkeys(store.COUNTERS, 0), []
            counts["pages_seen"] += 1
            if not outcome.result:
                continue
            row = dict(outcome.row)
            if outcome.content is not None:
                row.update(self._index(outcome))
                counts[f"pages_{row.get('result', outcome.result)}"] += 1
                self._flush([row], counts)
                counts = dict.fromkeys(store.COUNTERS, 0)
                continue
            counts[f"pages_{row.get('result', outcome.result)}"] += 1
            rows.append(row)
        self._flush(rows, counts)

    def _flush(self, rows: list[dict[str, Any]], counts: dict[str, int]) -> None:
        if rows or any(counts.values()):
            store.record_pages(self.tenant_id, self.source_id, self.run_id, rows, counts)

    def _index(self, outcome: PageOutcome) -> dict[str, Any]:
        """Store the page as its document's next version and index it now, in this (crawl) worker."""
        url = str(outcome.row.get("url", outcome.url))
        current = store.page_document_id(self.tenant_id, self.source_id, url)
        document_id = store.store_page_document(self.tenant_id, self.source_id, self.run_id, url, outcome.title,
                                                outcome.content or b"", outcome.fmt, current)
        result = indexing.ingest(self.tenant_id, document_id)
        if result.status == "failed":
            return {"document_id": document_id, "result": "failed", "error": result.detail,
                    "content_hash": None}
        return {"document_id": document_id}

