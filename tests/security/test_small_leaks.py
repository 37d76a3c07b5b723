"""Issue 20 item 8: error messages named another visitor's conversation and another tenant's user.

The attacks: another visitor's message id with my own `visitor_id` answered 404 "No conversation
<their conversation id>…"; adding a user whose email belongs to another tenant said "A user with
email … already exists". Now a foreign message reads exactly like an absent one, and the refused
email is not echoed or said to exist anywhere.
"""

from __future__ import annotations

import uuid

import pytest

from core.db import tenant_session_sync
from core.errors import Conflict
from core.tenancy import add_user
from tests.factories import make_tenant

pytestmark = pytest.mark.integration


async def test_another_visitors_message_reveals_no_conversation_id(client) -> None:
    shop = make_tenant("Leak shop")
    widget = {"X-Widget-Key": shop.created.widget_key}
    theirs = await client.post(
        "/api/v1/chat", headers=widget, json={"message": "Where is my parcel?", "visitor_id": "victim-visitor-1"}
    )
    assert theirs.status_code == 200, theirs.text
    their_conversation, their_message = theirs.json()["conversation_id"], theirs.json()["message_id"]

    looked = await client.get(
        f"/api/v1/chat/messages/{their_message}", headers=widget, params={"visitor_id": "attacker-visitor-1"}
    )
    absent = await client.get(
        f"/api/v1/chat/messages/{uuid.uuid4()}", headers=widget, params={"visitor_id": "attacker-visitor-1"}
    )
    rated = await client.post(
        f"/api/v1/chat/messages/{their_message}/feedback",
        headers=widget,
        json={"rating": -1, "visitor_id": "attacker-visitor-1"},
    )
    history = await client.get(
        f"/api/v1/chat/conversations/{their_conversation}/messages",
        headers=widget,
        params={"visitor_id": "attacker-visitor-1"},
    )
    assert looked.status_code == absent.status_code == rated.status_code == history.status_code == 404
    for response in (looked, rated, history):
        assert their_conversation not in response.text, response.text
    assert looked.json()["detail"] == f"No message {their_message} for this visitor."


def test_adding_another_tenants_user_names_nothing() -> None:
    first, second = make_tenant("Email A"), make_tenant("Email B")
    taken = f"someone-{uuid.uuid4().hex[:8]}@example.com"
    with tenant_session_sync(first.id) as session:
        add_user(session, first.id, taken, "password-123", "analyst")
    with tenant_session_sync(second.id) as session, pytest.raises(Conflict) as refused:
        add_user(session, second.id, taken, "password-123", "analyst")
    assert taken not in refused.value.detail and "exist" not in refused.value.detail
    assert "choose another" in refused.value.detail
    # Inside its own tenant the admin is told plainly which user is already there.
    with tenant_session_sync(first.id) as session, pytest.raises(Conflict) as own:
        add_user(session, first.id, taken, "password-123", "admin")
    assert taken in own.value.detail
