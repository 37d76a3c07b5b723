"""A calibrated confidence in [0, 1]: how likely the top hit is the right answer, the same scale for every tenant.

The input is the top hit's retrieval score (centred cosine + weighted lexical share + weighted
question overlap, after answer groups vote, see `knowledge.retrieval`, `knowledge.centre` and
`knowledge.rerank`). Centring on the tenant's mean vector puts the dense part on a scale that
means the same for every tenant, where raw e5 cosines crowd together. A logistic curve maps the
score to the probability that the top answer is right. Its centre and slope are fitted (logistic
regression, score -> top answer right) on one real support bot (HINT3 sofmattress) and checked on
another one it never saw (curekart), and refitted whenever the score's scale changes (centring,
queries centred towards their questions' mean, `knowledge.centre`): docs/log/2026-12-06-retrieval-pass-6.md
and docs/log/2026-12-06-retrieval-design-notes.md have the fits. The bot's threshold
(`DEFAULT_THRESHOLD` unless the tenant sets its own) acts on it. With `KEFU_CENTRED_SIMILARITY=false`
scores are plain cosines and get the curve fitted on those (`PLAIN_CENTRE`, `PLAIN_SCALE`).
Hits a cross-encoder reordered (`knowledge.reranker`) with a curve fitted for that reranker carry
its relevance instead, mapped by that curve (the operator's `KEFU_RERANK_CONFIDENCE_CENTRE` /
`_SCALE`, or a tenant's `reranker_confidence_*`; bench/rerank_calibration.py fits both). A tenant's
reranker without a fitted curve only reorders: its hits keep the fused score and curve.
"""

from __future__ import annotations

import math

from knowledge.hits import Hit

CENTRE = 0.421
SCALE = 0.084
PLAIN_CENTRE = 0.923  # hits scored with the plain cosine (centring switched off)
PLAIN_SCALE = 0.024
# The bot answers at or above this confidence unless the tenant sets its own threshold.
DEFAULT_THRESHOLD = 0.5


def confidence(hits: list[Hit]) -> float:
    """Probability-like confidence that `hits[0]` answers the question; 0 without hits."""
    if not hits:
        return 0.0
    centre, scale = curve_of(hits[0])
    z = (hits[0].score - centre) / scale
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


def curve_of(hit: Hit) -> tuple[float, float]:
    """(centre, scale) of the curve that maps this kind of score: reranked with a fitted curve, fused centred, plain."""
    if hit.reranked and hit.curve is not None:
        return hit.curve
    return (CENTRE, SCALE) if hit.centred is not None else (PLAIN_CENTRE, PLAIN_SCALE)


def fit_curve(scores: list[float], right: list[bool]) -> tuple[float, float]:
    """The (centre, scale) of the logistic curve from top score to "the top answer is right".

    How a new score scale (a reranker, `bench/rerank_calibration.py`) gets its curve: logistic
    regression of correctness on the score; centre = the score at probability 0.5, scale = 1/slope.
    """
    from sklearn.linear_model import LogisticRegression  # only for calibration runs, never the API

    if len(set(right)) < 2:
        raise ValueError("calibration needs questions the top hit answers right and questions it gets wrong")
    model = LogisticRegression(C=1e6, max_iter=1000).fit([[s] for s in scores], right)
    slope, intercept = float(model.coef_[0][0]), float(model.intercept_[0])
    if slope <= 0:
        raise ValueError("a higher score does not mean a right answer more often: this score cannot be calibrated")
    return -intercept / slope, 1.0 / slope
