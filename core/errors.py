"""The one exception family of Kefu.

Services raise these; the API maps them to RFC 9457 problem responses in one place
(`backend.api.errors`), workers record their message on the affected row.
"""

from __future__ import annotations

from dataclasses import dataclass


class KefuError(Exception):
    """Base class: a failure with a message a person can act on."""

    status_code = 400
    title = "Bad request"

    def __init__(self, detail: str, *, extra: dict[str, object] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra or {}


class ValidationFailed(KefuError):
    """Input is well-formed but not acceptable (HTTP 422)."""

    status_code = 422
    title = "Invalid input"


class EmptyUpload(ValidationFailed):
    """An uploaded file has no content."""


class UnsupportedFormat(KefuError):
    """A file type Kefu cannot read (HTTP 415)."""

    status_code = 415
    title = "Unsupported media type"


class PayloadTooLarge(KefuError):
    """A body, file or decompressed archive is over its limit (HTTP 413)."""

    status_code = 413
    title = "Payload too large"


class DocumentParseError(KefuError):
    """A document could not be turned into text; the message is stored on the document."""

    status_code = 422
    title = "Document could not be read"


class NotAuthenticated(KefuError):
    """Missing, malformed, expired or revoked credentials (HTTP 401)."""

    status_code = 401
    title = "Not authenticated"


class PermissionDenied(KefuError):
    """Authenticated, but the role does not allow this (HTTP 403)."""

    status_code = 403
    title = "Forbidden"


class NotFound(KefuError):
    """No such object in the caller's tenant (HTTP 404); other tenants' objects look the same."""

    status_code = 404
    title = "Not found"


class Conflict(KefuError):
    """The request clashes with existing state (HTTP 409)."""

    status_code = 409
    title = "Conflict"


@dataclass(frozen=True)
class LimitPolicy:
    """The limit that refused a request: `quota` requests per `window` seconds, by `name`.

    The API states it in the `RateLimit-Policy` and `RateLimit` headers (IETF httpapi draft) so
    clients can pace themselves rather than just wait for `Retry-After`.
    """

    name: str
    quota: int
    window: int


class RateLimited(KefuError):
    """Too many requests (HTTP 429); `retry_after` seconds until the next is allowed."""

    status_code = 429
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after: int, policy: LimitPolicy | None = None) -> None:
        super().__init__(detail, extra={"retry_after": retry_after})
        self.retry_after = retry_after
        self.policy = policy


class ServiceUnavailable(KefuError):
    """A dependency (database, Redis, model provider) cannot be reached (HTTP 503)."""

    status_code = 503
    title = "Service unavailable"
