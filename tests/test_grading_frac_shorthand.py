"""The \\frac shorthand without braces: '\\frac919' is 9/19 as math-verify reads it (not
\\frac{9}{1}9 = 81 as strict TeX would), and the one-digit forms keep their meaning."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.tasks.answers import group_answers
from lab.tasks.datasets import load_set
from lab.tasks.grading import check_problem, grade, grade_answer, grade_response
from lab.tasks.normalize import clean_latex
from lab.tasks.problem import AnswerKind, Problem

KINDS = (AnswerKind.MATH, AnswerKind.NUMBER)


def problem(gold: str, kind: AnswerKind = AnswerKind.MATH) -> Problem:
    return Problem("p", "Solve it.", gold=gold, kind=kind)


@pytest.mark.parametrize("text,cleaned", [
    (r"\frac919", r"\frac{9}{19}"),
    (r"\dfrac919", r"\frac{9}{19}"),
    (r"\frac12", r"\frac{1}{2}"),
    (r"\frac1{2}", r"\frac{1}{2}"),
    (r"\frac{1}2", r"\frac{1}{2}"),
    (r"\frac{9}{19}", r"\frac{9}{19}"),
])
def test_the_shorthand_is_read_as_math_verify_reads_it(text: str, cleaned: str) -> None:
    assert clean_latex(text) == cleaned


def test_a_vote_groups_the_shorthand_with_its_value() -> None:
    groups = group_answers([r"\frac919", r"\frac{9}{19}", "81"], AnswerKind.MATH)
    assert [g.members for g in groups] == [[0, 1], [2]]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("gold", ["9/19", r"\frac{9}{19}", r"\frac9{19}", r"\frac919"])
@pytest.mark.parametrize("response", [
    r"\frac919",
    r"So $x = \boxed{\frac919}$.",
    r"The answer is $\frac919$.",
    r"The answer is $\dfrac919$.",
])
def test_frac919_is_nine_nineteenths(kind: AnswerKind, gold: str, response: str) -> None:
    assert grade(problem(gold, kind), response) is True


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("gold", ["81", "9", "9/91", "1/2", r"\frac{9}{1}"])
def test_frac919_is_no_longer_read_as_strict_tex(kind: AnswerKind, gold: str) -> None:
    """Strict TeX's \\frac{9}{1}9 = 81 (which the math kind used to accept) is gone."""
    assert grade(problem(gold, kind), r"The answer is $\frac919$.") is False
    assert grade(problem(r"\frac919", kind), f"The answer is ${gold}$.") is False


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shorthand,value", [
    (r"\frac12", "0.5"),
    (r"\frac12", r"\frac{1}{2}"),
    (r"\dfrac34", "0.75"),
    (r"\tfrac34", "3/4"),
    (r"\frac1{2}", "1/2"),
    (r"\frac{1}2", "0.5"),
    (r"\frac 5 9", r"\frac{5}{9}"),
])
def test_one_digit_shorthands(kind: AnswerKind, shorthand: str, value: str) -> None:
    for response in (shorthand, f"The answer is ${shorthand}$.", rf"So \boxed{{{shorthand}}}."):
        assert grade(problem(value, kind), response) is True, response
    assert grade(problem(shorthand, kind), f"The answer is {value}.") is True  # as the gold
    assert grade(problem(shorthand, kind), "The answer is 0.25.") is False


def test_the_answer_and_its_span_are_as_written() -> None:
    response = r"We get $x = \boxed{\frac919}$."
    graded = grade_response(problem("9/19"), response)
    assert graded.correct is True and graded.answer == r"\frac919" and graded.rule == "boxed"
    assert graded.span is not None and response[slice(*graded.span)] == r"\frac919"


def test_grade_answer_and_gold_checks() -> None:
    assert grade_answer(problem(r"\frac{9}{19}"), r"\frac919") is True
    assert grade_answer(problem(r"\frac{9}{19}"), r"\frac918") is False
    assert grade_answer(problem(r"\frac919"), None) is False
    assert grade_response(Problem("p", "Solve it."), r"\frac919").correct is None  # no gold
    assert check_problem(problem(r"\frac919", AnswerKind.NUMBER)).ok


def test_math500_gold_answers_grade_right_against_themselves(shared_data: Path) -> None:
    path = shared_data / "math500_test.jsonl"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    problems = load_set(f"math500:{path}")
    assert len(problems) == 500
    wrong = [p.id for p in problems
             if not (grade(p, p.gold) and grade(p, f"The answer is {p.gold}")
                     and grade(p, rf"So \boxed{{{p.gold}}}."))]
    assert wrong == []
