"""The confidence threshold from a tenant's own labelled questions: precision against coverage.

An evaluation run keeps, per labelled question, the bot's confidence and whether its top entry was
right (`points`). At a threshold t the bot answers every question with confidence >= t, so:
- precision(t): of the questions it answers, the share answered from a right entry (an answered
  out-of-scope question counts as wrong);
- coverage(t): the share of in-scope questions it answers;
- right(t): the share of in-scope questions answered from a right entry.
The recommended threshold is the lowest one (most coverage) whose precision reaches the admin's
target. With too few labelled questions there is no recommendation, and a set with fewer than
`MIN_OUT_OF_SCOPE` out-of-scope questions cannot show what a low threshold costs, so then nothing
below the default is recommended. A tenant that never runs an evaluation keeps `DEFAULT_THRESHOLD`, which is fitted
across tenants (`knowledge.confidence`).
"""

from __future__ import annotations

from dataclasses import dataclass

from knowledge.confidence import DEFAULT_THRESHOLD

RIGHT, WRONG, OUT_OF_SCOPE = "right", "wrong", "out"
MIN_IN_SCOPE = 20  # fewer labelled questions say too little to move the threshold
MIN_OUT_OF_SCOPE = 5  # below the default only when this many questions show what answering too much costs
LOWEST = 0.2  # never recommend answering below this confidence, whatever a small set suggests
STEPS = 100  # thresholds 0.00, 0.01, ... 1.00
TARGETS = (0.8, 0.85, 0.9, 0.95, 0.98)
DEFAULT_TARGET = 0.9


@dataclass(frozen=True)
class ThresholdPoint:
    threshold: float
    precision: float | None  # None: nothing answered at this threshold
    coverage: float
    right: float
    answered: int
    out_of_scope_answered: int


@dataclass(frozen=True)
class ThresholdReport:
    points: list[ThresholdPoint]
    target_precision: float
    recommended: float | None  # None: the set cannot recommend one (`reason` says why)
    reason: str
    reason_zh: str
    in_scope: int
    out_of_scope: int

    def at(self, threshold: float) -> ThresholdPoint:
        """The point nearest to `threshold`."""
        return min(self.points, key=lambda p: abs(p.threshold - threshold))


def outcome_points(outcomes: list[tuple[float, bool, bool]]) -> list[list[float | str]]:
    """What a run keeps per question: [confidence, right|wrong|out] from (confidence, in scope, top-1 right)."""
    return [[round(c, 4), (RIGHT if ok else WRONG) if in_scope else OUT_OF_SCOPE] for c, in_scope, ok in outcomes]


def curve(points: list[list[float | str]]) -> list[ThresholdPoint]:
    """Precision, coverage and right share at every threshold from 0 to 1 in steps of 0.01."""
    in_scope = sum(1 for _, kind in points if kind != OUT_OF_SCOPE) or 1
    found = []
    for step in range(STEPS + 1):
        t = step / STEPS
        answered = [kind for c, kind in points if float(c) >= t - 1e-9]
        right = answered.count(RIGHT)
        out = answered.count(OUT_OF_SCOPE)
        found.append(
            ThresholdPoint(
                t,
                right / len(answered) if answered else None,
                (len(answered) - out) / in_scope,
                right / in_scope,
                len(answered),
                out,
            )
        )
    return found


def report(points: list[list[float | str]], target_precision: float = DEFAULT_TARGET) -> ThresholdReport:
    """The curve and the threshold recommended for `target_precision`."""
    in_scope = sum(1 for _, kind in points if kind != OUT_OF_SCOPE)
    out_of_scope = len(points) - in_scope
    line = curve(points)

    def done(recommended: float | None, reason: str, reason_zh: str) -> ThresholdReport:
        return ThresholdReport(line, target_precision, recommended, reason, reason_zh, in_scope, out_of_scope)

    if in_scope < MIN_IN_SCOPE:
        return done(
            None,
            f"Label at least {MIN_IN_SCOPE} questions the bot should answer to get a "
            f"recommendation (this set has {in_scope}); the default threshold stays.",
            f"至少标注 {MIN_IN_SCOPE} 个机器人应该回答的问题才能给出建议（本集合有 {in_scope} 个）；继续使用默认阈值。",
        )
    floor = LOWEST if out_of_scope >= MIN_OUT_OF_SCOPE else DEFAULT_THRESHOLD
    reaching = [
        p for p in line if p.threshold >= floor and p.precision is not None and p.precision >= target_precision - 1e-9
    ]
    if not reaching:
        best = max(
            (p for p in line if p.precision is not None and p.threshold >= floor),
            key=lambda p: (p.precision or 0.0, p.coverage),
            default=None,
        )
        best_text = (
            f" The best on this set is {best.precision:.0%} at {best.threshold:.2f}."
            if best and best.precision is not None
            else ""
        )
        best_zh = (
            f"本集合最高为 {best.precision:.0%}（阈值 {best.threshold:.2f}）。"
            if best and best.precision is not None
            else ""
        )
        return done(
            None,
            f"No threshold reaches {target_precision:.0%} precision on this set.{best_text} "
            "Improve the knowledge (or add similar questions) and run it again.",
            f"没有阈值能在本集合上达到 {target_precision:.0%} 的准确率。{best_zh}"
            "请完善知识库（或添加相似问法）后再评测。",
        )
    chosen = reaching[0]
    few = out_of_scope < MIN_OUT_OF_SCOPE
    note = (
        (
            f" The set has fewer than {MIN_OUT_OF_SCOPE} questions the bot should not answer, so nothing below "
            "the default is recommended."
        )
        if few
        else ""
    )
    note_zh = f"本集合中机器人不应回答的问题少于 {MIN_OUT_OF_SCOPE} 个，因此不会建议低于默认值的阈值。" if few else ""
    return done(
        chosen.threshold,
        f"At {chosen.threshold:.2f} the bot answers {chosen.coverage:.0%} of the questions it should, "
        f"{chosen.precision:.0%} of its answers right.{note}",
        f"阈值 {chosen.threshold:.2f} 时，机器人回答 {chosen.coverage:.0%} 应回答的问题，"
        f"其中 {chosen.precision:.0%} 正确。{note_zh}",
    )
