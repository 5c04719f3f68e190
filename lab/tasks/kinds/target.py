"""The `target` kind: an expression that must reach the target from given numbers (Game of 24).

The numbers are the problem's `metadata["numbers"]`; the target is `lab.tasks.game24.TARGET`.
A target problem without numbers is graded by comparing expressions with the gold.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from lab.tasks import game24
from lab.tasks.kinds.base import Grade, ProblemKind, Solution, Verdict
from lab.tasks.normalize import MAX_ANSWER_CHARS
from lab.tasks.problem import AnswerKind, Problem
from lab.tasks.safe_math import ExpressionError, clean_expression, evaluate


class TargetKind(ProblemKind):
    """Game of 24: the answer is an expression using each given number once."""

    name = AnswerKind.TARGET.value
    summary = f"an expression that reaches {game24.TARGET} from the given numbers (Game of 24)"
    order = 30
    instruction = ('Finish with a last line "The answer is E." where E is the expression, '
                   "using each given number exactly once.")

    def answer_key(self, answer: str) -> str:
        return expression_key(answer)

    def equivalent(self, a: str, b: str, timeout_s: float = 2.0) -> bool:
        """The same text, or the same value from the same numbers."""
        del timeout_s
        if expression_key(a) == expression_key(b):
            return True
        try:
            first, second = evaluate(expression_key(a)), evaluate(expression_key(b))
        except ExpressionError:
            return False
        return first.value == second.value and sorted(first.numbers) == sorted(second.numbers)

    def grade_response(self, problem: Problem, response: str) -> Grade:
        """The expression the response proposes, checked against the numbers and target."""
        numbers = puzzle_numbers(problem)
        if numbers is None:
            return super().grade_response(problem, response)
        expression = game24.find_expression(response, numbers)
        if expression is None:
            return Grade(False, None, "none", None)
        ok = game24.check_expression(expression, numbers).ok
        start = response.rfind(expression)
        span = (start, start + len(expression)) if start >= 0 else None
        return Grade(ok, expression, "expression", span)

    def wrong_answer(self, problem: Problem) -> str | None:
        numbers = puzzle_numbers(problem)
        return game24.wrong_expression(numbers) if numbers else None

    def task_text(self, problem: Problem) -> str:
        """The question, with the numbers and target spelled out when it does not show them."""
        numbers = puzzle_numbers(problem)
        if numbers and str(numbers[0]) not in problem.question:
            listed = ", ".join(str(x) for x in numbers)
            return f"{problem.question}\nNumbers: {listed}. Target: {game24.TARGET}."
        return problem.question

    def verdict(self, problem: Problem, solution: Solution) -> Verdict:
        """Game-24 validity of the proposed expression; arithmetic without numbers."""
        numbers = puzzle_numbers(problem)
        if numbers is None:
            return super().verdict(problem, solution)
        # The extracted answer may be only the last number ("24"); the text may still hold a
        # valid expression, so that is tried next.
        found = game24.find_expression(solution.text, numbers)
        tried = [e for e in (solution.answer, found) if e]
        if not tried:
            return Verdict(0.5 if solution.partial else 0.0, False, "no expression to check")
        checks = [game24.check_expression(expression, numbers) for expression in tried]
        check = next((c for c in checks if c.ok), checks[0])
        return Verdict(1.0 if check.ok else 0.0, bool(check.ok), check.reason)


def puzzle_numbers(problem: Problem) -> Sequence[int] | None:
    """The numbers the expression must use, when the problem gives them."""
    return problem.metadata.get("numbers")


def expression_key(answer: str) -> str:
    """The left side of a proposed expression, cleaned and without spaces."""
    side = answer.split("=")[0] if "=" in answer else answer
    return re.sub(r"\s+", "", clean_expression(side[:MAX_ANSWER_CHARS]))
