"""A small, hand-countable history of conversations for analytics tests.

Period 2026-03-02 (Monday) .. 2026-03-04 (Wednesday), all times UTC:
- c1 (visitor v1, Mon 09:00): 2 questions, 2 answered replies (openai gpt-4o-mini, 400 ms + 800 ms,
  1000+200 and 2000+400 tokens), first reply rated up; CSAT 5.
- c2 (visitor v2, Mon 14:00): 1 question, 1 fallback reply (local, 1200 ms) rated down; handed off; CSAT 2.
- c3 (visitor v1, Wed 10:00): 1 question, 1 answered reply (local, 600 ms, a lookup_record tool call) rated up.
- c4 (visitor v3, Wed 23:30): 1 question that failed (no reply).
- c5 (visitor v4, Thu 2026-03-05 08:00, outside the period): 1 question, 1 answered reply.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from core.db import tenant_session_sync
from core.models import Conversation, Feedback, Message


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, second, tzinfo=UTC)


@dataclass
class Seeded:
    c1: uuid.UUID
    c2: uuid.UUID
    c3: uuid.UUID
    c4: uuid.UUID
    c5: uuid.UUID
    c1_second_reply: uuid.UUID


def add_conversation(tenant_id, visitor, started, *, messages, csat=None, handoff=False) -> uuid.UUID:
    cid = uuid.uuid4()
    with tenant_session_sync(tenant_id) as session:
        session.add(Conversation(id=cid, tenant_id=tenant_id, visitor_id=visitor, channel="widget",
                                 started_at=started, last_message_at=messages[-1]["created_at"],
                                 csat=csat, handoff=handoff, message_count=len(messages),
                                 handoff_reason="customer asked" if handoff else None,
                                 handoff_at=started if handoff else None))
        session.flush()
        question = None
        for m in messages:
            rating = m.pop("rating", None)
            message = Message(id=m.pop("id", uuid.uuid4()), tenant_id=tenant_id, conversation_id=cid, **m)
            if message.role == "assistant":
                message.reply_to = question
            session.add(message)
            session.flush()
            if message.role == "customer":
                question = message.id
            if rating is not None:
                session.add(Feedback(tenant_id=tenant_id, message_id=message.id, conversation_id=cid, rating=rating,
                                     created_at=message.created_at))
    return cid


def question(text, when, *, status="answered"):
    return {"role": "customer", "text": text, "created_at": when, "status": status}


def reply(text, when, *, answered=True, latency_ms, provider="local", model=None, prompt_tokens=0,
          completion_tokens=0, rating=None, **extra):
    return {"role": "assistant", "text": text, "created_at": when, "answered": answered, "latency_ms": latency_ms,
            "provider": provider, "model": model, "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens, "rating": rating,
            "fallback_reason": None if answered else "low_confidence", "confidence": 0.9 if answered else 0.1,
            **extra}


def seed_history(tenant_id: uuid.UUID) -> Seeded:
    second_reply = uuid.uuid4()
    c1 = add_conversation(tenant_id, "v1", at(2, 9), csat=5, messages=[
        question("How do I return shoes?", at(2, 9)),
        reply("Returns are free within 30 days.", at(2, 9, 0, 1), latency_ms=400, provider="openai",
              model="gpt-4o-mini", prompt_tokens=1000, completion_tokens=200, rating=1,
              citations=[{"document_id": "d1", "chunk_id": "k1", "source_ref": "faq-3"}]),
        question("And refunds?", at(2, 9, 5)),
        reply("Refunds arrive in 5 days.", at(2, 9, 5, 1), latency_ms=800, provider="openai", model="gpt-4o-mini",
              prompt_tokens=2000, completion_tokens=400, id=second_reply),
    ])
    c2 = add_conversation(tenant_id, "v2", at(2, 14), csat=2, handoff=True, messages=[
        question("Do you ship to Mars?", at(2, 14)),
        reply("I don't know, a colleague will help.", at(2, 14, 0, 2), answered=False, latency_ms=1200, rating=-1),
    ])
    c3 = add_conversation(tenant_id, "v1", at(4, 10), messages=[
        question("Where is my order 42?", at(4, 10)),
        reply("Order 42 has shipped.", at(4, 10, 0, 1), latency_ms=600, rating=1,
              tool_calls=[{"name": "lookup_record", "arguments": {"collection": "orders", "key": "42"}}]),
    ])
    c4 = add_conversation(tenant_id, "v3", at(4, 23, 30), messages=[
        question("hello?", at(4, 23, 30), status="failed"),
    ])
    c5 = add_conversation(tenant_id, "v4", at(5, 8), messages=[
        question("Opening hours?", at(5, 8)),
        reply("9 to 5.", at(5, 8, 0, 1), latency_ms=300),
    ])
    return Seeded(c1, c2, c3, c4, c5, second_reply)


def add_checked_answers(tenant_id: uuid.UUID, days: int = 7) -> None:
    """Model answers of the last `days` days with their grounding checks: one flagged answer every other day."""
    from core.models import AnswerCheck

    # 10:00 UTC on each of the `days` days before today: on that day whatever the hour the test runs
    # (an hour-relative time fell on the day before the period between 00:00 and 02:00 UTC).
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    for back in range(1, days + 1):
        start = midnight - timedelta(days=back) + timedelta(hours=10)
        flagged = back % 2 == 0
        draft = ("Returns are accepted within 14 days. Shipping back is free of charge." if flagged
                 else "Returns are accepted within 14 days.") if back % 3 else (
            "未拆封商品可在十四天内退货。我们还赠送一张二十元优惠券。" if flagged else "未拆封商品可在十四天内退货。")
        ids = [uuid.uuid4() for _ in range(3)]
        add_conversation(tenant_id, f"visitor-g{back}", start, messages=[
            question("What is your return policy?" if back % 3 else "退货政策是什么？", start),
            reply(draft, start + timedelta(seconds=2), latency_ms=900, provider="anthropic",
                  model="claude-haiku-4-5", id=ids[0]),
            question("And delivery?", start + timedelta(minutes=1)),
            reply("Delivery takes two to four working days.", start + timedelta(minutes=1, seconds=2),
                  latency_ms=800, provider="anthropic", model="claude-haiku-4-5", id=ids[1]),
        ])
        with tenant_session_sync(tenant_id) as session:
            unsupported = draft.split(". ")[-1] if flagged and back % 3 else "我们还赠送一张二十元优惠券。"
            session.add(AnswerCheck(tenant_id=tenant_id, message_id=ids[0], created_at=start + timedelta(seconds=2),
                                    sentences=2 if flagged else 1, supported=1, grounded=not flagged, action="drop",
                                    flagged=[{"text": unsupported, "lexical": 0.2, "dense": 0.8, "numbers_ok": True}]
                                    if flagged else [], question="What is your return policy?", draft=draft))
            session.add(AnswerCheck(tenant_id=tenant_id, message_id=ids[1], created_at=start + timedelta(minutes=1),
                                    sentences=1, supported=1, grounded=True, action="drop", flagged=[],
                                    question="And delivery?", draft="Delivery takes two to four working days."))
