"""Tenant A's credentials never read or change tenant B's data, on every route the app serves.

For each route, A calls it aimed at B: B's ids in the path, B's visitor id in the query, B's names
in the body. Routes that name an object answer 404 (B's rows do not exist for A), no response
carries any of B's text or ids, and B's data is byte-for-byte unchanged afterwards.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets

from backend.api.app import create_app
from tests.security.surface import EXPLICIT, PROBES, PUBLIC, Route, Seeded, api_routes, is_public
from tests.security.world import seed, snapshot

pytestmark = pytest.mark.integration
ROUTES = {route.key: route for route in api_routes(create_app())}


@pytest.fixture(scope="module")
async def world(client) -> tuple[Seeded, Seeded]:
    return await seed(client, "Attacker A"), await seed(client, "Victim B")


def test_every_route_is_probed_or_deliberately_public() -> None:
    unexplained = sorted(key for key, route in ROUTES.items()
                         if not is_public(route) and key not in PROBES and key not in EXPLICIT)
    assert not unexplained, (
        f"Routes without a cross-tenant probe: {unexplained}. Add a Probe in tests/security/surface.py "
        "(or list the route in PUBLIC with the reason it needs no credential).")
    stale = sorted(set(PUBLIC) - set(ROUTES))
    assert not stale, f"PUBLIC lists routes the app no longer serves: {stale}"


def test_public_routes_take_no_credential_and_credentialed_routes_are_guarded() -> None:
    for route in ROUTES.values():
        if is_public(route):
            assert route.audience == "public", f"{route.key} is listed public but reads a credential"
        if route.takes("principal"):
            assert route.guarded, f"{route.key} reads the principal without a role guard"


def route_for(key: tuple[str, str]) -> Route:
    if key not in ROUTES:
        pytest.skip(f"{key} is not served by this build")
    return ROUTES[key]


def credentials(route: Route, tenant: Seeded) -> dict[str, str]:
    return tenant.admin if route.audience == "admin" else tenant.widget


def leaked(response_text: str, victim: Seeded, sent: str) -> list[str]:
    """The victim's secrets in a response, except those the attacker itself put in the request."""
    return [s for s in victim.secrets() if s and s in response_text and s not in sent]


async def call(client, route: Route, caller: Seeded, target: Seeded, probe_args: tuple[Seeded, Seeded]) -> Any:
    probe = PROBES[route.key]
    path = route.url(target.path_values())
    query, body = probe.query(*probe_args), probe.body(*probe_args)
    response = await client.request(route.method, path, headers=credentials(route, caller), params=query, **body)
    return response, f"{path} {query} {body}"


def body_text(response) -> str:
    return response.content.decode("utf-8", errors="replace")


@pytest.mark.parametrize("key", sorted(PROBES), ids=lambda k: f"{k[0]} {k[1]}")
async def test_attacker_aimed_at_the_victim_gets_nothing_and_changes_nothing(client, world, key) -> None:
    attacker, victim = world
    route = route_for(key)
    probe = PROBES[key]
    before = snapshot(victim.tenant_id)
    response, sent = await call(client, route, attacker, victim, (attacker, victim))
    if probe.echoes_requests:
        sent += f" {victim.names()} {victim.marker}"
    assert response.status_code < 500, response.text
    if probe.foreign is not None:
        assert response.status_code == probe.foreign, response.text
    assert not leaked(body_text(response), victim, sent)
    assert snapshot(victim.tenant_id) == before


@pytest.mark.parametrize("key", sorted(k for k, p in PROBES.items() if p.lists_own and k[0] == "GET"),
                         ids=lambda k: f"{k[0]} {k[1]}")
async def test_own_reads_show_own_rows_and_never_the_other_tenants(client, world, key) -> None:
    attacker, victim = world
    route = route_for(key)
    response, _ = await call(client, route, attacker, attacker, (attacker, attacker))
    assert response.status_code == 200, response.text
    text = body_text(response)
    evidence = [attacker.secret, attacker.marker, attacker.document_id, attacker.conversation_id, attacker.answer_id,
                attacker.widget_key, attacker.record_key]
    assert any(e in text for e in evidence), f"{key} showed none of the caller's own rows: {text[:300]}"
    # The attack probes deliberately created the attacker's own rows under the victim's names.
    sent = victim.names() + (f" {victim.marker}" if PROBES[key].echoes_requests else "")
    assert not leaked(text, victim, sent=sent)


async def test_search_for_the_victims_words_finds_only_own_knowledge(client, world) -> None:
    attacker, victim = world
    response = await client.post("/api/v1/search", headers=attacker.admin,
                                 json={"query": f"{victim.marker} refund policy", "top_k": 50})
    assert response.status_code == 200
    documents = {hit["document_id"] for hit in response.json()["hits"]}
    assert documents <= {attacker.document_id}


async def test_chat_about_the_victims_knowledge_answers_from_own_knowledge_only(client, world) -> None:
    attacker, victim = world
    response = await client.post("/api/v1/chat", headers=attacker.widget,
                                 json={"message": f"What is the {victim.marker} refund policy?"})
    assert response.status_code == 200
    body = response.json()
    assert victim.secret not in body["answer"]
    assert {c["document_id"] for c in body["citations"]} <= {attacker.document_id}


@pytest.mark.parametrize("mode", ["", "?mode=queued"])
async def test_choosing_the_victims_entry_as_a_suggestion_is_refused(client, world, mode) -> None:
    attacker, victim = world
    before = snapshot(victim.tenant_id)
    response = await client.post(f"/api/v1/chat{mode}", headers=attacker.widget,
                                 json={"message": "that one", "visitor_id": "v-chooser",
                                       "suggestion": {"source_ref": f"{victim.marker}-1"}})
    assert response.status_code == 422, response.text
    assert "suggestion.source_ref" in response.json()["detail"]
    assert not leaked(response.text, victim, f"{victim.marker}-1")
    assert snapshot(victim.tenant_id) == before


async def test_an_agent_reply_cannot_name_the_victims_entry_as_used(client, world) -> None:
    attacker, victim = world
    started = await client.post("/api/v1/chat", headers=attacker.widget,
                                json={"message": "转人工", "visitor_id": "v-used-entry"})
    conversation_id = started.json()["conversation_id"]
    before = snapshot(victim.tenant_id)
    response = await client.post(f"/api/v1/inbox/{conversation_id}/messages", headers=attacker.admin,
                                 json={"text": "here you go", "used_entry": {"source_ref": f"{victim.marker}-1"}})
    assert response.status_code == 422, response.text
    assert "used_entry.source_ref" in response.json()["detail"]
    assert not leaked(response.text, victim, f"{victim.marker}-1")
    assert snapshot(victim.tenant_id) == before


def test_socket_cannot_join_another_tenants_conversation(live_api, world) -> None:
    attacker, victim = world
    before = snapshot(victim.tenant_id)

    async def scenario() -> list[dict]:
        url = live_api.replace("http://", "ws://") + f"/api/v1/chat/ws?key={attacker.widget_key}"
        frames = []
        async with websockets.connect(url) as socket:
            for mode in ("stream", "queued"):
                await socket.send(json.dumps({"type": "message", "message": "hello", "mode": mode,
                                              "conversation_id": victim.conversation_id,
                                              "visitor_id": victim.visitor_id}))
                frames.append(json.loads(await asyncio.wait_for(socket.recv(), 30)))
        return frames

    frames = asyncio.run(scenario())
    assert [(f["type"], f["status"]) for f in frames] == [("error", 404), ("error", 404)]
    assert snapshot(victim.tenant_id) == before


@pytest.mark.parametrize("dataset", ["conversations", "messages", "feedback", "daily"])
async def test_every_export_dataset_holds_only_the_callers_rows(client, world, dataset) -> None:
    attacker, victim = world
    route_for(("GET", "/api/v1/analytics/export"))
    response = await client.get("/api/v1/analytics/export", headers=attacker.analyst,
                                params={"dataset": dataset, "format": "csv"})
    assert response.status_code == 200, response.text
    assert not leaked(body_text(response), victim, sent=victim.names())


async def test_a_same_named_collection_only_holds_the_callers_records(client, world) -> None:
    attacker, victim = world
    response = await client.get(f"/api/v1/records/orders/{victim.record_key}", headers=attacker.admin)
    assert response.status_code == 404
    own = await client.get(f"/api/v1/records/orders/{attacker.record_key}", headers=attacker.admin)
    assert own.status_code == 200 and attacker.secret in own.text


async def test_the_order_lookup_tool_cannot_reach_the_victims_records(client, world) -> None:
    attacker, victim = world
    own = await client.post("/api/v1/chat", headers=attacker.widget,
                            json={"message": f"Where is my order {attacker.record_key}?",
                                  "user": attacker.user_claim()})
    assert attacker.secret in own.json()["answer"]  # the tool does look records up for their owner
    for message in (f"Where is my order {victim.record_key}?", f"订单 {victim.record_key} 到哪了？"):
        # The attacker's own signed-in customer, then one claiming the victim's customer id (signed
        # with the attacker's secret, which is all the attacker has).
        for user in (None, attacker.user_claim(), attacker.user_claim(victim.user_id)):
            response = await client.post("/api/v1/chat", headers=attacker.widget,
                                         json={"message": message, **({"user": user} if user else {})})
            assert response.status_code == 200, response.text
            assert not leaked(response.text, victim, sent=f"{message} {user}")
