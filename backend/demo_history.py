"""A first day of customer conversations for the demo tenant, asked through the real chat API.

So that the admin app's reports, transcripts, accuracy and knowledge gaps show something the first
time someone runs `kefu demo`: questions in both languages (some the FAQ answers, some it does
not), a few thumbs and CSAT scores and one hand-off, then the analytics jobs are queued.
Runs once per data directory (remembered in demo.json).
"""

from __future__ import annotations

import json
import time
import urllib.request
import uuid

import click

CONVERSATIONS: list[tuple[list[str], int | None, int | None, bool]] = [
    # questions, thumbs on the first answer, CSAT, ask for a human
    (["How long does delivery take?", "How much does shipping cost?"], 1, 5, False),
    (["退货政策是什么？", "退款多久到账？"], 1, 4, False),
    (["支持哪些付款方式？"], 1, None, False),
    (["Do you ship to Mars?"], -1, 2, True),
    (["Can I pay with bitcoin?"], -1, None, False),
    (["可以开发票吗？"], None, 5, False),
    (["你们有实体店吗？"], -1, 3, False),
    (["What is your return policy?"], 1, None, False),
]


def _post(url: str, body: dict[str, object], widget_key: str) -> dict[str, object]:
    request = urllib.request.Request(  # noqa: S310 - our own loopback API
        url, data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json", "X-Widget-Key": widget_key})
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - our own loopback API
        return dict(json.loads(response.read()))


def _knowledge_ready(tenant_id: uuid.UUID, timeout: float) -> bool:
    from core.db import tenant_session_sync
    from knowledge import documents

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with tenant_session_sync(tenant_id) as session:
            rows, _ = documents.list_documents(session, tenant_id, limit=100)
            if rows and all(d.status in ("ready", "failed") for d in rows):
                return True
        time.sleep(1)
    return False


def seed_history(api: str, tenant_id: str, widget_key: str) -> bool:
    """Ask the demo questions once the FAQ is indexed; False (and a note) if that did not happen in time."""
    if not _knowledge_ready(uuid.UUID(tenant_id), 180):
        click.echo("the demo FAQ is still being indexed; skipping the sample conversations", err=True)
        return False
    for number, (questions, thumbs, csat, human) in enumerate(CONVERSATIONS):
        visitor = f"demo-visitor-{number}"
        conversation_id = None
        for position, text in enumerate(questions):
            answer = _post(f"{api}/api/v1/chat", {"message": text, "conversation_id": conversation_id,
                                                  "visitor_id": visitor}, widget_key)
            conversation_id = answer["conversation_id"]
            if position == 0 and thumbs is not None:
                _post(f"{api}/api/v1/chat/messages/{answer['message_id']}/feedback",
                      {"rating": thumbs, "visitor_id": visitor}, widget_key)
        if human:
            _post(f"{api}/api/v1/chat/conversations/{conversation_id}/handoff",
                  {"visitor_id": visitor, "reason": "wants to talk to a person"}, widget_key)
        if csat is not None:
            _post(f"{api}/api/v1/chat/conversations/{conversation_id}/csat",
                  {"score": csat, "visitor_id": visitor}, widget_key)
    from analytics.commands import request_refresh

    request_refresh(uuid.UUID(tenant_id))
    return True
