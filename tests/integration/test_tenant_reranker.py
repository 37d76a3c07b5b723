"""A tenant's own reranker (issue 21 item 4) against a local `/rerank` server over real HTTP: set
through `PUT /api/v1/settings/bot`, it reorders that tenant's search and chat; off and unset fall
back as documented; its curve decides the confidence only once fitted; bad input is a 422 that
stores nothing; the test connection says what the endpoint answered; cached answers follow the
reranker setting."""

from __future__ import annotations

import logging

import pytest

from core.settings import get_settings
from knowledge.confidence import CENTRE, SCALE, confidence
from knowledge.retrieval import retrieve, retrieve_sync
from tests.factories import TenantCtx
from tests.support.fake_reranker import DELIVERY_FAQ, DELIVERY_QUESTION

pytestmark = pytest.mark.integration
FAQ, QUESTION = DELIVERY_FAQ, DELIVERY_QUESTION
KEY = "rr-tenant-secret-0123456789"


@pytest.fixture
def env(monkeypatch):
    def apply(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(f"KEFU_{name.upper()}", value)
        get_settings.cache_clear()

    apply(llm_allow_private_hosts="true")  # the fake reranker listens on 127.0.0.1
    yield apply
    monkeypatch.undo()
    get_settings.cache_clear()


async def put(client, delivery_shop: TenantCtx, **changes):
    return await client.put("/api/v1/settings/bot", headers=delivery_shop.admin, json=changes)


async def first(client, delivery_shop: TenantCtx) -> str:
    return (await search(client, delivery_shop))[0]["source_ref"]


async def search(client, delivery_shop: TenantCtx, top_k: int = 2) -> list[dict]:
    response = await client.post("/api/v1/search", headers=delivery_shop.admin, json={"query": QUESTION, "top_k": top_k})
    assert response.status_code == 200, response.text
    return response.json()["hits"]


@pytest.mark.parametrize("api", ["cohere", "tei"])
async def test_the_tenants_reranker_reorders_its_search(client, delivery_shop, fake_reranker, env, api) -> None:
    assert await first(client, delivery_shop) == "D1"
    fake_reranker.favour = ["Saturdays"]
    saved = await put(client, delivery_shop, reranker_url=fake_reranker.url, reranker_api=api,
                      reranker_model="bge-reranker-v2-m3", reranker_api_key=KEY)
    assert saved.status_code == 200, saved.text
    view = saved.json()
    assert view["reranker"] is True and view["reranker_url"] == fake_reranker.url and view["reranker_api"] == api
    assert view["reranker_api_key_set"] is True and KEY not in saved.text and "reranker_api_key" not in view
    hits = await search(client, delivery_shop)
    assert hits[0]["source_ref"] == "D2"
    sent = fake_reranker.requests[-1]
    assert sent["query"] == QUESTION and sent["authorization"] == f"Bearer {KEY}"
    assert (sent.get("model") == "bge-reranker-v2-m3") == (api == "cohere")
    assert len(sent["documents"] if api == "cohere" else sent["texts"]) == 4  # the pool, not the 2 asked for
    # the sync twin (admin app's test page, evaluation runs, phrasing suggestions) uses it too
    assert retrieve_sync(delivery_shop.id, QUESTION, 2)[0].source_ref == "D2"


async def test_without_a_fitted_curve_it_only_reorders_and_the_gate_stays_on_the_fused_score(
        client, delivery_shop, fake_reranker, env) -> None:
    fake_reranker.favour = ["Saturdays"]
    fused = {h.source_ref: h.score for h in await retrieve(delivery_shop.id, QUESTION, 4)}
    assert (await put(client, delivery_shop, reranker_url=fake_reranker.url)).status_code == 200
    hits = await retrieve(delivery_shop.id, QUESTION, 2)
    assert hits[0].source_ref == "D2" and hits[0].reranked and hits[0].curve is None
    assert hits[0].score == pytest.approx(fused["D2"])  # its fused score, not the reranker's
    assert hits[0].relevance is not None and hits[0].relevance > 0.5
    expected = 1 / (1 + __import__("math").exp(-(fused["D2"] - CENTRE) / SCALE))
    assert confidence(hits) == pytest.approx(expected)


async def test_a_fitted_curve_maps_the_rerankers_score(client, delivery_shop, fake_reranker, env) -> None:
    fake_reranker.favour = ["Saturdays"]
    assert (await put(client, delivery_shop, reranker_url=fake_reranker.url, reranker_confidence_centre=0.3,
                      reranker_confidence_scale=0.05)).status_code == 200
    hits = await retrieve(delivery_shop.id, QUESTION, 2)
    assert hits[0].curve == (0.3, 0.05) and hits[0].score == hits[0].relevance and confidence(hits) > 0.9
    assert (await put(client, delivery_shop, reranker_confidence_centre=0.99, reranker_confidence_scale=0.05)).status_code == 200
    again = await retrieve(delivery_shop.id, QUESTION, 2)  # the save bumped the version: read again
    assert again[0].score == hits[0].score and confidence(again) < 0.5


async def test_off_means_no_reranker_not_even_the_operators(client, delivery_shop, fake_reranker, env) -> None:
    fake_reranker.favour = ["Saturdays"]
    env(rerank_url=fake_reranker.url)
    assert await first(client, delivery_shop) == "D2"  # unset: the operator's
    operator_calls = len(fake_reranker.requests)
    assert (await put(client, delivery_shop, reranker=False)).status_code == 200
    assert await first(client, delivery_shop) == "D1"
    assert len(fake_reranker.requests) == operator_calls
    shown = (await client.get("/api/v1/settings/bot", headers=delivery_shop.analyst)).json()
    assert shown["reranker"] is False and shown["reranker_url"] is None


@pytest.mark.parametrize(("changes", "words"), [
    ({"reranker_url": "ftp://rerank.example.com/rerank"}, "must start with http:// or https://"),
    ({"reranker_url": "not a url"}, "reranker_url"),
    ({"reranker_url": "https://user:pw@rerank.example.com/rerank"}, "must not contain a user name"),
    ({"reranker_url": "http://10.1.2.3/rerank"}, "private or reserved address"),
    ({"reranker_url": "http://127.0.0.1:9/rerank"}, "private or reserved address"),
    ({"reranker_url": "http://169.254.169.254/rerank"}, "reranker_url is not allowed"),
    ({"reranker_api": "openai"}, "reranker_api must be one of cohere, tei"),
    ({"reranker": "yes"}, "reranker must be true or false"),
    ({"reranker_confidence_centre": 0.4}, "set together"),
    ({"reranker_confidence_scale": 0}, "reranker_confidence_scale must be a number"),
    ({"reranker_api_key": "has spaces in it"}, "reranker_api_key must be the key"),
    ({"reranker_model": "m" * 300}, "reranker_model must be text"),
])
async def test_bad_reranker_settings_are_422_and_store_nothing(client, delivery_shop, changes, words) -> None:
    before = (await client.get("/api/v1/settings/bot", headers=delivery_shop.admin)).json()
    response = await put(client, delivery_shop, persona="Changed persona.", **changes)
    assert response.status_code == 422, response.text
    assert words in response.json()["detail"]
    assert (await client.get("/api/v1/settings/bot", headers=delivery_shop.admin)).json() == before


async def test_loopback_is_allowed_only_when_the_operator_allows_private_hosts(client, delivery_shop, fake_reranker,
                                                                             env) -> None:
    env(llm_allow_private_hosts="false")
    refused = await put(client, delivery_shop, reranker_url=fake_reranker.url)
    assert refused.status_code == 422 and "KEFU_LLM_ALLOW_PRIVATE_HOSTS" in refused.json()["detail"]
    env(llm_allow_private_hosts="true")
    assert (await put(client, delivery_shop, reranker_url=fake_reranker.url)).status_code == 200
    env(llm_allow_private_hosts="false")  # checked again at each call: the search keeps the fused order
    assert await first(client, delivery_shop) == "D1"
    assert fake_reranker.requests == []


async def test_test_connection_says_what_the_endpoint_answered(client, delivery_shop, fake_reranker, env) -> None:
    async def check() -> dict:
        response = await client.post("/api/v1/settings/bot/test", headers=delivery_shop.admin, json={"slot": "reranker"})
        assert response.status_code == 200, response.text
        return response.json()

    none = await check()
    assert none["ok"] is False and "No reranker is configured" in none["error"]
    assert (await put(client, delivery_shop, reranker_url=fake_reranker.url, reranker_model="bge-m3-rr",
                      reranker_api_key=KEY, reranker=False)).status_code == 200
    ok = await check()  # tested while switched off, before turning it on
    assert ok["ok"] is True and ok["provider"] == "reranker" and ok["model"] == "bge-m3-rr", ok
    assert fake_reranker.requests[-1]["authorization"] == f"Bearer {KEY}" and KEY not in str(ok)
    fake_reranker.mode = "error"
    assert "HTTP 500" in (await check())["error"]
    fake_reranker.mode = "garbage"
    assert "not a /rerank ranking" in (await check())["error"]
    bad = await client.post("/api/v1/settings/bot/test", headers=delivery_shop.admin, json={"slot": "rerank"})
    assert bad.status_code == 422 and "primary, fallback, transcription, reranker" in bad.json()["detail"]


async def test_cached_answers_follow_the_reranker_setting(client, delivery_shop, fake_reranker, env) -> None:
    async def ask() -> dict:
        response = await client.post("/api/v1/chat", headers={"X-Widget-Key": delivery_shop.created.widget_key},
                                     json={"message": QUESTION})
        assert response.status_code == 200, response.text
        return response.json()

    assert (await ask())["citations"][0]["source_ref"] == "D1"  # answered and cached without a reranker
    fake_reranker.favour = ["Saturdays"]
    env(rerank_url=fake_reranker.url, rerank_confidence_centre="0.3", rerank_confidence_scale="0.05")
    # the operator's reranker changes without a knowledge version bump: the cached answer is not served
    assert (await ask())["citations"][0]["source_ref"] == "D2"


async def test_the_key_is_never_logged(client, delivery_shop, fake_reranker, env, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    fake_reranker.mode = "error"
    assert (await put(client, delivery_shop, reranker_url=fake_reranker.url, reranker_api_key=KEY)).status_code == 200
    await search(client, delivery_shop)
    await client.post("/api/v1/settings/bot/test", headers=delivery_shop.admin, json={"slot": "reranker"})
    assert "reranker failed" in caplog.text and KEY not in caplog.text
    assert KEY not in (await client.get("/api/v1/audit", headers=delivery_shop.admin)).text
    removed = await put(client, delivery_shop, reranker_api_key=None)
    assert removed.json()["reranker_api_key_set"] is False
