"""Satisfaction model quality: Kefu's model beside a char n-gram baseline, on the same CV folds.

Data (read in place from ../shared/datasets):
- stc3_zh: NTCIR-14 STC-3 helpdesk dialogues (Chinese); satisfied = S_mean > 0, dissatisfied
  = S_mean < 0, S_mean == 0 dropped.
- stc3_en: the English translations of a subset of the same dialogues, same labels.
- uss_en: USS / SGD task dialogues (English); dissatisfied = mean overall_sat < 3.
For each set, 5-fold stratified CV (shuffled, random_state 0; the same folds for every model):
- baseline: TF-IDF of character 1-3-grams over the whole transcript + logistic regression;
- kefu: `analytics.satisfaction.SatisfactionModel()` with its default settings;
- rules: `default_model()` (no training at all), scored on every dialogue.
Prints pooled out-of-fold ROC-AUC (satisfied vs dissatisfied; the same number as for
"dissatisfied" with the score negated), Spearman correlation of the score with the mean
annotator score, and the median CPU seconds to fit one fold (4/5 of the set).

    python bench/eval_satisfaction.py                 # all three sets
    python bench/eval_satisfaction.py --only stc3_zh --c 3 --views customer,agent,last_customer
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

REPO = Path(__file__).resolve().parents[1]
# Run as a script, bench/ is first on sys.path and bench/analytics.py would shadow the package.
sys.path.insert(0, str(REPO))
from analytics.satisfaction import SatisfactionModel, default_model  # noqa: E402

DATASETS = REPO.parent / "shared" / "datasets"
Dialogue = list[dict[str, str]]


def load_stc3(path: Path) -> tuple[list[Dialogue], list[bool], list[float]]:
    dialogues, labels, scores = [], [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row["S_mean"] == 0:
            continue
        dialogues.append([{"role": "customer" if t["sender"] == "customer" else "agent",
                           "text": "\n".join(t["utterances"])} for t in row["turns"]])
        labels.append(row["S_mean"] > 0)
        scores.append(row["S_mean"])
    return dialogues, labels, scores


def load_uss(path: Path) -> tuple[list[Dialogue], list[bool], list[float]]:
    dialogues, labels, scores = [], [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        dialogues.append([{"role": "customer" if t["role"] == "USER" else "agent", "text": t["text"]}
                          for t in row["turns"]])
        labels.append(not row["overall_sat_mean"] < 3)
        scores.append(row["overall_sat_mean"])
    return dialogues, labels, scores


SETS: dict[str, Callable[[Path], tuple[list[Dialogue], list[bool], list[float]]]] = {
    "stc3_zh": lambda root: load_stc3(root / "stc3_helpdesk_satisfaction" / "dialogues_zh.jsonl"),
    "stc3_en": lambda root: load_stc3(root / "stc3_helpdesk_satisfaction" / "dialogues_en.jsonl"),
    "uss_en": lambda root: load_uss(root / "uss_satisfaction_en" / "sgd.jsonl"),
}


class Baseline:
    """Char 1-3-gram TF-IDF of the whole transcript + logistic regression (the issue's reference)."""

    def fit(self, dialogues: list[Dialogue], labels: list[bool]) -> Baseline:
        self.vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=2)
        features = self.vectorizer.fit_transform([self.text(d) for d in dialogues])
        self.classifier = LogisticRegression(max_iter=3000).fit(features, labels)
        return self

    def predict_proba(self, dialogues: list[Dialogue]) -> np.ndarray:
        return self.classifier.predict_proba(self.vectorizer.transform([self.text(d) for d in dialogues]))[:, 1]

    @staticmethod
    def text(dialogue: Dialogue) -> str:
        return "\n".join(turn["text"] for turn in dialogue)


def out_of_fold(make: Callable[[], object], dialogues: list[Dialogue], labels: np.ndarray,
                folds: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, float]:
    scores, seconds = np.zeros(len(labels)), []
    for train, test in folds:
        started = time.process_time()  # CPU seconds: wall time on a shared machine says more about the neighbours
        model = make().fit([dialogues[i] for i in train], labels[train].tolist())  # type: ignore[attr-defined]
        seconds.append(time.process_time() - started)
        scores[test] = model.predict_proba([dialogues[i] for i in test])
    return scores, statistics.median(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=Path, default=DATASETS)
    parser.add_argument("--only", default=",".join(SETS), help="Comma-separated sets: " + ", ".join(SETS))
    parser.add_argument("--c", type=float, default=None, help="Override the Kefu model's c (inverse L2 strength).")
    parser.add_argument("--views", default=None, help="Override the Kefu model's text views (comma-separated).")
    args = parser.parse_args()
    options: dict[str, object] = {}
    if args.c is not None:
        options["c"] = args.c
    if args.views is not None:
        options["views"] = [v for v in args.views.split(",") if v]
    print(f"{'set':8} {'n':>5} {'satisfied':>9}  {'model':9} {'ROC-AUC':>7} {'Spearman':>8} {'fit cpu s':>9}")
    for name in args.only.split(","):
        dialogues, labels, mean_scores = SETS[name](args.datasets)
        y = np.array(labels, dtype=int)
        folds = list(StratifiedKFold(5, shuffle=True, random_state=0).split(np.zeros(len(y)), y))
        results = {
            "baseline": out_of_fold(Baseline, dialogues, y, folds),
            "kefu": out_of_fold(lambda: SatisfactionModel(**options), dialogues, y, folds),  # type: ignore[arg-type]
            "rules": (default_model().predict_proba(dialogues), 0.0),
        }
        for model_name, (scores, seconds) in results.items():
            auc = roc_auc_score(y, scores)
            rho = spearmanr(scores, mean_scores).statistic
            print(f"{name:8} {len(y):5d} {y.mean():9.2f}  {model_name:9} {auc:7.4f} {rho:8.3f} {seconds:9.2f}")


if __name__ == "__main__":
    main()
