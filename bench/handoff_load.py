"""Hand-off load: N customers hand off at once to K agents on two `kefu api` processes.

Topology (bench/harness.py): embedded PostgreSQL, the bench Redis database, two `kefu api`
processes, one worker (it only POSTs webhook deliveries; hand-offs and replies need none), the
hash embedder (no knowledge is searched: "转人工" is the local responder's hand-off intent).
Every customer holds a widget WebSocket on API process A; every agent holds the inbox WebSocket and sends replies on API
process B, so every push crosses processes through Redis pub/sub.

1. All customers send "转人工" at once (stream mode); the bot hands each conversation off.
2. Agent k assigns conversations k, k+K, k+2K, … (HTTP on B).
3. For R rounds: every customer writes a message (over its socket on A); the agent holding the
   conversation receives it on the inbox socket (B) and replies (HTTP on B, with a client_ref;
   every 5th reply is sent twice with the same client_ref, as a page retrying after a dropped
   connection would); the customer's socket on A receives the reply.

Printed: p50/p95/max push latency customer→agent (the customer's message sent → the agent's
socket has it) and agent→customer (the reply's request sent → the customer's socket has it),
both also from the server's publish time (`sent_at`); lost and duplicated messages each way,
counted on the sockets; the stored counts read back as the owner role; webhook deliveries: a
receiver on 127.0.0.1 subscribed to `handoff.requested` and `message.created` counts the distinct
deliveries it got (by `X-Kefu-Delivery`), duplicates, bad signatures, and the delivery rate against
the events expected (one hand-off and R customer messages per customer). Figures, not asserts.

    flock /tmp/kefu-bench.lock python bench/handoff_load.py
    flock /tmp/kefu-bench.lock python bench/handoff_load.py --customers 50 --agents 5 --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import numpy as np
import websockets
from harness import BENCH_REDIS, topology

TARGET_P95_MS = 500.0


def now_ms() -> float:
    return time.time() * 1000


@dataclass
class Customer:
    index: int
    visitor_id: str
    socket: Any = None
    conversation_id: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)  # agent_message frames, with arrival time


@dataclass
class Agent:
    index: int
    token: str
    socket: Any = None
    received: list[dict[str, Any]] = field(default_factory=list)  # customer_message events, with arrival time
    handoffs: int = 0


class Receiver:
    """A webhook receiver on 127.0.0.1: every POST's delivery id, event, signature check and lag."""

    def __init__(self) -> None:
        self.secret = ""
        self.deliveries: list[tuple[str, str, bool, float]] = []  # (delivery id, event, signed right, lag ms)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                expected = "sha256=" + hmac.new(receiver.secret.encode(), body, hashlib.sha256).hexdigest()
                signed = hmac.compare_digest(expected, self.headers.get("X-Kefu-Signature") or "")
                created = datetime.fromisoformat(json.loads(body)["created_at"]).timestamp() * 1000
                receiver.deliveries.append((self.headers.get("X-Kefu-Delivery") or "", self.headers.get(
                    "X-Kefu-Event") or "", signed, now_ms() - created))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/kefu-events"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def summary(self, expected: int) -> dict[str, Any]:
        ids = Counter(d[0] for d in self.deliveries)
        return {"expected": expected, "delivered": len(ids), "duplicates": sum(n - 1 for n in ids.values()),
                "bad_signatures": sum(1 for d in self.deliveries if not d[2]),
                "by_event": dict(Counter(d[1] for d in {d[0]: d for d in self.deliveries}.values())),
                "delivery_rate_pct": round(100 * len(ids) / expected, 1) if expected else None,
                "event_to_receiver_ms": percentiles([d[3] for d in self.deliveries])}


async def read_customer(customer: Customer) -> None:
    async for raw in customer.socket:
        frame = json.loads(raw)
        if frame.get("type") == "agent_message":
            customer.received.append({**frame, "arrived": now_ms()})


async def read_agent(agent: Agent) -> None:
    async for raw in agent.socket:
        event = json.loads(raw)
        if event.get("type") == "customer_message":
            agent.received.append({**event, "arrived": now_ms()})
        elif event.get("type") == "handoff":
            agent.handoffs += 1


async def hand_off(customer: Customer, api: str, widget_key: str) -> None:
    url = api.replace("http://", "ws://") + f"/api/v1/chat/ws?key={widget_key}"
    customer.socket = await websockets.connect(url, max_queue=None)
    await customer.socket.send(json.dumps({"type": "message", "message": "转人工", "visitor_id": customer.visitor_id}))
    while True:
        frame = json.loads(await asyncio.wait_for(customer.socket.recv(), 60))
        if frame.get("type") == "final":
            assert frame["handoff"], frame
            customer.conversation_id = frame["conversation_id"]
            return
        if frame.get("type") == "error":
            raise RuntimeError(frame)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from core.db import tenant_session_sync
    from core.tenancy import add_user, create_tenant

    receiver = Receiver()
    # The receiver is on 127.0.0.1, so the SSRF guard must allow private addresses here (never in production).
    with topology(apis=2, workers=1, embedder="hash", redis_url=args.redis,
                  extra_env={"KEFU_WEBHOOK_ALLOW_PRIVATE": "true"}) as topo:
        api_a, api_b = topo.api_urls
        created = create_tenant(
            f"Handoff bench {uuid.uuid4().hex[:6]}", f"owner-{uuid.uuid4().hex[:8]}@bench.local", "bench-password"
        )
        admin = {"Authorization": f"Bearer {created.admin_api_key}"}
        emails = [f"agent{k}-{uuid.uuid4().hex[:6]}@bench.local" for k in range(args.agents)]
        with tenant_session_sync(created.tenant_id) as session:
            for k, email in enumerate(emails):
                add_user(session, created.tenant_id, email, "bench-password", "agent", display_name=f"Agent {k}")
        async with httpx.AsyncClient(base_url=api_b, timeout=60, limits=httpx.Limits(max_connections=200)) as http:
            raised = await http.put(
                "/api/v1/settings/bot",
                headers=admin,
                json={"rate_limit_per_minute": 100000, "visitor_rate_limit_per_minute": 1000},
            )
            raised.raise_for_status()
            hook = await http.post("/api/v1/webhooks", headers=admin, json={
                "url": receiver.url, "events": ["handoff.requested", "message.created"]})
            hook.raise_for_status()
            receiver.secret = hook.json()["secret"]
            agents = []
            for k, email in enumerate(emails):
                login = await http.post("/api/v1/auth/login", json={"email": email, "password": "bench-password"})
                agents.append(Agent(k, login.json()["token"]))
            for agent in agents:
                agent.socket = await websockets.connect(
                    api_b.replace("http://", "ws://") + "/api/v1/inbox/ws", max_queue=None
                )
                await agent.socket.send(json.dumps({"type": "auth", "token": agent.token}))
                assert json.loads(await agent.socket.recv())["type"] == "ready"
            readers = [asyncio.create_task(read_agent(a)) for a in agents]

            customers = [Customer(i, f"bench-visitor-{i}") for i in range(args.customers)]
            started = time.perf_counter()
            await asyncio.gather(*(hand_off(c, api_a, created.widget_key) for c in customers))
            handoff_seconds = time.perf_counter() - started
            readers += [asyncio.create_task(read_customer(c)) for c in customers]
            await asyncio.sleep(1.0)
            handoff_events = [a.handoffs for a in agents]

            holder = {c.conversation_id: agents[c.index % len(agents)] for c in customers}
            assigned = await asyncio.gather(
                *(
                    http.post(
                        f"/api/v1/inbox/{c.conversation_id}/assign",
                        headers={"Authorization": f"Bearer {holder[c.conversation_id].token}"},
                    )
                    for c in customers
                )
            )
            assert all(r.status_code == 200 for r in assigned), [r.text for r in assigned if r.status_code != 200]

            sent_customer: dict[str, float] = {}  # text → when the customer sent it
            sent_agent: dict[str, float] = {}  # reply text → when its request was sent
            replies_sent = 0
            for round_no in range(args.rounds):
                texts = {
                    c.conversation_id: f"round {round_no} from customer {c.index} {uuid.uuid4().hex[:6]}"
                    for c in customers
                }
                for c in customers:
                    sent_customer[texts[c.conversation_id]] = now_ms()
                    await c.socket.send(
                        json.dumps(
                            {
                                "type": "message",
                                "message": texts[c.conversation_id],
                                "conversation_id": c.conversation_id,
                                "visitor_id": c.visitor_id,
                            }
                        )
                    )
                await wait_for(
                    lambda texts=texts: all(
                        any(e["text"] == texts[c.conversation_id] for e in holder[c.conversation_id].received)
                        for c in customers
                    ),
                    10,
                )

                async def reply(c: Customer, round_no: int = round_no) -> int:
                    text = f"reply {round_no} to customer {c.index}"
                    body = {"text": text, "client_ref": f"r{round_no}-{c.index}"}
                    headers = {"Authorization": f"Bearer {holder[c.conversation_id].token}"}
                    sent_agent[text] = now_ms()
                    first = await http.post(f"/api/v1/inbox/{c.conversation_id}/messages", headers=headers, json=body)
                    first.raise_for_status()
                    if c.index % 5 == 0:  # the page's retry after a dropped connection: stored and pushed once
                        again = await http.post(
                            f"/api/v1/inbox/{c.conversation_id}/messages", headers=headers, json=body
                        )
                        assert again.json()["message_id"] == first.json()["message_id"], again.text
                        return 2
                    return 1

                replies_sent += sum(await asyncio.gather(*(reply(c) for c in customers)))
                await wait_for(
                    lambda rn=round_no: all(
                        any(f["text"] == f"reply {rn} to customer {c.index}" for f in c.received) for c in customers
                    ),
                    10,
                )
            await asyncio.sleep(1.0)  # late duplicates would arrive now
            expected_deliveries = args.customers * (1 + args.rounds)
            await wait_for(lambda: len({d[0] for d in receiver.deliveries}) >= expected_deliveries, 60)
            await asyncio.sleep(1.0)
            for task in readers:
                task.cancel()
            for sock in [a.socket for a in agents] + [c.socket for c in customers]:
                await sock.close()

        return summarise(
            args,
            customers,
            agents,
            holder,
            sent_customer,
            sent_agent,
            replies_sent,
            handoff_seconds,
            handoff_events,
            stored_counts(created.tenant_id),
        ) | {"webhooks": receiver.summary(expected_deliveries)}


async def wait_for(condition: Any, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        await asyncio.sleep(0.01)


def stored_counts(tenant_id: uuid.UUID) -> dict[str, int]:
    from sqlalchemy import text

    from core.db import owner_engine

    with owner_engine().connect() as conn:
        rows = conn.execute(
            text("SELECT role, status, count(*) FROM messages WHERE tenant_id = :t GROUP BY 1, 2"), {"t": tenant_id}
        ).all()
    return {f"{role}/{status}": int(n) for role, status, n in rows}


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    array = np.array(values)
    return {
        "n": len(values),
        "p50": round(float(np.percentile(array, 50)), 1),
        "p95": round(float(np.percentile(array, 95)), 1),
        "max": round(float(array.max()), 1),
    }


def summarise(
    args: argparse.Namespace,
    customers: list[Customer],
    agents: list[Agent],
    holder: dict[str, Agent],
    sent_customer: dict[str, float],
    sent_agent: dict[str, float],
    replies_sent: int,
    handoff_seconds: float,
    handoff_events: list[int],
    stored: dict[str, int],
) -> dict[str, Any]:
    to_agent, to_agent_push, to_customer, to_customer_push = [], [], [], []
    lost_to_agent = dup_to_agent = lost_to_customer = dup_to_customer = 0
    for c in customers:
        agent = holder[c.conversation_id]
        mine = [e for e in agent.received if e["conversation_id"] == c.conversation_id]
        counts = Counter(e["message_id"] for e in mine)
        dup_to_agent += sum(n - 1 for n in counts.values())
        lost_to_agent += args.rounds - len(counts)
        for e in {e["message_id"]: e for e in mine}.values():
            to_agent.append(e["arrived"] - sent_customer[e["text"]])
            to_agent_push.append(e["arrived"] - e["sent_at"])
        replies = Counter(f["message_id"] for f in c.received)
        dup_to_customer += sum(n - 1 for n in replies.values())
        lost_to_customer += args.rounds - len(replies)
        for f in {f["message_id"]: f for f in c.received}.values():
            to_customer.append(f["arrived"] - sent_agent[f["text"]])
            to_customer_push.append(f["arrived"] - f["sent_at"])
    other_tenant_events = sum(len(a.received) for a in agents) - len(agents) * args.customers * args.rounds
    return {
        "customers": args.customers,
        "agents": args.agents,
        "rounds": args.rounds,
        "api_processes": 2,
        "handoff_all_seconds": round(handoff_seconds, 2),
        "handoff_events_per_agent_socket": handoff_events,
        "customer_to_agent_ms": percentiles(to_agent),
        "customer_to_agent_push_ms": percentiles(to_agent_push),
        "agent_to_customer_ms": percentiles(to_customer),
        "agent_to_customer_push_ms": percentiles(to_customer_push),
        "lost": {"to_agent": lost_to_agent, "to_customer": lost_to_customer},
        "duplicated": {"to_agent": dup_to_agent, "to_customer": dup_to_customer},
        "inbox_events_beyond_expected": other_tenant_events,
        "replies_sent_including_retries": replies_sent,
        "stored": stored,
        "target_p95_ms": TARGET_P95_MS,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=50)
    parser.add_argument("--agents", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--redis", default=BENCH_REDIS)
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print(json.dumps(result, ensure_ascii=False, indent=2))
    worst = max(result["customer_to_agent_ms"].get("p95", 0), result["agent_to_customer_ms"].get("p95", 0))
    lost = sum(result["lost"].values()) + sum(result["duplicated"].values())
    print(
        f"p95 push customer→agent {result['customer_to_agent_ms'].get('p95')} ms, agent→customer "
        f"{result['agent_to_customer_ms'].get('p95')} ms (target ≤ {TARGET_P95_MS:.0f}); "
        f"lost or duplicated: {lost}; worst p95 {'within' if worst <= TARGET_P95_MS else 'ABOVE'} target; "
        f"webhook deliveries {result['webhooks']['delivered']}/{result['webhooks']['expected']} "
        f"({result['webhooks']['delivery_rate_pct']} %), duplicates {result['webhooks']['duplicates']}"
    )


if __name__ == "__main__":
    main()
