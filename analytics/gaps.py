"""Knowledge gaps: group unanswered and low-rated customer questions into topics.

Each question becomes a TF-IDF vector of its content terms — Latin words without stopwords
(lightly stemmed) and Chinese characters and character bigrams without question words —
so "How do I reset my password?" and "forgot password, how to reset it" share "password"
and "reset", and "怎么修改密码" and "密码忘了怎么办" share "密码". Callers with sentence
embeddings can pass those instead. Vectors are clustered with spherical k-means (KMeans on
unit vectors, reduced with truncated SVD for large sets); the number of topics is the k in
2..max_topics with the best cosine silhouette.

k-means puts every question somewhere, so a question unlike the rest of its cluster
(`_without_misfits`) is taken out and stands alone: a few unrelated questions (顺丰, 花呗, a
hand-off request) no longer make one "topic". The largest groups become the topics. A topic is
labelled by its medoid question (a real question reads better than a bag of n-grams, in any
language) and lists up to five questions nearest its centre. Questions without content terms
("hello?", "ok") ask for nothing and are left out. Everything uses a fixed random_state: the same
questions always give the same topics. bench/eval_gaps.py measures topic purity on labelled
questions (docs/analytics.md).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse
from sklearn.cluster import KMeans
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import normalize
from threadpoolctl import threadpool_limits

from core.errors import ValidationFailed

__all__ = ["InvalidQuestions", "Topic", "cluster_questions", "question_terms"]

MAX_EXAMPLES = 5
_LABEL_CHARS = 80
_SVD_ABOVE = 200  # questions; below this the sparse vectors are clustered directly
_SVD_COMPONENTS = 100
_SILHOUETTE_SAMPLE = 2000
# A question whose cosine to the rest of its cluster is below this, and that shares none of the
# cluster's common terms, is not that topic (chosen on HINT3 sofmattress, checked on curekart:
# bench/eval_gaps.py).
MIN_FIT = 0.3


class InvalidQuestions(ValidationFailed, ValueError):
    """Questions or embeddings that cannot be clustered; the message says what to fix."""


@dataclass(frozen=True)
class Topic:
    """A group of similar questions: medoid question as label, how many, examples, input positions."""

    label: str
    count: int
    examples: list[str] = field(default_factory=list)
    member_indices: list[int] = field(default_factory=list)


_CJK_RUN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
# Words that every question has; written for this module (no third-party lists).
_EN_STOP = frozenset(
    """a an the and or but if of to in on at by for from with about into as is are was were be been am
    do does did doing done i me my mine we our you your it its this that these those there here he she
    they them his her their what which who whom when where why how can could would should will shall
    may might must not no yes please hi hello hey thanks thank thx ta ok okay cheers bye goodbye yeah yep
    any some get got have has had just also so
    than then too very there's what's i'm im can't cant don't dont doesn't doesnt isn't isnt""".split()  # noqa: SIM905
)
_ZH_STOP = ("请问", "怎么办", "怎么样", "怎么", "怎样", "如何", "什么", "为什么", "能不能", "可不可以", "可以", "是否",
            "有没有", "一下", "我的", "我们", "你们", "您好", "你好", "谢谢", "吗", "呢", "吧", "啊", "呀", "了", "的",
            "我", "你", "您", "是", "在", "要", "想", "能", "会", "有", "么", "下", "个",
            "好的", "嗯", "再见", "拜拜", "哈哈")
_ZH_STOP_RE = re.compile("|".join(sorted(_ZH_STOP, key=len, reverse=True)))


def _stem(word: str) -> str:
    """Crude suffix stripping: 'shipping', 'shipped', 'ships' → 'ship'; enough to match paraphrases."""
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            stem = word[: -len(suffix)]
            if suffix in ("ing", "ed") and len(stem) > 3 and stem[-1] == stem[-2] and stem[-1] not in "aeiouls":
                stem = stem[:-1]  # doubled consonant: shipp → ship (but keep "install", "dress")
            return stem
    return word


def question_terms(question: str) -> list[str]:
    """Content terms of a question: stemmed Latin words, Chinese characters and bigrams."""
    text = unicodedata.normalize("NFKC", question).casefold().replace("\u2019", "'")
    terms = []
    for word in re.findall(r"[^\W_\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+(?:'[a-z]+)?", text):
        if word not in _EN_STOP and not word.isdigit():
            terms.append(_stem(word))
    for run in _CJK_RUN.findall(text):
        for piece in _ZH_STOP_RE.split(run):
            terms.extend(piece)
            terms.extend(piece[i : i + 2] for i in range(len(piece) - 1))
    return terms


def _check_embeddings(embeddings: object, n: int) -> np.ndarray:
    try:
        matrix = np.asarray(embeddings, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidQuestions("embeddings must be a numeric (questions, dim) array") from exc
    if matrix.ndim != 2 or matrix.shape[0] != n:
        raise InvalidQuestions(f"got {n} questions but {matrix.shape[0] if matrix.ndim else 0} embeddings; "
                               "give one (dim,) row per question")
    if not np.isfinite(matrix).all():
        raise InvalidQuestions("embeddings must be finite numbers (no NaN or infinity)")
    return matrix


Vectors = np.ndarray | sparse.csr_matrix


def _vectors(texts: list[str], embeddings: np.ndarray | None) -> tuple[Vectors, sparse.csr_matrix | None]:
    """The vectors to cluster, and the TF-IDF term matrix (None when embeddings were given)."""
    if embeddings is not None:
        return normalize(embeddings), None
    try:
        matrix = TfidfVectorizer(analyzer=question_terms, sublinear_tf=True).fit_transform(texts)
    except ValueError:  # only stopwords and punctuation everywhere
        return np.zeros((len(texts), 1)), None
    if len(texts) > _SVD_ABOVE and matrix.shape[1] > _SVD_COMPONENTS:
        return normalize(TruncatedSVD(_SVD_COMPONENTS, random_state=0).fit_transform(matrix)), matrix
    return matrix, matrix


def _choose_clustering(vectors: np.ndarray | sparse.csr_matrix, weights: np.ndarray, max_topics: int) -> np.ndarray:
    """KMeans labels for the k in 2..max_topics with the best cosine silhouette (at least 2 per topic on average)."""
    n = vectors.shape[0]
    best: tuple[float, np.ndarray] | None = None
    for k in range(2, min(max_topics, max(2, n // 2)) + 1):
        labels = KMeans(k, n_init=3, random_state=0).fit_predict(vectors, sample_weight=weights)
        if len(set(labels)) < 2:
            continue
        score = float(silhouette_score(vectors, labels, metric="cosine", sample_size=min(n, _SILHOUETTE_SAMPLE),
                                       random_state=0))
        if best is None or score > best[0] + 1e-9:
            best = (score, labels)
    return best[1] if best is not None else np.zeros(n, dtype=int)


def cluster_questions(questions: Sequence[str], *, max_topics: int = 20, embeddings: object = None) -> list[Topic]:
    """Group questions into topics and return the ``max_topics`` largest, largest first.

    Blank questions and questions without content terms are skipped (their indices appear in no
    topic), as are questions in smaller groups beyond ``max_topics``; repeated questions are
    clustered once and counted each time. ``embeddings`` is an optional (n, dim) array aligned
    with ``questions``, used instead of TF-IDF terms.
    """
    if isinstance(questions, (str, bytes)) or not isinstance(questions, Sequence):
        raise InvalidQuestions("questions must be a list of strings")
    bad = next((i for i, q in enumerate(questions) if not isinstance(q, str)), None)
    if bad is not None:
        raise InvalidQuestions(f"question {bad} must be a string, got {type(questions[bad]).__name__}")
    if isinstance(max_topics, bool) or not isinstance(max_topics, int) or max_topics < 1:
        raise InvalidQuestions("max_topics must be a whole number of at least 1")
    matrix = None if embeddings is None else _check_embeddings(embeddings, len(questions))
    kept = [i for i, q in enumerate(questions) if q.strip()]
    if not kept:
        return []
    texts = [questions[i].strip() for i in kept]
    position: dict[str, int] = {}
    first_rows: list[int] = []
    for i, text in zip(kept, texts, strict=True):
        if text not in position:
            position[text] = len(position)
            first_rows.append(i)
    distinct = list(position)
    of_kept = np.array([position[t] for t in texts])
    weights = np.bincount(of_kept, minlength=len(distinct)).astype(np.float64)
    # One BLAS/OpenMP thread: these matrices are small, and a thread pool spinning for cores that
    # other workers are using stalls instead of helping (docs/satisfaction.md, "Speed").
    with threadpool_limits(limits=1):
        vectors, terms = _vectors(distinct, None if matrix is None else matrix[first_rows])
        # Questions with no content terms ("hello?", "ok") have no direction to cluster by, and ask for nothing.
        rest = np.flatnonzero(np.asarray(abs(vectors).sum(axis=1)).ravel() > 0)
        assignment = np.full(len(distinct), -1)
        if len(rest) >= 3 and max_topics > 1:
            assignment[rest] = _choose_clustering(vectors[rest], weights[rest], max_topics)
        else:
            assignment[rest] = 0
        assignment[rest] = _without_misfits(vectors[rest], None if terms is None else terms[rest], weights[rest],
                                            assignment[rest])
    topics = []
    for cluster in np.unique(assignment[rest]):
        members = np.flatnonzero(assignment == cluster)
        indices = sorted(kept[j] for j in np.flatnonzero(assignment[of_kept] == cluster))
        topics.append(_topic(distinct, vectors, members, weights, indices))
    return sorted(topics, key=lambda t: (-t.count, t.label))[:max_topics]


def _without_misfits(vectors: Vectors, terms: sparse.csr_matrix | None, weights: np.ndarray,
                     labels: np.ndarray) -> np.ndarray:
    """The labels with every question that does not fit its cluster moved to a cluster of its own.

    A question fits when it has a term that at least half of its cluster's questions share ("退款"
    in "退款 自行车") or lies close to the rest of the cluster (cosine to the other members' centre at
    least `MIN_FIT`; the question itself left out, or a cluster of unrelated questions would fit).
    """
    labels = labels.copy()
    solo = int(labels.max(initial=0)) + 1
    for cluster in np.unique(labels):
        members = np.flatnonzero(labels == cluster)
        if len(members) < 2:
            continue
        rows = vectors[members]
        total = np.asarray(rows.T @ weights[members]).ravel()
        fits = np.zeros(len(members), dtype=bool)
        for position, own in enumerate(np.asarray(rows.toarray() if sparse.issparse(rows) else rows)):
            others = total - weights[members[position]] * own
            norm = np.linalg.norm(others)
            fits[position] = norm > 0 and float(own @ others) / norm >= MIN_FIT
        if terms is not None:
            present = terms[members] > 0
            shared = np.flatnonzero(np.asarray(present.T @ weights[members]).ravel()
                                    >= max(2.0, weights[members].sum() / 2))
            fits |= np.asarray(present[:, shared].sum(axis=1)).ravel() > 0
        for member in members[~fits]:
            labels[member], solo = solo, solo + 1
    return labels


def _topic(distinct: list[str], vectors: np.ndarray | sparse.csr_matrix, members: np.ndarray, weights: np.ndarray,
           indices: list[int]) -> Topic:
    rows = vectors[members]
    centre = np.asarray(rows.T @ weights[members]).ravel()
    # Each member's weighted similarity to the whole group: the first is the medoid, the topic's title.
    closeness = np.asarray(rows @ centre).ravel()
    examples = [distinct[j] for j in members[np.argsort(-closeness, kind="stable")][:MAX_EXAMPLES]]
    label = examples[0] if len(examples[0]) <= _LABEL_CHARS else examples[0][: _LABEL_CHARS - 1] + "…"
    return Topic(label=label, count=len(indices), examples=examples, member_indices=indices)
