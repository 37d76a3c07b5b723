"""A tenant's reranker stays its own: it reorders only that tenant's results, another tenant never
sees, tests or uses its endpoint or key, the key is never shown, audited or exported, and only
admins may set or test it (analysts and agents get 403 and nothing changes or is sent)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from core.db import tenant_session_sync
from core.models import AuditEntry, Tenant
from core.settings import get_settings
from tests.factories import make_tenant, qa_csv
from tests.security.world import run_queued_work
from tests.support.fake_reranker import DELIVERY_FAQ, DELIVERY_QUESTION

pytestmark = pytest.mark.integration
KEY = "rr-victim-secret-0123456789"
FAQ, QUESTION = DELIVERY_FAQ[:3], DELIVERY_QUESTION


@pytest.fixture
def private_hosts(monkeypatch):
    monkeypatch.setenv("KEFU_LLM_ALLOW_PRIVATE_HOSTS", "true")  # the fake reranker is on 127.0.0.1
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.fixture
async def pair(client, private_hosts, fake_reranker):
    """Two shops with the same knowledge; only the victim sets its own reranker."""
    shops = []
    for name in ("Rerank victim", "Rerank attacker"):
        shop = make_tenant(name)
        assert (await client.post("/api/v1/documents", headers=shop.admin,
                                  files={"file": ("faq.csv", qa_csv(FAQ))})).status_code == 202
        shops.append(shop)
    run_queued_work()
    victim, attacker = shops
    fake_reranker.favour = ["Saturdays"]
    saved = await client.put("/api/v1/settings/bot", headers=victim.admin, json={
        "reranker_url": fake_reranker.url, "reranker_model": "victim-rr", "reranker_api_key": KEY})
    assert saved.status_code == 200, saved.text
    return victim, attacker


async def top(client, shop) -> str:
    response = await client.post("/api/v1/search", headers=shop.admin, json={"query": QUESTION, "top_k": 2})
    assert response.status_code == 200, response.text
    return response.json()["hits"][0]["source_ref"]


async def test_the_reranker_reorders_only_its_own_tenants_results(client, pair, fake_reranker) -> None:
    victim, attacker = pair
    assert await top(client, victim) == "D2"
    calls = len(fake_reranker.requests)
    assert await top(client, attacker) == "D1"  # same knowledge, no reranker of its own
    answer = await client.post("/api/v1/chat", headers={"X-Widget-Key": attacker.created.widget_key},
                               json={"message": QUESTION})
    assert answer.status_code == 200 and answer.json()["citations"][0]["source_ref"] == "D1"
    assert len(fake_reranker.requests) == calls  # the victim's endpoint and key were never used for it
    assert all(r["authorization"] == f"Bearer {KEY}" for r in fake_reranker.requests)


async def test_another_tenant_never_sees_or_tests_the_victims_reranker(client, pair, fake_reranker) -> None:
    _, attacker = pair
    theirs = await client.get("/api/v1/settings/bot", headers=attacker.admin)
    assert theirs.json()["reranker_url"] is None and theirs.json()["reranker_api_key_set"] is False
    assert fake_reranker.url not in theirs.text and KEY not in theirs.text
    check = await client.post("/api/v1/settings/bot/test", headers=attacker.admin, json={"slot": "reranker"})
    assert check.status_code == 200 and check.json()["ok"] is False
    assert fake_reranker.url not in check.text and KEY not in check.text
    assert fake_reranker.requests == []
    with tenant_session_sync(attacker.id) as session:  # RLS: the attacker's session reads only its own row
        rows = session.execute(select(Tenant.id, Tenant.reranker_secret)).all()
    assert [(r[0], r[1]) for r in rows] == [(attacker.id, None)]


async def test_the_key_is_never_shown_audited_or_exported(client, pair) -> None:
    victim, _ = pair
    for headers in (victim.admin, victim.analyst):
        shown = await client.get("/api/v1/settings/bot", headers=headers)
        assert shown.status_code == 200 and shown.json()["reranker_api_key_set"] is True and KEY not in shown.text
    assert KEY not in (await client.get("/api/v1/audit", headers=victim.admin)).text
    with tenant_session_sync(victim.id) as session:
        details = [e.details for e in session.scalars(select(AuditEntry))]
        stored = session.execute(select(Tenant.settings, Tenant.reranker_secret)).one()
    assert details and KEY not in json.dumps(details)
    assert KEY not in json.dumps(stored[0]) and stored[1] and KEY not in stored[1]  # sealed at rest
    for dataset in ("conversations", "messages", "feedback", "daily"):
        export = await client.get(f"/api/v1/analytics/export?dataset={dataset}&format=csv", headers=victim.admin)
        assert export.status_code == 200 and KEY not in export.text


async def test_analysts_and_agents_cannot_set_or_test_it(client, pair, fake_reranker) -> None:
    from core.tenancy import add_user

    victim, _ = pair
    with tenant_session_sync(victim.id) as session:
        add_user(session, victim.id, f"agent-{victim.id.hex[:8]}@example.com", "password-123", "agent")
    login = await client.post("/api/v1/auth/login", json={"email": f"agent-{victim.id.hex[:8]}@example.com",
                                                          "password": "password-123"})
    agent = {"Authorization": f"Bearer {login.json()['token']}"}
    before = (await client.get("/api/v1/settings/bot", headers=victim.admin)).json()
    calls = len(fake_reranker.requests)
    for headers in (victim.analyst, agent):
        put = await client.put("/api/v1/settings/bot", headers=headers,
                               json={"reranker": False, "reranker_url": None, "reranker_api_key": "rr-other-key"})
        test = await client.post("/api/v1/settings/bot/test", headers=headers, json={"slot": "reranker"})
        assert (put.status_code, test.status_code) == (403, 403)
    assert (await client.get("/api/v1/settings/bot", headers=victim.admin)).json() == before
    assert len(fake_reranker.requests) == calls
