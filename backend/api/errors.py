"""One place that turns errors into RFC 9457 problem responses; never leaks a stack trace."""

from __future__ import annotations

import logging

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from sqlalchemy.exc import DataError, IntegrityError, OperationalError

from core.errors import KefuError, RateLimited

log = logging.getLogger(__name__)
PROBLEM = "application/problem+json"


def problem(status: int, title: str, detail: str, headers: dict[str, str] | None = None,
            **extra: object) -> Response[dict[str, object]]:
    body: dict[str, object] = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    body.update(extra)
    return Response(body, status_code=status, media_type=PROBLEM, headers=headers)


def kefu_error(request: Request, exc: KefuError) -> Response[dict[str, object]]:
    headers = rate_limit_headers(exc) if isinstance(exc, RateLimited) else None
    return problem(exc.status_code, exc.title, exc.detail, headers)


def rate_limit_headers(exc: RateLimited) -> dict[str, str]:
    """`Retry-After`, and the limit that was hit as `RateLimit-Policy` + `RateLimit` (IETF httpapi draft)."""
    headers = {"Retry-After": str(exc.retry_after)}
    if exc.policy is not None:
        name = exc.policy.name
        headers["RateLimit-Policy"] = f'"{name}";q={exc.policy.quota};w={exc.policy.window}'
        headers["RateLimit"] = f'"{name}";r=0;t={exc.retry_after}'
    return headers


def validation_error(request: Request, exc: ValidationException) -> Response[dict[str, object]]:
    return problem(400, "Invalid request", str(exc.detail), errors=exc.extra or [])


def http_error(request: Request, exc: HTTPException) -> Response[dict[str, object]]:
    return problem(exc.status_code, exc.__class__.__name__.replace("Exception", "") or "Error",
                   str(exc.detail), exc.headers)


def integrity_error(request: Request, exc: IntegrityError) -> Response[dict[str, object]]:
    log.warning("integrity error: %s", exc.orig)
    return problem(409, "Conflict", "The request conflicts with a concurrent change; retry it.")


def data_error(request: Request, exc: DataError) -> Response[dict[str, object]]:
    # A value the database cannot hold (out of range, or text with NUL) is the caller's to fix;
    # the transaction has rolled back, so nothing was half-stored.
    log.warning("data error: %s", exc.orig)
    return problem(422, "Invalid input", "A value is out of range or contains a character that cannot be stored "
                   "(such as NUL, \\u0000); check the input.")


def database_down(request: Request, exc: OperationalError) -> Response[dict[str, object]]:
    log.error("database unavailable: %s", exc.orig)
    return problem(503, "Service unavailable", "The database is unreachable; retry shortly.",
                   {"Retry-After": "5"})


def undecodable_text(request: Request, exc: UnicodeDecodeError) -> Response[dict[str, object]]:
    # JSON bodies are checked before they are read (request_limits); a multipart form's text fields
    # are decoded by Litestar while it reads them, so bytes that are not UTF-8 surface here.
    log.warning("undecodable request text on %s %s: %s", request.method, request.url.path, exc)
    return problem(400, "Invalid encoding", f"A text field of the request is not valid UTF-8 (byte {exc.start}); "
                   "send form fields and JSON encoded as UTF-8.")


def unexpected(request: Request, exc: Exception) -> Response[dict[str, object]]:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem(HTTP_500_INTERNAL_SERVER_ERROR, "Internal error", "Something went wrong on our side.")


EXCEPTION_HANDLERS = {
    KefuError: kefu_error,
    ValidationException: validation_error,
    HTTPException: http_error,
    IntegrityError: integrity_error,
    DataError: data_error,
    OperationalError: database_down,
    UnicodeDecodeError: undecodable_text,
    Exception: unexpected,
}
