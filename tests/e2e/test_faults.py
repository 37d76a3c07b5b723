"""Two APIs, two workers and the Dash admin app as real processes on a private Redis, then faults (issue 7): a worker
SIGKILLed mid-ingestion, Redis restarted under chat load, PostgreSQL restarted, the LLM failing.
After each, every accepted message is answered or explicitly failed, nothing lost or duplicated."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import pytest
import websockets
from sqlalchemy import text

from core.db import owner_engine, tenant_session_sync
from core.models import Conversation, Message
from core.settings import get_settings
from tests.e2e.conftest import kefu
from tests.e2e.topology import EmbeddedPostgres, RedisServer, Topology, actor_runs, topology_env
from tests.factories import qa_csv
from tests.support.fake_openai import FakeOpenAI, error, hang
from tests.support.scale import scaled

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def llm() -> FakeOpenAI:
    server = FakeOpenAI().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def redis_server() -> RedisServer:
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def cluster(database, redis_server, llm) -> Topology:
    topology = Topology(topology_env(redis_server.url, KEFU_LLM_API_KEY="sk-fault-test",
                                     KEFU_LLM_BASE_URL=llm.base_url, KEFU_LLM_TIMEOUT_SECONDS="2",
                                     KEFU_LLM_MAX_RETRIES="1"))
    try:
        topology.start_api()
        topology.start_api()
        topology.start_worker()
        topology.start_worker()
        topology.start_dash()
        yield topology
    finally:
        topology.stop()


def _tenant(cluster: Topology, name: str, provider: str) -> dict:
    result = kefu("tenant", "create", name, "--admin-email", f"{name.lower()}@faults.example",
                  "--admin-password", "password-123", "--json", env=cluster.env)
    assert result.returncode == 0, result.stderr
    tenant = json.loads(result.stdout)
    tenant["admin"] = {"Authorization": f"Bearer {tenant['admin_api_key']}"}
    tenant["widget"] = {"X-Widget-Key": tenant["widget_key"]}
    # The hash embedder (fast, for process tests) is not what confidence is calibrated on: no gate.
    saved = httpx.put(f"{cluster.apis[0].url}/api/v1/settings/bot", headers=tenant["admin"],
                      json={"provider": provider, "rate_limit_per_minute": 100_000, "confidence_threshold": 0.0,
                            "visitor_rate_limit_per_minute": 10_000, "address_rate_limit_per_minute": 100_000},
                      timeout=10)
    assert saved.status_code == 200, saved.text
    return tenant


@pytest.fixture(scope="module")
def shop(cluster) -> dict:
    tenant = _tenant(cluster, "FaultShop", "local")
    upload = httpx.post(f"{cluster.apis[0].url}/api/v1/documents", headers=tenant["admin"], timeout=30,
                        files={"file": ("faq.csv", qa_csv([
                            ("S1", "How long does shipping take?", "Shipping takes three working days."),
                            ("S2", "Can I return an item?", "Returns are free within 30 days.")]))})
    assert _wait_documents(cluster, tenant, [upload.json()["id"]])[0]["status"] == "ready"
    return tenant


def _wait_documents(cluster: Topology, tenant: dict, ids: list[str], timeout: float = 180) -> list[dict]:
    deadline = time.monotonic() + timeout
    pending = set(ids)
    done: dict[str, dict] = {}
    while pending:
        assert time.monotonic() < deadline, f"{len(pending)} documents not finished"
        for document_id in list(pending):
            body = httpx.get(f"{cluster.apis[0].url}/api/v1/documents/{document_id}", headers=tenant["admin"],
                             timeout=10).json()
            if body["status"] in ("ready", "failed"):
                done[document_id] = body
                pending.discard(document_id)
        time.sleep(0.3)
    return [done[i] for i in ids]


def _chunks_in_database(document_id: str) -> int:
    with owner_engine().connect() as connection:
        return int(connection.scalar(text("SELECT count(*) FROM chunks WHERE document_id = :d"), {"d": document_id}))


def test_answer_queued_through_api_2_arrives_on_a_socket_held_by_api_1(cluster, shop) -> None:
    api1, api2 = cluster.apis[0].url, cluster.apis[1].url

    async def scenario() -> dict:
        url = api1.replace("http://", "ws://") + f"/api/v1/chat/ws?key={shop['widget_key']}"
        async with websockets.connect(url) as socket:
            await socket.send(json.dumps({"type": "message", "message": "hello", "visitor_id": "fault-v1",
                                          "mode": "queued"}))
            accepted = json.loads(await asyncio.wait_for(socket.recv(), 30))
            while json.loads(await asyncio.wait_for(socket.recv(), 30))["type"] != "final":
                pass
            queued = httpx.post(f"{api2}/api/v1/chat?mode=queued", headers=shop["widget"], timeout=10,
                                json={"message": "How long does shipping take?", "visitor_id": "fault-v1",
                                      "conversation_id": accepted["conversation_id"]})
            assert queued.status_code == 202, queued.text
            while True:
                frame = json.loads(await asyncio.wait_for(socket.recv(), 30))
                if frame["type"] == "final" and frame["customer_message_id"] == queued.json()["message_id"]:
                    return frame

    frame = asyncio.run(scenario())
    assert "three working days" in frame["answer"]


# Every size from 1 to 7 rows, alternating APIs, several rounds of each worker's prefetch; `make bench-scale`
# (bench/scale_checks.py) runs this test with 200 documents.
MANY_DOCUMENTS = scaled(24, 200)


def test_many_documents_across_both_workers_with_exact_chunk_counts(cluster, shop) -> None:
    before = [actor_runs(worker, "ingest_document") for worker in cluster.workers]
    ids, expected = [], {}
    with httpx.Client(timeout=30) as client:
        for n in range(MANY_DOCUMENTS):
            rows = [(f"D{n}-{r}", f"Question {r} about item {n}?", f"Answer {r} for item {n}.")
                    for r in range(n % 7 + 1)]
            api = cluster.apis[n % 2].url
            response = client.post(f"{api}/api/v1/documents", headers=shop["admin"],
                                   files={"file": (f"bulk-{n}.csv", qa_csv(rows))})
            assert response.status_code == 202, response.text
            ids.append(response.json()["id"])
            expected[response.json()["id"]] = len(rows)
    documents = _wait_documents(cluster, shop, ids)
    assert [d["status"] for d in documents] == ["ready"] * MANY_DOCUMENTS
    assert {d["id"]: d["chunk_count"] for d in documents} == expected
    with owner_engine().connect() as connection:
        stored = dict(connection.execute(text(
            "SELECT document_id::text, count(*) FROM chunks WHERE document_id = ANY(CAST(:ids AS uuid[])) "
            "GROUP BY document_id"), {"ids": ids}).all())
    assert stored == expected
    after = [actor_runs(worker, "ingest_document") for worker in cluster.workers]
    assert all(a > b for a, b in zip(after, before, strict=True)), (before, after)


def test_worker_killed_mid_ingestion_the_other_finishes_with_exact_chunks(cluster, shop) -> None:
    victim, survivor = cluster.workers
    survivor.pause()  # so the victim is the one that takes the job
    rows = [(f"K{r}", f"Kill test question number {r} about order {r * 7}?", f"Answer {r}: " + "details " * 5)
            for r in range(40_000)]
    try:
        response = httpx.post(f"{cluster.apis[0].url}/api/v1/documents", headers=shop["admin"], timeout=60,
                              files={"file": ("big.csv", qa_csv(rows))})
        assert response.status_code == 202, response.text
        document_id = response.json()["id"]
        deadline = time.monotonic() + 60
        while httpx.get(f"{cluster.apis[0].url}/api/v1/documents/{document_id}", headers=shop["admin"],
                        timeout=10).json()["status"] != "processing":
            assert time.monotonic() < deadline, "the victim never started the job"
            time.sleep(0.05)
        time.sleep(1.0)  # well inside parsing/embedding of 40k rows
        victim.kill()
    finally:
        survivor.resume()
    # The survivor's broker maintenance sees the victim's heartbeat stop and requeues its message.
    (document,) = _wait_documents(cluster, shop, [document_id], timeout=240)
    assert document["status"] == "ready", document
    assert document["chunk_count"] == 40_000 == _chunks_in_database(document_id)
    cluster.workers.remove(victim)
    cluster.start_worker()


OUTAGE_FAQ = qa_csv([("O1", "Is there a loyalty card?", "Yes, every tenth tea is free.")])


def refused_id(tenant: dict, filename: str, cluster: Topology) -> str:
    listing = httpx.get(f"{cluster.apis[0].url}/api/v1/documents", headers=tenant["admin"],
                        params={"limit": 500}, timeout=10).json()
    return next(d["id"] for d in listing["items"] if d["filename"] == filename)


def _chat_load(cluster: Topology, tenant: dict, stop: threading.Event, results: list) -> None:
    n = 0
    with httpx.Client(timeout=20) as client:
        while not stop.is_set():
            api = cluster.apis[n % 2].url
            queued = n % 2 == 0
            try:
                response = client.post(f"{api}/api/v1/chat" + ("?mode=queued" if queued else ""),
                                       headers=tenant["widget"],
                                       json={"message": f"Can I return an item? ({n})", "visitor_id": f"load-{n}"})
                body = response.json() if response.headers.get("content-type", "").startswith(
                    ("application/json", "application/problem+json")) else {}
                results.append((queued, response.status_code, body, f"load-{n}"))
            except httpx.HTTPError as exc:  # a refused connection would be a crashed API
                results.append((queued, f"transport error: {exc!r}", {}, f"load-{n}"))
            n += 1
            time.sleep(0.02)


def _settle_queued(cluster: Topology, tenant: dict, accepted: list[tuple[str, str]], timeout: float = 120) -> Counter:
    """Poll every accepted queued message until it is answered or failed; return the outcomes."""
    outcomes: Counter = Counter()
    deadline = time.monotonic() + timeout
    for message_id, visitor in accepted:
        while True:
            body = httpx.get(f"{cluster.apis[1].url}/api/v1/chat/messages/{message_id}",
                             params={"visitor_id": visitor}, headers=tenant["widget"], timeout=10).json()
            if body.get("reply") or body.get("status") == "failed":
                outcomes["answered" if body.get("reply") else "failed"] += 1
                break
            assert time.monotonic() < deadline, f"message {message_id} still {body.get('status')}"
            time.sleep(0.2)
    return outcomes


def _replies_per_question(tenant_id: str) -> Counter:
    with owner_engine().connect() as connection:
        rows = connection.execute(text(
            "SELECT q.id::text, count(a.id) FROM messages q LEFT JOIN messages a ON a.reply_to = q.id "
            "WHERE q.tenant_id = :t AND q.role = 'customer' GROUP BY q.id"), {"t": tenant_id}).all()
    return Counter(count for _, count in rows)


def test_redis_restarted_under_chat_load_nothing_accepted_is_lost(cluster, shop, redis_server) -> None:
    stop, results = threading.Event(), []
    load = threading.Thread(target=_chat_load, args=(cluster, shop, stop, results))
    load.start()
    try:
        time.sleep(2)
        redis_server.stop()
        time.sleep(1)  # requests keep coming while Redis is down
        refused = httpx.post(f"{cluster.apis[0].url}/api/v1/documents", headers=shop["admin"], timeout=30,
                             files={"file": ("during-outage.csv", OUTAGE_FAQ)})
        time.sleep(1)
        redis_server.start()
        time.sleep(3)
    finally:
        stop.set()
        load.join(60)
    # An upload during the outage is refused and marked failed, so sending it again requeues it.
    assert refused.status_code == 503 and "upload it again" in refused.json()["detail"]
    again = httpx.post(f"{cluster.apis[1].url}/api/v1/documents", headers=shop["admin"], timeout=30,
                       files={"file": ("during-outage.csv", OUTAGE_FAQ)})
    assert again.status_code == 202 and again.json()["id"] == refused_id(shop, "during-outage.csv", cluster)
    assert _wait_documents(cluster, shop, [again.json()["id"]])[0]["chunk_count"] == 1
    statuses = Counter(status for _, status, _, _ in results)
    assert set(statuses) <= {200, 202, 503}, statuses  # never a 500, never a dead API
    assert statuses[200] > 0 and statuses[202] > 0
    accepted = [(body["message_id"], visitor) for queued, status, body, visitor in results if status == 202]
    outcomes = _settle_queued(cluster, shop, accepted)
    assert outcomes["answered"] + outcomes["failed"] == len(accepted)
    # The API recovered without a restart: both answer again, queued and direct.
    for api in cluster.apis:
        direct = httpx.post(f"{api.url}/api/v1/chat", headers=shop["widget"], timeout=20,
                            json={"message": "How long does shipping take?", "visitor_id": "after-redis"})
        assert direct.status_code == 200 and "three working days" in direct.json()["answer"]
        queued = httpx.post(f"{api.url}/api/v1/chat?mode=queued", headers=shop["widget"], timeout=20,
                            json={"message": "How long does shipping take?", "visitor_id": "after-redis"})
        assert queued.status_code == 202
        assert _settle_queued(cluster, shop, [(queued.json()["message_id"], "after-redis")])["answered"] == 1
    # No question has two answers; none is left pending.
    assert set(_replies_per_question(shop["tenant_id"])) <= {0, 1}
    with owner_engine().connect() as connection:
        pending = connection.scalar(text("SELECT count(*) FROM messages WHERE tenant_id = :t AND status = 'pending'"),
                                    {"t": shop["tenant_id"]})
    assert pending == 0


def test_a_question_whose_job_was_lost_is_answered_by_the_workers_recovery_sweep(cluster, shop) -> None:
    """A stored pending question with no job anywhere (what a Redis fault can leave behind)."""
    with tenant_session_sync(shop["tenant_id"]) as session:
        conversation = Conversation(tenant_id=uuid.UUID(shop["tenant_id"]), visitor_id="lost-job", channel="widget")
        session.add(conversation)
        session.flush()
        question = Message(tenant_id=conversation.tenant_id, conversation_id=conversation.id, role="customer",
                           status="pending", text="How long does shipping take?")
        session.add(question)
        session.flush()
        message_id = str(question.id)
    # Re-sent after KEFU_RECOVER_CHAT_AFTER_SECONDS (10 here) on a sweep tick (every 15 s).
    assert _settle_queued(cluster, shop, [(message_id, "lost-job")], timeout=90)["answered"] == 1
    assert set(_replies_per_question(shop["tenant_id"])) <= {0, 1}


def test_postgres_restarted_ready_reflects_it_and_pools_reconnect(cluster, shop) -> None:
    postgres = EmbeddedPostgres(Path(get_settings().data_dir) / "pg")
    postgres.stop()
    try:
        for api in cluster.apis:
            ready = httpx.get(f"{api.url}/ready", timeout=10)
            assert ready.status_code == 503 and ready.json()["checks"]["database"].startswith("unreachable")
            down = httpx.post(f"{api.url}/api/v1/chat", headers=shop["widget"], timeout=20,
                              json={"message": "How long does shipping take?", "visitor_id": "pg-down"})
            assert down.status_code == 503, down.text
    finally:
        postgres.start()
    for api in cluster.apis:
        deadline = time.monotonic() + 30
        while httpx.get(f"{api.url}/ready", timeout=10).status_code != 200:
            assert time.monotonic() < deadline, "API did not become ready after PostgreSQL came back"
            time.sleep(0.3)
        answer = httpx.post(f"{api.url}/api/v1/chat", headers=shop["widget"], timeout=20,
                            json={"message": "How long does shipping take?", "visitor_id": "pg-back"})
        assert answer.status_code == 200 and "three working days" in answer.json()["answer"]
    # The admin app's pool reconnects too: sign in and stream an export of the tenant's messages.
    with httpx.Client(base_url=cluster.dash.url, timeout=60) as dash:
        signed_in = dash.post("/login", data={"email": "faultshop@faults.example", "password": "password-123"})
        assert signed_in.status_code == 302 and signed_in.headers["location"].endswith("/")
        export = dash.get("/export/file", params={"dataset": "messages", "format": "csv"})
        assert export.status_code == 200 and "How long does shipping take?" in export.text
    upload = httpx.post(f"{cluster.apis[1].url}/api/v1/documents", headers=shop["admin"], timeout=30,
                        files={"file": ("after-pg.csv", qa_csv([("P1", "Do you ship abroad?", "Yes, to 30 countries.")]))})
    assert _wait_documents(cluster, shop, [upload.json()["id"]])[0]["chunk_count"] == 1


def test_llm_errors_and_timeouts_give_grounded_fallbacks_never_a_500(cluster, llm) -> None:
    tenant = _tenant(cluster, "FaultLLM", "openai")
    upload = httpx.post(f"{cluster.apis[0].url}/api/v1/documents", headers=tenant["admin"], timeout=30,
                        files={"file": ("faq.csv", qa_csv([("L1", "What are your opening hours?",
                                                             "We are open 9:00-18:00, Monday to Saturday.")]))})
    assert _wait_documents(cluster, tenant, [upload.json()["id"]])[0]["status"] == "ready"
    llm.script(*[error(500)] * 8, *[hang(6)] * 8)
    replies = []
    for n in range(4):  # two 500-bursts then two timeouts (each call: one try + one retry)
        api = cluster.apis[n % 2].url
        response = httpx.post(f"{api}/api/v1/chat", headers=tenant["widget"], timeout=60,
                              json={"message": "What are your opening hours?", "visitor_id": f"llm-{n}"})
        replies.append(response)
    assert [r.status_code for r in replies] == [200] * 4, [r.text for r in replies]
    for reply in replies:
        assert "9:00-18:00" in reply.json()["answer"]  # grounded fallback from the knowledge
        assert "Echo" not in reply.json()["answer"]
    queued = httpx.post(f"{cluster.apis[1].url}/api/v1/chat?mode=queued", headers=tenant["widget"], timeout=20,
                        json={"message": "What are your opening hours?", "visitor_id": "llm-q"})
    assert queued.status_code == 202
    assert _settle_queued(cluster, tenant, [(queued.json()["message_id"], "llm-q")])["answered"] == 1
