"""The `notify` queue: POST one webhook delivery, send one email; retried with backoff, then failed.

Each job takes a row id and claims the row (`pending` → `sending`) before any I/O, so a job sent
twice (a redelivery, the lost-job sweep) never delivers twice; a claim left by a worker that died
expires after the send timeout. Every POST is recorded as an attempt. Dramatiq's Retries
middleware waits between tries (`KEFU_NOTIFY_*` settings, sent with each message); when the last
try fails, the `…_gave_up` actor marks the row failed. A webhook URL the SSRF guard refuses fails
at once: retrying cannot make it allowed.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import dramatiq
import httpx
from sqlalchemy import or_, update

import core.broker  # noqa: F401 - installs Kefu's broker before the actors register
from chat import mail
from chat.webhooks import sign
from core.db import tenant_session, tenant_session_sync
from core.identity import unseal
from core.models import NotificationEmail, Webhook, WebhookAttempt, WebhookDelivery
from core.outbound import UnsafeDestinationError, guarded_client
from core.settings import get_settings

log = logging.getLogger(__name__)
USER_AGENT = "Kefu-Webhooks/1.0"


class DeliveryFailed(Exception):
    """The receiver did not answer 2xx in time; the job is retried."""


def retry_options() -> dict[str, Any]:
    settings = get_settings()
    return {
        "max_retries": settings.notify_max_retries,
        "min_backoff": settings.notify_min_backoff_ms,
        "max_backoff": settings.notify_max_backoff_ms,
    }


def send_delivery(tenant_id: uuid.UUID | str, delivery_id: uuid.UUID | str) -> None:
    """Queue the POST of a stored delivery (with the configured retries)."""
    deliver_webhook.send_with_options(args=(str(tenant_id), str(delivery_id)), **retry_options())


def send_email_job(tenant_id: uuid.UUID | str, email_id: uuid.UUID | str) -> None:
    send_email.send_with_options(args=(str(tenant_id), str(email_id)), **retry_options())


def _claim_expired(now: datetime, seconds: float) -> Any:
    return now - timedelta(seconds=seconds * 2 + 30)


@dramatiq.actor(queue_name="notify", on_retry_exhausted="webhook_gave_up", time_limit=120_000)
async def deliver_webhook(tenant_id: str, delivery_id: str) -> None:
    """POST a delivery's stored body, signed; 2xx = delivered, anything else raises to be retried."""
    settings = get_settings()
    now = datetime.now(UTC)
    async with tenant_session(tenant_id) as session:
        claimed = (
            await session.execute(
                update(WebhookDelivery)
                .where(
                    WebhookDelivery.id == uuid.UUID(delivery_id),
                    or_(
                        WebhookDelivery.status == "pending",
                        (WebhookDelivery.status == "sending")
                        & (WebhookDelivery.claimed_at < _claim_expired(now, settings.webhook_timeout_seconds)),
                    ),
                )
                .values(status="sending", claimed_at=now, attempts=WebhookDelivery.attempts + 1)
                .returning(
                    WebhookDelivery.webhook_id, WebhookDelivery.event, WebhookDelivery.body, WebhookDelivery.attempts
                )
            )
        ).first()
        hook = await session.get(Webhook, claimed.webhook_id) if claimed else None
    if claimed is None or hook is None:
        return  # delivered, failed, deleted, or being sent by another worker right now
    secret = unseal(hook.secret_sealed)
    body = claimed.body.encode()
    started = time.perf_counter()
    status_code, error, final = None, None, False
    try:
        if secret is None:
            raise UnsafeDestinationError(
                "the webhook's secret is unreadable (KEFU_SECRET_KEY changed); delete the webhook and create it again"
            )
        client = await guarded_client(
            httpx.URL(hook.url), timeout=settings.webhook_timeout_seconds, allow_private=settings.webhook_allow_private
        )
        async with client:
            response = await client.post(
                hook.url,
                content=body,
                headers={
                    "Content-Type": "application/json",
                    "User-Agent": USER_AGENT,
                    "X-Kefu-Event": claimed.event,
                    "X-Kefu-Delivery": delivery_id,
                    "X-Kefu-Signature": sign(secret, body),
                },
            )
        status_code = response.status_code
        if not 200 <= status_code < 300:
            error = f"the receiver answered HTTP {status_code}"
    except UnsafeDestinationError as exc:  # retrying cannot make the address allowed
        error, final = str(exc), True
    except httpx.HTTPError as exc:  # refused, reset, timed out: retried
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    await _record(
        tenant_id, delivery_id, claimed.attempts, status_code, error, int((time.perf_counter() - started) * 1000), final
    )
    if error is not None and not final:
        raise DeliveryFailed(error)


async def _record(
    tenant_id: str,
    delivery_id: str,
    attempt: int,
    status_code: int | None,
    error: str | None,
    duration_ms: int,
    final: bool,
) -> None:
    now = datetime.now(UTC)
    status = "delivered" if error is None else "failed" if final else "pending"
    async with tenant_session(tenant_id) as session:
        session.add(
            WebhookAttempt(
                tenant_id=uuid.UUID(tenant_id),
                delivery_id=uuid.UUID(delivery_id),
                attempt=attempt,
                status_code=status_code,
                error=error,
                duration_ms=duration_ms,
            )
        )
        await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == uuid.UUID(delivery_id))
            .values(
                status=status,
                last_status_code=status_code,
                last_error=error,
                claimed_at=None,
                delivered_at=now if error is None else None,
            )
        )
    if error is not None:
        log.warning(
            "webhook delivery failed",
            extra={
                "tenant_id": tenant_id,
                "delivery_id": delivery_id,
                "attempt": attempt,
                "error": error,
                "final": final,
            },
        )


@dramatiq.actor(queue_name="notify")
async def webhook_gave_up(message: dict[str, Any], retry_info: dict[str, Any]) -> None:
    tenant_id, delivery_id = message["args"]
    log.error("webhook delivery failed for good", extra={"tenant_id": tenant_id, "delivery_id": delivery_id})
    async with tenant_session(tenant_id) as session:
        await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == uuid.UUID(delivery_id), WebhookDelivery.status.in_(("pending", "sending")))
            .values(status="failed", claimed_at=None)
        )


@dramatiq.actor(queue_name="notify", on_retry_exhausted="email_gave_up", time_limit=120_000)
def send_email(tenant_id: str, email_id: str) -> None:
    """Send a stored email once; an SMTP or connection error is logged and raised to be retried."""
    settings = get_settings()
    now = datetime.now(UTC)
    with tenant_session_sync(tenant_id) as session:
        claimed = session.execute(
            update(NotificationEmail)
            .where(
                NotificationEmail.id == uuid.UUID(email_id),
                or_(
                    NotificationEmail.status == "pending",
                    (NotificationEmail.status == "sending")
                    & (NotificationEmail.claimed_at < _claim_expired(now, settings.smtp_timeout_seconds)),
                ),
            )
            .values(status="sending", claimed_at=now, attempts=NotificationEmail.attempts + 1)
            .returning(
                NotificationEmail.recipient,
                NotificationEmail.subject,
                NotificationEmail.body,
                NotificationEmail.attempts,
            )
        ).first()
    if claimed is None:
        return
    try:
        mail.send(claimed.recipient, claimed.subject, claimed.body)
    except Exception as exc:  # SMTP, TLS, socket errors: all retried
        error = f"{type(exc).__name__}: {exc}"[:2000]
        log.warning(
            "notification email not sent; will retry",
            extra={"tenant_id": tenant_id, "email_id": email_id, "attempt": claimed.attempts, "error": error},
        )
        _set_email(tenant_id, email_id, status="pending", last_error=error, claimed_at=None)
        raise
    _set_email(tenant_id, email_id, status="sent", sent_at=datetime.now(UTC), last_error=None, claimed_at=None)


def _set_email(tenant_id: str, email_id: str, **values: Any) -> None:
    with tenant_session_sync(tenant_id) as session:
        session.execute(update(NotificationEmail).where(NotificationEmail.id == uuid.UUID(email_id)).values(**values))


@dramatiq.actor(queue_name="notify")
def email_gave_up(message: dict[str, Any], retry_info: dict[str, Any]) -> None:
    tenant_id, email_id = message["args"]
    log.error("notification email failed for good", extra={"tenant_id": tenant_id, "email_id": email_id})
    with tenant_session_sync(tenant_id) as session:
        session.execute(
            update(NotificationEmail)
            .where(NotificationEmail.id == uuid.UUID(email_id), NotificationEmail.status.in_(("pending", "sending")))
            .values(status="failed", claimed_at=None)
        )
