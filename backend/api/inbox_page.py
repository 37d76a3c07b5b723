"""The agent inbox page, served by the API itself.

Why here and not in the Dash admin app: the page lives on a WebSocket (Dash runs on a WSGI
server, which cannot hold one), it must reach the same origin as the API it calls (no CORS, the
login token never crosses origins), and agents need nothing else of the admin app. Three static
files from widget/inbox/, with a strict Content-Security-Policy (the page builds every node with
textContent, so customer text can never become markup).
"""

from __future__ import annotations

from pathlib import Path

from litestar import Response, get
from litestar.params import FromPath

from core.errors import NotFound

PAGE_DIR = Path(__file__).resolve().parents[2] / "widget" / "inbox"
FILES = {
    "inbox.html": "text/html; charset=utf-8",
    "inbox.js": "text/javascript; charset=utf-8",
    "inbox.css": "text/css; charset=utf-8",
}
HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
}


def _file(name: str) -> Response[bytes]:
    path = PAGE_DIR / name
    if name not in FILES or not path.is_file():
        raise NotFound("The agent inbox page is not installed (widget/inbox/ is missing).")
    return Response(path.read_bytes(), media_type=FILES[name], headers=HEADERS)


@get("/inbox", summary="The agent inbox page", include_in_schema=False, sync_to_thread=False)
def inbox_page() -> Response[bytes]:
    return _file("inbox.html")


@get("/inbox/{name:str}", summary="The inbox page's script and style", include_in_schema=False, sync_to_thread=False)
def inbox_asset(name: FromPath[str]) -> Response[bytes]:
    return _file(name)
