"""Grading a model's response against a problem."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lab.tasks.datasets import load_set
from lab.tasks.grading import check_problem, grade, grade_response, wrong_answer
from lab.tasks.problem import AnswerKind, Problem

NUMBER = Problem("n", "How many?", gold="1,000")
MATH = Problem("m", "Which?", gold=r"\frac{1}{2}", kind=AnswerKind.MATH)
GAME = Problem(
    "g", "Make 24.", gold="(8 - 4) * (7 - 1)", kind=AnswerKind.TARGET,
    metadata={"numbers": [1, 4, 7, 8], "target": 24},
)  # fmt: skip
OPEN = Problem("o", "Tell me.", gold=None)


@pytest.mark.parametrize(
    ("problem", "response", "correct"),
    [
        (NUMBER, "So she has 1000 apples.\n#### 1000", True),
        (NUMBER, "The answer is $1,000.00.", True),
        (NUMBER, r"... \boxed{1000}", True),
        (NUMBER, "The answer is 999.", False),
        (NUMBER, "I don't know.", False),
        (NUMBER, "1000", True),  # an answer already extracted
        (MATH, r"Thus $\boxed{\dfrac12}$.", True),
        (MATH, "The answer is 0.5.", True),
        (MATH, r"\frac{1}{2}", True),  # a bare answer is taken whole, not as its last number
        (MATH, r"The answer is $\frac{1}{3}$.", False),
        (GAME, "8 - 4 = 4 and 7 - 1 = 6, so the answer is (8 - 4) * (7 - 1).", True),
        (GAME, "(8-4)(7-1)", True),
        (GAME, "The answer is 1 + 4 + 7 + 8.", False),
        (GAME, "The answer is 24.", False),
        (OPEN, "The answer is 5.", None),
    ],
)
def test_grade(problem: Problem, response: str, correct: bool | None) -> None:
    assert grade(problem, response) is correct


def test_grade_reports_the_answer_span() -> None:
    response = "Work...\nThe answer is $1,000.00."
    graded = grade_response(NUMBER, response)
    assert graded.rule == "answer-is"
    start, end = graded.span
    assert response[start:end] == graded.answer == "$1,000.00"
    graded = grade_response(GAME, "I propose (8 - 4) * (7 - 1) here")
    assert graded.rule == "expression" and graded.answer == "(8 - 4) * (7 - 1)"


def test_wrong_answers() -> None:
    assert wrong_answer(NUMBER) == "1100"
    assert not grade(GAME, wrong_answer(GAME))
    assert wrong_answer(MATH) is None
    assert not check_problem(OPEN).ok


def test_check_problem_catches_a_bad_gold() -> None:
    problem = load_set("arith", limit=1)[0]
    problem.gold = str(int(problem.gold) + 1)
    result = check_problem(problem)
    assert not result.ok and "solution gives" in result.detail


@pytest.mark.parametrize("problem", [NUMBER, MATH, GAME, OPEN])
@given(response=st.text(max_size=200))
@settings(max_examples=80, deadline=None)
def test_grade_never_raises(problem: Problem, response: str) -> None:
    graded = grade_response(problem, response)
    assert graded.correct in (True, False, None)
