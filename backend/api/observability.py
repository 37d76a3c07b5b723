"""Request ids in logs and responses, Prometheus request metrics, and the `/metrics` endpoint."""

from __future__ import annotations

import logging
import re
import time
import uuid

from litestar import Controller, Response, get
from litestar.datastructures import MutableScopeHeaders
from litestar.plugins.prometheus import PrometheusConfig
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from core import metrics
from core.broker import QUEUES
from core.logging import reset_log_context

log = logging.getLogger("kefu.access")
_QUIET = frozenset({"/health", "/ready", "/metrics"})  # probes and scrapes would drown the log
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

# Latency by route template (`/api/v1/documents/{document_id}`), never by raw path.
prometheus = PrometheusConfig(app_name="kefu", prefix="kefu", group_path=True, exclude=["/metrics"],
                              buckets=[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30])


def request_context_middleware(app: ASGIApp) -> ASGIApp:
    """Give every request an id (the caller's `X-Request-ID` when sane), echo it back, and write one
    access line per request carrying it and whatever the handler bound (tenant, conversation)."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await app(scope, receive, send)
            return
        given = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), "")
        request_id = given if _SAFE_ID.match(given) else uuid.uuid4().hex
        reset_log_context(request_id=request_id)
        started = time.perf_counter()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableScopeHeaders.from_message(message)["X-Request-ID"] = request_id
            await send(message)

        try:
            await app(scope, receive, send_with_id)
        finally:
            if scope["path"] not in _QUIET:
                method, took = scope.get("method", "WS"), round((time.perf_counter() - started) * 1000, 1)
                log.info("%s %s %s %.1f ms", method, scope["path"], status or "-", took,
                         extra={"method": method, "path": scope["path"], "status": status or None, "duration_ms": took})

    return middleware


class MetricsController(Controller):
    include_in_schema = False

    @get("/metrics", summary="Prometheus metrics of this API process (and queue depths)", sync_to_thread=False)
    def metrics(self) -> Response[bytes]:
        body, content_type = metrics.render(queues=QUEUES)
        return Response(body, media_type=content_type)
