"""A calibrated confidence in [0, 1] from retrieval scores, on the same scale for every tenant.

multilingual-e5 cosine similarities are compressed into roughly 0.70-0.95: a paraphrase of a
stored question usually scores above 0.86, an unrelated question below 0.80. A logistic curve
centred between the two turns that into a probability-like number the tenant's threshold
(default 0.5) can act on. Lexical agreement (rare shared terms) nudges it up.
"""

from __future__ import annotations

import math

from knowledge.retrieval import Hit

CENTRE = 0.83
SCALE = 0.02
LEXICAL_BONUS = 0.02


def confidence(hits: list[Hit]) -> float:
    if not hits:
        return 0.0
    top = hits[0]
    z = (top.dense + LEXICAL_BONUS * top.lexical - CENTRE) / SCALE
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))
