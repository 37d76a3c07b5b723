"""Issue 20 item 1: anyone with the public widget key could read a tenant's customer records.

The attack: with a tenant's widget key, "where is my order 10002?" returned "customer: Carol Beta;
address: 2 Hidden Road". Now a record is read only by the verified user named in the collection's
owner column (the site signs the user id with the tenant's identity secret); everyone else is asked
to sign in, with the same answer and the same database work whether the order exists or not.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
import websockets
from sqlalchemy import event, func, select

from chat.tools import CollectionRules
from core.db import sync_engine, tenant_session_sync
from core.identity import details_hash, user_hash
from core.models import AuditEntry, Conversation, Message
from core.tenancy import identity_secret
from knowledge.records import lookup_for_visitor
from tests.factories import TenantCtx, make_tenant

pytestmark = pytest.mark.integration

ORDERS = (b"order_id,customer_id,customer,address,status\n"
          b"10001,cust-1,Alice Alpha,1 Open Street,shipped\n"
          b"10002,cust-7,Carol Beta,2 Hidden Road,delivered\n")
PRIVATE = ("Carol Beta", "2 Hidden Road", "Alice Alpha", "1 Open Street", "delivered", "cust-7")


@pytest.fixture
def shop() -> TenantCtx:
    return make_tenant("Identity shop")


def widget(tenant: TenantCtx) -> dict[str, str]:
    return {"X-Widget-Key": tenant.created.widget_key}


def claim(tenant: TenantCtx, user_id: str) -> dict[str, str]:
    return {"id": user_id, "hash": user_hash(identity_secret(tenant.id), user_id)}


async def upload_orders(client, tenant: TenantCtx, **fields: str):
    response = await client.post("/api/v1/records/orders", headers=tenant.admin,
                                 files={"file": ("orders.csv", ORDERS, "text/csv")},
                                 data={"key_column": "order_id", **fields})
    assert response.status_code == 200, response.text
    return response.json()


async def ask(client, tenant: TenantCtx, message: str, user: dict[str, str] | None = None, **extra):
    body = {"message": message, **({"user": user} if user else {}), **extra}
    return await client.post("/api/v1/chat", headers=widget(tenant), json=body)


async def test_the_issue_repro_no_longer_discloses_a_customer(client, shop) -> None:
    """The collection as the attack found it: uploaded with a key column only."""
    stored = await upload_orders(client, shop)
    for message in ("where is my order 10002?", "我的订单 10002 到哪了？", "order 10001 status"):
        response = await ask(client, shop, message)
        assert response.status_code == 200, response.text
        assert not [p for p in PRIVATE if p in response.text], response.json()["answer"]
    assert stored["access"] == "private" and stored["owner_column"] is None


async def test_anonymous_visitors_are_asked_to_sign_in_whether_or_not_the_order_exists(client, shop) -> None:
    await upload_orders(client, shop, owner_column="customer_id", sensitive_columns="address")
    for template, sign_in in (("where is my order {}?", "please sign in"), ("我的订单 {} 到哪了？", "请先登录")):
        existing = (await ask(client, shop, template.format("10002"))).json()["answer"]
        missing = (await ask(client, shop, template.format("10099"))).json()["answer"]
        assert sign_in in existing
        assert existing.replace("10002", "#") == missing.replace("10099", "#")
        assert not [p for p in PRIVATE if p in existing]


async def test_the_verified_owner_reads_their_order_with_sensitive_columns_masked(client, shop) -> None:
    await upload_orders(client, shop, owner_column="customer_id", sensitive_columns="address")
    response = await ask(client, shop, "where is my order 10002?", claim(shop, "cust-7"))
    answer = response.json()["answer"]
    assert response.status_code == 200 and "delivered" in answer and "Carol Beta" in answer
    assert "2 Hidden Road" not in answer and "***" in answer
    with tenant_session_sync(shop.id) as session:  # the stored tool result never held the address
        stored = session.scalars(select(Message.tool_calls).where(Message.role == "assistant")).all()
    assert "2 Hidden Road" not in json.dumps(stored)
    conversation_user = _conversation_user(shop, response.json()["conversation_id"])
    assert conversation_user == "cust-7"


async def test_another_signed_in_customer_gets_the_same_answer_as_for_a_missing_order(client, shop) -> None:
    await upload_orders(client, shop, owner_column="customer_id")
    someone = claim(shop, "cust-1")
    theirs = (await ask(client, shop, "where is my order 10002?", someone)).json()["answer"]
    missing = (await ask(client, shop, "where is my order 10099?", someone)).json()["answer"]
    assert theirs.replace("10002", "#") == missing.replace("10099", "#")
    assert "in your account" in theirs and "Carol Beta" not in theirs
    own = (await ask(client, shop, "where is my order 10001?", someone)).json()["answer"]
    assert "Alice Alpha" in own and "shipped" in own


async def test_a_wrong_hash_is_refused_and_stores_nothing(client, shop) -> None:
    await upload_orders(client, shop, owner_column="customer_id")
    forged = [{"id": "cust-7", "hash": "0" * 64}, {"id": "cust-7", "hash": "not hex"},
              {"id": "cust-7", "hash": user_hash("kefu_is_guessed", "cust-7")},
              {**claim(shop, "cust-1"), "id": "cust-7"}]
    for user in forged:
        response = await ask(client, shop, "where is my order 10002?", user)
        assert response.status_code == 401, response.text
        assert "could not be verified" in response.json()["detail"]
        assert "Carol" not in response.text
    queued = await client.post("/api/v1/chat?mode=queued", headers=widget(shop),
                               json={"message": "where is my order 10002?", "user": forged[0]})
    assert queued.status_code == 401
    with tenant_session_sync(shop.id) as session:
        assert session.scalar(select(func.count()).select_from(Conversation)) == 0


async def test_a_signed_name_and_email_are_kept_and_an_unsigned_one_is_refused(client, shop) -> None:
    secret = identity_secret(shop.id)
    user = {**claim(shop, "cust-7"), "name": "Carol Beta", "email": "carol@example.com",
            "details_hash": details_hash(secret, "cust-7", "Carol Beta", "carol@example.com")}
    response = await ask(client, shop, "hello", user)
    assert response.status_code == 200, response.text
    with tenant_session_sync(shop.id) as session:
        row = session.execute(select(Conversation.user_id, Conversation.user_name, Conversation.user_email)).one()
    assert tuple(row) == ("cust-7", "Carol Beta", "carol@example.com")
    unsigned = await ask(client, shop, "hello", {**claim(shop, "cust-7"), "name": "Mallory"})
    assert unsigned.status_code == 422 and "details_hash" in unsigned.json()["detail"]
    tampered = await ask(client, shop, "hello", {**user, "name": "Mallory"})
    assert tampered.status_code == 401


async def test_a_verified_users_conversation_follows_them_to_another_device(client, shop) -> None:
    user = claim(shop, "cust-7")
    first = await ask(client, shop, "hello", user, visitor_id="phone-1")
    conversation = first.json()["conversation_id"]
    laptop = {**widget(shop), "X-Kefu-User-Id": user["id"], "X-Kefu-User-Hash": user["hash"]}
    listed = await client.get("/api/v1/chat/conversations", headers=laptop)
    assert listed.status_code == 200 and [c["id"] for c in listed.json()["conversations"]] == [conversation]
    history = await client.get(f"/api/v1/chat/conversations/{conversation}/messages", headers=laptop)
    assert history.status_code == 200 and history.json()["messages"][0]["text"] == "hello"
    follow = await ask(client, shop, "thanks", user, visitor_id="laptop-2", conversation_id=conversation)
    assert follow.status_code == 200 and follow.json()["conversation_id"] == conversation
    # Signed out on the phone (same visitor id, no user) and another customer: not theirs.
    for headers, query in ((widget(shop), {"visitor_id": "phone-1"}),
                           ({**widget(shop), "X-Kefu-User-Id": "cust-1",
                             "X-Kefu-User-Hash": claim(shop, "cust-1")["hash"]}, {})):
        refused = await client.get(f"/api/v1/chat/conversations/{conversation}/messages", headers=headers,
                                   params=query)
        assert refused.status_code == 404, refused.text
    again = await ask(client, shop, "hello again", None, visitor_id="phone-1", conversation_id=conversation)
    assert again.status_code == 404
    anonymous = await client.get("/api/v1/chat/conversations", headers=widget(shop))
    assert anonymous.status_code == 422 and "signed-in user" in anonymous.json()["detail"]


async def test_signing_in_claims_the_visitors_anonymous_conversation(client, shop) -> None:
    first = await ask(client, shop, "hello", None, visitor_id="browser-9")
    conversation = first.json()["conversation_id"]
    assert _conversation_user(shop, conversation) is None
    signed = await ask(client, shop, "thanks", claim(shop, "cust-7"), visitor_id="browser-9",
                       conversation_id=conversation)
    assert signed.status_code == 200, signed.text
    assert _conversation_user(shop, conversation) == "cust-7"


async def test_the_identity_secret_is_for_owners_and_admins_and_rotates(client, shop) -> None:
    shown = await client.get("/api/v1/settings/widget", headers=shop.admin)
    assert shown.status_code == 200 and shown.json()["identity_secret"].startswith("kefu_is_")
    analyst = await client.get("/api/v1/settings/widget", headers=shop.analyst)
    assert analyst.status_code == 200 and "identity_secret" not in analyst.json()
    assert shown.json()["identity_secret"] not in analyst.text
    old = claim(shop, "cust-7")
    assert (await ask(client, shop, "hello", old)).status_code == 200
    assert (await client.post("/api/v1/settings/identity-secret/rotate", headers=shop.analyst)).status_code == 403
    rotated = await client.post("/api/v1/settings/identity-secret/rotate", headers=shop.admin)
    assert rotated.status_code == 200
    new_secret = rotated.json()["identity_secret"]
    assert new_secret != shown.json()["identity_secret"]
    assert (await ask(client, shop, "hello", old)).status_code == 401  # at once, in this process's cache too
    assert (await ask(client, shop, "hello", claim(shop, "cust-7"))).status_code == 200
    with tenant_session_sync(shop.id) as session:
        entries = session.execute(select(AuditEntry.action, AuditEntry.target, AuditEntry.details)).all()
    assert "identity_secret.rotate" in [e.action for e in entries]
    assert new_secret not in json.dumps([list(map(str, e)) for e in entries])  # the log never holds it


def test_lookups_do_the_same_database_work_for_existing_and_missing_keys(shop) -> None:
    """Same statements for an existing key, a missing one and another customer's (no timing oracle)."""
    from knowledge.records import AccessChange, import_records

    with tenant_session_sync(shop.id) as session:
        import_records(session, shop.id, "orders", "orders.csv", ORDERS, "order_id", AccessChange("customer_id"))
    rules = CollectionRules("orders", "owner", "customer_id", [])
    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    def work(key: str, user: str | None) -> tuple[int, list[str]]:
        statements.clear()
        with tenant_session_sync(shop.id) as session:
            start = len(statements)
            result = lookup_for_visitor(session, shop.id, rules, key, user)
            used = [s for s in statements[start:] if "records" in s]
        return result.status, used

    event.listen(sync_engine(), "before_cursor_execute", seen)
    try:
        anonymous = [work(key, None) for key in ("10002", "10099")]
        signed = [work(key, "cust-1") for key in ("10002", "10099")]
        owner = work("10002", "cust-7")
    finally:
        event.remove(sync_engine(), "before_cursor_execute", seen)
    assert anonymous == [("sign_in", []), ("sign_in", [])]
    assert [s[0] for s in signed] == ["not_found", "not_found"] and len(signed[0][1]) == len(signed[1][1]) == 1
    assert signed[0][1] == signed[1][1] == owner[1] and owner[0] == "found"


def test_socket_frames_take_the_signed_in_user_and_refuse_a_forged_one(live_api, shop) -> None:
    from knowledge.records import AccessChange, import_records

    with tenant_session_sync(shop.id) as session:
        import_records(session, shop.id, "orders", "orders.csv", ORDERS, "order_id", AccessChange("customer_id"))

    async def scenario() -> list[dict]:
        url = live_api.replace("http://", "ws://") + f"/api/v1/chat/ws?key={shop.created.widget_key}"
        finals = []
        async with websockets.connect(url) as socket:
            for user in ({"id": "cust-7", "hash": "f" * 64}, claim(shop, "cust-7"), None):
                frame = {"type": "message", "message": "where is my order 10002?", "visitor_id": "ws-1",
                         **({"user": user} if user else {})}
                await socket.send(json.dumps(frame))
                while True:
                    reply = json.loads(await asyncio.wait_for(socket.recv(), 30))
                    if reply["type"] in ("final", "error"):
                        finals.append(reply)
                        break
        return finals

    forged, owner, anonymous = asyncio.run(scenario())
    assert (forged["type"], forged["status"]) == ("error", 401)
    assert owner["type"] == "final" and "Carol Beta" in owner["answer"]
    assert anonymous["type"] == "final" and "sign in" in anonymous["answer"] and "Carol" not in anonymous["answer"]


def _conversation_user(tenant: TenantCtx, conversation_id: str) -> str | None:
    with tenant_session_sync(tenant.id) as session:
        return session.scalar(select(Conversation.user_id).where(Conversation.id == uuid.UUID(conversation_id)))
