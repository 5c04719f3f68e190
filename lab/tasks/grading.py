"""Grade a model's response to a problem, and check a problem's own gold answer.

The rules are the problem kind's (lab.tasks.kinds); this module is what callers ask."""

from __future__ import annotations

from dataclasses import dataclass

from lab.tasks.kinds import Grade, kind_of
from lab.tasks.problem import Problem

__all__ = ["GoldCheck", "Grade", "check_problem", "grade", "grade_answer", "grade_response",
           "wrong_answer"]


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
    """The response's final answer, where it is, and whether it is right, by the problem's kind."""
    return kind_of(problem).grade_response(problem, response)


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
    return kind_of(problem).wrong_answer(problem)
