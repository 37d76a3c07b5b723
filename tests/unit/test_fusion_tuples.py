"""Fusion scores candidates as tuples and makes a Hit only for the rows returned: the hits must be
exactly those of making every candidate a Hit and running the re-ranking steps over all of them."""

from __future__ import annotations

import json
import random
import uuid
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from knowledge.centre import Centre
from knowledge.hits import Hit
from knowledge.overlap import question_overlap
from knowledge.rerank import by_answer_group, questions_first
from knowledge.retrieval import _ranking_metadata, _stored_metadata, fuse
from knowledge.similar_questions import as_row, fold_into_rows


def reference(rows: list[Any], top_k: int, lexical_weight: float, idf: dict[str, float], query: str,
              overlap_weight: float, centre: Centre | None, vector: np.ndarray | None) -> list[Hit]:
    """Fusion as written before 2026-12-07: a Hit per candidate, then the public re-ranking steps."""
    total = sum(idf.values()) or 1.0
    centring = centre.for_query(vector) if centre is not None and vector is not None else None
    hits, stored, variant_of = [], {}, {}
    for r in rows:
        dense = float(r.dense)
        centred = None
        if centring is not None and getattr(r, "s_mu", None) is not None:
            s_qmu = getattr(r, "s_qmu", None)
            centred = centring(dense, float(r.s_mu), float(r.s_norm), None if s_qmu is None else float(s_qmu))
        lexical = sum(idf.get(t, 0.0) for t in (r.matched or [])) / total
        metadata = _ranking_metadata(r, stored)
        question = metadata.get("question")
        row_question = getattr(r, "variant_of", None) or metadata.get("variant_of")
        if row_question:
            variant_of[r.id] = str(row_question)
        overlap = question_overlap(query, str(question)) if overlap_weight and question else 0.0
        score = (dense if centred is None else centred) + lexical_weight * lexical + overlap_weight * overlap
        hits.append(Hit(r.id, r.document_id, r.source_ref, r.text, score, dense, lexical, metadata, overlap,
                        centred))
    top = questions_first(fold_into_rows(by_answer_group(hits), variant_of))[:top_k]
    return [as_row(_stored_metadata(h, stored)) for h in top]


def candidates(rng: random.Random, variants: bool) -> list[SimpleNamespace]:
    doc = uuid.UUID(int=rng.getrandbits(128))
    questions = [f"how do I {w} my order" for w in ("cancel", "track", "return", "change", "pay for", "ship")]
    answers = [f"answer {n}" for n in range(5)]
    rows = []
    for n in range(rng.randint(0, 60)):
        kind = rng.random()
        if kind < 0.15:  # prose
            meta: dict[str, Any] = {"kind": "prose"}
        else:
            meta = {"kind": "faq", "question": rng.choice(questions), "answer": rng.choice(answers)}
            if variants and kind > 0.8:
                meta["variant_of"] = rng.choice(questions)
        dense = rng.choice([0.5, 0.6, 0.7]) if rng.random() < 0.3 else rng.uniform(0.3, 0.9)  # ties too
        rows.append(SimpleNamespace(
            id=n, document_id=doc, source_ref=f"r{n % 9}", text=f"text {n}", metadata=json.dumps(meta),
            question=meta.get("question"), answer=meta.get("answer"), variant_of=meta.get("variant_of"),
            dense=dense, matched=rng.sample(["order", "cancel", "track", "ship"], rng.randint(0, 3)),
            s_mu=rng.uniform(0.0, 0.3), s_norm=1.0, s_qmu=rng.uniform(0.0, 0.3)))
    return rows


@pytest.mark.parametrize("seed", range(60))
def test_the_same_hits_as_a_hit_per_candidate(seed: int) -> None:
    rng = random.Random(seed)
    rows = candidates(rng, variants=seed % 3 == 0)
    idf = {t: rng.uniform(0.1, 3.0) for t in ("order", "cancel", "track", "ship")} if seed % 4 else {}
    centre = vector = None
    if seed % 2:
        centre = Centre.shrunk(50, np.full(8, 0.05))
        vector = np.linspace(0.1, 0.8, 8).astype(np.float32)
    query = "How do I cancel my order?"
    for top_k in (1, 3, 5, 10, 50):
        expected = reference(rows, top_k, 0.35, idf, query, 0.2 if seed % 5 else 0.0, centre, vector)
        assert fuse(rows, top_k, 0.35, idf, query, 0.2 if seed % 5 else 0.0, centre, vector) == expected
