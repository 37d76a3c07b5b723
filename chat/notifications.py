"""Domain events leave Kefu here: `emit` fans an event out to the tenant's webhooks and staff emails.

`emit(tenant_id, event, payload)` stores one delivery per subscribed webhook (and, for
`handoff.requested`, one email per staff member when SMTP is configured) in one short transaction,
then queues them on the `notify` queue. It never raises and never waits on a receiver, so chat is
never blocked: a receiver that is down is the worker's problem (chat.notification_tasks). A row
whose job could not be queued stays `pending` and the lost-job sweep sends it (backend/recovery.py).

Callers: the chat engine's hand-off (`handoff.requested`, source bot), the widget's "talk to a human"
(`handoff.requested`, source customer), the CSAT route (`csat.submitted`); the agent inbox emits
`message.created` (a customer message in a conversation a person holds) and `conversation.resolved`.
`email_agent_reply` sends an agent's reply to a customer who left an address and is no longer connected.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import redis
from sqlalchemy import any_, literal, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from chat import events, mail, service_hours
from chat.notification_tasks import send_delivery, send_email_job
from core.db import tenant_session
from core.models import WEBHOOK_EVENTS, Conversation, Message, NotificationEmail, User, Webhook, WebhookDelivery
from core.redis import async_redis
from core.settings import get_settings

log = logging.getLogger(__name__)
STAFF_ROLES = ("owner", "admin", "agent")


def event_body(event_id: uuid.UUID, tenant_id: uuid.UUID, event: str, payload: dict[str, Any]) -> str:
    """The JSON every receiver of `event` gets, byte for byte (what the signature covers)."""
    return json.dumps(
        {
            "id": str(event_id),
            "event": event,
            "created_at": datetime.now(UTC).isoformat(),
            "tenant_id": str(tenant_id),
            "data": payload,
        },
        ensure_ascii=False,
        default=str,
        separators=(",", ":"),
    )


async def emit(tenant_id: uuid.UUID, event: str, payload: dict[str, Any]) -> uuid.UUID | None:
    """Queue `event` for the tenant's webhooks (and staff emails for a hand-off); returns the event id.

    Never raises: a failure is logged and returns None, because the chat that caused the event must go on.
    """
    if event not in WEBHOOK_EVENTS:
        raise ValueError(f"unknown event {event!r}")  # a programming error, not a runtime condition
    event_id = uuid.uuid4()
    try:
        async with tenant_session(tenant_id) as session:
            deliveries = await _store_deliveries(
                session, tenant_id, event_id, event, event_body(event_id, tenant_id, event, payload)
            )
            emails = (
                await _store_staff_emails(session, tenant_id, event_id, payload) if event == "handoff.requested" else []
            )
    except Exception:
        log.exception("event not stored for notification", extra={"tenant_id": str(tenant_id), "event": event})
        return None
    if deliveries or emails:
        await asyncio.to_thread(_queue, tenant_id, deliveries, emails)
    return event_id


async def _store_deliveries(
    session: AsyncSession, tenant_id: uuid.UUID, event_id: uuid.UUID, event: str, body: str
) -> list[uuid.UUID]:
    hooks = (await session.scalars(select(Webhook.id).where(literal(event) == any_(Webhook.events)))).all()
    if not hooks:
        return []
    rows = [
        {
            "id": uuid.uuid4(),
            "tenant_id": tenant_id,
            "webhook_id": hook,
            "event_id": event_id,
            "event": event,
            "body": body,
            "status": "pending",
        }
        for hook in hooks
    ]
    stored = await session.scalars(
        insert(WebhookDelivery).values(rows).on_conflict_do_nothing().returning(WebhookDelivery.id)
    )
    return list(stored)


async def _store_staff_emails(
    session: AsyncSession, tenant_id: uuid.UUID, event_id: uuid.UUID, payload: dict[str, Any]
) -> list[uuid.UUID]:
    settings = get_settings()
    if not settings.smtp_url or not (await service_hours.load(session, tenant_id)).handoff_emails:
        return []
    recipients = (await session.scalars(select(User.email).where(User.is_active, User.role.in_(STAFF_ROLES)))).all()
    conversation_id = str(payload.get("conversation_id", ""))
    subject, body = mail.handoff_email(
        str(payload.get("reason") or "customer asked for a person"),
        payload.get("question"),
        conversation_id,
        f"{settings.public_admin_url.rstrip('/')}/conversations",
    )
    return await _store_emails(session, tenant_id, event_id, "handoff", recipients, subject, body)


async def _store_emails(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    event_id: uuid.UUID,
    kind: str,
    recipients: Iterable[str],
    subject: str,
    body: str,
) -> list[uuid.UUID]:
    rows = [
        {
            "id": uuid.uuid4(),
            "tenant_id": tenant_id,
            "event_id": event_id,
            "kind": kind,
            "recipient": r,
            "subject": subject,
            "body": body,
            "status": "pending",
        }
        for r in dict.fromkeys(recipients)
    ]
    if not rows:
        return []
    stored = await session.scalars(
        insert(NotificationEmail).values(rows).on_conflict_do_nothing().returning(NotificationEmail.id)
    )
    return list(stored)


def _queue(tenant_id: uuid.UUID, deliveries: list[uuid.UUID], emails: list[uuid.UUID]) -> None:
    for send, ids in ((send_delivery, deliveries), (send_email_job, emails)):
        for row_id in ids:
            try:
                send(tenant_id, row_id)
            except Exception:  # broker down: the row stays pending and the lost-job sweep sends it
                log.warning(
                    "notification not queued; the sweep will send it",
                    exc_info=True,
                    extra={"tenant_id": str(tenant_id), "id": str(row_id)},
                )


async def customer_connected(conversation_id: uuid.UUID) -> bool:
    """True while a widget socket on any API replica listens to the conversation (its relay subscribed).

    Unknown (Redis down) counts as away: an email the customer did not need beats a reply they never see.
    """
    try:
        reply = await async_redis().pubsub_numsub(events.channel(conversation_id))
    except redis.RedisError:
        return False
    return bool(reply and int(reply[0][1]) > 0)


async def email_agent_reply(tenant_id: uuid.UUID, message_id: uuid.UUID, agent_name: str | None = None) -> bool:
    """Email an agent's reply to the customer if they left an address and are not connected; True if queued.

    Once per message (the email is keyed by the message id), however often this is called.
    """
    if not get_settings().smtp_url:
        return False
    async with tenant_session(tenant_id) as session:
        row = (
            await session.execute(
                select(Message.text, Message.role, Conversation.id, Conversation.contact_email, Conversation.language)
                .join(Conversation, Conversation.id == Message.conversation_id)
                .where(Message.id == message_id)
            )
        ).first()
        if row is None or row.role != "agent" or not row.contact_email:
            return False
        if await customer_connected(row.id):
            return False
        subject, body = mail.agent_reply_email(row.language, agent_name, row.text)
        emails = await _store_emails(session, tenant_id, message_id, "agent_reply", [row.contact_email], subject, body)
    if emails:
        await asyncio.to_thread(_queue, tenant_id, [], emails)
    return bool(emails)
