"""The threshold report: precision and coverage at every threshold, and the recommendation for a target."""

from __future__ import annotations

from knowledge.confidence import DEFAULT_THRESHOLD
from knowledge.thresholds import OUT_OF_SCOPE, RIGHT, WRONG, curve, outcome_points, report


def _set(right: list[float], wrong: list[float], out: list[float]) -> list[list[float | str]]:
    return [[c, RIGHT] for c in right] + [[c, WRONG] for c in wrong] + [[c, OUT_OF_SCOPE] for c in out]


def test_points_keep_confidence_and_kind():
    assert outcome_points([(0.81234, True, True), (0.4, True, False), (0.3, False, False)]) == [
        [0.8123, RIGHT],
        [0.4, WRONG],
        [0.3, OUT_OF_SCOPE],
    ]


def test_curve_counts_what_is_answered_at_each_threshold():
    points = _set([0.9, 0.7], [0.6], [0.65])
    line = {round(p.threshold, 2): p for p in curve(points)}
    assert len(line) == 101
    assert (line[0.0].precision, line[0.0].coverage, line[0.0].right) == (0.5, 1.0, 2 / 3)
    assert (line[0.65].precision, line[0.65].answered, line[0.65].out_of_scope_answered) == (2 / 3, 3, 1)
    assert (line[0.7].precision, line[0.7].coverage) == (1.0, 2 / 3)
    assert line[0.95].precision is None and line[0.95].coverage == 0.0


def test_the_lowest_threshold_reaching_the_target_is_recommended():
    # 20 right answers spread over 0.30-0.97, wrong and out-of-scope ones up to 0.44.
    right = [0.30 + 0.035 * i for i in range(20)]
    out = [0.1, 0.15, 0.2, 0.25, 0.42]
    found = report(_set(right, [0.35, 0.40, 0.44], out), 0.9)
    # At 0.43: 16 right of 17 answered (94%); at 0.42 the out-of-scope 0.42 is answered too (16 of 18).
    assert found.recommended == 0.43
    assert found.at(0.43).precision >= 0.9 and found.at(0.42).precision < 0.9
    assert "0.43" in found.reason and "0.43" in found.reason_zh
    strict = report(_set(right, [0.35, 0.40, 0.44, 0.9], out), 0.98)
    assert strict.recommended is not None and strict.recommended > 0.9


def test_too_few_labelled_questions_or_an_unreachable_target_recommend_nothing():
    few = report(_set([0.9] * 10, [], [0.1]), 0.9)
    assert few.recommended is None and "at least 20" in few.reason and "default" in few.reason
    poor = report(_set([0.5] * 20, [0.9] * 20, [0.1]), 0.9)
    assert poor.recommended is None and "No threshold reaches 90%" in poor.reason


def test_with_few_out_of_scope_questions_nothing_below_the_default_is_recommended():
    for out in ([], [0.1, 0.2, 0.25, 0.3]):
        found = report(_set([0.3 + 0.03 * i for i in range(20)], [], out), 0.9)
        assert found.recommended == DEFAULT_THRESHOLD and "fewer than 5 questions" in found.reason
