"""Fetching a crawl's pages on the tenant's behalf: guarded, bounded, polite.

Every request goes through `core.outbound.guarded_client`, whose connections may only reach the
addresses checked for that host; redirects are followed here, hop by hop, each new host checked
again before anything connects to it. A page is cut off at `crawl_max_page_bytes` (compressed or
not) and `crawl_page_timeout_seconds`, and requests to one host keep at least the host delay apart.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from core.outbound import UnsafeDestinationError, decompress, guarded_client
from knowledge.sources.urls import normalise

MAX_REDIRECTS = 5


@dataclass
class Fetched:
    """One URL's answer: the final URL after redirects, status and body, or why there is none."""

    url: str
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    error: str | None = None  # a reason a person understands; set when no usable answer came

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


class Fetcher:
    """Guarded GETs with pacing per host; one client per origin, reused for keep-alive."""

    def __init__(self, *, user_agent: str, timeout: float, max_bytes: int, allow_private: bool,
                 host_delay: float, in_site: Callable[[str], bool]) -> None:
        self._user_agent, self._timeout, self._max_bytes = user_agent, timeout, max_bytes
        self._allow_private, self._in_site = allow_private, in_site
        self.host_delay = host_delay
        self._clients: dict[tuple[str, str, int | None], httpx.AsyncClient] = {}
        self._next_slot: dict[str, float] = {}
        self._client_lock = asyncio.Lock()

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()

    async def get(self, url: str, *, etag: str | None = None, last_modified: str | None = None,
                  max_bytes: int | None = None) -> Fetched:
        """GET `url`, following same-site redirects; conditional when a validator is given."""
        headers = {"User-Agent": self._user_agent, "Accept-Encoding": "gzip, deflate",
                   "Accept": "text/html,application/xhtml+xml,application/pdf,*/*;q=0.5"}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        return await self._follow(url, headers, max_bytes or self._max_bytes)

    async def _follow(self, url: str, headers: dict[str, str], limit: int) -> Fetched:
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            fetched = await self._once(current, headers, limit)
            if fetched.error is not None and current != url:  # the page is the URL asked for, not a hop
                return Fetched(url, fetched.status, fetched.headers, error=f"redirected to {current}: {fetched.error}")
            location = fetched.headers.get("location") if fetched.status in (301, 302, 303, 307, 308) else None
            if location is None:
                return fetched
            target = normalise(location, current)
            if target is None:
                return Fetched(current, fetched.status,
                               error=f"redirects to an address that cannot be crawled ({location[:200]})")
            if not self._in_site(target):
                return Fetched(current, fetched.status, error=f"redirects off the site, to {target[:200]}")
            current = target
        return Fetched(url, error=f"more than {MAX_REDIRECTS} redirects")

    async def _once(self, url: str, headers: dict[str, str], limit: int) -> Fetched:
        try:
            client = await self._client(url)
        except UnsafeDestinationError as exc:
            return Fetched(url, error=str(exc))
        await self._wait_turn(httpx.URL(url).host)  # outside the time limit: waiting is not the page's fault
        try:
            async with asyncio.timeout(self._timeout), client.stream("GET", url, headers=headers) as response:
                return await _read(url, response, limit)
        except (TimeoutError, httpx.TimeoutException):
            return Fetched(url, error=f"timed out after {self._timeout:g} s")
        except httpx.HTTPError as exc:
            return Fetched(url, error=f"could not connect ({type(exc).__name__})")

    async def _client(self, url: str) -> httpx.AsyncClient:
        parsed = httpx.URL(url)
        key = (parsed.scheme, parsed.host, parsed.port)
        async with self._client_lock:
            if key not in self._clients:
                self._clients[key] = await guarded_client(parsed, timeout=self._timeout,
                                                          allow_private=self._allow_private)
            return self._clients[key]

    async def _wait_turn(self, host: str) -> None:
        if self.host_delay <= 0:
            return
        now = time.monotonic()
        slot = max(now, self._next_slot.get(host, now))
        self._next_slot[host] = slot + self.host_delay
        if slot > now:
            await asyncio.sleep(slot - now)


async def _read(url: str, response: httpx.Response, limit: int) -> Fetched:
    headers = {k.lower(): v for k, v in response.headers.items()}
    fetched = Fetched(url, response.status_code, headers)
    if response.status_code != 200:
        return fetched
    too_large = f"larger than {limit / (1024 * 1024):.1f} MB, the page size limit".replace(".0 MB", " MB")
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        fetched.error = too_large
        return fetched
    raw = bytearray()
    async for chunk in response.aiter_raw():
        raw += chunk
        if len(raw) > limit:
            fetched.error = too_large
            return fetched
    body = decompress(bytes(raw), headers.get("content-encoding", "").strip().lower(), limit)
    if body is None:
        fetched.error = too_large + " (uncompressed), or compressed in an unsupported way"
        return fetched
    fetched.body = body
    return fetched
