"""Labelled dialogues as JSONL, the file format of ``kefu eval satisfaction``.

One JSON object per line: ``{"turns": [{"role": "customer"|"agent", "text": "..."}], "satisfied": true}``.
Blank lines are skipped; anything else that is not such an object is reported with its line
number, so a person can fix the file.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from analytics.satisfaction import SatisfactionModel
from analytics.satisfaction_features import InvalidSatisfactionData, check_dialogues

__all__ = ["evaluate_files", "read_labelled_jsonl"]


def read_labelled_jsonl(path: Path) -> tuple[list[list[dict[str, str]]], list[bool]]:
    """Dialogues and satisfied labels from a JSONL file; raises InvalidSatisfactionData naming the bad line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise InvalidSatisfactionData(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    dialogues: list[list[dict[str, str]]] = []
    labels: list[bool] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}, line {number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidSatisfactionData(f"{where}: not valid JSON ({exc.msg})") from exc
        if not isinstance(row, dict) or "turns" not in row or "satisfied" not in row:
            raise InvalidSatisfactionData(f"{where}: expected an object with \"turns\" and \"satisfied\"")
        if not isinstance(row["satisfied"], bool):
            raise InvalidSatisfactionData(f"{where}: \"satisfied\" must be true or false")
        try:
            dialogues.extend(check_dialogues([row["turns"]]))
        except InvalidSatisfactionData as exc:
            raise InvalidSatisfactionData(f"{where}: {exc.detail.removeprefix('dialogue 0, ')}") from exc
        labels.append(row["satisfied"])
    if not dialogues:
        raise InvalidSatisfactionData(f"{path}: no dialogues in the file")
    return dialogues, labels


def evaluate_files(train: Path, test: Path) -> dict[str, float | int]:
    """Fit the default-settings model on ``train`` and return its ROC-AUC on ``test`` with counts."""
    train_dialogues, train_labels = read_labelled_jsonl(train)
    test_dialogues, test_labels = read_labelled_jsonl(test)
    for name, labels in (("training", train_labels), ("test", test_labels)):
        if len(set(labels)) < 2:
            raise InvalidSatisfactionData(
                f"the {name} file needs both satisfied and dissatisfied dialogues (all are {labels[0]})")
    model = SatisfactionModel().fit(train_dialogues, train_labels)
    scores = model.predict_proba(test_dialogues)
    return {
        "train_dialogues": len(train_labels),
        "train_satisfied": int(np.sum(train_labels)),
        "test_dialogues": len(test_labels),
        "test_satisfied": int(np.sum(test_labels)),
        "roc_auc": float(roc_auc_score(test_labels, scores)),
    }
