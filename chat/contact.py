"""When no one can answer now: whether someone is there, and the customer's email or phone to reply to.

`availability` is what the widget shows after a hand-off: inside office hours with an agent online
a colleague will answer soon; outside them, or when no agent has the inbox open (chat.presence), the
widget says so and asks for an address (`leave_contact`), which is stored on the conversation. An
agent's later reply is emailed there (chat.notifications).
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import redis

from chat import presence
from chat.conversations import owned_conversation
from chat.identity import Asker
from core.db import tenant_session
from core.errors import RateLimited, ValidationFailed
from core.redis import async_redis

log = logging.getLogger(__name__)
# A pragmatic check: something@domain.tld, no spaces; deliverability is the SMTP server's business.
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s.]{2,}$")
PHONE = re.compile(r"^\+?[0-9 ()./-]{5,40}$")
CONTACTS_PER_MINUTE = 5  # per visitor: a person corrects a typo, a script floods


async def availability(tenant_id: uuid.UUID) -> dict[str, Any]:
    """Whether a person can answer now (office hours and an agent online), and so whether the widget
    should ask for a contact (chat.presence.availability)."""
    return await presence.availability(tenant_id)


def check_contact(email: object, phone: object) -> tuple[str | None, str | None]:
    """The cleaned email and phone; at least one, each well-formed (422 otherwise)."""
    clean_email = email.strip() if isinstance(email, str) and email.strip() else None
    clean_phone = phone.strip() if isinstance(phone, str) and phone.strip() else None
    if (email is not None and not isinstance(email, str)) or (phone is not None and not isinstance(phone, str)):
        raise ValidationFailed("email and phone must be text.")
    if clean_email is None and clean_phone is None:
        raise ValidationFailed("Leave an email address or a phone number so we can get back to you.")
    if clean_email is not None and (len(clean_email) > 320 or not EMAIL.match(clean_email)):
        raise ValidationFailed("email must be an address like name@example.com.")
    if clean_phone is not None and (not PHONE.match(clean_phone) or sum(c.isdigit() for c in clean_phone) < 5):
        raise ValidationFailed("phone must be a phone number: digits, spaces, '+', '-', '(' and ')', 5 digits or more.")
    return clean_email, clean_phone


async def _rate_limit(tenant_id: uuid.UUID, asker: Asker) -> None:
    who = asker.user.id if asker.user else asker.visitor_id
    window = int(time.time() // 60)
    key = f"kefu:rl:contact:{tenant_id}:{who}:{window}"
    try:
        pipe = async_redis().pipeline()
        pipe.incr(key)
        pipe.expire(key, 120)
        count = int((await pipe.execute())[0])
    except redis.RedisError:
        log.warning("redis unavailable; contact rate limit not enforced", extra={"tenant_id": str(tenant_id)})
        return
    if count > CONTACTS_PER_MINUTE:
        raise RateLimited(
            "Too many attempts; please wait a minute and try again.", retry_after=60 - int(time.time() % 60)
        )


async def leave_contact(
    tenant_id: uuid.UUID, conversation_id: uuid.UUID, asker: Asker, email: object, phone: object
) -> dict[str, Any]:
    """Store how the customer wants to be reached on their conversation (replacing an earlier one)."""
    clean_email, clean_phone = check_contact(email, phone)
    await _rate_limit(tenant_id, asker)
    async with tenant_session(tenant_id) as session:
        conversation = await owned_conversation(session, conversation_id, asker)
        conversation.contact_email, conversation.contact_phone = clean_email, clean_phone
        conversation.contact_at = datetime.now(UTC)
    return {"status": "saved", "email": clean_email, "phone": clean_phone}
