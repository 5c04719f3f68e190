"""Game of 24: the safe checker, pulling an expression out of text, the solver."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lab.tasks import game24
from lab.tasks.game24 import check_expression, find_expression, solve


@pytest.mark.parametrize(
    "expression",
    [
        "(8 - 4) * (7 - 1)",
        "(8-4)*(7-1) = 24",
        "(8 − 4) × (7 − 1)",
        r"(8 - 4) \times (7 - 1)",
        "[(8 - 4)] * [7 - 1]",
        "(8 - 4)(7 - 1)",
        "(7 - 1) * (8 - 4)",
    ],
)
def test_valid_expressions(expression: str) -> None:
    check = check_expression(expression, [1, 4, 7, 8])
    assert check.ok, check.reason
    assert check.value == 24


def test_exact_fractions() -> None:
    check = check_expression("8 / (3 - 8 / 3)", [3, 3, 8, 8])
    assert check.ok
    assert check.value == Fraction(24)


@pytest.mark.parametrize(
    ("expression", "numbers", "reason"),
    [
        ("8 * 3", [1, 4, 7, 8], "must use"),
        ("(8 - 4) * (7 - 1) * 1", [1, 4, 7, 8], "must use"),
        ("1 + 4 + 7 + 8", [1, 4, 7, 8], "equals 20"),
        ("-8 + 32", [8, 32], "sign"),
        ("8 / (4 - 4)", [8, 4, 4], "division by zero"),
        ("2 ** 3 * 3", [2, 3, 3], "allowed"),
        ("__import__('os').system('true')", [1, 2], "allowed"),
        ("(lambda: 24)()", [24], "allowed"),
        ("24", [1, 2, 3, 4], "must use"),
        ("", [1, 2, 3, 4], "empty"),
        ("(((1 + 2)", [1, 2], "well-formed"),
    ],
)
def test_invalid_expressions(expression: str, numbers: list[int], reason: str) -> None:
    check = check_expression(expression, numbers)
    assert not check.ok
    assert reason in check.reason


def test_other_targets() -> None:
    assert check_expression("3 * 4 - 2", [2, 3, 4], target=10).ok
    assert not check_expression("3 * 4 - 2", [2, 3, 4]).ok


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("8 - 4 = 4, 7 - 1 = 6, so (8 - 4) × (7 - 1) = 24.", "(8 - 4) * (7 - 1)"),
        ("The answer is (8-4)*(7-1).", "(8-4)*(7-1)"),
        (r"Answer: \boxed{(8-4)\times(7-1)}", "(8-4)*(7-1)"),
        ("I tried 1 + 4 + 7 + 8 = 20 which fails.", "1 + 4 + 7 + 8"),
        ("Try 8 * 3 = 24.", None),
        ("no idea", None),
    ],
)
def test_find_expression(text: str, expected: str | None) -> None:
    assert find_expression(text, [7, 8, 1, 4]) == expected


def test_find_prefers_a_solution_over_a_later_attempt() -> None:
    text = "(8 - 4) * (7 - 1) = 24. Check: 1 + 4 + 7 + 8 = 20."
    assert find_expression(text, [1, 4, 7, 8]) == "(8 - 4) * (7 - 1)"


@pytest.mark.parametrize(
    ("numbers", "count"),
    [((3, 3, 8, 8), 1), ((1, 1, 1, 1), 0), ((1, 5, 5, 5), 1), ((4, 7, 8, 8), 3)],
)
def test_solution_counts(numbers: tuple[int, ...], count: int) -> None:
    solutions = solve(numbers)
    assert len(solutions) == count
    assert all(check_expression(s, numbers).ok for s in solutions)


def test_commuted_and_regrouped_solutions_count_once() -> None:
    solutions = solve((1, 2, 3, 4))
    products = [s for s in solutions if set(s) <= set("1234 *")]
    assert len(products) == 1


def test_difficulty_scale() -> None:
    assert game24.difficulty(1) == 5.0
    assert game24.difficulty(12) == 1.0
    assert game24.difficulty(100) == 1.0
    assert 1.0 < game24.difficulty(3) < game24.difficulty(2) < 5.0


def test_generated_problems_are_solvable_and_mixed() -> None:
    problems = game24.generate(20, seed=5)
    assert len(problems) == 20
    assert {round(p.difficulty) for p in problems} == {1, 2, 3, 4, 5}
    for problem in problems:
        numbers = problem.metadata["numbers"]
        assert problem.metadata["target"] == 24
        assert all(1 <= n <= 13 for n in numbers) and len(numbers) == 4
        assert check_expression(problem.gold, numbers).ok
        assert not check_expression(game24.wrong_expression(numbers), numbers).ok
    assert game24.generate(20, seed=5) == problems


@given(st.text(max_size=200), st.lists(st.integers(0, 20), max_size=5))
@settings(max_examples=300, deadline=None)
def test_never_raises(text: str, numbers: list[int]) -> None:
    check = check_expression(text, numbers)
    assert isinstance(check.ok, bool) and isinstance(check.reason, str)
    found = find_expression(text, numbers)
    assert found is None or isinstance(found, str)


@given(
    st.lists(
        st.sampled_from(list("0123456789+-*/()[]{} .=x×÷^") + [r"\times", r"\boxed{", "}"]),
        max_size=60,
    ).map("".join)
)
@settings(max_examples=300, deadline=None)
def test_never_raises_on_arithmetic_soup(text: str) -> None:
    check_expression(text, [1, 2, 3, 4])
    find_expression(text, [1, 2, 3, 4])


def test_deep_nesting_and_huge_numbers_are_rejected() -> None:
    assert not check_expression("(" * 300 + "1" + ")" * 300, [1]).ok
    assert not check_expression("9" * 5000 + " + 1", [1]).ok
    assert not check_expression("1" + "+1" * 400, [1] * 401).ok
