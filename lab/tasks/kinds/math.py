"""The `math` kind: a math expression compared by equivalence (MATH-500)."""

from __future__ import annotations

from lab.tasks.equivalence import math_equivalent
from lab.tasks.kinds.base import ProblemKind
from lab.tasks.normalize import math_key
from lab.tasks.problem import AnswerKind


class MathKind(ProblemKind):
    """LaTeX answers, equal by normalization or, within a timeout, by sympy."""

    name = AnswerKind.MATH.value
    summary = "a math expression, compared by LaTeX normalization and sympy"
    order = 20

    def answer_key(self, answer: str) -> str:
        return math_key(answer)

    def equivalent(self, a: str, b: str, timeout_s: float = 2.0) -> bool:
        return math_equivalent(a, b, timeout_s)
