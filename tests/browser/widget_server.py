"""A real Kefu API (uvicorn in a thread, against the test database) and a tenant's own web site.

The API runs in-process so the browser tests share the embedded test database and can check rows
directly; the tenant site is a second origin (another port) that embeds the widget with one script
tag, the way a customer's shop would.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import uvicorn


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_api(port: int) -> Iterator[str]:
    """Serve `create_app()` on 127.0.0.1:`port` until the block ends."""
    from backend.api.app import create_app

    server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="kefu-test-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test API did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def site_page(script_src: str, widget_key: str, **data: str) -> bytes:
    attrs = "".join(f' data-{name}="{value}"' for name, value in data.items())
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>A tenant site</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"></head>'
        f"<body><h1>Welcome to our shop</h1>"
        f'<script src="{script_src}" data-key="{widget_key}"{attrs} async></script></body></html>'
    ).encode()


@contextmanager
def tenant_site(pages: dict[str, bytes], headers: dict[str, dict[str, str]] | None = None) -> Iterator[int]:
    """A plain web server on its own port (its own origin) serving `pages` by path.

    `headers` adds response headers per path (a Content-Security-Policy, another Content-Type).
    """
    extra = headers if headers is not None else {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            body = pages.get(path)
            self.send_response(200 if body else 404)
            wanted = {"Content-Type": "text/html; charset=utf-8", **extra.get(path, {})}
            for name, value in wanted.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body or b"not found")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="tenant-site", daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
