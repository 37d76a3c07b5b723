"""Satisfaction scoring: how likely a conversation left the customer satisfied.

One linear model per tenant (scikit-learn logistic regression) over
- TF-IDF of four text views (customer text, agent text, last customer message, last agent
  message), with Chinese as character 1–3-grams (no segmenter needed) and English as words
  and word pairs (readable drivers);
- conversation cues from the transcript and the lexicon in :mod:`analytics.satisfaction_features`;
- optional behaviour numbers the platform measured (``handed_off``, ``fallbacks``,
  ``mean_latency_ms``, …), standardised.

Training takes seconds on a few thousand conversations, so it runs per tenant inside a
worker. A fitted model is stored as bytes (``to_bytes``): a NumPy ``.npz`` archive of arrays
and JSON — no pickle, so loading stored bytes never runs code. Until a tenant has enough
labelled conversations, :func:`default_model` gives a transparent hand-set rule model.
See docs/satisfaction.md for the measured figures.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import partial

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

from analytics.satisfaction_features import (
    CUE_NAMES,
    TEXT_VIEWS,
    InvalidSatisfactionData,
    check_behaviour,
    check_dialogues,
    check_labels,
    conversation_cues,
    text_terms,
)

__all__ = [
    "MIN_LABELS_PER_CLASS",
    "InvalidSatisfactionData",
    "SatisfactionModel",
    "default_model",
    "fit",
    "has_enough_labels",
    "predict_proba",
]

FORMAT = "kefu-satisfaction/1"
# Below this many satisfied AND dissatisfied examples a trained model is mostly noise
# (and its cross-validated AUC too); use default_model() instead.
MIN_LABELS_PER_CLASS = 10


def has_enough_labels(labels: Sequence[object]) -> bool:
    """True when there are at least MIN_LABELS_PER_CLASS satisfied and dissatisfied labels."""
    positives = sum(bool(v) for v in labels)
    return min(positives, len(labels) - positives) >= MIN_LABELS_PER_CLASS


def _vectorizer(ngram_range: tuple[int, int], min_df: int, vocabulary: dict[str, int] | None = None) -> TfidfVectorizer:
    return TfidfVectorizer(analyzer=partial(text_terms, cjk_ngrams=ngram_range), min_df=min_df, sublinear_tf=True,
                           dtype=np.float32, vocabulary=vocabulary)


class SatisfactionModel:
    """Predicts P(satisfied) for dialogues; fit on labelled ones or start from :func:`default_model`."""

    def __init__(self, *, views: Sequence[str] = ("customer", "agent", "last_customer", "last_agent"),
                 ngram_range: tuple[int, int] = (1, 3), min_df: int = 2, c: float = 3.0) -> None:
        unknown = [v for v in views if v not in TEXT_VIEWS]
        if unknown:
            raise InvalidSatisfactionData(f"unknown text views {unknown}; choose from {list(TEXT_VIEWS)}")
        self.views = tuple(views)
        self.ngram_range = (int(ngram_range[0]), int(ngram_range[1]))
        self.min_df = int(min_df)
        self.c = float(c)  # inverse L2 strength, as scikit-learn's C
        self.kind = "unfitted"  # "trained" or "default" once usable
        self.n_labels = 0
        self.trained_at: str | None = None
        self._blocks: list[tuple[str, TfidfVectorizer]] = []
        self._dense_names: list[str] = []
        self._dense_mean = np.zeros(0)
        self._dense_scale = np.ones(0)
        self._coef = np.zeros(0)
        self._intercept = 0.0
        self._column_std = np.zeros(0)

    # -- training and scoring -------------------------------------------------------------
    def fit(self, dialogues: Sequence[Sequence[dict[str, str]]], labels: Sequence[object],
            behaviour: Sequence[dict[str, float]] | None = None) -> SatisfactionModel:
        """Train on dialogues with labels (True = satisfied); behaviour is one dict of numbers per dialogue."""
        checked = check_dialogues(dialogues)
        y = check_labels(labels, len(checked))
        rows = check_behaviour(behaviour, len(checked))
        if len(set(y)) < 2:
            raise InvalidSatisfactionData("labels must include both satisfied and dissatisfied conversations")
        self._blocks = []
        parts = []
        for view in self.views:
            texts = [TEXT_VIEWS[view][1](d) for d in checked]
            vectorizer = _vectorizer(self.ngram_range, self.min_df if len(checked) >= 50 else 1)
            try:
                parts.append(vectorizer.fit_transform(texts))
            except ValueError:  # every text empty, or no n-gram frequent enough: the view says nothing
                continue
            self._blocks.append((view, vectorizer))
        self._dense_names = list(CUE_NAMES) + sorted({f"behaviour:{k}" for row in rows for k in row})
        dense = self._dense_raw(checked, rows)
        self._dense_mean = dense.mean(axis=0)
        scale = dense.std(axis=0)
        self._dense_scale = np.where(scale > 1e-9, scale, 1.0)
        parts.append(sparse.csr_matrix((dense - self._dense_mean) / self._dense_scale))
        features = sparse.hstack(parts, format="csr", dtype=np.float64)
        # One BLAS thread: the problem is sparse and small, and spinning thread pools only slow a busy worker.
        with threadpool_limits(limits=1):
            classifier = LogisticRegression(C=self.c, solver="liblinear", random_state=0, max_iter=1000)
            classifier.fit(features, y)
        self._coef = classifier.coef_[0].astype(np.float64)
        self._intercept = float(classifier.intercept_[0])
        mean = np.asarray(features.mean(axis=0)).ravel()
        mean_square = np.asarray(features.multiply(features).mean(axis=0)).ravel()
        self._column_std = np.sqrt(np.maximum(mean_square - mean**2, 0.0))
        self.kind, self.n_labels = "trained", len(y)
        self.trained_at = datetime.now(UTC).isoformat(timespec="seconds")
        return self

    def predict_proba(self, dialogues: Sequence[Sequence[dict[str, str]]],
                      behaviour: Sequence[dict[str, float]] | None = None) -> np.ndarray:
        """Probability that each dialogue left the customer satisfied (1-D array, one per dialogue)."""
        if self.kind == "unfitted":
            raise InvalidSatisfactionData("the model is not fitted; call fit() or use default_model()")
        checked = check_dialogues(dialogues)
        rows = check_behaviour(behaviour, len(checked))
        if not checked:
            return np.zeros(0)
        return 1.0 / (1.0 + np.exp(-(self._features(checked, rows) @ self._coef + self._intercept)))

    def cross_validated_auc(self, dialogues: Sequence[Sequence[dict[str, str]]], labels: Sequence[object],
                            behaviour: Sequence[dict[str, float]] | None = None, *, folds: int = 5,
                            random_state: int = 0) -> float:
        """ROC-AUC of out-of-fold predictions from models with this one's settings (this model is unchanged)."""
        checked = check_dialogues(dialogues)
        y = np.array(check_labels(labels, len(checked)))
        rows = check_behaviour(behaviour, len(checked))
        splits = min(folds, int(y.sum()), int(len(y) - y.sum()))
        if splits < 2:
            raise InvalidSatisfactionData("cross-validation needs at least 2 satisfied and 2 dissatisfied dialogues")
        scores = np.zeros(len(y))
        for train, test in StratifiedKFold(splits, shuffle=True, random_state=random_state).split(scores, y):
            model = SatisfactionModel(views=self.views, ngram_range=self.ngram_range, min_df=self.min_df, c=self.c)
            model.fit([checked[i] for i in train], y[train].tolist(), [rows[i] for i in train])
            scores[test] = model.predict_proba([checked[i] for i in test], [rows[i] for i in test])
        return float(roc_auc_score(y, scores))

    def drivers(self, top: int = 10) -> list[dict[str, object]]:
        """Strongest features: signed weight = coefficient × the feature's spread (+ = more satisfied)."""
        names = self._column_names()
        effect = self._coef * self._column_std
        picked: list[dict[str, object]] = []
        seen: list[tuple[str, str, bool]] = []
        for index in np.argsort(-np.abs(effect), kind="stable"):
            if len(picked) >= top or effect[index] == 0:
                break
            view, term, label = names[index]
            positive = bool(effect[index] > 0)
            # "谢", "谢谢", "谢谢您" are one driver, not three: keep the strongest n-gram only.
            if term and any(v == view and p == positive and (term in t or t in term) for v, t, p in seen):
                continue
            seen.append((view, term, positive))
            picked.append({"feature": label, "weight": round(float(effect[index]), 4)})
        return picked

    # -- storage ----------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        """Serialise to a pickle-free .npz archive (arrays + JSON metadata)."""
        if self.kind == "unfitted":
            raise InvalidSatisfactionData("only a fitted or default model can be stored")
        meta = {
            "format": FORMAT, "kind": self.kind, "n_labels": self.n_labels, "trained_at": self.trained_at,
            "views": list(self.views), "ngram_range": list(self.ngram_range), "min_df": self.min_df, "c": self.c,
            "dense_names": self._dense_names, "intercept": self._intercept,
            "blocks": [{"view": view, "terms": sorted(v.vocabulary_, key=v.vocabulary_.__getitem__)}
                       for view, v in self._blocks],
        }
        arrays = {f"idf_{i}": v.idf_.astype(np.float64) for i, (_, v) in enumerate(self._blocks)}
        buffer = io.BytesIO()
        np.savez_compressed(buffer, meta=np.array(json.dumps(meta, ensure_ascii=False)), coef=self._coef,
                            dense_mean=self._dense_mean, dense_scale=self._dense_scale,
                            column_std=self._column_std, **arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> SatisfactionModel:
        """Load a model stored with :meth:`to_bytes`; raises InvalidSatisfactionData for anything else."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as archive:
                arrays = {name: archive[name] for name in archive.files}
            meta = json.loads(str(arrays["meta"]))
        except Exception as exc:  # zip, npz and JSON errors all mean the same thing to the caller
            raise InvalidSatisfactionData("these bytes are not a stored satisfaction model") from exc
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise InvalidSatisfactionData(f"unsupported satisfaction model format {meta.get('format')!r}")
        model = cls(views=meta["views"], ngram_range=tuple(meta["ngram_range"]), min_df=meta["min_df"], c=meta["c"])
        model.kind, model.n_labels, model.trained_at = meta["kind"], meta["n_labels"], meta["trained_at"]
        for i, block in enumerate(meta["blocks"]):
            vectorizer = _vectorizer(model.ngram_range, model.min_df, {t: j for j, t in enumerate(block["terms"])})
            vectorizer.idf_ = arrays[f"idf_{i}"]
            model._blocks.append((block["view"], vectorizer))
        model._dense_names = list(meta["dense_names"])
        model._intercept = float(meta["intercept"])
        model._coef, model._column_std = arrays["coef"], arrays["column_std"]
        model._dense_mean, model._dense_scale = arrays["dense_mean"], arrays["dense_scale"]
        return model

    # -- internals --------------------------------------------------------------------------
    def _dense_raw(self, dialogues: list[list[dict[str, str]]], rows: list[dict[str, float]]) -> np.ndarray:
        cues = [conversation_cues(d) for d in dialogues]
        values = [[c[n] if n in c else r.get(n.removeprefix("behaviour:"), 0.0) for n in self._dense_names]
                  for c, r in zip(cues, rows, strict=True)]
        return np.array(values, dtype=np.float64).reshape(len(dialogues), len(self._dense_names))

    def _features(self, dialogues: list[list[dict[str, str]]], rows: list[dict[str, float]]) -> sparse.csr_matrix:
        parts = [v.transform([TEXT_VIEWS[view][1](d) for d in dialogues]) for view, v in self._blocks]
        dense = (self._dense_raw(dialogues, rows) - self._dense_mean) / self._dense_scale
        parts.append(sparse.csr_matrix(dense))
        return sparse.hstack(parts, format="csr", dtype=np.float64)

    def _column_names(self) -> list[tuple[str, str, str]]:
        names = []
        for view, vectorizer in self._blocks:
            label = TEXT_VIEWS[view][0]
            names += [(view, term, f"{label} contains “{term.strip() or repr(term)}”")
                      for term in sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.__getitem__)]
        for name in self._dense_names:
            key = name.removeprefix("behaviour:")
            names.append(("", "", CUE_NAMES.get(name, f"behaviour: {key}")))
        return names


# Hand-set weights of the default model, in raw units (see docs/satisfaction.md). Log counts
# are log1p(count). The intercept makes a conversation with no cues ~73 % likely satisfied.
DEFAULT_INTERCEPT = 1.0
DEFAULT_WEIGHTS = {
    "customer_thanks": 0.6,
    "customer_complaints": -0.8,
    "customer_exclamations": -0.3,
    "last_customer_thanks": 1.0,
    "last_customer_complaint": -1.0,
    "behaviour:handed_off": -1.0,
    "behaviour:fallbacks": -0.5,
    "behaviour:mean_latency_ms": -0.0001,
}


def default_model() -> SatisfactionModel:
    """A transparent rule model for tenants without enough labels: thanks up, complaints, hand-offs,
    fallbacks and slow answers down. No text n-grams, no third-party data."""
    model = SatisfactionModel(views=())
    model.kind = "default"
    model._dense_names = list(CUE_NAMES) + [n for n in DEFAULT_WEIGHTS if n.startswith("behaviour:")]
    model._dense_mean = np.zeros(len(model._dense_names))
    model._dense_scale = np.ones(len(model._dense_names))
    model._coef = np.array([DEFAULT_WEIGHTS.get(n, 0.0) for n in model._dense_names])
    model._column_std = np.ones(len(model._dense_names))
    model._intercept = DEFAULT_INTERCEPT
    return model


def fit(dialogues: Sequence[Sequence[dict[str, str]]], labels: Sequence[object],
        behaviour: Sequence[dict[str, float]] | None = None) -> SatisfactionModel:
    """Train a :class:`SatisfactionModel` with the default settings."""
    return SatisfactionModel().fit(dialogues, labels, behaviour)


def predict_proba(dialogues: Sequence[Sequence[dict[str, str]]], behaviour: Sequence[dict[str, float]] | None = None,
                  *, model: SatisfactionModel | None = None) -> np.ndarray:
    """P(satisfied) per dialogue from ``model`` (the :func:`default_model` when none is given)."""
    return (model or default_model()).predict_proba(dialogues, behaviour)
