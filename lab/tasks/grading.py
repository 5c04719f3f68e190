"""Grade a model's response to a problem, and check a problem's own gold answer."""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from lab.tasks import game24
from lab.tasks.answers import answers_equivalent, extract_answer
from lab.tasks.normalize import canonical_number, number_key
from lab.tasks.problem import AnswerKind, Problem

MAX_BARE_CHARS = 100
_SENTENCE = re.compile(r"(?<!\\)\b[A-Za-z]{3,}\s+[A-Za-z]{2,}\b")


@dataclass
class Grade:
    correct: bool | None  # None: the problem has no gold answer to compare with
    answer: str | None  # what was taken as the response's final answer
    rule: str  # the extraction rule that fired; "whole" for a bare answer, "expression" for 24
    span: tuple[int, int] | None  # where that answer is in the response


def grade_answer(problem: Problem, answer: str | None) -> bool | None:
    """Is a run's final answer right? None when the problem has no gold answer; no answer is
    wrong. The one grader of runs: the app, `lab solve` and `lab eval` all ask it, after the
    run, never inside it."""
    if problem.gold is None:
        return None
    if answer is None:
        return False
    return bool(grade(problem, answer))


def grade(problem: Problem, response: str) -> bool | None:
    """Is the response's final answer right? None when there is nothing to compare with."""
    return grade_response(problem, response).correct


def grade_response(problem: Problem, response: str) -> Grade:
    if problem.kind == AnswerKind.TARGET and "numbers" in problem.metadata:
        return _grade_expression(problem, response)
    extraction = extract_answer(response)
    answer, rule, span = extraction.answer, extraction.rule, extraction.span
    if rule in ("last-number", "none") and _is_bare_answer(response):
        # An answer given on its own ("\frac{1}{2}", "(3, 4]"): all of it, not its last number.
        stripped = response.strip()
        start = response.find(stripped)
        answer, rule, span = stripped, "whole", (start, start + len(stripped))
    if problem.gold is None:
        correct = None
    elif answer is None:
        correct = False
    else:
        correct = answers_equivalent(answer, problem.gold, problem.kind)
    return Grade(correct, answer, rule, span)


def _is_bare_answer(response: str) -> bool:
    """A short single line that is not a sentence."""
    stripped = response.strip()
    return (
        0 < len(stripped) <= MAX_BARE_CHARS
        and "\n" not in stripped
        and not _SENTENCE.search(stripped)
    )


def _grade_expression(problem: Problem, response: str) -> Grade:
    numbers = problem.metadata["numbers"]
    target = problem.metadata.get("target", game24.TARGET)
    expression = game24.find_expression(response, numbers, target)
    if expression is None:
        return Grade(False, None, "none", None)
    ok = game24.check_expression(expression, numbers, target).ok
    start = response.rfind(expression)
    span = (start, start + len(expression)) if start >= 0 else None
    return Grade(ok, expression, "expression", span)


# --- checking the gold answers of a set ------------------------------------------------


@dataclass
class GoldCheck:
    ok: bool
    detail: str  # why not, when not ok


def check_problem(problem: Problem) -> GoldCheck:
    """Does the gold answer pass the problem's own grader, and a wrong answer fail it?

    Where the problem has a worked solution (GSM8K, MATH-500, arith), the answer extracted
    from the solution must agree with the gold answer too."""
    if problem.gold is None:
        return GoldCheck(False, "no gold answer")
    solution = problem.metadata.get("solution")
    if isinstance(solution, str):
        graded = grade_response(problem, solution)
        if not graded.correct:
            return GoldCheck(
                False, f"solution gives {graded.answer!r} ({graded.rule}), gold is {problem.gold!r}"
            )
    if not grade(problem, f"The answer is {problem.gold}"):
        return GoldCheck(False, f"gold answer {problem.gold!r} fails its own grader")
    wrong = wrong_answer(problem)
    if wrong is not None and grade(problem, f"The answer is {wrong}"):
        return GoldCheck(False, f"wrong answer {wrong!r} passes the grader")
    return GoldCheck(True, "")


def wrong_answer(problem: Problem) -> str | None:
    """A clearly wrong answer for the problem, where one is easy to make."""
    if problem.kind == AnswerKind.TARGET and "numbers" in problem.metadata:
        return game24.wrong_expression(
            problem.metadata["numbers"], problem.metadata.get("target", 24)
        )
    if problem.kind == AnswerKind.NUMBER and problem.gold is not None:
        number = number_key(problem.gold)
        if number is not None:
            return canonical_number(number.value + max(1, abs(number.value) * Fraction(1, 10)))
    return None
