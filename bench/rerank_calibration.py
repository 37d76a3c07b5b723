"""Fit the confidence curve for a reranker: the two numbers to set for it.

A cross-encoder's relevance scores mean something different for every model, so the curve that
turns the top score into the bot's confidence (knowledge.confidence) is refitted per reranker.
The reranker is the one the tenant's searches use: its own (`reranker_url` in its bot settings;
the fit is then `reranker_confidence_centre` / `_scale`, set with `PUT /api/v1/settings/bot` or
in Settings → Bot), else the operator's (KEFU_RERANK_URL, ...; the fit is then
KEFU_RERANK_CONFIDENCE_CENTRE / _SCALE). For a tenant whose knowledge is indexed, each
labelled question (the evaluation CSV format: question, expected source_ref(s); an empty expected
column means the bot should not answer) is searched through `retrieve_sync`; the top hit is right
when its source_ref is expected. A logistic regression of right/wrong on the reranker's top score
(its relevance, also while the tenant's reranker has no curve yet and only reorders) gives the
curve, printed with the AUROC of the score and the share of questions answered right.

    KEFU_RERANK_URL=http://127.0.0.1:8080/rerank KEFU_RERANK_API=tei \
        python bench/rerank_calibration.py --tenant TENANT_ID --questions labelled.csv
"""

from __future__ import annotations

import argparse
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.db import tenant_session_sync
from knowledge import reranker, reranker_settings
from knowledge.confidence import fit_curve
from knowledge.evaluation_set import parse_question_set
from knowledge.retrieval import retrieve_sync


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenant", required=True, type=uuid.UUID)
    parser.add_argument("--questions", required=True, type=Path, help="labelled question set (CSV)")
    args = parser.parse_args()
    with tenant_session_sync(args.tenant) as session:
        ranker = reranker.resolve(reranker_settings.load_sync(session, args.tenant))
    if ranker is None:
        sys.exit("The tenant's searches use no reranker (none of its own, or turned off, and KEFU_RERANK_URL "
                 "is not set): configure one to calibrate first.")
    scores: list[float] = []
    right: list[bool] = []
    reranked = 0
    for labelled in parse_question_set(args.questions.read_bytes()):
        hits = retrieve_sync(args.tenant, labelled.question, 5)
        if not hits:
            continue
        reranked += hits[0].reranked
        scores.append(hits[0].relevance if hits[0].relevance is not None else hits[0].score)
        right.append(hits[0].source_ref in labelled.expected)
    if reranked < len(scores):
        print(f"warning: {len(scores) - reranked} of {len(scores)} searches fell back to the fused order "
              "(reranker errors or timeouts); their scores are not the reranker's", file=sys.stderr)
    centre, scale = fit_curve(scores, right)
    print(f"questions {len(scores)}, top hit right {sum(right) / len(scores):.3f}, AUROC {auroc(scores, right):.3f}")
    if ranker.tenant_url:
        print(f'PUT /api/v1/settings/bot {{"reranker_confidence_centre": {centre:.4f}, '
              f'"reranker_confidence_scale": {scale:.4f}}}')
    else:
        print(f"KEFU_RERANK_CONFIDENCE_CENTRE={centre:.4f}")
        print(f"KEFU_RERANK_CONFIDENCE_SCALE={scale:.4f}")


def auroc(scores: list[float], right: list[bool]) -> float:
    """How well the score separates right from wrong top hits (0.5 = not at all)."""
    positives = [s for s, r in zip(scores, right, strict=True) if r]
    negatives = [s for s, r in zip(scores, right, strict=True) if not r]
    if not positives or not negatives:
        return float("nan")
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


if __name__ == "__main__":
    main()
