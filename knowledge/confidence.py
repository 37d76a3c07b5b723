"""A calibrated confidence in [0, 1]: how likely the top hit is the right answer, the same scale for every tenant.

The input is the top hit's retrieval score (centred cosine + weighted lexical share + weighted
question overlap, after answer groups vote, see `knowledge.retrieval`, `knowledge.centre` and
`knowledge.rerank`). Centring on the tenant's mean vector puts the dense part on a scale that
means the same for every tenant (a right answer around 0.4-0.8, an unrelated chunk near 0-0.3),
where raw e5 cosines crowd into 0.80-1.0. A logistic curve maps the score to the probability that
the top answer is right. Its centre and slope were fitted (logistic regression, score -> top answer
right) on one real support bot (HINT3 sofmattress: 397 user questions, 42 % out of scope) and
checked on another one it never saw (curekart); docs/retrieval.md has the figures (refitted to
0.421 when queries came to be centred towards their questions' mean, `knowledge.centre`). The bot's
threshold (default 0.5) acts on it. With `KEFU_CENTRED_SIMILARITY=false` scores are plain cosines
and get the curve fitted on those (centre 0.923, slope 0.024).
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
    centre, scale = (CENTRE, SCALE) if hits[0].centred is not None else (PLAIN_CENTRE, PLAIN_SCALE)
    z = (hits[0].score - centre) / scale
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))
