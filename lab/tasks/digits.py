"""Multi-digit arithmetic: addition and multiplication with the number of digits set.

Addition adds two d-digit numbers; multiplication multiplies a d-digit number by a
ceil(d/2)-digit one. Difficulty grows with the digits a model has to carry through."""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence

from lab.tasks.problem import AnswerKind, Problem

SYMBOLS = {"+": "+", "*": "×"}


def generate(
    count: int,
    seed: int,
    digits: int | Sequence[int] = (2, 3, 4, 5, 6),
    operations: Sequence[str] = ("+", "*"),
) -> list[Problem]:
    """`count` problems cycling through every (operation, digits) pair."""
    digit_options = [digits] if isinstance(digits, int) else list(digits)
    settings = list(itertools.product(operations, digit_options))
    problems = []
    for index in range(count):
        operation, size = settings[index % len(settings)]
        rng = random.Random(f"digits:{seed}:{index}")
        problems.append(make_problem(index + 1, operation, size, rng))
    return problems


def make_problem(index: int, operation: str, digits: int, rng: random.Random) -> Problem:
    if operation not in SYMBOLS or digits < 1:
        raise ValueError(f"unknown operation {operation!r} or digits {digits}")
    second_digits = digits if operation == "+" else (digits + 1) // 2
    a, b = _number(rng, digits), _number(rng, second_digits)
    result = a + b if operation == "+" else a * b
    return Problem(
        id=f"digits-{index:04d}",
        question=f"What is {a} {SYMBOLS[operation]} {b}?",
        gold=str(result),
        kind=AnswerKind.NUMBER,
        source="digits",
        difficulty=difficulty(operation, digits),
        metadata={"operation": operation, "digits": digits, "operands": [a, b]},
    )


def difficulty(operation: str, digits: int) -> float:
    """Addition: digits - 1 (1 to 5). Multiplication: the digits of both factors - 2."""
    if operation == "+":
        return float(digits - 1)
    return float(digits + (digits + 1) // 2 - 2)


def _number(rng: random.Random, digits: int) -> int:
    return rng.randint(10 ** (digits - 1), 10**digits - 1)
