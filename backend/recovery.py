"""Re-send queued work whose Dramatiq message was lost: the database, not the queue, is the truth.

A queued chat message is stored `pending` before its `answer_message` job is sent, and an upload is
stored `queued` before its `ingest_document` job. Dramatiq can lose the job while the row waits:
the Redis broker's consumer prefetches message ids into an in-process list (they move to the
worker's acknowledgement set in Redis) and, when its Redis connection drops, replaces itself and
drops that list. The ids stay in the acknowledgement set of a worker that is still alive and still
heartbeating, so broker maintenance never gives them back. A Redis server restarted without its
data loses every job outright. Both happened in the fault suite (tests/e2e/test_faults.py).

`sweep()` finds such rows and sends their job again:

- a customer message `pending` for longer than `KEFU_RECOVER_CHAT_AFTER_SECONDS` (default 60; a
  queued answer normally takes well under a second) is sent to `answer_message` again; one still
  pending after `KEFU_RECOVER_CHAT_GIVE_UP_SECONDS` (default 1 hour: the customer has left) is
  marked `failed` instead, so no accepted message stays pending for ever, and the chat actor's
  `error` frame is published on its conversation's channel for a customer still connected;
- a document `queued` for longer than `KEFU_RECOVER_DOCUMENTS_AFTER_SECONDS` (default 15 minutes,
  longer than a normal backlog) is sent to `ingest_document` again;
- a document `processing` whose lease ran out (`knowledge/ingest_lease.py`: its worker renews it
  every third of `KEFU_INGEST_LEASE_SECONDS`, default 60, so it lapses only when the worker died or
  froze) is sent to `ingest_document` again, whether or not Dramatiq still holds the old message.

Both actors are idempotent (a reply is unique per question; a document's claim checks its version),
so a re-sent job whose original was merely slow costs one wasted attempt, never a duplicate. A Redis
key per row (`SET NX EX`) re-sends each row at most once per period across every worker replica;
`kefu worker` runs the sweep in a background thread every `TICK_SECONDS`. The scan reads two partial
indexes (pending messages, queued documents; migration 0012) as the owning role, like the other
cross-tenant maintenance jobs, and reads only ids.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from sqlalchemy import text

from chat import events
from core.db import owner_engine
from core.periodic import start_every
from core.redis import sync_redis
from core.settings import get_settings

log = logging.getLogger(__name__)

TICK_SECONDS = 15
BATCH = 500  # rows re-sent per kind and sweep; the rest wait for the next tick
MARK = "kefu:recovery:{kind}:{id}"
GIVE_UP_ERROR = "No answer was produced in time; the customer was offered to ask again."

_STALE_MESSAGES = text(
    "SELECT tenant_id::text, id::text FROM messages "
    "WHERE status = 'pending' AND role = 'customer' "
    "AND created_at < now() - make_interval(secs => :after) "
    "AND created_at >= now() - make_interval(secs => :give_up) "
    "ORDER BY created_at LIMIT :limit"
)
_GIVE_UP = text(
    "UPDATE messages SET status = 'failed', error = :error "
    "WHERE status = 'pending' AND role = 'customer' AND created_at < now() - make_interval(secs => :give_up) "
    "RETURNING conversation_id::text, id::text"
)
# Notifications whose job was lost: never tried for a minute, or a retry overdue by the longest backoff.
# A claim (`sending`) left by a dead worker expires the same way; the actors re-check the row.
_STALE_NOTIFICATIONS = (
    "SELECT tenant_id::text, id::text FROM {table} WHERE status IN ('pending', 'sending') "
    "AND COALESCE(claimed_at, created_at) < now() - make_interval(secs => "
    "CASE WHEN attempts = 0 THEN :after ELSE :after + :backoff END) "
    "ORDER BY created_at LIMIT :limit"
)
_STALE_DELIVERIES = text(_STALE_NOTIFICATIONS.format(table="webhook_deliveries"))
_STALE_EMAILS = text(_STALE_NOTIFICATIONS.format(table="notification_emails"))
_STALE_DOCUMENTS = text(
    "SELECT tenant_id::text, id::text FROM documents "
    "WHERE status = 'queued' AND updated_at < now() - make_interval(secs => :after) "
    "ORDER BY updated_at LIMIT :limit"
)


_EXPIRED_LEASES = text(
    "SELECT tenant_id::text, id::text FROM documents "
    "WHERE status = 'processing' AND (lease_until IS NULL OR lease_until < now()) "
    "ORDER BY lease_until NULLS FIRST LIMIT :limit"
)


@dataclass
class SweepResult:
    messages: list[str] = field(default_factory=list)  # ids of messages whose answer was re-sent
    documents: list[str] = field(default_factory=list)  # ids of documents whose ingestion was re-sent
    gave_up: int = 0  # messages marked failed after waiting too long
    deliveries: list[str] = field(default_factory=list)  # webhook deliveries sent again
    emails: list[str] = field(default_factory=list)  # notification emails sent again

    def __bool__(self) -> bool:
        return bool(self.messages or self.documents or self.gave_up or self.deliveries or self.emails)


def sweep() -> SweepResult:
    """One pass: re-send lost chat answers and ingestions, give up on messages pending too long."""
    from chat.notification_tasks import send_delivery, send_email_job
    from chat.tasks import answer_message
    from knowledge.tasks import ingest_document

    settings = get_settings()
    with owner_engine().begin() as connection:
        gave_up = connection.execute(
            _GIVE_UP, {"error": GIVE_UP_ERROR, "give_up": settings.recover_chat_give_up_seconds}
        ).all()
        messages = connection.execute(
            _STALE_MESSAGES,
            {
                "after": settings.recover_chat_after_seconds,
                "give_up": settings.recover_chat_give_up_seconds,
                "limit": BATCH,
            },
        ).all()
        documents = connection.execute(
            _STALE_DOCUMENTS, {"after": settings.recover_documents_after_seconds, "limit": BATCH}
        ).all()
        notify_args = {"after": settings.recover_chat_after_seconds,
                       "backoff": settings.notify_max_backoff_ms / 1000, "limit": BATCH}
        deliveries = connection.execute(_STALE_DELIVERIES, notify_args).all()
        emails = connection.execute(_STALE_EMAILS, notify_args).all()
        abandoned = connection.execute(_EXPIRED_LEASES, {"limit": BATCH}).all()
    # After the commit, as the chat actor's failure path does: a customer still connected hears
    # that no answer is coming, and a poll that follows the frame already reads `failed`.
    for conversation_id, message_id in gave_up:
        events.publish_sync(conversation_id, events.failed(message_id))
    result = SweepResult(gave_up=len(gave_up))
    client = sync_redis()
    for kind, rows, send, period, sent in (
        ("message", messages, answer_message.send, settings.recover_chat_after_seconds, result.messages),
        ("document", documents, ingest_document.send, settings.recover_documents_after_seconds, result.documents),
        ("lease", abandoned, ingest_document.send, settings.ingest_lease_seconds, result.documents),
        ("delivery", deliveries, send_delivery, settings.recover_chat_after_seconds, result.deliveries),
        ("email", emails, send_email_job, settings.recover_chat_after_seconds, result.emails),
    ):
        for tenant_id, row_id in rows:
            # Sent at most once per period: a job re-sent a moment ago is still on its way.
            if client.set(MARK.format(kind=kind, id=row_id), "1", nx=True, ex=max(1, int(period))):
                send(tenant_id, row_id)
                sent.append(row_id)
    return result


def _sweep_and_log() -> None:
    result = sweep()
    if result:
        log.warning(
            "lost jobs re-sent",
            extra={"messages": len(result.messages), "documents": len(result.documents), "gave_up": result.gave_up,
                   "deliveries": len(result.deliveries), "emails": len(result.emails)},
        )


def start_in_background() -> threading.Event:
    """Sweep every TICK_SECONDS (the first after one tick) in a daemon thread; set the returned event to stop it.

    A failed sweep (Redis or PostgreSQL down) is logged and the next tick tries again.
    """
    return start_every(TICK_SECONDS, _sweep_and_log, thread="lost-job-recovery", failure="recovery sweep failed")
