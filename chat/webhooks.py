"""A tenant's outbound webhooks as data: validate, create (secret shown once), list, delete, deliveries.

Each delivery is a JSON POST of the event with `X-Kefu-Event` and `X-Kefu-Signature: sha256=<hex
HMAC-SHA256 of the raw body with the webhook's secret>`; `chat.notification_tasks` sends it through
the SSRF guard. Called through `chat.commands` (API, admin app), which also writes the audit entry.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import socket
import uuid
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.errors import NotFound, ValidationFailed
from core.identity import seal
from core.models import WEBHOOK_EVENTS, Webhook, WebhookAttempt, WebhookDelivery
from core.outbound import is_forbidden_address, is_link_local
from core.settings import get_settings

SECRET_PREFIX = "whsec_"
MAX_WEBHOOKS = 20
MAX_URL_CHARS = 2000
MAX_LISTED_DELIVERIES = 200


def sign(secret: str, body: bytes) -> str:
    """The `X-Kefu-Signature` value: sha256=<hex HMAC-SHA256 of the raw body with the secret>."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def check_url(raw: object) -> str:
    """An http(s) URL without credentials whose host resolves to addresses the SSRF guard allows."""
    if not isinstance(raw, str) or not raw.strip() or len(raw) > MAX_URL_CHARS:
        raise ValidationFailed(f"url must be an http(s) URL of at most {MAX_URL_CHARS} characters.")
    try:
        url = httpx.URL(raw.strip())
    except httpx.InvalidURL as exc:
        raise ValidationFailed(f"url is not a valid URL: {exc}.") from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise ValidationFailed("url must start with https:// (or http://) and name a host.")
    if url.userinfo:
        raise ValidationFailed("url must not contain a user name or password; verify deliveries by their signature.")
    _check_host(url.host, url.port or (443 if url.scheme == "https" else 80))
    return str(url)


def _check_host(host: str, port: int) -> None:
    # The same rule as the delivery (core.outbound), checked now so an admin hears it at once;
    # the delivery checks again, since DNS answers can change.
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise ValidationFailed(f"url: the host {host} could not be resolved; check its spelling.") from exc
    addresses = {ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos}
    if any(is_link_local(ip) for ip in addresses) or (
        not get_settings().webhook_allow_private and any(is_forbidden_address(ip) for ip in addresses)
    ):
        raise ValidationFailed(
            f"url: {host} resolves to a private or reserved address; webhooks may only reach public hosts."
        )


def check_events(raw: object) -> list[str]:
    if not isinstance(raw, list) or not raw or not all(isinstance(e, str) for e in raw):
        raise ValidationFailed(f"events must be a non-empty list of: {', '.join(WEBHOOK_EVENTS)}.")
    unknown = sorted(set(raw) - set(WEBHOOK_EVENTS))
    if unknown:
        raise ValidationFailed(f"Unknown events: {', '.join(unknown)}. Known: {', '.join(WEBHOOK_EVENTS)}.")
    return [e for e in WEBHOOK_EVENTS if e in raw]


def webhook_view(hook: Webhook) -> dict[str, Any]:
    return {"id": str(hook.id), "url": hook.url, "events": list(hook.events), "created_at": hook.created_at}


def create_webhook(session: Session, tenant_id: uuid.UUID, url: object, events: object) -> dict[str, Any]:
    """Store a webhook; the returned view carries its signing secret, the only time it is shown."""
    checked_events, checked_url = check_events(events), check_url(url)
    count = session.scalar(select(func.count()).select_from(Webhook).where(Webhook.tenant_id == tenant_id))
    if (count or 0) >= MAX_WEBHOOKS:
        raise ValidationFailed(f"A tenant may have at most {MAX_WEBHOOKS} webhooks; delete one first.")
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    hook = Webhook(
        id=uuid.uuid4(), tenant_id=tenant_id, url=checked_url, events=checked_events, secret_sealed=seal(secret)
    )
    session.add(hook)
    session.flush()
    session.refresh(hook)
    return {**webhook_view(hook), "secret": secret}


def list_webhooks(session: Session, tenant_id: uuid.UUID) -> list[dict[str, Any]]:
    """Every webhook with its delivery counts by status (secrets are never shown again)."""
    hooks = session.scalars(select(Webhook).where(Webhook.tenant_id == tenant_id).order_by(Webhook.created_at)).all()
    counts: dict[tuple[uuid.UUID, str], int] = {
        (row.webhook_id, row.status): row.n
        for row in session.execute(
            select(WebhookDelivery.webhook_id, WebhookDelivery.status, func.count().label("n"))
            .where(WebhookDelivery.tenant_id == tenant_id)
            .group_by(WebhookDelivery.webhook_id, WebhookDelivery.status)
        )
    }
    return [
        {
            **webhook_view(h),
            "deliveries": {s: counts.get((h.id, s), 0) for s in ("pending", "sending", "delivered", "failed")},
        }
        for h in hooks
    ]


def _webhook(session: Session, tenant_id: uuid.UUID, webhook_id: uuid.UUID) -> Webhook:
    hook = session.get(Webhook, webhook_id)
    if hook is None or hook.tenant_id != tenant_id:
        raise NotFound(f"No webhook {webhook_id}.")
    return hook


def delete_webhook(session: Session, tenant_id: uuid.UUID, webhook_id: uuid.UUID) -> str:
    """Delete a webhook and its delivery history; returns its URL (for the audit log)."""
    hook = _webhook(session, tenant_id, webhook_id)
    session.delete(hook)
    return hook.url


def deliveries(session: Session, tenant_id: uuid.UUID, webhook_id: uuid.UUID, limit: int = 50) -> dict[str, Any]:
    """The webhook's newest deliveries, each with its attempts (status code or error, duration)."""
    if isinstance(limit, bool) or not 1 <= limit <= MAX_LISTED_DELIVERIES:
        raise ValidationFailed(f"limit must be from 1 to {MAX_LISTED_DELIVERIES}.")
    _webhook(session, tenant_id, webhook_id)
    rows = session.scalars(
        select(WebhookDelivery)
        .where(WebhookDelivery.webhook_id == webhook_id)
        .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id)
        .limit(limit)
    ).all()
    attempts: dict[uuid.UUID, list[dict[str, Any]]] = {}
    if rows:
        for a in session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id.in_([r.id for r in rows]))
            .order_by(WebhookAttempt.attempt)
        ):
            attempts.setdefault(a.delivery_id, []).append(
                {
                    "attempt": a.attempt,
                    "status_code": a.status_code,
                    "error": a.error,
                    "duration_ms": a.duration_ms,
                    "at": a.created_at,
                }
            )
    total = session.scalar(
        select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id)
    )
    return {
        "items": [
            {
                "id": str(r.id),
                "event": r.event,
                "event_id": str(r.event_id),
                "status": r.status,
                "attempts": attempts.get(r.id, []),
                "last_status_code": r.last_status_code,
                "last_error": r.last_error,
                "created_at": r.created_at,
                "delivered_at": r.delivered_at,
            }
            for r in rows
        ],
        "total": int(total or 0),
    }
