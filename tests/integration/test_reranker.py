"""The optional cross-encoder reranker against a local `/rerank` server over real HTTP: off by default,
reorders the fused candidates when configured (Cohere/Jina and TEI request shapes), maps its score
with its own confidence curve, and keeps the fused order when it fails or is slow."""

from __future__ import annotations

import time

import pytest

from core.settings import get_settings
from knowledge import reranker
from knowledge.confidence import confidence
from knowledge.retrieval import retrieve, retrieve_sync
from tests.support.fake_reranker import DELIVERY_FAQ, DELIVERY_QUESTION

pytestmark = pytest.mark.integration
FAQ, QUESTION = DELIVERY_FAQ, DELIVERY_QUESTION


@pytest.fixture
def configure(monkeypatch):
    def apply(**env: str) -> None:
        for name, value in env.items():
            monkeypatch.setenv(f"KEFU_RERANK_{name.upper()}", value)
        get_settings.cache_clear()

    yield apply
    monkeypatch.undo()
    get_settings.cache_clear()


def refs(hits) -> list[str | None]:
    return [h.source_ref for h in hits]


async def test_off_by_default_search_is_the_fused_order(delivery_shop, fake_reranker) -> None:
    assert not reranker.enabled() and reranker.operator() is None
    hits = await retrieve(delivery_shop.id, QUESTION, 3)
    assert refs(hits)[0] == "D1" and not any(h.reranked for h in hits)
    assert fake_reranker.requests == []


@pytest.mark.parametrize("api", ["cohere", "tei"])
async def test_the_cross_encoder_reorders_the_top_candidates(delivery_shop, fake_reranker, configure, api) -> None:
    fused = refs(await retrieve(delivery_shop.id, QUESTION, 2))
    fake_reranker.favour = ["Saturdays"]  # the cross-encoder prefers D2's passage
    configure(url=fake_reranker.url, api=api, model="bge-reranker-v2-m3", top_n="4", api_key="rr-key")
    hits = await retrieve(delivery_shop.id, QUESTION, 2)
    assert fused[0] == "D1" and refs(hits)[0] == "D2"
    assert len(hits) == 2 and all(h.reranked for h in hits) and hits[0].score >= hits[1].score
    sent = fake_reranker.requests[-1]
    assert sent["query"] == QUESTION and sent["authorization"] == "Bearer rr-key"
    passages = sent["documents"] if api == "cohere" else sent["texts"]
    assert len(passages) == 4  # the reranker's pool (top_n), not only the 2 asked for
    assert (sent.get("model") == "bge-reranker-v2-m3") == (api == "cohere")
    assert refs(retrieve_sync(delivery_shop.id, QUESTION, 2)) == refs(hits)  # the sync twin (admin app, evaluations)


async def test_confidence_uses_the_rerankers_own_curve(delivery_shop, fake_reranker, configure) -> None:
    configure(url=fake_reranker.url, confidence_centre="0.3", confidence_scale="0.05")
    hits = await retrieve(delivery_shop.id, QUESTION, 3)
    assert hits[0].reranked and hits[0].score > 0.3
    assert confidence(hits) > 0.9
    configure(confidence_centre="0.95")
    again = await retrieve(delivery_shop.id, QUESTION, 3)
    assert again[0].score == hits[0].score and confidence(again) < 0.5  # same score, another reranker's curve


@pytest.mark.parametrize("mode", ["error", "slow", "garbage"])
async def test_a_failing_reranker_keeps_the_fused_order(delivery_shop, fake_reranker, configure, mode) -> None:
    fused = await retrieve(delivery_shop.id, QUESTION, 3)
    fake_reranker.mode, fake_reranker.favour = mode, ["Saturdays"]
    configure(url=fake_reranker.url, timeout_seconds="0.5")
    started = time.perf_counter()
    hits = await retrieve(delivery_shop.id, QUESTION, 3)
    assert refs(hits) == refs(fused) and not any(h.reranked for h in hits)
    assert [h.score for h in hits] == [h.score for h in fused]
    assert time.perf_counter() - started < 2.0  # the timeout bounds a slow reranker
    assert len(fake_reranker.requests) == 1


async def test_chat_answers_from_the_reranked_first_hit(client, delivery_shop, fake_reranker, configure) -> None:
    fake_reranker.favour = ["Saturdays"]
    configure(url=fake_reranker.url, confidence_centre="0.3", confidence_scale="0.05")
    response = await client.post("/api/v1/chat", headers={"X-Widget-Key": delivery_shop.created.widget_key},
                                 json={"message": QUESTION})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["citations"][0]["source_ref"] == "D2" and "Saturdays" in body["answer"]


def test_the_curve_fit_recovers_a_known_centre_and_scale() -> None:
    import random

    from knowledge.confidence import fit_curve

    rng = random.Random(7)
    scores = [rng.random() for _ in range(4000)]
    right = [rng.random() < 1 / (1 + __import__("math").exp(-(s - 0.62) / 0.07)) for s in scores]
    centre, scale = fit_curve(scores, right)
    assert abs(centre - 0.62) < 0.02 and abs(scale - 0.07) < 0.015
    with pytest.raises(ValueError):
        fit_curve([0.1, 0.9], [True, True])
