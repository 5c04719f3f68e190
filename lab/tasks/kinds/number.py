"""The `number` kind: a numeric final answer (GSM8K, arith, digits)."""

from __future__ import annotations

from fractions import Fraction

from lab.tasks.equivalence import math_equivalent
from lab.tasks.kinds.base import ProblemKind
from lab.tasks.normalize import canonical_number, math_key, number_key, numbers_close
from lab.tasks.problem import AnswerKind, Problem


class NumberKind(ProblemKind):
    """Numbers compare exactly, or up to the rounding of a decimal; anything else as math."""

    name = AnswerKind.NUMBER.value
    summary = "a numeric final answer; '$1,000.00', '1000' and '1000.0' are one answer"
    order = 10

    def answer_key(self, answer: str) -> str:
        number = number_key(answer)
        return canonical_number(number.value) if number else math_key(answer)

    def equivalent(self, a: str, b: str, timeout_s: float = 2.0) -> bool:
        number_a, number_b = number_key(a), number_key(b)
        if number_a and number_b:
            return numbers_close(number_a, number_b)
        return math_equivalent(a, b, timeout_s)

    def wrong_answer(self, problem: Problem) -> str | None:
        """The gold answer plus a tenth (at least one)."""
        number = number_key(problem.gold) if problem.gold is not None else None
        if number is None:
            return None
        return canonical_number(number.value + max(Fraction(1), abs(number.value) / 10))
