"""Chinese question matching on BQ Corpus (WeBank customer service): pair ROC-AUC and group top-1.

Each pair (sentence1, sentence2) is scored the way retrieval scores a customer question against a
stored FAQ question: sentence2 is the stored question (its vector mixed from the question embedded
as a query and as a passage, like `knowledge.indexing.with_question_vectors`), sentence1 the query;
score = centred cosine (stored vectors around the mean stored vector of all dev sentences, queries
towards the mean of the sentences embedded as queries, `knowledge.centre`; the plain cosine with
KEFU_CENTRED_SIMILARITY=false)
+ KEFU_LEXICAL_WEIGHT x (IDF-weighted share of the query's terms in sentence2)
+ KEFU_QUESTION_OVERLAP_WEIGHT x (word/character Jaccard of the two questions, `knowledge.overlap`),
with our jieba + bigram tokens and IDF over all dev sentences (`knowledge.lexical`, `knowledge.retrieval`).
Prints pair ROC-AUC on dev_pairs.csv and top-1 within dev_rerank_groups.jsonl for the product
scorer and its parts (passage-only cosine = the bare embedder, query-query cosine, lexical only).
No database is needed: this is the scoring function itself, on the configured embedder.

    python bench/eval_bq.py                  # 10,000 pairs, ~7,000 distinct sentences to embed
    python bench/eval_bq.py --limit 2000     # first 2,000 pairs (quick run)
    python bench/eval_bq.py --cache /tmp/bq  # keep the vectors between runs
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness import DATASETS

from core.settings import get_settings
from knowledge.centre import Centre
from knowledge.embedding import get_embedder
from knowledge.indexing import QUESTION_SHARE
from knowledge.lexical import query_terms, tokens
from knowledge.overlap import question_overlap


def embed(texts: list[str], kind: str, cache: Path | None) -> np.ndarray:
    file = cache / f"bq_{get_settings().embedder}_{kind}_{len(texts)}.npy" if cache else None
    if file is not None and file.exists():
        return np.load(file)
    embedder = get_embedder()
    fn = embedder.embed_queries if kind == "query" else embedder.embed_passages
    started = time.perf_counter()
    vectors = np.concatenate([fn(texts[s : s + 64]) for s in range(0, len(texts), 64)])
    print(f"embedded {len(texts)} sentences as {kind} in {time.perf_counter() - started:.0f}s", flush=True)
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
        np.save(file, vectors)
    return vectors


class LexicalShare:
    """The retrieval's lexical signal: IDF-weighted share of the query's terms found in a text."""

    def __init__(self, texts: list[str]) -> None:
        self.terms = {t: set(tokens(t)) for t in texts}
        self.df: Counter[str] = Counter(term for terms in self.terms.values() for term in terms)
        self.n = len(texts)

    def __call__(self, query: str, stored: str) -> float:
        idf = {t: math.log(1 + (self.n - self.df[t] + 0.5) / (self.df[t] + 0.5)) for t in query_terms(query)
               if self.df[t]}
        total = sum(idf.values())
        return sum(w for t, w in idf.items() if t in self.terms[stored]) / total if total else 0.0


def result_line(scorer: str, auc: float, top1: float) -> str:
    """One scorer's figures as printed (bench/eval_quality.py reads them back)."""
    return f"  {scorer:<44} pair ROC-AUC {auc:.3f}   group top-1 {top1:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=Path, default=DATASETS)
    parser.add_argument("--limit", type=int, help="first N pairs and N groups")
    parser.add_argument("--cache", type=Path, help="directory to keep sentence vectors in")
    args = parser.parse_args()
    root = args.datasets / "bq_corpus_zh"
    with open(root / "dev_pairs.csv", newline="") as handle:
        pairs = list(csv.DictReader(handle))[: args.limit]
    groups = [json.loads(line) for line in (root / "dev_rerank_groups.jsonl").read_text().splitlines() if line]
    groups = groups[: args.limit]
    sentences = sorted({p["sentence1"] for p in pairs} | {p["sentence2"] for p in pairs}
                       | {g["anchor"] for g in groups} | {c["text"] for g in groups for c in g["candidates"]})
    index = {s: i for i, s in enumerate(sentences)}
    as_query = embed(sentences, "query", args.cache)
    as_passage = embed(sentences, "passage", args.cache)
    stored = QUESTION_SHARE * as_query + (1 - QUESTION_SHARE) * as_passage
    stored /= np.linalg.norm(stored, axis=1, keepdims=True)
    lexical = LexicalShare(sentences)
    weight = get_settings().lexical_weight
    overlap_weight = get_settings().question_overlap_weight
    # The "tenant" is every dev sentence stored as a FAQ question: stored vectors are centred on
    # their mean, queries towards the mean of the questions embedded as queries (knowledge.centre).
    centre = Centre.shrunk(len(sentences), stored.mean(axis=0), len(sentences), as_query.mean(axis=0),
                           get_settings().query_centre_share)
    s_mu, s_qmu = stored @ centre.vector, stored @ centre.for_queries

    def centred(a: str, b: str) -> float:
        q, s = as_query[index[a]], stored[index[b]]
        return centre.similarity(q, float(q @ s), float(s_mu[index[b]]), float(np.linalg.norm(s)),
                                 float(s_qmu[index[b]]))

    dense = centred if get_settings().centred_similarity else (
        lambda a, b: float(as_query[index[a]] @ stored[index[b]]))
    kind = "centred" if get_settings().centred_similarity else "plain"

    scorers = {
        "passage cosine (bare embedder)": lambda a, b: float(as_query[index[a]] @ as_passage[index[b]]),
        "query-query cosine": lambda a, b: float(as_query[index[a]] @ as_query[index[b]]),
        "stored-question cosine": lambda a, b: float(as_query[index[a]] @ stored[index[b]]),
        "centred stored-question cosine": centred,
        "lexical share only": lexical,
        "question overlap only": question_overlap,
        f"{kind} cosine + lexical (w={weight:g})": lambda a, b: dense(a, b) + weight * lexical(a, b),
        f"product scorer ({kind}, w={weight:g}, overlap {overlap_weight:g})": lambda a, b: dense(a, b)
        + weight * lexical(a, b)
        + overlap_weight * question_overlap(a, b),
    }
    labels = [int(p["label"]) for p in pairs]
    print(f"bq_corpus_zh dev: {len(pairs)} pairs ({sum(labels)} positive), {len(groups)} rerank groups")
    for name, score in scorers.items():
        auc = roc_auc_score(labels, [score(p["sentence1"], p["sentence2"]) for p in pairs])
        top1 = np.mean([
            max(g["candidates"], key=lambda c: score(g["anchor"], c["text"]))["label"] == 1 for g in groups
        ])
        print(result_line(name, auc, top1), flush=True)


if __name__ == "__main__":
    main()
