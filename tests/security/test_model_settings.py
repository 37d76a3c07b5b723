"""A tenant's model settings and keys stay its own: never shown to another tenant, to analysts in
clear, or in the audit log; another tenant's test connection never uses them."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from chat import model_choice
from core.db import tenant_session_sync
from core.models import AuditEntry
from core.settings import get_settings
from tests.security.world import Seeded, seed
from tests.support.fake_models import fake_anthropic_fixture  # noqa: F401 - fixture

pytestmark = pytest.mark.integration
KEY = "sk-ant-victim-key-0123456789"


@pytest.fixture
def private_models(monkeypatch):
    monkeypatch.setenv("KEFU_LLM_API_KEY", "")
    monkeypatch.setenv("KEFU_LLM_ALLOW_PRIVATE_HOSTS", "true")
    monkeypatch.setenv("KEFU_LLM_MAX_RETRIES", "0")
    get_settings.cache_clear()
    model_choice._providers.clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()
    model_choice._providers.clear()


@pytest.fixture
async def pair(client, private_models, fake_anthropic) -> tuple[Seeded, Seeded]:
    victim, attacker = await seed(client, "Model victim"), await seed(client, "Model attacker")
    response = await client.put(
        "/api/v1/settings/bot",
        headers=victim.admin,
        json={"provider": "anthropic", "model": "claude-victim", "base_url": fake_anthropic.base_url, "api_key": KEY},
    )
    assert response.status_code == 200
    return victim, attacker


async def test_another_tenant_never_sees_or_uses_the_model_settings(client, pair, fake_anthropic) -> None:
    _, attacker = pair
    theirs = (await client.get("/api/v1/settings/bot", headers=attacker.admin)).json()
    assert theirs["api_key_set"] is False and theirs["provider"] != "anthropic"
    assert fake_anthropic.base_url not in json.dumps(theirs)
    check = await client.post("/api/v1/settings/bot/test", headers=attacker.admin, json={})
    assert check.status_code == 200 and check.json()["provider"] == "local"
    answer = await client.post(
        "/api/v1/chat", headers={"X-Widget-Key": attacker.widget_key}, json={"message": "What is the refund policy?"}
    )
    assert answer.status_code == 200
    assert fake_anthropic.requests == []  # the victim's model (and key) was never called


async def test_the_key_is_never_shown_not_even_to_the_victims_own_people(client, pair) -> None:
    victim, _ = pair
    for headers in (victim.admin, victim.analyst, victim.analyst_token):
        response = await client.get("/api/v1/settings/bot", headers=headers)
        assert response.status_code == 200 and response.json()["api_key_set"] is True
        assert KEY not in response.text
    log = await client.get("/api/v1/audit", headers=victim.admin)
    assert KEY not in log.text
    with tenant_session_sync(victim.tenant_id) as session:
        details = [e.details for e in session.scalars(select(AuditEntry))]
    assert details and KEY not in json.dumps(details)


async def test_analysts_cannot_set_or_test_the_model(client, pair) -> None:
    victim, _ = pair
    for headers in (victim.analyst, victim.analyst_token):
        put = await client.put("/api/v1/settings/bot", headers=headers, json={"api_key": "sk-analyst-0000"})
        test = await client.post("/api/v1/settings/bot/test", headers=headers, json={})
        assert (put.status_code, test.status_code) == (403, 403)
