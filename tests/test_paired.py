"""The paired difference against a hand computation on a constructed set."""

from __future__ import annotations

import math

import pytest

from lab.evaluation.paired import paired_difference

# 10 problems: A right on 1-6, B right on 1-3 and 7 (so only A on 4-6, only B on 7)
A = {f"p{i}": float(i <= 6) for i in range(1, 11)}
B = {f"p{i}": float(i <= 3 or i == 7) for i in range(1, 11)}


def test_the_interval_equals_the_hand_computation():
    found = paired_difference(A, B)
    # d = (0,0,0,1,1,1,-1,0,0,0): mean 0.2; sample variance (4 - 10 * 0.2²) / 9 = 0.4;
    # standard error √(0.4 / 10) = 0.2; interval 0.2 ± 1.959964 × 0.2
    assert (found.problems, found.only_a, found.only_b) == (10, 3, 1)
    assert (found.a, found.b, found.difference) == pytest.approx((0.6, 0.4, 0.2))
    assert found.standard_error == pytest.approx(0.2)
    assert found.low == pytest.approx(0.2 - 0.3919928, abs=1e-6)
    assert found.high == pytest.approx(0.2 + 0.3919928, abs=1e-6)
    assert not found.shown
    assert found.words("cot", "direct").startswith("No difference shown on these 10 problems")
    assert "only cot right on 3, only direct on 1" in found.words("cot", "direct")


def test_only_shared_problems_count_and_a_clear_lead_is_named():
    a = {f"p{i}": 1.0 for i in range(20)} | {"extra": 0.0}
    b = {f"p{i}": float(i % 4 == 0) for i in range(20)}  # right on 5 of 20
    found = paired_difference(a, b)
    assert found.problems == 20 and found.difference == pytest.approx(0.75)
    assert found.shown and found.low > 0
    assert found.words("vote", "greedy").startswith("vote is ahead on these 20 problems")


def test_expected_outcomes_and_degenerate_sets():
    found = paired_difference({"x": 0.5, "y": 0.25}, {"x": 0.0, "y": 0.25})
    assert found.difference == pytest.approx(0.25) and (found.only_a, found.only_b) == (1, 0)
    assert math.isclose(found.standard_error or 0, 0.25)
    one = paired_difference({"x": 1.0}, {"x": 0.0})
    assert one.low is None and "one problem gives no interval" in one.words()
    assert "share no problem" in paired_difference({"x": 1.0}, {"y": 1.0}).words()
    same = paired_difference(A, A)
    assert (same.low, same.high) == (0.0, 0.0) and not same.shown
