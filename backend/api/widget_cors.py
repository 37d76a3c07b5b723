"""Cross-origin access for the widget routes, so the script on a tenant's site can call the API.

The browser's preflight carries no widget key, so it cannot be checked against the key's allowed
origins; it is answered for any origin. The real request is then checked by `resolve_widget`
(403 for a site that is not allowed) and its response names the caller's origin, so the widget can
read the refusal and show it. No credentials (cookies) are ever allowed, so reflecting the origin
grants nothing a plain HTTP client does not already have. Admin routes get no CORS headers.
"""

from __future__ import annotations

from litestar.types import ASGIApp, Message, Receive, Scope, Send

WIDGET_PATHS = ("/api/v1/chat", "/api/v1/widget")
_PREFLIGHT_HEADERS = [
    (b"access-control-allow-methods", b"GET, POST, OPTIONS"),
    (b"access-control-allow-headers", b"content-type, x-widget-key, x-kefu-user-id, x-kefu-user-hash, idempotency-key"),
    (b"access-control-max-age", b"600"),
]


def _origin(scope: Scope) -> bytes | None:
    for name, value in scope.get("headers", ()):
        if name == b"origin":
            return bytes(value)
    return None


def widget_cors(app: ASGIApp) -> ASGIApp:
    """ASGI middleware: preflight answers and response headers for the widget's routes only."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        origin = _origin(scope) if scope["type"] == "http" else None
        if origin is None or not str(scope.get("path", "")).startswith(WIDGET_PATHS):
            await app(scope, receive, send)
            return
        cors = [(b"access-control-allow-origin", origin), (b"vary", b"Origin")]
        if scope.get("method") == "OPTIONS":
            await send({"type": "http.response.start", "status": 204, "headers": cors + _PREFLIGHT_HEADERS})
            await send({"type": "http.response.body", "body": b""})
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", ()) if h[0].lower() != b"access-control-allow-origin"]
                message = {**message, "headers": [*headers, *cors, (b"access-control-expose-headers", b"Retry-After")]}
            await send(message)

        await app(scope, receive, send_with_cors)

    return middleware
