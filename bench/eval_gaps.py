"""Knowledge-gap topics against labelled questions: are a topic's questions about one thing?

Real support-bot questions with their intent labels (HINT3, `../shared/datasets/hint3_en`, in-scope
test questions) stand in for a tenant's unanswered questions: samples of 60 are clustered by
`analytics.gaps.cluster_questions` exactly as the worker does, and each sample's topics are scored:
- purity: the share of questions in a topic whose label is the topic's most common label (a
  topic titled "Where is my order?" should be about orders);
- inverse purity: the share of questions whose topic holds the most of their label's questions
  (the same need should not be spread over many topics);
- V-measure, the harmonic mean of homogeneity and completeness.
Only the `--max-topics` largest topics are shown to admins; every question still counts here,
questions outside the shown topics as topics of one.

  python bench/eval_gaps.py [--samples 5] [--size 60]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import pandas as pd
from sklearn.metrics import v_measure_score

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from analytics.gaps import cluster_questions  # noqa: E402

DATA = REPO.parent / "shared" / "datasets" / "hint3_en"
BOTS = ("sofmattress", "curekart")


def purity(truth: list[str], predicted: list[int]) -> float:
    frame = pd.DataFrame({"truth": truth, "predicted": predicted})
    return float(frame.groupby("predicted")["truth"].agg(lambda s: s.value_counts().iloc[0]).sum() / len(frame))


def topic_of_each(questions: list[str], max_topics: int) -> list[int]:
    """The topic index of every question; questions in no shown topic get a topic of their own."""
    labels = list(range(-1, -len(questions) - 1, -1))
    for index, topic in enumerate(cluster_questions(questions, max_topics=max_topics)):
        for member in topic.member_indices:
            labels[member] = index
    return labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=5, help="random samples per bot")
    parser.add_argument("--size", type=int, default=60, help="questions per sample")
    parser.add_argument("--max-topics", type=int, default=20)
    args = parser.parse_args()
    for bot in BOTS:
        frame = pd.read_csv(DATA / f"{bot}_test.csv")
        frame = frame[frame.label != "NO_NODES_DETECTED"]
        scores = []
        for seed in range(args.samples):
            sample = frame.sample(min(args.size, len(frame)), random_state=seed)
            truth, predicted = list(sample.label), topic_of_each(list(sample.sentence), args.max_topics)
            shown = sum(1 for p in predicted if p >= 0) / len(predicted)
            scores.append((purity(truth, predicted), purity(predicted, truth),  # type: ignore[arg-type]
                           v_measure_score(truth, predicted), shown))
        medians = [statistics.median(column) for column in zip(*scores, strict=True)]
        print(f"{bot:12s} {args.samples} samples of {args.size}: purity {medians[0]:.3f}  "
              f"inverse purity {medians[1]:.3f}  V-measure {medians[2]:.3f}  "
              f"questions in shown topics {medians[3]:.2f} (medians)")


if __name__ == "__main__":
    main()
