"""A real website on 127.0.0.1 for crawl tests and benches: pages can change between two syncs.

`Website` serves a dict of `Page`s from a threaded HTTP server. Pages with `etag=True` answer a
matching `If-None-Match` with 304, like a CDN; `delay` makes a slow page; `status`/`location` make
redirects and broken links. Every request is logged (path, status) so tests can see what was fetched.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Page:
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    location: str | None = None
    delay: float = 0.0
    etag: bool = True
    headers: dict[str, str] = field(default_factory=dict)
    gzip: bool = False


def html(title: str, body: str, *, links: list[str] = (), lang: str = "en", charset: str = "utf-8",
         extra_head: str = "") -> str:
    """A page with navigation, a cookie banner and a footer around the main content (boilerplate to drop)."""
    nav = "".join(f'<li><a href="{href}">{href}</a></li>' for href in links)
    return (f'<!doctype html><html lang="{lang}"><head><meta charset="{charset}"><title>{title}</title>'
            f'{extra_head}</head><body>'
            f'<header><nav class="menu"><ul><li><a href="/">Home</a></li>{nav}</ul></nav></header>'
            f'<div id="cookie-banner" class="cookie-consent">We use cookies to improve your experience. '
            f'<button>Accept all cookies</button></div>'
            f'<main><article>{body}</article></main>'
            f'<footer><p>Copyright 2026 Example Shop Ltd. All rights reserved. Terms of service.</p></footer>'
            f'</body></html>')


class Website:
    def __init__(self) -> None:
        self.pages: dict[str, Page] = {}
        self.requests: list[tuple[str, int]] = []
        self._lock = threading.Lock()
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                site._serve(self)

            def log_message(self, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: object, client_address: object) -> None:
                pass  # a client that gave up on a slow page resets the connection: expected here

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Website:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def add(self, path: str, page: Page | str) -> None:
        self.pages[path] = Page(page.encode("utf-8")) if isinstance(page, str) else page

    def fetched(self, path: str) -> list[int]:
        """Statuses this path was answered with, in order."""
        with self._lock:
            return [status for p, status in self.requests if p == path]

    def reset_log(self) -> None:
        with self._lock:
            self.requests.clear()

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        path = handler.path
        page = self.pages.get(path) or self.pages.get(path.split("?", 1)[0])
        if page is None:
            page = Page(b"<html><body><h1>Not found</h1></body></html>", status=404, etag=False)
        if page.delay:
            time.sleep(page.delay)
        status, headers, body = page.status, {"Content-Type": page.content_type, **page.headers}, page.body
        if page.location:
            headers["Location"] = page.location
        if page.etag and status == 200:
            tag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            headers["ETag"] = tag
            if handler.headers.get("If-None-Match") == tag:
                status, body = 304, b""
        if page.gzip and status == 200:
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        with self._lock:
            self.requests.append((path, status))
        try:
            handler.send_response(status)
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            if body:
                handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass


def sitemap(base: str, paths: list[str]) -> Page:
    entries = "".join(f"<url><loc>{base}{p}</loc></url>" for p in paths)
    return Page(f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                f'{entries}</urlset>'.encode(), content_type="application/xml")


def sitemap_index(base: str, paths: list[str]) -> Page:
    entries = "".join(f"<sitemap><loc>{base}{p}</loc></sitemap>" for p in paths)
    return Page(f'<?xml version="1.0" encoding="UTF-8"?><sitemapindex '
                f'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</sitemapindex>'.encode(),
                content_type="application/xml")
