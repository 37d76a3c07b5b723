"""One access line per admin-app request (method, path, status, duration), like the API's."""

from __future__ import annotations

import logging
import time

import flask

log = logging.getLogger("kefu.dash.access")
# Static files and probes would drown the requests that do something.
_QUIET_PREFIXES = ("/assets/", "/_dash-component-suites/", "/_favicon.ico", "/healthz")


def register(server: flask.Flask) -> None:
    @server.before_request
    def start_clock() -> None:
        flask.g.kefu_started = time.perf_counter()

    @server.after_request
    def write_line(response: flask.Response) -> flask.Response:
        path = flask.request.path
        started = flask.g.get("kefu_started")
        if started is not None and not path.startswith(_QUIET_PREFIXES):
            took = round((time.perf_counter() - started) * 1000, 1)
            method = flask.request.method
            log.info(
                "%s %s %s %.1f ms",
                method,
                path,
                response.status_code,
                took,
                extra={"method": method, "path": path, "status": response.status_code, "duration_ms": took},
            )
        return response
